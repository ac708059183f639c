// English messages of the page guard: a page that failed to render says so in words (no raw error, no
// stack), and the header stays, so the user can reload or go elsewhere; and who did something when it
// is not a person (../who.ts).
import type { frPhone } from './fr-phone.js';

export const enPhone: Record<keyof typeof frPhone, string> = {
  'crash.text': 'This page could not be shown. Reload it; if it happens again, tell the administrator.',
  'crash.reload': 'Reload the page',
  'who.schedule': 'schedule no. {id}',
  'who.machine': 'PC {mac}',
  'who.token': 'API token {name}',
  'who.system': 'roomcast (automatic)',
  'who.cli': 'the command line',
};
