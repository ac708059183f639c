// The bandwidth plan of a room run (issue 14), before it starts: the bytes each delivery path moves
// over the server's link, how long the run should take, what limits it, and whether it fits its
// window. Pure. Every outcome has a reason: a code with its parameters and a sentence in French and
// English (the UI and the report show them as they are).
//
// The model, per path (runs/delivery.ts decides each PC's path from the same facts):
// - unicast: every PC fetches the version's stored (compressed) bytes over HTTP: N × stored bytes
//   cross the server link, shared by the PCs that restore at once.
// - multicast: the stream sends the stored bytes once for all its PCs (what a PC misses is repaired
//   over HTTP: not counted). A run starts at most maxParallel PCs at once: the PCs beyond that start
//   after the stream and restore over HTTP (the service's path_unicast_session_over), so they count
//   as unicast here. The stream goes no faster than the multicast rate cap.
// - differential: a PC fetches only the part of the version its disk does not hold (1 − its shared
//   fraction of the stored bytes), and reads its whole disk to check it.
// Three limits, each in seconds from the start; the run takes the longest (the binding limit):
// - per_pc: each PC's own restore (its throughput from past PCs, estimate.ts), scheduled
//   maxParallel at a time (a PC takes a slot as soon as one frees);
// - server_link: every byte to move at the link rate (configured, else measured from past multicast
//   streams, else 1 Gbit/s assumed), after the wake and boot overhead;
// - multicast_cap: the stream's bytes at the multicast rate cap, after the overhead.
// Never throws.
import type { DeliveryPath } from './delivery.js';
import { estimateRun, OVERHEAD_SECONDS, type PastPc } from './estimate.js';

export type RateSource = 'configured' | 'measured' | 'default';
export type PlanBound = 'per_pc' | 'server_link' | 'multicast_cap' | 'none';

export interface PlanReason {
  code: string;
  params: Record<string, string | number>;
  en: string;
  fr: string;
}

export interface PlanPc {
  path: DeliveryPath;
  /** Share of the version's bytes its disk holds already (a differential PC); null: unknown (none assumed). */
  share: number | null;
}

export interface PlanInput {
  /** Uncompressed bytes the restore writes (image_versions.used_bytes). */
  usedBytes: number;
  /** Stored (compressed) bytes a full restore fetches; 0: unknown (usedBytes then). */
  storedBytes: number;
  pcs: readonly PlanPc[];
  maxParallel: number;
  /** Bytes per second of the server link set by the admin (ROOMCAST_SERVER_LINK_RATE); null: not set. */
  configuredRate: number | null;
  /** The fastest stream past multicast sessions carried (bytes per second) and over how many sessions; null: none. */
  measuredRate: { bytesPerSecond: number; samples: number } | null;
  /** The multicast stream's cap in bytes per second (ROOMCAST_MULTICAST_MAX_BITRATE); null: none. */
  multicastCap: number | null;
  past: readonly PastPc[];
  /** Seconds from the run's start to its window's end; null: no window. */
  windowSeconds: number | null;
}

export interface RunPlan {
  pcs: number;
  /** Per path: PCs and the stored bytes they move over the server link. */
  paths: Record<DeliveryPath, { pcs: number; bytes: number }>;
  totalBytes: number;
  /** The whole run, in seconds. */
  seconds: number;
  /** Each limit in seconds (null: does not apply). */
  limits: { perPc: number; serverLink: number | null; multicastCap: number | null };
  bound: PlanBound;
  /** One PC restoring the whole version, from its wake to its end, and what it rests on (estimate.ts). */
  perPc: { seconds: number; basis: 'same_version' | 'throughput' | 'default'; samples: number };
  /** The server link rate used, in bytes per second, and where it came from. */
  rate: { bytesPerSecond: number; source: RateSource; samples: number };
  multicastCap: number | null;
  window: { seconds: number | null; fits: boolean | null; marginSeconds: number | null };
  reasons: { rate: PlanReason; bound: PlanReason; window: PlanReason; overflow: PlanReason | null };
}

/** Assumed when no link rate is set and none was measured: a gigabit link (bytes per second). */
export const DEFAULT_LINK_BYTES_PER_SECOND = 125e6;
/** A differential restore reads and hashes the whole disk to find what differs (bytes per second). */
export const CHECK_BYTES_PER_SECOND = 400e6;

const mbit = (bytesPerSecond: number) => Math.round((bytesPerSecond * 8) / 1e6);
const gb = (bytes: number) => Math.round(bytes / 1e8) / 10;
const gbFr = (bytes: number) => String(gb(bytes)).replace('.', ',');

/** A duration as people read it, in both languages ('2 h 05 min', '12 min', '40 s'). */
export function spoken(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

const reason = (code: string, params: Record<string, string | number>, en: string, fr: string): PlanReason => ({ code, params, en, fr });

/** The longest schedule of `durations` on `slots` parallel slots, each PC taking the first slot that frees (in order). */
function makespan(durations: readonly number[], slots: number): number {
  const free = new Array<number>(Math.max(1, Math.min(slots, durations.length))).fill(0);
  for (const d of durations) {
    let i = 0;
    for (let j = 1; j < free.length; j++) if (free[j]! < free[i]!) i = j;
    free[i]! += d;
  }
  return Math.max(0, ...free);
}

function rateOf(i: PlanInput): { rate: RunPlan['rate']; reason: PlanReason } {
  if (i.configuredRate !== null && i.configuredRate > 0) {
    const m = mbit(i.configuredRate);
    return {
      rate: { bytesPerSecond: i.configuredRate, source: 'configured', samples: 0 },
      reason: reason('plan_rate_configured', { mbit: m }, `the server link rate set by the admin (ROOMCAST_SERVER_LINK_RATE): ${m} Mbit/s`, `le débit du lien du serveur réglé par l'administrateur (ROOMCAST_SERVER_LINK_RATE) : ${m} Mbit/s`),
    };
  }
  if (i.measuredRate && i.measuredRate.bytesPerSecond > 0 && i.measuredRate.samples > 0) {
    const m = mbit(i.measuredRate.bytesPerSecond);
    const n = i.measuredRate.samples;
    return {
      rate: { bytesPerSecond: i.measuredRate.bytesPerSecond, source: 'measured', samples: n },
      reason: reason(
        'plan_rate_measured',
        { mbit: m, samples: n },
        `measured: the fastest multicast stream of past runs carried ${m} Mbit/s (${n} session${n > 1 ? 's' : ''}); set ROOMCAST_SERVER_LINK_RATE if the link is faster`,
        `mesuré : le flux multicast le plus rapide des restaurations passées a atteint ${m} Mbit/s (${n} session${n > 1 ? 's' : ''}) ; régler ROOMCAST_SERVER_LINK_RATE si le lien est plus rapide`,
      ),
    };
  }
  return {
    rate: { bytesPerSecond: DEFAULT_LINK_BYTES_PER_SECOND, source: 'default', samples: 0 },
    reason: reason(
      'plan_rate_default',
      { mbit: mbit(DEFAULT_LINK_BYTES_PER_SECOND) },
      'no link rate is set (ROOMCAST_SERVER_LINK_RATE) and none was measured yet: a 1 Gbit/s server link is assumed',
      "aucun débit de lien n'est réglé (ROOMCAST_SERVER_LINK_RATE) ni encore mesuré : un lien du serveur à 1 Gbit/s est supposé",
    ),
  };
}

export function planRun(i: PlanInput): RunPlan {
  const used = Math.max(0, i.usedBytes);
  const stored = i.storedBytes > 0 ? i.storedBytes : used;
  const slots = Math.max(1, Math.floor(i.maxParallel));
  const est = estimateRun({ pcs: 1, maxParallel: 1, usedBytes: used, past: i.past });
  const fullTransfer = Math.max(1, est.perPcSeconds - OVERHEAD_SECONDS);
  const { rate, reason: rateReason } = rateOf(i);
  const cap = i.multicastCap !== null && i.multicastCap > 0 ? i.multicastCap : null;

  const paths: RunPlan['paths'] = { differential: { pcs: 0, bytes: 0 }, multicast: { pcs: 0, bytes: 0 }, unicast: { pcs: 0, bytes: 0 } };
  const durations: number[] = [];
  const multicastPcs = i.pcs.filter((p) => p.path === 'multicast').length;
  const overflow = Math.max(0, multicastPcs - slots);
  let streamed = 0;
  for (const pc of i.pcs) {
    let path = pc.path;
    if (path === 'multicast' && streamed++ >= slots) path = 'unicast';
    if (path === 'differential') {
      const missing = 1 - Math.min(1, Math.max(0, pc.share ?? 0));
      paths.differential.pcs++;
      paths.differential.bytes += stored * missing;
      durations.push(OVERHEAD_SECONDS + fullTransfer * missing + used / CHECK_BYTES_PER_SECOND);
    } else {
      paths[path].pcs++;
      if (path === 'unicast') paths.unicast.bytes += stored;
      durations.push(OVERHEAD_SECONDS + fullTransfer);
    }
  }
  if (paths.multicast.pcs > 0) paths.multicast.bytes = stored;
  for (const p of Object.values(paths)) p.bytes = Math.round(p.bytes);
  const totalBytes = paths.differential.bytes + paths.multicast.bytes + paths.unicast.bytes;
  const n = i.pcs.length;

  const perPc = Math.round(makespan(durations, slots));
  const serverLink = n ? Math.round(OVERHEAD_SECONDS + totalBytes / rate.bytesPerSecond) : null;
  const multicastCap = cap !== null && paths.multicast.pcs > 0 ? Math.round(OVERHEAD_SECONDS + paths.multicast.bytes / cap) : null;
  let bound: PlanBound = 'none';
  let seconds = 0;
  if (n) {
    // Ties go to the link, then the cap: the shared resource is what a person can change.
    seconds = Math.max(perPc, serverLink ?? 0, multicastCap ?? 0);
    bound = serverLink === seconds ? 'server_link' : multicastCap === seconds ? 'multicast_cap' : 'per_pc';
  }

  const d = spoken(seconds);
  const boundReason =
    bound === 'none'
      ? reason('plan_no_pcs', {}, 'no PC to restore: nothing to move', 'aucun poste à restaurer : rien à transférer')
      : bound === 'server_link'
        ? reason(
            'plan_bound_server_link',
            { gb: gb(totalBytes), mbit: mbit(rate.bytesPerSecond), duration: d, pcs: n },
            `the server link is the limit: ${gb(totalBytes)} GB to send for ${n} PC${n > 1 ? 's' : ''} at ${mbit(rate.bytesPerSecond)} Mbit/s, about ${d} with the wake and boot`,
            `le lien du serveur est la limite : ${gbFr(totalBytes)} Go à envoyer pour ${n} poste${n > 1 ? 's' : ''} à ${mbit(rate.bytesPerSecond)} Mbit/s, environ ${d} avec le réveil et le démarrage`,
          )
        : bound === 'multicast_cap'
          ? reason(
              'plan_bound_multicast_cap',
              { gb: gb(paths.multicast.bytes), mbit: mbit(cap!), duration: d },
              `the multicast rate cap (ROOMCAST_MULTICAST_MAX_BITRATE, ${mbit(cap!)} Mbit/s) is the limit: the ${gb(paths.multicast.bytes)} GB stream takes about ${d} with the wake and boot`,
              `le plafond du multicast (ROOMCAST_MULTICAST_MAX_BITRATE, ${mbit(cap!)} Mbit/s) est la limite : le flux de ${gbFr(paths.multicast.bytes)} Go prend environ ${d} avec le réveil et le démarrage`,
            )
          : reason(
              'plan_bound_per_pc',
              { perPc: spoken(est.perPcSeconds), basis: est.basis, maxParallel: slots, duration: d },
              `each PC's own restore is the limit: about ${spoken(est.perPcSeconds)} per PC (${est.basis === 'same_version' ? 'past restores of this version' : est.basis === 'throughput' ? "past PCs' restore rate" : 'an assumed rate, no PC restored yet'}), ${slots} at a time: about ${d}`,
              `la restauration de chaque poste est la limite : environ ${spoken(est.perPcSeconds)} par poste (${est.basis === 'same_version' ? 'restaurations passées de cette version' : est.basis === 'throughput' ? 'débit des postes passés' : 'débit supposé, aucun poste restauré encore'}), ${slots} à la fois : environ ${d}`,
            );

  const w = i.windowSeconds;
  const fits = w === null ? null : seconds <= w;
  const margin = w === null ? null : Math.round(w - seconds);
  const windowReason =
    w === null
      ? reason('plan_no_window', { duration: d }, `the run has no window: about ${d}, it takes as long as it needs`, `la restauration n'a pas de plage horaire : environ ${d}, elle prend le temps qu'il faut`)
      : fits
        ? reason('plan_fits', { duration: d, window: spoken(w), margin: spoken(margin!) }, `fits its window: about ${d}, the window ends in ${spoken(w)} (${spoken(margin!)} to spare)`, `tient dans sa plage horaire : environ ${d}, la plage se termine dans ${spoken(w)} (${spoken(margin!)} de marge)`)
        : reason(
            'plan_too_long',
            { duration: d, window: spoken(w), over: spoken(-margin!) },
            `does not fit its window: about ${d}, but the window ends in ${spoken(w)} (${spoken(-margin!)} short); PCs still running then are stopped: start earlier, allow more PCs at once, or restore fewer PCs`,
            `ne tient pas dans sa plage horaire : environ ${d}, mais la plage se termine dans ${spoken(w)} (il manque ${spoken(-margin!)}) ; les postes encore en cours seront arrêtés : commencer plus tôt, autoriser plus de postes à la fois ou restaurer moins de postes`,
          );
  const overflowReason = overflow
    ? reason(
        'plan_multicast_overflow',
        { pcs: overflow, maxParallel: slots },
        `${overflow} PC${overflow > 1 ? 's' : ''} beyond the ${slots} restored at once start after the multicast stream: counted as unicast HTTP`,
        `${overflow} poste${overflow > 1 ? 's' : ''} au-delà des ${slots} restaurés à la fois commenceront après le flux multicast : comptés en unicast (HTTP)`,
      )
    : null;

  return {
    pcs: n,
    paths,
    totalBytes,
    seconds,
    limits: { perPc, serverLink, multicastCap },
    bound,
    perPc: { seconds: est.perPcSeconds, basis: est.basis, samples: est.samples },
    rate,
    multicastCap: cap,
    window: { seconds: w === null ? null : Math.round(w), fits, marginSeconds: margin },
    reasons: { rate: rateReason, bound: boundReason, window: windowReason, overflow: overflowReason },
  };
}

/** The path each PC would take when nothing is known of the PCs' disks (the estimate without a room): delivery.ts's rule for full PCs. */
export function blindPaths(pcs: number, o: { transport: 'auto' | 'unicast' | 'multicast'; multicastOff: string | null }): PlanPc[] {
  const path: DeliveryPath = o.transport === 'unicast' || o.multicastOff !== null || (o.transport === 'auto' && pcs < 2) ? 'unicast' : 'multicast';
  return Array.from({ length: Math.max(0, Math.floor(pcs)) }, () => ({ path, share: null }));
}

/** The report's line, once a run ended: how long it took against its plan. */
export function plannedVsActual(plannedSeconds: number, actualSeconds: number): PlanReason {
  const diff = Math.round(actualSeconds - plannedSeconds);
  const params = { planned: spoken(plannedSeconds), actual: spoken(actualSeconds), difference: spoken(Math.abs(diff)) };
  // Within a tenth (or a minute) of the plan: as planned.
  if (Math.abs(diff) <= Math.max(60, plannedSeconds / 10))
    return reason('plan_as_planned', params, `took ${params.actual}, as planned (${params.planned})`, `a pris ${params.actual}, comme prévu (${params.planned})`);
  return diff > 0
    ? reason('plan_longer', params, `took ${params.actual}: ${params.difference} longer than planned (${params.planned})`, `a pris ${params.actual} : ${params.difference} de plus que prévu (${params.planned})`)
    : reason('plan_shorter', params, `took ${params.actual}: ${params.difference} less than planned (${params.planned})`, `a pris ${params.actual} : ${params.difference} de moins que prévu (${params.planned})`);
}
