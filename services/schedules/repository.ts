// The `schedules` and `schedule_fires` tables: every query on them, and their only writer. A room's
// schedules go with the room (ON DELETE CASCADE, in the room's own deletion), their fires with them.
import type { Kysely } from 'kysely';
import type { DB } from '../core/db/index.js';
import type { Schedule, ScheduleFire } from '../core/db/schema.js';
import type { FireReason } from './reasons.js';

export interface ScheduleRow {
  roomId: number;
  imageId: number;
  version: number | null;
  cron: string;
  timeZone: string;
  windowStart: string;
  windowEnd: string;
  options: Record<string, unknown>;
  enabled: boolean;
  once: boolean;
}

const columns = (r: ScheduleRow) => ({
  room_id: r.roomId,
  image_id: r.imageId,
  version: r.version,
  cron: r.cron,
  time_zone: r.timeZone,
  window_start: r.windowStart,
  window_end: r.windowEnd,
  options: JSON.stringify(r.options),
  enabled: r.enabled ? 1 : 0,
  once: r.once ? 1 : 0,
});

const reasonColumns = (r: FireReason | null) => ({ reason_code: r?.code ?? null, reason_text: r?.text ?? null, reason_params: r ? JSON.stringify(r.params) : null });

export class ScheduleRepository {
  constructor(private readonly db: Kysely<DB>) {}

  byId(id: number, db: Kysely<DB> = this.db): Promise<Schedule | undefined> {
    return db.selectFrom('schedules').selectAll().where('id', '=', id).executeTakeFirst();
  }

  list(filter: { roomId?: number; enabled?: boolean } = {}, db: Kysely<DB> = this.db): Promise<Schedule[]> {
    let q = db.selectFrom('schedules').selectAll();
    if (filter.roomId !== undefined) q = q.where('room_id', '=', filter.roomId);
    if (filter.enabled !== undefined) q = q.where('enabled', '=', filter.enabled ? 1 : 0);
    return q.orderBy('id').execute();
  }

  async insert(trx: Kysely<DB>, row: ScheduleRow, createdBy: string, at: string): Promise<number> {
    const r = await trx
      .insertInto('schedules')
      .values({ ...columns(row), created_by: createdBy, created_at: at, updated_at: at })
      .returning('id')
      .executeTakeFirstOrThrow();
    return r.id;
  }

  /** Replaces every field of the schedule (an edit is the whole schedule, never a second one). */
  async replace(trx: Kysely<DB>, id: number, row: ScheduleRow, at: string): Promise<boolean> {
    const r = await trx.updateTable('schedules').set({ ...columns(row), updated_at: at }).where('id', '=', id).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Turns a schedule off (a one-off after its instant); false when it was off already or is gone. */
  async disable(trx: Kysely<DB>, id: number, at: string): Promise<boolean> {
    const r = await trx.updateTable('schedules').set({ enabled: 0, updated_at: at }).where('id', '=', id).where('enabled', '=', 1).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async delete(trx: Kysely<DB>, id: number): Promise<boolean> {
    const r = await trx.deleteFrom('schedules').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) === 1;
  }

  fire(scheduleId: number, fireAt: string, db: Kysely<DB> = this.db): Promise<ScheduleFire | undefined> {
    return db.selectFrom('schedule_fires').selectAll().where('schedule_id', '=', scheduleId).where('fire_at', '=', fireAt).executeTakeFirst();
  }

  /** The schedule's fires, newest first. */
  fires(scheduleId: number, limit = 100, db: Kysely<DB> = this.db): Promise<ScheduleFire[]> {
    return db.selectFrom('schedule_fires').selectAll().where('schedule_id', '=', scheduleId).orderBy('fire_at', 'desc').limit(limit).execute();
  }

  /** Records what one instant did; the unique (schedule, instant) index refuses a second row. */
  async insertFire(
    trx: Kysely<DB>,
    f: { scheduleId: number; fireAt: string; runId: number | null; outcome: ScheduleFire['outcome']; reason: FireReason | null },
    at: string,
  ): Promise<void> {
    await trx
      .insertInto('schedule_fires')
      .values({ schedule_id: f.scheduleId, fire_at: f.fireAt, run_id: f.runId, outcome: f.outcome, ...reasonColumns(f.reason), created_at: at })
      .execute();
  }

  /** What a claimed instant finally did (the claim row is written first, so that two fires start one run). */
  async settleFire(db: Kysely<DB>, scheduleId: number, fireAt: string, f: { runId: number | null; outcome: ScheduleFire['outcome']; reason: FireReason | null }): Promise<void> {
    await db.updateTable('schedule_fires').set({ run_id: f.runId, outcome: f.outcome, ...reasonColumns(f.reason) }).where('schedule_id', '=', scheduleId).where('fire_at', '=', fireAt).execute();
  }
}
