// Tasks: what a PC does at its next network boot: 'inventory' (boot the roomcast client, report the
// hardware facts, power off), 'capture' (its disk into a new version of an image) and 'restore' (a
// ready image version onto its disk). Capture and restore keep what they work on in `params`.
// A PC has at most one open (pending or running) task: a unique partial index enforces it. Every
// state change is one transaction with its audit entry.
import type { Kysely } from 'kysely';
import { writeAudit, type Actor } from '../core/audit.js';
import { nowIso, type DB } from '../core/db/index.js';
import type { Task, TaskKind, TaskState } from '../core/db/schema.js';
import { AppError, conflict, notFound } from '../core/errors.js';
import { isUniqueViolation } from '../inventory/service.js';

export const TASK_KINDS = ['inventory', 'capture', 'restore'] as const satisfies readonly TaskKind[];
export const TASK_STATES = ['pending', 'running', 'done', 'failed', 'cancelled'] as const satisfies readonly TaskState[];
export const OPEN_STATES: TaskState[] = ['pending', 'running'];

export interface TaskView {
  id: number;
  hostId: number;
  hostName: string;
  mac: string;
  roomId: number | null;
  room: string | null;
  kind: TaskKind;
  state: TaskState;
  createdBy: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  error: string | null;
  result: Record<string, unknown> | null;
  /** Capture: {imageId, image, notes}; restore: {imageId, image, versionId, version}; inventory: null. */
  params: Record<string, unknown> | null;
}

/** What a capture or restore task works on (POST /api/v1/tasks). */
export interface TaskOptions {
  imageId?: number;
  /** Restore: the version number; default the newest ready one. */
  version?: number;
  /** Capture: notes of the version it makes. */
  notes?: string | null;
}

export interface CaptureParams {
  imageId: number;
  image: string;
  notes: string | null;
}

export interface RestoreParams {
  imageId: number;
  image: string;
  versionId: number;
  version: number;
}

export const parseParams = <T>(t: Pick<Task, 'params'>): T | null => (t.params === null ? null : (JSON.parse(t.params) as T));

export interface TaskFilter {
  state?: TaskState;
  hostId?: number;
  roomId?: number | 'unassigned';
  limit?: number;
}

type TaskRow = Task & { host_name: string; mac: string; room_id: number | null; room_name: string | null };

const toView = (t: TaskRow): TaskView => ({
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
  result: t.result === null ? null : (JSON.parse(t.result) as Record<string, unknown>),
  params: parseParams<Record<string, unknown>>(t),
});

export class TaskService {
  constructor(private readonly db: Kysely<DB>) {}

  private query(db: Kysely<DB> = this.db) {
    return db
      .selectFrom('tasks')
      .innerJoin('hosts', 'hosts.id', 'tasks.host_id')
      .leftJoin('rooms', 'rooms.id', 'hosts.room_id')
      .selectAll('tasks')
      .select(['hosts.name as host_name', 'hosts.mac', 'hosts.room_id', 'rooms.name as room_name']);
  }

  async get(id: number, db: Kysely<DB> = this.db): Promise<TaskView> {
    const row = await this.query(db).where('tasks.id', '=', id).executeTakeFirst();
    if (!row) throw notFound('task', id);
    return toView(row);
  }

  async list(filter: TaskFilter = {}): Promise<TaskView[]> {
    let q = this.query().orderBy('tasks.id', 'desc').limit(filter.limit ?? 200);
    if (filter.state) q = q.where('tasks.state', '=', filter.state);
    if (filter.hostId !== undefined) q = q.where('tasks.host_id', '=', filter.hostId);
    if (filter.roomId === 'unassigned') q = q.where('hosts.room_id', 'is', null);
    else if (filter.roomId !== undefined) q = q.where('hosts.room_id', '=', filter.roomId);
    return (await q.execute()).map(toView);
  }

  /** The open task of a host, if any (what its next network boot does). */
  async openTaskOf(hostId: number, db: Kysely<DB> = this.db): Promise<Task | undefined> {
    return db.selectFrom('tasks').selectAll().where('host_id', '=', hostId).where('state', 'in', OPEN_STATES).executeTakeFirst();
  }

  /**
   * Gives each host a task of `kind`; a host that already has an open task keeps it (returned as is).
   * All or nothing: an unknown host id fails the whole request. A capture takes exactly one PC and an
   * image; a restore takes an image and a version number (default: the newest ready version).
   */
  async create(actor: Actor, hostIds: number[], kind: TaskKind, opts: TaskOptions = {}): Promise<{ created: number[]; tasks: TaskView[] }> {
    const ids = [...new Set(hostIds)];
    if (kind === 'capture' && ids.length !== 1) {
      throw new AppError(400, 'one_host_per_capture', `a capture reads the disk of one PC; give exactly one host id (got ${ids.length})`);
    }
    const attempt = () =>
      this.db.transaction().execute(async (trx) => {
        const hosts = await trx.selectFrom('hosts').select(['id', 'name']).where('id', 'in', ids).execute();
        const missing = ids.filter((id) => !hosts.some((h) => h.id === id));
        if (missing.length) throw new AppError(400, 'unknown_host', `host(s) ${missing.join(', ')} do not exist; no task was created`);
        const params = await this.resolveParams(trx, kind, opts);
        const open = await trx.selectFrom('tasks').select(['id', 'host_id']).where('host_id', 'in', ids).where('state', 'in', OPEN_STATES).execute();
        const created: number[] = [];
        const now = nowIso();
        for (const host of hosts) {
          if (open.some((t) => t.host_id === host.id)) continue;
          const row = await trx
            .insertInto('tasks')
            .values({ host_id: host.id, kind, state: 'pending', created_by: actor.name, created_at: now, started_at: null, finished_at: null, error: null, result: null, params: params === null ? null : JSON.stringify(params) })
            .returning('id')
            .executeTakeFirstOrThrow();
          created.push(row.id);
          await writeAudit(trx, actor, { action: 'task.create', targetType: 'task', targetId: row.id, details: { kind, hostId: host.id, host: host.name, ...(params ? { params } : {}) } });
        }
        const taskIds = [...created, ...open.map((t) => t.id)];
        const rows = await this.query(trx).where('tasks.id', 'in', taskIds).execute();
        const byHost = new Map(rows.map((r) => [r.host_id, toView(r)]));
        return { created, tasks: ids.map((id) => byHost.get(id)!) };
      });
    try {
      return await attempt();
    } catch (err) {
      // Another request gave one of these hosts a task at the same moment: the retry finds it.
      if (isUniqueViolation(err)) return attempt();
      throw err;
    }
  }

  /** Capture and restore parameters, checked against the images; null for inventory. */
  private async resolveParams(trx: Kysely<DB>, kind: TaskKind, opts: TaskOptions): Promise<CaptureParams | RestoreParams | null> {
    if (kind === 'inventory') return null;
    if (opts.imageId === undefined) throw new AppError(400, 'image_required', `a ${kind} task needs imageId: the image to ${kind === 'capture' ? 'capture into' : 'restore'}`);
    const image = await trx.selectFrom('images').select(['id', 'name']).where('id', '=', opts.imageId).executeTakeFirst();
    if (!image) throw new AppError(400, 'unknown_image', `image ${opts.imageId} does not exist; create it first (POST /api/v1/images)`);
    if (kind === 'capture') {
      const notes = opts.notes?.trim() || null;
      return { imageId: image.id, image: image.name, notes };
    }
    let q = trx.selectFrom('image_versions').select(['id', 'number', 'state']).where('image_id', '=', image.id);
    q = opts.version === undefined ? q.where('state', '=', 'ready').orderBy('number', 'desc').limit(1) : q.where('number', '=', opts.version);
    const version = await q.executeTakeFirst();
    if (!version) {
      if (opts.version !== undefined) throw new AppError(400, 'unknown_version', `image "${image.name}" has no version ${opts.version}`);
      throw conflict('no_ready_version', `image "${image.name}" has no ready version to restore yet; capture one first`);
    }
    if (version.state !== 'ready') {
      throw conflict('version_not_ready', `version ${version.number} of image "${image.name}" is ${version.state}; only a ready version can be restored`);
    }
    return { imageId: image.id, image: image.name, versionId: version.id, version: version.number };
  }

  async cancel(actor: Actor, id: number): Promise<TaskView> {
    return this.db.transaction().execute(async (trx) => {
      const task = await this.get(id, trx);
      if (!OPEN_STATES.includes(task.state)) throw conflict('task_finished', `task ${id} is already ${task.state}; only pending or running tasks can be cancelled`);
      const now = nowIso();
      await trx.updateTable('tasks').set({ state: 'cancelled', finished_at: now }).where('id', '=', id).execute();
      await writeAudit(trx, actor, { action: 'task.cancel', targetType: 'task', targetId: id, details: { kind: task.kind, hostId: task.hostId, host: task.hostName, from: task.state } });
      if (task.kind === 'capture') await this.failCapture(trx, actor, id, `the capture was cancelled by ${actor.name}`);
      return this.get(id, trx);
    });
  }

  /**
   * Ends a running task as done or failed (the client's final report), with its audit entry; a failed
   * capture takes its unpublished version down with it. Returns false when the task was no longer
   * running (nothing changed).
   */
  async finish(trx: Kysely<DB>, actor: Actor, task: Task, outcome: { state: 'done' | 'failed'; error: string | null; result: Record<string, unknown> }): Promise<boolean> {
    const now = nowIso();
    const r = await trx
      .updateTable('tasks')
      .set({ state: outcome.state, finished_at: now, error: outcome.error, result: JSON.stringify(outcome.result) })
      .where('id', '=', task.id)
      .where('state', '=', 'running')
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) return false;
    await writeAudit(trx, actor, {
      action: outcome.state === 'done' ? 'task.done' : 'task.failed',
      targetType: 'task',
      targetId: task.id,
      details: { kind: task.kind, hostId: task.host_id, from: task.state, ...(outcome.error ? { error: outcome.error } : {}) },
    });
    if (task.kind === 'capture' && outcome.state === 'failed') await this.failCapture(trx, actor, task.id, outcome.error ?? 'the capture failed');
    return true;
  }

  /** Marks the unpublished version of a capture task failed: never offered, its chunks collectable unless shared. */
  private async failCapture(trx: Kysely<DB>, actor: Actor, taskId: number, why: string): Promise<void> {
    const versions = await trx.selectFrom('image_versions').select(['id', 'image_id', 'number']).where('task_id', '=', taskId).where('state', '=', 'capturing').execute();
    for (const v of versions) {
      await trx.updateTable('image_versions').set({ state: 'failed', error: why }).where('id', '=', v.id).where('state', '=', 'capturing').execute();
      await writeAudit(trx, actor, { action: 'image.version.fail', targetType: 'image', targetId: v.image_id, details: { version: v.number, versionId: v.id, taskId, error: why } });
    }
  }

  /**
   * The booted client said hello for `taskId`: an inventory task is done at once (the facts are its
   * result); other kinds become running. Nothing changes when the task is no longer open.
   */
  async startFromHello(trx: Kysely<DB>, actor: Actor, taskId: number, hostId: number): Promise<Task | undefined> {
    const task = await trx.selectFrom('tasks').selectAll().where('id', '=', taskId).where('host_id', '=', hostId).executeTakeFirst();
    if (!task || !OPEN_STATES.includes(task.state)) return task;
    const now = nowIso();
    if (task.kind === 'inventory') {
      const result = JSON.stringify({ facts: true });
      await trx.updateTable('tasks').set({ state: 'done', started_at: task.started_at ?? now, finished_at: now, result }).where('id', '=', taskId).execute();
      await writeAudit(trx, actor, { action: 'task.done', targetType: 'task', targetId: taskId, details: { kind: task.kind, hostId, from: task.state } });
      return { ...task, state: 'done', started_at: task.started_at ?? now, finished_at: now, result };
    }
    if (task.state === 'pending') {
      await trx.updateTable('tasks').set({ state: 'running', started_at: now }).where('id', '=', taskId).execute();
      await writeAudit(trx, actor, { action: 'task.start', targetType: 'task', targetId: taskId, details: { kind: task.kind, hostId } });
      return { ...task, state: 'running', started_at: now };
    }
    return task;
  }
}
