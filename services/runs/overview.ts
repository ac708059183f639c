// Read-only queries over runs for the pages that show many rooms or PCs at once (no writes: the
// repository in repository.ts stays the tables' only writer): every room's newest run with its PCs
// counted by state, in one query; each PC's newest run result in a room, in one query; and what the
// run estimate rests on (past PCs' durations, a version's used bytes).
import type { Kysely } from 'kysely';
import type { DB } from '../core/db/index.js';
import type { RunPcState, RunState } from '../core/db/schema.js';
import type { PastPc } from './estimate.js';

export interface RoomLastRun {
  roomId: number;
  run: { id: number; state: RunState; image: string; version: number; createdAt: string; endedAt: string | null };
  counts: Partial<Record<RunPcState, number>>;
}

export interface PcLastResult {
  hostId: number;
  runId: number;
  runPcId: number;
  state: RunPcState;
  reasonCode: string | null;
  reasonText: string | null;
  endedAt: string | null;
}

export class RunOverview {
  constructor(private readonly db: Kysely<DB>) {}

  /** Every room's newest run and its PCs by state: one query (a left join, so a run without PCs counts too). */
  async lastRunOfRooms(): Promise<RoomLastRun[]> {
    const rows = await this.db
      .selectFrom('runs as r')
      .leftJoin('run_pcs as p', 'p.run_id', 'r.id')
      .where('r.id', 'in', (eb) => eb.selectFrom('runs').select((e) => e.fn.max('id').as('id')).where('room_id', 'is not', null).groupBy('room_id'))
      .select(['r.id', 'r.room_id', 'r.state', 'r.image_name', 'r.version_number', 'r.created_at', 'r.ended_at', 'p.state as pc_state', (eb) => eb.fn.count('p.id').as('n')])
      .groupBy(['r.id', 'r.room_id', 'r.state', 'r.image_name', 'r.version_number', 'r.created_at', 'r.ended_at', 'p.state'])
      .orderBy('r.room_id')
      .execute();
    const out = new Map<number, RoomLastRun>();
    for (const row of rows) {
      const roomId = row.room_id!;
      let room = out.get(roomId);
      if (!room) {
        room = { roomId, run: { id: row.id, state: row.state, image: row.image_name, version: row.version_number, createdAt: row.created_at, endedAt: row.ended_at }, counts: {} };
        out.set(roomId, room);
      }
      if (row.pc_state) room.counts[row.pc_state] = Number(row.n);
    }
    return [...out.values()];
  }

  /** The newest run PC row of each PC now in the room (its last result): one query. */
  async lastResultOfPcs(roomId: number): Promise<PcLastResult[]> {
    const rows = await this.db
      .selectFrom('run_pcs as p')
      .innerJoin('hosts as h', 'h.id', 'p.host_id')
      .where('h.room_id', '=', roomId)
      .where('p.id', 'in', (eb) => eb.selectFrom('run_pcs as q').innerJoin('hosts as hh', 'hh.id', 'q.host_id').where('hh.room_id', '=', roomId).select((e) => e.fn.max('q.id').as('id')).groupBy('q.host_id'))
      .select(['p.id', 'p.run_id', 'p.host_id', 'p.state', 'p.reason_code', 'p.reason_text', 'p.ended_at'])
      .orderBy('p.host_id')
      .execute();
    return rows.map((r) => ({ hostId: r.host_id!, runId: r.run_id, runPcId: r.id, state: r.state, reasonCode: r.reason_code, reasonText: r.reason_text, endedAt: r.ended_at }));
  }

  /** The newest PCs that ended done (at most `limit`), with their duration and bytes; sameVersion: of this version. */
  async pastPcs(versionId: number, limit = 200): Promise<PastPc[]> {
    const rows = await this.db
      .selectFrom('run_pcs as p')
      .innerJoin('runs as r', 'r.id', 'p.run_id')
      .where('p.state', '=', 'done')
      .where('p.started_at', 'is not', null)
      .where('p.ended_at', 'is not', null)
      .select(['p.started_at', 'p.ended_at', 'p.bytes_total', 'r.version_id'])
      .orderBy('p.id', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ seconds: (Date.parse(r.ended_at!) - Date.parse(r.started_at!)) / 1000, bytes: Number(r.bytes_total), sameVersion: r.version_id === versionId }));
  }

  async usedBytes(versionId: number): Promise<number> {
    const v = await this.db.selectFrom('image_versions').select('used_bytes').where('id', '=', versionId).executeTakeFirst();
    return Number(v?.used_bytes ?? 0);
  }
}

