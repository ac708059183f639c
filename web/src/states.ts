// PC states in the order the UI lists them: what needs a person first, then what is moving, then done.
import type { PcState } from './api/client.js';

export const PC_STATE_ORDER: readonly PcState[] = ['failed', 'skipped', 'cancelled', 'waking', 'booted', 'restoring', 'verifying', 'queued', 'done'];
export const FINAL_STATES: readonly PcState[] = ['done', 'failed', 'skipped', 'cancelled'];
