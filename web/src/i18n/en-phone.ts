// English messages of the page guard: a page that failed to render says so in words (no raw error, no
// stack), and the header stays, so the user can reload or go elsewhere.
import type { frPhone } from './fr-phone.js';

export const enPhone: Record<keyof typeof frPhone, string> = {
  'crash.text': 'This page could not be shown. Reload it; if it happens again, tell the administrator.',
  'crash.reload': 'Reload the page',
};
