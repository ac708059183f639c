// PC states in the order the UI lists them: what needs a person first, then what is moving, then done.
import type { PcState, RunPc } from './api/client.js';

export const PC_STATE_ORDER: readonly PcState[] = ['failed', 'skipped', 'cancelled', 'waking', 'booted', 'restoring', 'verifying', 'queued', 'done'];
export const FINAL_STATES: readonly PcState[] = ['done', 'failed', 'skipped', 'cancelled'];

/** Failures first, then by state, then by name. */
export function failuresFirst(pcs: readonly RunPc[]): RunPc[] {
  const rank = (s: PcState) => PC_STATE_ORDER.indexOf(s);
  return [...pcs].sort((a, b) => rank(a.state) - rank(b.state) || a.hostName.localeCompare(b.hostName, undefined, { numeric: true }));
}
