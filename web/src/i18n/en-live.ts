// English messages of the live updates (the badge beside a room's PCs or a run's PCs), the school's time
// zone, the run links of a PC's history, and the iPXE boot files on the system page.
export const enLive = {
  'live.on': 'Live',
  'live.connecting': 'Connecting live updates…',
  'live.off': 'Not live: reload the page to see changes',
  'live.down': 'Live updates interrupted, reconnecting…',
};
