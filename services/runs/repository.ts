// The `runs`, `run_pcs` and `run_pc_events` tables: every query on them, and their only writer.
// RunService decides; this module reads and writes rows. A PC's state changes only through movePc,
// guarded by the state it expects, so two racing writers (a deadline and a task event) cannot both
// move one PC; the loser sees false and decides again from the new state.
import type { Kysely } from 'kysely';
import type { DB } from '../core/db/index.js';
import type { Run, RunPc, RunPcEvent, RunPcState, RunState } from '../core/db/schema.js';
import type { DeliveryPath } from './delivery.js';
import { FINAL_PC_STATES, type Reason } from './pipeline.js';
import type { RunPlan } from './plan.js';

export interface NewRun {
  roomId: number | null;
  roomName: string | null;
  imageId: number;
  imageName: string;
  versionId: number;
  versionNumber: number;
  options: Record<string, unknown>;
  createdBy: string;
  at: string;
  windowEndsAt: string | null;
  /** The run's bandwidth plan (plan.ts). */
  plan?: RunPlan | null;
}

export interface NewRunPc {
  hostId: number;
  hostName: string;
  mac: string;
  /** How it gets its version, and why (delivery.ts). */
  delivery: { path: DeliveryPath; reason: Reason };
}

/** Where a run's multicast session sends (multicast/session.ts's allocator slot). */
export interface SessionRow {
  slot: number;
  group: string;
  portBase: number;
}

export type PcUpdate = Partial<Pick<RunPc, 'wake_attempts' | 'task_id' | 'deadline_at' | 'reason_code' | 'reason_text' | 'bytes_done' | 'bytes_total' | 'started_at' | 'ended_at'>>;

const pathColumns = (path: DeliveryPath, reason: Reason) => ({ path, path_code: reason.code, path_text: reason.text, path_params: Object.keys(reason.params).length ? JSON.stringify(reason.params) : null });

const NO_SESSION = { mcast_state: null, mcast_slot: null, mcast_group: null, mcast_port: null, mcast_owner: null, mcast_beat: null, mcast_outcome: null };

const OPEN_PC_STATES = ['queued', 'waking', 'booted', 'restoring', 'verifying'] as const satisfies readonly RunPcState[];

export class RunRepository {
  constructor(private readonly db: Kysely<DB>) {}

  async insertRun(trx: Kysely<DB>, r: NewRun, pcs: NewRunPc[]): Promise<number> {
    const { id } = await trx
      .insertInto('runs')
      .values({
        room_id: r.roomId,
        room_name: r.roomName,
        image_id: r.imageId,
        image_name: r.imageName,
        version_id: r.versionId,
        version_number: r.versionNumber,
        state: 'running',
        options: JSON.stringify(r.options),
        created_by: r.createdBy,
        created_at: r.at,
        started_at: r.at,
        ended_at: null,
        window_ends_at: r.windowEndsAt,
        reason_code: null,
        reason_text: null,
        reason_params: null,
        report_sent_at: null,
        ...NO_SESSION,
        plan: r.plan ? JSON.stringify(r.plan) : null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    if (pcs.length)
      await trx
        .insertInto('run_pcs')
        .values(
          pcs.map((p) => ({
            run_id: id,
            host_id: p.hostId,
            host_name: p.hostName,
            mac: p.mac,
            state: 'queued' as const,
            wake_attempts: 0,
            bytes_done: 0,
            bytes_total: 0,
            multicast_bytes: 0,
            repair_bytes: 0,
            updated_at: r.at,
            ...pathColumns(p.delivery.path, p.delivery.reason),
          })),
        )
        .execute();
    return id;
  }

  run(id: number, db: Kysely<DB> = this.db): Promise<Run | undefined> {
    return db.selectFrom('runs').selectAll().where('id', '=', id).executeTakeFirst();
  }

  runs(filter: { roomId?: number; state?: RunState; limit?: number } = {}, db: Kysely<DB> = this.db): Promise<Run[]> {
    let q = db.selectFrom('runs').selectAll();
    if (filter.roomId !== undefined) q = q.where('room_id', '=', filter.roomId);
    if (filter.state !== undefined) q = q.where('state', '=', filter.state);
    return q.orderBy('id', 'desc').limit(filter.limit ?? 100).execute();
  }

  pc(id: number, db: Kysely<DB> = this.db): Promise<RunPc | undefined> {
    return db.selectFrom('run_pcs').selectAll().where('id', '=', id).executeTakeFirst();
  }

  pcsOf(runId: number, db: Kysely<DB> = this.db): Promise<RunPc[]> {
    return db.selectFrom('run_pcs').selectAll().where('run_id', '=', runId).orderBy('host_name').orderBy('id').execute();
  }

  /** The open run PC that follows this task, if any. */
  pcOfTask(taskId: number, db: Kysely<DB> = this.db): Promise<RunPc | undefined> {
    return db.selectFrom('run_pcs').selectAll().where('task_id', '=', taskId).where('state', 'in', OPEN_PC_STATES).executeTakeFirst();
  }

  /** Hosts among `hostIds` already in an open run, with that run. */
  openOfHosts(hostIds: number[], db: Kysely<DB> = this.db): Promise<Array<{ host_id: number | null; run_id: number; host_name: string }>> {
    if (!hostIds.length) return Promise.resolve([]);
    return db.selectFrom('run_pcs').select(['host_id', 'run_id', 'host_name']).where('host_id', 'in', hostIds).where('state', 'in', OPEN_PC_STATES).execute();
  }

  /** PCs of a run that hold a slot (started, not final). */
  async activeCount(runId: number, db: Kysely<DB> = this.db): Promise<number> {
    const r = await db
      .selectFrom('run_pcs')
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .where('run_id', '=', runId)
      .where('state', 'in', ['waking', 'booted', 'restoring', 'verifying'])
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /** Counts of a run's PCs by state. */
  async counts(runId: number, db: Kysely<DB> = this.db): Promise<Partial<Record<RunPcState, number>>> {
    const rows = await db.selectFrom('run_pcs').select(['state', (eb) => eb.fn.countAll<string | number>().as('n')]).where('run_id', '=', runId).groupBy('state').execute();
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  }

  /** Moves a PC from `from` to `to` with its timeline row; false when another writer moved it first. */
  async movePc(trx: Kysely<DB>, pc: RunPc, to: RunPcState, reason: Reason, set: PcUpdate, at: string): Promise<boolean> {
    const r = await trx
      .updateTable('run_pcs')
      .set({ ...set, state: to, reason_code: reason.code, reason_text: reason.text, updated_at: at })
      .where('id', '=', pc.id)
      .where('state', '=', pc.state)
      .where('wake_attempts', '=', pc.wake_attempts)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) return false;
    await trx
      .insertInto('run_pc_events')
      .values({ run_pc_id: pc.id, at, state: to, reason_code: reason.code, reason_text: reason.text, params: Object.keys(reason.params).length ? JSON.stringify(reason.params) : null })
      .execute();
    return true;
  }

  /** Progress figures of an open PC (no state change, no timeline row); with deadlineAt, its silence deadline moves on. */
  async setBytes(trx: Kysely<DB>, pcId: number, done: number, total: number, at: string, deadlineAt?: string): Promise<void> {
    await trx
      .updateTable('run_pcs')
      .set({ bytes_done: done, bytes_total: total, updated_at: at, ...(deadlineAt ? { deadline_at: deadlineAt } : {}) })
      .where('id', '=', pcId)
      .where('state', 'in', OPEN_PC_STATES)
      .execute();
  }

  timeline(pcIds: number[], db: Kysely<DB> = this.db): Promise<RunPcEvent[]> {
    if (!pcIds.length) return Promise.resolve([]);
    return db.selectFrom('run_pc_events').selectAll().where('run_pc_id', 'in', pcIds).orderBy('id').execute();
  }

  /** Records that the run's report was e-mailed; false when it already was. */
  async markReportSent(runId: number, at: string): Promise<boolean> {
    const r = await this.db.updateTable('runs').set({ report_sent_at: at }).where('id', '=', runId).where('report_sent_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /**
   * A run that did not start (a schedule's instant outside its window, an empty room, a damaged
   * version…): a row of its own, ended at once with its reason, so the runs list and the report say it.
   * versionNumber 0: no version could be chosen.
   */
  async insertNotStarted(trx: Kysely<DB>, r: Omit<NewRun, 'versionId' | 'imageName'> & { versionId: number | null; reason: Reason }): Promise<number> {
    const image = await trx.selectFrom('images').select('name').where('id', '=', r.imageId).executeTakeFirst();
    const { id } = await trx
      .insertInto('runs')
      .values({
        room_id: r.roomId,
        room_name: r.roomName,
        image_id: image ? r.imageId : null,
        image_name: image?.name ?? '?',
        version_id: r.versionId,
        version_number: r.versionNumber,
        state: 'not_started',
        options: JSON.stringify(r.options),
        created_by: r.createdBy,
        created_at: r.at,
        started_at: null,
        ended_at: r.at,
        window_ends_at: r.windowEndsAt,
        reason_code: r.reason.code,
        reason_text: r.reason.text,
        reason_params: Object.keys(r.reason.params).length ? JSON.stringify(r.reason.params) : null,
        report_sent_at: null,
        ...NO_SESSION,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return id;
  }

  /** Ends a running run once every PC is final; false when it is not (or no longer) running, or a PC is still open. */
  async endRun(trx: Kysely<DB>, runId: number, state: Exclude<RunState, 'running'>, reason: Reason | null, at: string): Promise<boolean> {
    const open = await trx.selectFrom('run_pcs').select('id').where('run_id', '=', runId).where('state', 'not in', FINAL_PC_STATES).limit(1).executeTakeFirst();
    if (open) return false;
    const r = await trx
      .updateTable('runs')
      .set({ state, ended_at: at, reason_code: reason?.code ?? null, reason_text: reason?.text ?? null })
      .where('id', '=', runId)
      .where('state', '=', 'running')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** What a PC's restore got by multicast and by repair (its task's report); `path`: the path it took after all, when it changed. */
  async setDelivered(pcId: number, bytes: { multicastBytes: number; repairBytes: number }, path?: { path: DeliveryPath; reason: Reason }): Promise<void> {
    await this.db
      .updateTable('run_pcs')
      .set({ multicast_bytes: bytes.multicastBytes, repair_bytes: bytes.repairBytes, ...(path ? pathColumns(path.path, path.reason) : {}) })
      .where('id', '=', pcId)
      .execute();
  }

  /** A PC's path changed before its task was made (its run's session could not start): in the caller's transaction. */
  async setPath(trx: Kysely<DB>, pcId: number, path: DeliveryPath, reason: Reason): Promise<void> {
    await trx.updateTable('run_pcs').set(pathColumns(path, reason)).where('id', '=', pcId).execute();
  }

  /** Slots of the sessions being sent for running runs, whose worker spoke since `freshAfter`. */
  async sendingSlots(freshAfter: string): Promise<Array<{ runId: number; slot: number }>> {
    const rows = await this.db.selectFrom('runs').select(['id', 'mcast_slot']).where('mcast_state', '=', 'sending').where('state', '=', 'running').where('mcast_beat', '>', freshAfter).execute();
    return rows.flatMap((r) => (r.mcast_slot === null ? [] : [{ runId: r.id, slot: r.mcast_slot }]));
  }

  /**
   * Takes a running run's session for worker `owner`: when it has none, when `owner` holds it, or when
   * its worker has been silent since `staleBefore` (it died). False: another worker sends it, or it ended.
   */
  async claimSession(runId: number, owner: string, slot: SessionRow, at: string, staleBefore: string): Promise<boolean> {
    const r = await this.db
      .updateTable('runs')
      .set({ mcast_state: 'sending', mcast_slot: slot.slot, mcast_group: slot.group, mcast_port: slot.portBase, mcast_owner: owner, mcast_beat: at, mcast_outcome: null })
      .where('id', '=', runId)
      .where('state', '=', 'running')
      .where((eb) => eb.or([eb('mcast_state', 'is', null), eb.and([eb('mcast_state', '=', 'sending'), eb.or([eb('mcast_owner', '=', owner), eb('mcast_beat', '<', staleBefore)])])]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** The owner still sends: false when it no longer holds the session. */
  async beatSession(runId: number, owner: string, at: string): Promise<boolean> {
    const r = await this.db.updateTable('runs').set({ mcast_beat: at }).where('id', '=', runId).where('mcast_state', '=', 'sending').where('mcast_owner', '=', owner).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** The session ended with this outcome (JSON): it is never sent again. */
  async endSession(runId: number, owner: string, outcome: Record<string, unknown>, at: string): Promise<boolean> {
    const r = await this.db
      .updateTable('runs')
      .set({ mcast_state: 'ended', mcast_beat: at, mcast_outcome: JSON.stringify(outcome) })
      .where('id', '=', runId)
      .where('mcast_state', '=', 'sending')
      .where('mcast_owner', '=', owner)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }
}
