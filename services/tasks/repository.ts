// The `tasks` table: every query on it, and its only writer. TaskService decides; this module reads
// and writes rows. Each write that changes a state is guarded by the state it expects, so two racing
// writers cannot both move one task.
import type { Kysely } from 'kysely';
import { transactionWith } from '../core/db/durability.js';
import { nowIso, type DB } from '../core/db/index.js';
import type { Task, TaskState } from '../core/db/schema.js';
import type { MachineTask } from './kinds.js';
import { OPEN_STATES } from './lifecycle.js';

export interface TaskView {
  id: number;
  hostId: number;
  hostName: string;
  mac: string;
  roomId: number | null;
  room: string | null;
  kind: string;
  state: TaskState;
  createdBy: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  error: string | null;
  result: Record<string, unknown> | null;
  /** What the task works on (its kind's params); null for kinds without any. */
  params: Record<string, unknown> | null;
  /** The room run this task restores a PC for; null for a task started on its own. */
  runId: number | null;
}

export interface TaskFilter {
  state?: TaskState;
  hostId?: number;
  roomId?: number | 'unassigned';
  kind?: string;
  /** Only pending and running tasks. */
  open?: boolean;
  limit?: number;
}

type ViewRow = Task & { host_name: string; mac: string; room_id: number | null; room_name: string | null; run_id: number | null };

const json = (v: string | null) => (v === null ? null : (JSON.parse(v) as Record<string, unknown>));

const toView = (t: ViewRow): TaskView => ({
  id: t.id,
  hostId: t.host_id,
  hostName: t.host_name,
  mac: t.mac,
  roomId: t.room_id,
  room: t.room_name,
  kind: t.kind,
  state: t.state,
  createdBy: t.created_by,
  createdAt: t.created_at,
  startedAt: t.started_at,
  finishedAt: t.finished_at,
  error: t.error,
  result: json(t.result),
  params: json(t.params),
  runId: t.run_id,
});

/** Columns a state change sets besides the state. */
export interface StateColumns {
  started_at?: string | null;
  finished_at?: string | null;
  error?: string | null;
  result?: string | null;
}

export class TaskRepository {
  constructor(private readonly db: Kysely<DB>) {}

  private views(db: Kysely<DB>) {
    return db
      .selectFrom('tasks')
      .innerJoin('hosts', 'hosts.id', 'tasks.host_id')
      .leftJoin('rooms', 'rooms.id', 'hosts.room_id')
      // A run's PC points at its restore task (one PC per task; indexed run_pcs_task).
      .leftJoin('run_pcs', 'run_pcs.task_id', 'tasks.id')
      .selectAll('tasks')
      .select(['hosts.name as host_name', 'hosts.mac', 'hosts.room_id', 'rooms.name as room_name', 'run_pcs.run_id as run_id']);
  }

  async view(id: number, db: Kysely<DB> = this.db): Promise<TaskView | undefined> {
    const row = await this.views(db).where('tasks.id', '=', id).executeTakeFirst();
    return row && toView(row);
  }

  async viewsOf(ids: number[], db: Kysely<DB> = this.db): Promise<TaskView[]> {
    if (ids.length === 0) return [];
    return (await this.views(db).where('tasks.id', 'in', ids).execute()).map(toView);
  }

  async list(filter: TaskFilter = {}, db: Kysely<DB> = this.db): Promise<TaskView[]> {
    let q = this.views(db).orderBy('tasks.id', 'desc').limit(filter.limit ?? 200);
    if (filter.state) q = q.where('tasks.state', '=', filter.state);
    if (filter.open) q = q.where('tasks.state', 'in', OPEN_STATES);
    if (filter.kind) q = q.where('tasks.kind', '=', filter.kind);
    if (filter.hostId !== undefined) q = q.where('tasks.host_id', '=', filter.hostId);
    if (filter.roomId === 'unassigned') q = q.where('hosts.room_id', 'is', null);
    else if (filter.roomId !== undefined) q = q.where('hosts.room_id', '=', filter.roomId);
    return (await q.execute()).map(toView);
  }

  row(id: number, db: Kysely<DB> = this.db): Promise<Task | undefined> {
    return db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** The task with its host's MAC and pinned disk (what a client's token is checked against). */
  machineRow(id: number, db: Kysely<DB> = this.db): Promise<MachineTask | undefined> {
    return db.selectFrom('tasks').innerJoin('hosts', 'hosts.id', 'tasks.host_id').selectAll('tasks').select(['hosts.mac', 'hosts.disk_serial', 'hosts.serial']).where('tasks.id', '=', id).executeTakeFirst();
  }

  /** The open task of a host, if any. */
  openOf(hostId: number, db: Kysely<DB> = this.db): Promise<Task | undefined> {
    return db.selectFrom('tasks').selectAll().where('host_id', '=', hostId).where('state', 'in', OPEN_STATES).executeTakeFirst();
  }

  /** The open tasks of one kind (in a transaction: the rows it may move). */
  openOfKind(kind: string, db: Kysely<DB>): Promise<Task[]> {
    return db.selectFrom('tasks').selectAll().where('kind', '=', kind).where('state', 'in', OPEN_STATES).orderBy('id').execute();
  }

  async openOfHosts(hostIds: number[], db: Kysely<DB>): Promise<Array<{ id: number; host_id: number }>> {
    if (hostIds.length === 0) return [];
    return db.selectFrom('tasks').select(['id', 'host_id']).where('host_id', 'in', hostIds).where('state', 'in', OPEN_STATES).execute();
  }

  async insert(trx: Kysely<DB>, row: { hostId: number; kind: string; createdBy: string; params: unknown; at?: string }): Promise<number> {
    const r = await trx
      .insertInto('tasks')
      .values({
        host_id: row.hostId,
        kind: row.kind,
        state: 'pending',
        created_by: row.createdBy,
        created_at: row.at ?? nowIso(),
        started_at: null,
        finished_at: null,
        error: null,
        result: null,
        params: row.params === null || row.params === undefined ? null : JSON.stringify(row.params),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return r.id;
  }

  /** Moves a task to `to` if it is in one of `from`; false when it was not (nothing changed). */
  async move(trx: Kysely<DB>, id: number, from: readonly TaskState[], to: TaskState, set: StateColumns = {}): Promise<boolean> {
    const r = await trx
      .updateTable('tasks')
      .set({ state: to, ...set })
      .where('id', '=', id)
      .where('state', 'in', [...from])
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Records the address whose hello claimed the task, unless one did already; false when another did. */
  async claim(trx: Kysely<DB>, id: number, ip: string): Promise<boolean> {
    const r = await trx.updateTable('tasks').set({ claimed_ip: ip, claimed_at: nowIso() }).where('id', '=', id).where('claimed_ip', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** The address the host's newest claimed task was claimed from (its boot client's DHCP address), if any. */
  async lastClaimedIp(hostId: number, db: Kysely<DB> = this.db): Promise<string | null> {
    const r = await db.selectFrom('tasks').select('claimed_ip').where('host_id', '=', hostId).where('claimed_ip', 'is not', null).orderBy('claimed_at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst();
    return r?.claimed_ip ?? null;
  }

  /** Keeps a running task's latest result (its progress report); false when it is not running. */
  async setRunningResult(id: number, hostId: number, result: string): Promise<boolean> {
    // Relaxed: a progress report lost to a power cut is replaced by the next (core/db/durability.ts).
    const r = await transactionWith(this.db, 'relaxed', (trx) => trx.updateTable('tasks').set({ result }).where('id', '=', id).where('host_id', '=', hostId).where('state', '=', 'running').executeTakeFirst());
    return Number(r.numUpdatedRows) === 1;
  }
}
