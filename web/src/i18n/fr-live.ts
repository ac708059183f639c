// French messages of the live updates (the badge beside a room's PCs or a run's PCs), the school's time
// zone, the run links of a PC's history, and the iPXE boot files on the system page.
export const frLive = {
  'live.on': 'En direct',
  'live.connecting': 'Connexion au direct…',
  'live.off': 'Pas en direct : rechargez la page pour voir les changements',
  'live.down': 'Direct interrompu, reconnexion…',
};
