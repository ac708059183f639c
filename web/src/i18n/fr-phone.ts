// French messages of the page guard: a page that failed to render says so in words (no raw error, no
// stack), and the header stays, so the user can reload or go elsewhere; and who did something when it
// is not a person (../who.ts).
export const frPhone = {
  'crash.text': 'Cette page n’a pas pu s’afficher. Rechargez-la ; si cela recommence, prévenez l’administrateur.',
  'crash.reload': 'Recharger la page',
  // Who did something, when it is not a person (../who.ts).
  'who.schedule': 'la planification n° {id}',
  'who.machine': 'le PC {mac}',
  'who.token': 'le jeton d’API {name}',
  'who.system': 'roomcast (automatique)',
  'who.cli': 'la ligne de commande',
};
