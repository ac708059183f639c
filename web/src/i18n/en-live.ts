// English messages of the live updates (the badge beside a room's PCs or a run's PCs), the school's time
// zone, the run links of a PC's history, the iPXE boot files on the system page, and the room plan's
// drag and drop.
export const enLive = {
  'live.on': 'Live',
  'live.connecting': 'Connecting live updates…',
  'live.off': 'Not live: reload the page to see changes',
  'live.down': 'Live updates interrupted, reconnecting…',
  'ipxe.title': 'iPXE boot files (TFTP)',
  'ipxe.complete': 'The three iPXE files are present and match their pinned checksums.',
  'ipxe.incomplete': 'PCs cannot network-boot reliably: install the files with “npm run ipxe”.',
  'ipxe.ok': '{name}: present, checksum matches',
  'ipxe.missing': '{name}: missing',
  'ipxe.mismatch': '{name}: present, but not the expected file (checksum differs)',
  'ipxe.root': 'TFTP folder: {root}',
  'tz.school': 'School time zone: {zone} (dates and times are shown in it)',
  'history.run': 'see run #{id}',
  'plan.dragHelp': 'With a mouse: drag a PC onto a free cell of the plan.',
};
