// French messages of the page guard: a page that failed to render says so in words (no raw error, no
// stack), and the header stays, so the user can reload or go elsewhere.
export const frPhone = {
  'crash.text': 'Cette page n’a pas pu s’afficher. Rechargez-la ; si cela recommence, prévenez l’administrateur.',
  'crash.reload': 'Recharger la page',
};
