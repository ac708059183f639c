// English messages of the room plan (PCs placed by row and column on the room page) and of the image
// version a room uses (room page, images page).
import type { frPlan } from './fr-plan.js';

export const enPlan: Record<keyof typeof frPlan, string> = {
  'plan.title': 'Room plan',
  'plan.region': 'Room plan (scroll if needed)',
  'plan.place': 'Row {row}, column {col}',
  'plan.unplaced': 'PCs not on the plan',
  'plan.formTitle': 'Place a PC on the plan',
  'plan.help': 'Choose a PC, then its row and column (1 = front left).',
  'plan.pc': 'PC',
  'plan.row': 'Row',
  'plan.col': 'Column',
  'plan.submit': 'Place',
  'plan.remove': 'Take off the plan',
  'plan.notPlaced': '{name} (not placed)',
  'plan.at': '{name} (row {row}, column {col})',
  'plan.saved': '{name} is now at row {row}, column {col}.',
  'plan.removed': '{name} is off the plan.',
  'plan.taken': 'Row {row}, column {col} already holds {name}: take it off the plan or choose another place.',
  'roomImage.none': 'Version used: none, chosen at each restore.',
  'roomImage.newest': 'Version used: {image}, the newest ready one.',
  'roomImage.version': 'Version used: {image} v{version}.',
  'roomImage.usedBy': 'Used by: {rooms}',
  'roomImage.roomFor': 'Room that will restore v{version}',
  'roomImage.chooseRoom': 'Choose a room…',
  'roomImage.use': 'Use v{version} for this room',
  'roomImage.set': 'Room {room} now uses {image} v{version}.',
};
