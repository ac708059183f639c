// Why a run did not start (a schedule's instant outside its window, an empty room, a damaged
// version…), in French and English, from its code and its parameters. English is what the database
// keeps (reason_text, with the details the refusal gave); French is made here from the code, with the
// English details after it when they name things. The schedules' fires and the runs' report both say
// it with these words.

const FR: Record<string, (p: Record<string, string>) => string> = {
  outside_window: (p) => `l'heure prévue (${p.time}) est en dehors de la plage ${p.window} : changer l'heure ou la plage de la planification`,
  window_missed: (p) => `le démarrage n'a pu se faire qu'à ${p.time}, après la fin de la plage (${p.end}) : vérifier que le service « worker » tournait`,
  disabled: () => 'la planification est désactivée',
  empty_room: () => "la salle n'a aucun poste : ajouter ses postes à l'inventaire",
  in_another_run: () => "des postes de la salle sont déjà dans une autre restauration : attendre qu'elle finisse ou l'annuler",
  no_ready_version: () => "l'image n'a aucune version prête : en capturer une",
  unknown_version: () => "la version demandée n'existe plus : choisir une autre version dans la planification",
  version_not_ready: () => "la version demandée n'est pas prête : choisir une autre version dans la planification",
  version_damaged: () => "la version demandée est endommagée : lancer « images verify » ou choisir une autre version",
  unknown_image: () => "l'image n'existe plus : choisir une autre image dans la planification",
  not_found: () => "la salle n'existe plus",
  starting: () => 'le worker s’est arrêté pendant le démarrage : voir les restaurations de la salle',
  wake_not_configured: () => "le réveil par le réseau (Wake-on-LAN) n'est pas configuré : régler ROOMCAST_WOL_INTERFACES ou ROOMCAST_WOL_ADDRESSES, ou retirer l'étape de réveil",
};

/** The reason in both languages (French falls back to the English text for a code it does not know). */
export function notStartedWords(code: string, params: Record<string, string>, english: string): { code: string; fr: string; en: string } {
  const fr = FR[code]?.(params);
  return { code, fr: fr ? (params.detail ? `${fr} (${params.detail})` : fr) : english, en: english };
}
