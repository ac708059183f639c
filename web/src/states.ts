// PC states in the order the UI lists them: what needs a person first, then what is moving, then done.
import type { PcState } from './api/client.js';

export const PC_STATE_ORDER: readonly PcState[] = ['failed', 'skipped', 'cancelled', 'waking', 'booted', 'restoring', 'verifying', 'queued', 'done'];
export const FINAL_STATES: readonly PcState[] = ['done', 'failed', 'skipped', 'cancelled'];

/** Docker's container states (the system page says them in words; another is shown as Docker gives it). */
export const CONTAINER_STATES = ['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead'] as const;
export const isContainerState = (s: string): s is (typeof CONTAINER_STATES)[number] => (CONTAINER_STATES as readonly string[]).includes(s);
