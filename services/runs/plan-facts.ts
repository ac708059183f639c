// What a run's bandwidth plan (plan.ts) rests on, read from the database (no writes): the version's
// used and stored bytes, each PC's path and the share of the version its disk holds (the same facts
// delivery.ts decides from), the past PCs' durations (estimate.ts), and the rate past multicast
// streams reached (their bytes over the sender's time, waiting for PCs included: a lower bound of the
// server link).
import type { Kysely } from 'kysely';
import type { DB } from '../core/db/index.js';
import { decideDelivery, type Delivery, type RunDeliveryFacts, type Transport } from './delivery.js';
import { DeliveryFacts } from './delivery-facts.js';
import { RunOverview } from './overview.js';
import { blindPaths, planRun, type PlanPc, type RunPlan } from './plan.js';

/** The server's side of a plan: its link rate set by the admin and the multicast cap, in bytes per second (null: not set). */
export interface Bandwidth {
  linkRate: number | null;
  multicastCap: number | null;
}

/** How many past multicast sessions the measured rate looks at. */
const SESSIONS = 20;

/** The fastest stream of the newest ended multicast sessions that sent something, in bytes per second; null: none. */
export async function measuredRate(db: Kysely<DB>): Promise<{ bytesPerSecond: number; samples: number } | null> {
  const rows = await db.selectFrom('runs').select('mcast_outcome').where('mcast_outcome', 'is not', null).orderBy('id', 'desc').limit(SESSIONS).execute();
  const rates = rows.flatMap((r) => {
    const o = JSON.parse(r.mcast_outcome!) as { streamBytes?: unknown; seconds?: unknown };
    return typeof o.streamBytes === 'number' && typeof o.seconds === 'number' && o.streamBytes > 0 && o.seconds > 0 ? [o.streamBytes / o.seconds] : [];
  });
  return rates.length ? { bytesPerSecond: Math.max(...rates), samples: rates.length } : null;
}

async function versionSizes(db: Kysely<DB>, versionId: number): Promise<{ usedBytes: number; storedBytes: number }> {
  const v = await db.selectFrom('image_versions').select(['used_bytes', 'stored_bytes']).where('id', '=', versionId).executeTakeFirst();
  return { usedBytes: Number(v?.used_bytes ?? 0), storedBytes: Number(v?.stored_bytes ?? 0) };
}

/** The plan of `pcs` (their paths) for a version, starting at `now`, with the window ending at `windowEndsAt` (null: none). */
export async function planOf(db: Kysely<DB>, q: { versionId: number; pcs: PlanPc[]; maxParallel: number; windowEndsAt: string | null; now: number; bandwidth: Bandwidth }): Promise<RunPlan> {
  const o = new RunOverview(db);
  return planRun({
    ...(await versionSizes(db, q.versionId)),
    pcs: q.pcs,
    maxParallel: q.maxParallel,
    configuredRate: q.bandwidth.linkRate,
    measuredRate: await measuredRate(db),
    multicastCap: q.bandwidth.multicastCap,
    past: await o.pastPcs(q.versionId),
    windowSeconds: q.windowEndsAt === null ? null : Math.max(0, (Date.parse(q.windowEndsAt) - q.now) / 1000),
  });
}

/**
 * The path of each host of a new run (delivery.ts), by host id, with the run's plan: a differential
 * PC moves the part of the version its disk lacks (its shared bytes over the version's).
 */
export async function deliveriesAndPlan(
  db: Kysely<DB>,
  run: Omit<RunDeliveryFacts, 'versionBytes'> & { versionId: number },
  hostIds: number[],
  o: { maxParallel: number; windowEndsAt: string | null; now: number; bandwidth: Bandwidth },
): Promise<{ paths: Map<number, Delivery>; plan: RunPlan }> {
  const facts = new DeliveryFacts(db);
  const versionBytes = await facts.versionBytes(run.versionId);
  const pcFacts = await facts.ofHosts(hostIds, run.versionId);
  const paths = decideDelivery({ ...run, versionBytes }, pcFacts);
  const pcs = pcFacts.map((f): PlanPc => ({ path: paths.get(f.key)!.path, share: f.sharedBytes !== null && versionBytes > 0 ? Math.min(1, f.sharedBytes / versionBytes) : null }));
  return { paths, plan: await planOf(db, { versionId: run.versionId, pcs, ...o }) };
}

/** The plan of a run of `pcs` PCs nothing is known of (the estimate): every PC needs the whole version. */
export function blindPlan(db: Kysely<DB>, q: { versionId: number; pcs: number; transport: Transport; multicastOff: string | null; maxParallel: number; windowEndsAt: string | null; now: number; bandwidth: Bandwidth }): Promise<RunPlan> {
  return planOf(db, { ...q, pcs: blindPaths(q.pcs, q) });
}
