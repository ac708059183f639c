// French messages of the live updates (the badge beside a room's PCs or a run's PCs), the school's time
// zone, the run links of a PC's history, the iPXE boot files on the system page, and the room plan's
// drag and drop.
export const frLive = {
  'live.on': 'En direct',
  'live.connecting': 'Connexion au direct…',
  'live.off': 'Pas en direct : rechargez la page pour voir les changements',
  'live.down': 'Direct interrompu, reconnexion…',
  'ipxe.title': 'Fichiers de démarrage iPXE (TFTP)',
  'ipxe.complete': 'Les trois fichiers iPXE sont présents et conformes à leur empreinte.',
  'ipxe.incomplete': 'Les PC ne pourront pas démarrer par le réseau de façon fiable : installez les fichiers avec « npm run ipxe ».',
  'ipxe.ok': '{name} : présent, empreinte conforme',
  'ipxe.missing': '{name} : absent',
  'ipxe.mismatch': '{name} : présent, mais ce n’est pas le fichier attendu (empreinte différente)',
  'ipxe.root': 'Dossier TFTP : {root}',
  'tz.school': 'Fuseau horaire de l’établissement : {zone} (dates et heures affichées dans ce fuseau)',
  'history.run': 'voir la restauration n° {id}',
  'plan.dragHelp': 'Avec la souris : faites glisser un PC sur une case libre du plan.',
};
