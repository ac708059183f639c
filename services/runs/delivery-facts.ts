// What the delivery decision (delivery.ts) rests on, read from the database (no writes): each PC's
// last restore that ended done, and how many of the target version's bytes that version holds too
// (from the two versions' chunk lists: the uncompressed sizes of the chunks they share).
import type { Kysely } from 'kysely';
import type { DB } from '../core/db/index.js';
import { decideDelivery, type Delivery, type PcDeliveryFacts, type Transport } from './delivery.js';

export class DeliveryFacts {
  constructor(private readonly db: Kysely<DB>) {}

  /** Uncompressed bytes of a version's distinct chunks. */
  async versionBytes(versionId: number, db: Kysely<DB> = this.db): Promise<number> {
    const r = await db
      .selectFrom('image_version_chunks as ivc')
      .innerJoin('chunks as c', 'c.hash', 'ivc.hash')
      .select((eb) => eb.fn.sum<string | number | null>('c.size').as('n'))
      .where('ivc.version_id', '=', versionId)
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /** Uncompressed bytes of the chunks of `target` that `other` holds too. */
  async sharedBytes(target: number, other: number, db: Kysely<DB> = this.db): Promise<number> {
    if (target === other) return this.versionBytes(target, db);
    const r = await db
      .selectFrom('image_version_chunks as t')
      .innerJoin('image_version_chunks as o', (j) => j.onRef('o.hash', '=', 't.hash').on('o.version_id', '=', other))
      .innerJoin('chunks as c', 'c.hash', 't.hash')
      .select((eb) => eb.fn.sum<string | number | null>('c.size').as('n'))
      .where('t.version_id', '=', target)
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /** Each host's facts: its last restore, when it ended done, and the bytes of `versionId` that version shares. */
  async ofHosts(hostIds: number[], versionId: number, db: Kysely<DB> = this.db): Promise<PcDeliveryFacts[]> {
    if (!hostIds.length) return [];
    const rows = await db
      .selectFrom('tasks')
      .select(['host_id', 'params', 'state'])
      .where('kind', '=', 'restore')
      .where('state', 'in', ['done', 'failed', 'cancelled'])
      .where('host_id', 'in', hostIds)
      .orderBy('finished_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
    // The newest restore that ended: a failed or cancelled one after a done one may have left the disk half written.
    const last = new Map<number, { imageId: number; versionNumber: number; versionId: number } | null>();
    for (const row of rows) {
      if (last.has(row.host_id)) continue;
      last.set(row.host_id, null);
      if (row.state !== 'done') continue;
      const p = JSON.parse(row.params ?? '{}') as { imageId?: unknown; versionId?: unknown; version?: unknown };
      if (typeof p.imageId === 'number' && typeof p.versionId === 'number' && typeof p.version === 'number') last.set(row.host_id, { imageId: p.imageId, versionId: p.versionId, versionNumber: p.version });
    }
    const shared = new Map<number, number>();
    for (const v of new Set([...last.values()].flatMap((l) => (l ? [l.versionId] : [])))) shared.set(v, await this.sharedBytes(versionId, v, db));
    return hostIds.map((key) => {
      const l = last.get(key) ?? null;
      return { key, lastDone: l, sharedBytes: l ? (shared.get(l.versionId) ?? null) : null };
    });
  }
}

/** The path of each host of a new run (delivery.ts), by host id. */
export async function deliveriesFor(db: Kysely<DB>, run: { imageId: number; versionId: number; versionNumber: number; transport: Transport; multicastOff: string | null }, hostIds: number[]): Promise<Map<number, Delivery>> {
  const facts = new DeliveryFacts(db);
  return decideDelivery({ ...run, versionBytes: await facts.versionBytes(run.versionId) }, await facts.ofHosts(hostIds, run.versionId));
}

