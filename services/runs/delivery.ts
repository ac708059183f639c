// How each PC of a room run gets its version (issue 14), as a pure function of the facts: the
// differential path, one multicast stream for the room, or plain unicast HTTP. Every outcome has a
// reason: a code with its parameters (the UI translates them) and an English sentence.
//
// Rules, in this order:
// - differential: the PC's last restore that ended done was of the run's image, and that version
//   shares at least `differentialShare` of the target version's bytes. Its disk already holds most of
//   the version: the client's differential restore (over HTTP) fetches only what differs, instead of
//   waiting for the whole stream.
// - unicast when multicast cannot be used: the run's transport is 'unicast', or multicast is off on
//   the server (no interface configured), or (transport 'auto') only one PC needs the full version.
// - multicast otherwise: the PCs of the run that are not differential, all of one version (a run
//   restores one version), share one stream. Transport 'multicast' takes it even for one PC.
// - Once the PC's client reported (deliveredPath): a PC that heard none of its session's probe
//   restored over unicast at once and says so (path_unicast_probe), before any other fallback; one
//   that could not join says why (path_unicast_fallback); one that heard it says what it heard.
// Never throws.
import type { Reason } from './pipeline.js';
import { NOT_RECEIVED } from '../imaging/multicast/probe.js';

export const TRANSPORTS = ['auto', 'unicast', 'multicast'] as const;
export type Transport = (typeof TRANSPORTS)[number];
export const DELIVERY_PATHS = ['differential', 'multicast', 'unicast'] as const;
export type DeliveryPath = (typeof DELIVERY_PATHS)[number];

/** Share of the target's bytes a PC's disk must hold already for the differential path. */
export const DEFAULT_DIFFERENTIAL_SHARE = 0.8;

export interface RunDeliveryFacts {
  imageId: number;
  versionNumber: number;
  /** Uncompressed bytes of the target version's distinct chunks. */
  versionBytes: number;
  transport: Transport;
  /** null: multicast can be used on this server; else why not (an English sentence). */
  multicastOff: string | null;
  differentialShare?: number;
}

export interface PcDeliveryFacts {
  /** The PC (its host id, or its run PC id): the key of the answer. */
  key: number;
  /** The PC's last restore that ended done (null: none known). */
  lastDone: { imageId: number; versionNumber: number; versionId: number } | null;
  /** Bytes of the target version that the last done version holds too (null: not computed). */
  sharedBytes: number | null;
}

export interface Delivery {
  path: DeliveryPath;
  reason: Reason;
}

const r = (code: string, text: string, params: Record<string, string | number> = {}): Reason => ({ code, params, text });
const percent = (x: number) => Math.floor(x * 1000) / 10;

/** Whether the PC's disk holds enough of the version for the differential path; the share when it does. */
function differentialShare(run: RunDeliveryFacts, pc: PcDeliveryFacts): number | null {
  if (!pc.lastDone || pc.lastDone.imageId !== run.imageId || pc.sharedBytes === null) return null;
  if (run.versionBytes <= 0) return null;
  const share = Math.min(1, pc.sharedBytes / run.versionBytes);
  return share >= (run.differentialShare ?? DEFAULT_DIFFERENTIAL_SHARE) ? share : null;
}

/** The path of every PC of a run, by its key. */
export function decideDelivery(run: RunDeliveryFacts, pcs: readonly PcDeliveryFacts[]): Map<number, Delivery> {
  const out = new Map<number, Delivery>();
  const full: number[] = [];
  for (const pc of pcs) {
    const share = differentialShare(run, pc);
    if (share === null) {
      full.push(pc.key);
      continue;
    }
    const last = pc.lastDone!;
    const same = last.versionNumber === run.versionNumber;
    out.set(pc.key, {
      path: 'differential',
      reason: r(
        'path_differential',
        same
          ? `its disk already holds version ${run.versionNumber} (its last restore, done): the differential restore checks it and fetches only what differs`
          : `its disk holds ${percent(share)} % of version ${run.versionNumber} (its last restore, of version ${last.versionNumber}, ended done): the differential restore fetches only what differs`,
        { percent: percent(share), from: last.versionNumber, version: run.versionNumber },
      ),
    });
  }
  const n = full.length;
  const unicast = (reason: Reason) => full.forEach((id) => out.set(id, { path: 'unicast', reason }));
  if (run.transport === 'unicast') unicast(r('path_unicast_forced', 'the run was asked to restore over unicast HTTP'));
  else if (run.multicastOff !== null) unicast(r('path_unicast_multicast_off', `multicast is off on this server (${run.multicastOff}): restored over unicast HTTP`, { why: run.multicastOff }));
  else if (run.transport === 'auto' && n < 2)
    unicast(r('path_unicast_single', 'the only PC of the run that needs the whole version: a multicast stream would not save anything, restored over unicast HTTP'));
  else {
    const reason = r('path_multicast', `one multicast stream for the ${n} PC${n > 1 ? 's' : ''} of the run that need the whole version ${run.versionNumber}; what a PC misses is repaired over HTTP`, { pcs: n, version: run.versionNumber });
    for (const id of full) out.set(id, { path: 'multicast', reason });
  }
  return out;
}

/**
 * The bounds of a run's multicast session, from its wake settings: the sender waits for more PCs at
 * most one wake timeout after the first joined, and gives up when none joined within all the wake
 * attempts; a PC's udp-receiver waits for the stream to start a little longer than the sender waits.
 */
export function sessionBounds(o: { wakeTimeoutMinutes: number; wakeAttempts: number }): { maxWaitSec: number; startTimeoutSec: number; receiverStartTimeoutSec: number; receiveTimeoutSec: number } {
  const wake = Math.max(1, Math.round(o.wakeTimeoutMinutes * 60));
  return { maxWaitSec: wake, startTimeoutSec: wake * Math.max(1, o.wakeAttempts), receiverStartTimeoutSec: wake + 15, receiveTimeoutSec: 30 };
}

/** What a PC's client said of its session's multicast probe (its result's details: probe.ts decideProbe and the figures). */
export interface ProbeFinding {
  code: string;
  text: string;
  received: number;
  expected: number;
  rate: number | null;
}

/** The path a PC's restore ended up on, from what its client reported (undefined: the one it had). */
export function deliveredPath(fallback: string | null, probe: ProbeFinding | null): { path: DeliveryPath; reason: Reason } | undefined {
  if (probe?.code === 'probe_not_received') return { path: 'unicast', reason: { code: 'path_unicast_probe', params: { received: probe.received }, text: `${NOT_RECEIVED}: restored over unicast HTTP at once` } };
  if (fallback) return { path: 'unicast', reason: { code: 'path_unicast_fallback', params: {}, text: `the PC could not join the multicast session (${fallback}): restored over unicast HTTP` } };
  // Heard: the PC's line says what reached it (the run's stream line says the rest).
  if (probe && (probe.code === 'probe_received' || probe.code === 'probe_lossy'))
    return { path: 'multicast', reason: { code: 'path_multicast_probed', params: { received: probe.received, expected: probe.expected, ...(probe.rate !== null ? { mbps: Number(((probe.rate * 8) / 1e6).toFixed(1)) } : {}) }, text: `${probe.text}; restored from the run's multicast stream` } };
  return undefined;
}
