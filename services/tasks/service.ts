// Tasks: what a PC does at its next network boot, and the one owner of the task lifecycle. Every
// change of a task goes through here: created (a person, a room run), started or done at the client's
// hello, progress, the client's final result, cancelled. Each change is one transaction with its audit
// entry, checked against the lifecycle (lifecycle.ts), and told as a `task.changed` event after the
// commit. What a task of each kind needs (params, boot, hello action, client view, end) comes from its
// kind in the registry (kinds.ts); the domains that own a kind hook in there, never into the table.
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { writeAudit, type Actor } from '../core/audit.js';
import type { MachineAuth } from '../core/auth.js';
import { nowIso, type DB } from '../core/db/index.js';
import { isUniqueViolation } from '../core/db/errors.js';
import type { Task, TaskState } from '../core/db/schema.js';
import { AppError, conflict, notFound } from '../core/errors.js';
import type { EventBus, Tx } from '../core/events.js';
import type { Progress } from '../core/progress.js';
import type { HostRepository } from '../inventory/hosts.js';
import type { MachineTask, Outcome, TaskKindRegistry } from './kinds.js';
import { move, movableFrom, OPEN_STATES, type TaskEvent } from './lifecycle.js';
import type { TaskFilter, TaskRepository, TaskView } from './repository.js';

export type { TaskFilter, TaskView } from './repository.js';

/** The client's final word (POST /api/v1/client/result). */
export interface ClientReport {
  ok: boolean;
  reason?: string | undefined;
  details?: Record<string, unknown> | undefined;
}

/** What the client's hello did to its task, and what the client does next. */
export interface CheckIn {
  task: Task | undefined;
  /** Set when the task runs: the client's action and the lifetime of its task token. */
  run?: { action: string; tokenSeconds: number };
  /** Set when another address's hello claimed this task first: nothing changed. */
  claimedBy?: string;
}

const an = (kind: string) => (/^[aeiou]/.test(kind) ? `an ${kind}` : `a ${kind}`);

export class TaskService {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly repo: TaskRepository,
    readonly kinds: TaskKindRegistry,
    private readonly hosts: Pick<HostRepository, 'existing'>,
    private readonly events: EventBus,
  ) {}

  async get(id: number, db: Kysely<DB> = this.db): Promise<TaskView> {
    const view = await this.repo.view(id, db);
    if (!view) throw notFound('task', id);
    return view;
  }

  list(filter: TaskFilter = {}): Promise<TaskView[]> {
    return this.repo.list(filter);
  }

  /** A task's state now (undefined: it no longer exists). */
  async stateOf(id: number, db: Kysely<DB> = this.db): Promise<TaskState | undefined> {
    return (await this.repo.row(id, db))?.state;
  }

  /** The open task of a host, if any (what its next network boot does). */
  /** The address the PC's boot client last said hello from (a claimed task), if any. */
  lastAddressOf(hostId: number): Promise<string | null> {
    return this.repo.lastClaimedIp(hostId);
  }

  openTaskOf(hostId: number, db: Kysely<DB> = this.db): Promise<Task | undefined> {
    return this.repo.openOf(hostId, db);
  }

  /** Tells the change of a task after the commit (one read of the row as people see it). */
  private async told(tx: Tx, id: number, previous: TaskState | null): Promise<void> {
    const v = await this.get(id, tx.trx);
    tx.out.add('task.changed', { taskId: v.id, hostId: v.hostId, roomId: v.roomId, kind: v.kind, state: v.state, previous, error: v.error, at: nowIso() });
  }

  /** Moves a task, refusing what the lifecycle forbids; false when a racing writer moved it first. */
  private async moveTask(tx: Tx, task: Task, event: TaskEvent, to: TaskState, set: Parameters<TaskRepository['move']>[4]): Promise<boolean> {
    const m = move(event, task.state, to);
    if (!m.ok) throw conflict('task_finished', `task ${task.id}: ${m.reason}`);
    const moved = await this.repo.move(tx.trx, task.id, movableFrom(event).filter((s) => move(event, s, to).ok), to, set);
    if (moved) await this.told(tx, task.id, task.state);
    return moved;
  }

  /**
   * Gives each host a task of `kind`; a host that already has an open task keeps it (returned as is).
   * All or nothing: an unknown host id fails the whole request. `input` is checked by the kind.
   */
  async create(actor: Actor, hostIds: number[], kindName: string, rawInput: Record<string, unknown> = {}): Promise<{ created: number[]; tasks: TaskView[] }> {
    const attempt = () => this.events.transaction(this.db, (tx) => this.createIn(tx, actor, hostIds, kindName, rawInput));
    try {
      return await attempt();
    } catch (err) {
      // Another request gave one of these hosts a task at the same moment: the retry finds it.
      if (isUniqueViolation(err)) return attempt();
      throw err;
    }
  }

  /** create() inside the caller's transaction (a room run creates its PC's task with its own state change). */
  async createIn(tx: Tx, actor: Actor, hostIds: number[], kindName: string, rawInput: Record<string, unknown> = {}): Promise<{ created: number[]; tasks: TaskView[] }> {
    const kind = this.kinds.get(kindName);
    const parsed = kind.input.safeParse(rawInput);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      throw new AppError(400, 'validation_failed', `invalid ${kindName} task: ${first ? `${first.path.join('.') || 'input'}: ${first.message}` : 'bad input'}`);
    }
    const ids = [...new Set(hostIds)];
    kind.checkHosts?.(ids);
    const hosts = await this.hosts.existing(tx.trx, ids);
    const missing = ids.filter((id) => !hosts.some((h) => h.id === id));
    if (missing.length) throw new AppError(400, 'unknown_host', `host(s) ${missing.join(', ')} do not exist; no task was created`);
    const params = kind.params.parse(await kind.resolve(tx.trx, parsed.data as Record<string, unknown>));
    const open = await this.repo.openOfHosts(ids, tx.trx);
    const created: number[] = [];
    const at = nowIso();
    for (const host of hosts) {
      if (open.some((t) => t.host_id === host.id)) continue;
      const id = await this.repo.insert(tx.trx, { hostId: host.id, kind: kind.name, createdBy: actor.name, params, at });
      created.push(id);
      await writeAudit(tx.trx, actor, { action: 'task.create', targetType: 'task', targetId: id, details: { kind: kind.name, hostId: host.id, host: host.name, ...(params ? { params } : {}) } });
      await this.told(tx, id, null);
    }
    const views = await this.repo.viewsOf([...created, ...open.map((t) => t.id)], tx.trx);
    const byHost = new Map(views.map((v) => [v.hostId, v]));
    return { created, tasks: ids.map((id) => byHost.get(id)!) };
  }

  /** Cancels a pending or running task; its kind releases what it held (a capture's unpublished version). */
  async cancel(actor: Actor, id: number): Promise<TaskView> {
    return this.events.transaction(this.db, (tx) => this.cancelIn(tx, actor, id));
  }

  /** cancel() inside the caller's transaction. */
  async cancelIn(tx: Tx, actor: Actor, id: number): Promise<TaskView> {
    const task = await this.repo.row(id, tx.trx);
    if (!task) throw notFound('task', id);
    if (!OPEN_STATES.includes(task.state)) throw conflict('task_finished', `task ${id} is already ${task.state}; only pending or running tasks can be cancelled`);
    if (!(await this.moveTask(tx, task, 'cancel', 'cancelled', { finished_at: nowIso() }))) throw conflict('task_finished', `task ${id} ended meanwhile`);
    const view = await this.get(id, tx.trx);
    await writeAudit(tx.trx, actor, { action: 'task.cancel', targetType: 'task', targetId: id, details: { kind: task.kind, hostId: task.host_id, host: view.hostName, from: task.state } });
    await this.ended(tx, task, 'cancelled', `the ${task.kind} was cancelled by ${actor.name}`, actor);
    return view;
  }

  /**
   * The server fails the open tasks of `kind` whose params `match` (what they work on became unusable),
   * inside the caller's transaction: a pending task never starts, and a running one's client is refused
   * at its next call (409 task_failed) and stops. `except`: a task whose own client is reporting the
   * problem (it ends its task itself, saying the state of its disk). Returns the ids failed.
   */
  async failOpen(
    tx: Tx,
    actor: Actor,
    kindName: string,
    match: (params: unknown) => boolean,
    end: (task: Task) => { error: string; details: Record<string, unknown> },
    except: number | null = null,
  ): Promise<number[]> {
    const kind = this.kinds.get(kindName);
    const failed: number[] = [];
    for (const task of await this.repo.openOfKind(kindName, tx.trx)) {
      if (task.id === except || !match(this.kinds.paramsOf(task))) continue;
      const { error, details } = end(task);
      const previous = task.result === null ? {} : (JSON.parse(task.result) as { progress?: unknown });
      const result = kind.result.parse({ ok: false, ...(previous.progress ? { progress: previous.progress } : {}), reason: error, details });
      if (!(await this.moveTask(tx, task, 'fail', 'failed', { finished_at: nowIso(), error, result: JSON.stringify(result) }))) continue; // ended meanwhile
      await writeAudit(tx.trx, actor, { action: 'task.failed', targetType: 'task', targetId: task.id, details: { kind: task.kind, hostId: task.host_id, from: task.state, error } });
      await this.ended(tx, task, 'failed', error, actor);
      failed.push(task.id);
    }
    return failed;
  }

  private async ended(tx: Tx, task: Task, state: TaskState, why: string, actor: Actor): Promise<void> {
    const kind = this.kinds.find(task.kind);
    if (kind?.onEnd) await kind.onEnd(tx, task, this.kinds.paramsOf(task), { state, why, actor });
  }

  /**
   * The booted client said hello for `taskId` (inside the hello's transaction): a kind done at the
   * hello (inventory) is done at once; others become running and tell the client their action. The
   * first hello of a running kind claims the task for its address (`ip`): a hello from another
   * address later gets `claimedBy` and changes nothing. Nothing changes when the task is no longer open.
   */
  async checkIn(tx: Tx, actor: Actor, taskId: number, hostId: number, ip: string | null = null): Promise<CheckIn> {
    const task = await this.repo.row(taskId, tx.trx);
    if (!task || task.host_id !== hostId || !OPEN_STATES.includes(task.state)) return { task: task?.host_id === hostId ? task : undefined };
    const kind = this.kinds.find(task.kind);
    if (!kind) return { task };
    const now = nowIso();
    if ('doneAtHello' in kind.hello) {
      const result = JSON.stringify(kind.result.parse(kind.hello.result));
      const started = task.started_at ?? now;
      if (!(await this.moveTask(tx, task, 'hello', 'done', { started_at: started, finished_at: now, result }))) return { task: await this.repo.row(taskId, tx.trx) };
      await writeAudit(tx.trx, actor, { action: 'task.done', targetType: 'task', targetId: taskId, details: { kind: task.kind, hostId, from: task.state } });
      return { task: { ...task, state: 'done', started_at: started, finished_at: now, result } };
    }
    if (ip !== null && !(await this.repo.claim(tx.trx, task.id, ip))) {
      const claimed = (await this.repo.row(task.id, tx.trx))?.claimed_ip ?? null;
      if (claimed !== null && claimed.replace(/^::ffff:/i, '') !== ip.replace(/^::ffff:/i, '')) return { task, claimedBy: claimed };
    }
    let current: Task = task;
    if (task.state === 'pending') {
      if (!(await this.moveTask(tx, task, 'hello', 'running', { started_at: now }))) return { task: await this.repo.row(taskId, tx.trx) };
      await writeAudit(tx.trx, actor, { action: 'task.start', targetType: 'task', targetId: taskId, details: { kind: task.kind, hostId } });
      current = { ...task, state: 'running', started_at: now };
    }
    return { task: current, run: { action: kind.hello.action, tokenSeconds: kind.hello.tokenSeconds } };
  }

  /** The running task this boot token was issued for, of one of `kinds` (default: kinds with a client API); 403/404/409 otherwise. */
  async machineTask(machine: MachineAuth, kinds?: string[], db: Kysely<DB> = this.db): Promise<MachineTask> {
    if (machine.purpose !== 'task' || machine.taskId === undefined || machine.hostId === undefined) {
      throw new AppError(403, 'not_a_task_token', 'this boot token was issued to register a PC, not for a task; give the PC a task and network-boot it again');
    }
    const task = await this.repo.machineRow(machine.taskId, db);
    if (!task) throw new AppError(404, 'task_gone', `task ${machine.taskId} no longer exists (its PC may have been removed from the inventory)`);
    if (task.host_id !== machine.hostId || task.mac !== machine.mac) {
      throw new AppError(403, 'task_mismatch', `task ${task.id} is not a task of the PC with MAC ${machine.mac}`);
    }
    if (task.state === 'failed') {
      throw conflict('task_failed', `task ${task.id} failed: ${task.error ?? 'no reason given'}; stop, there is nothing left to do`);
    }
    if (task.state !== 'running') {
      const hint = task.state === 'pending' ? 'say hello first (POST /api/v1/boot/hello)' : 'there is nothing left to do; power off';
      throw conflict('task_not_running', `task ${task.id} is ${task.state}, not running; ${hint}`);
    }
    const accepted = kinds ?? this.kinds.list().filter((k) => k.client).map((k) => k.name);
    if (!accepted.includes(task.kind)) {
      throw conflict('wrong_task_kind', `task ${task.id} is ${an(task.kind)} task; this call is for ${accepted.join(' or ')} tasks`);
    }
    return task;
  }

  /** GET /api/v1/client/task: what the client of a running task needs, from its kind. */
  async clientView(machine: MachineAuth): Promise<unknown> {
    const task = await this.machineTask(machine);
    const kind = this.kinds.get(task.kind);
    return kind.client!.view(this.db, task, this.kinds.paramsOf(task));
  }

  /** Keeps the client's last progress report on its running task and tells it (task.progress): a read and an UPDATE when all is well. */
  async recordProgress(machine: MachineAuth, p: Progress): Promise<void> {
    if (machine.purpose === 'task' && machine.taskId !== undefined && machine.hostId !== undefined) {
      const task = await this.repo.view(machine.taskId);
      if (task && task.mac === machine.mac && this.kinds.find(task.kind)?.progress) {
        const progress = { ...p, at: nowIso() };
        if (await this.repo.setRunningResult(task.id, machine.hostId, JSON.stringify({ progress }))) {
          this.events.emit('task.progress', { taskId: task.id, hostId: task.hostId, roomId: task.roomId, kind: task.kind, progress });
          return;
        }
      }
    }
    await this.machineTask(machine, this.kinds.list().filter((k) => k.progress).map((k) => k.name)); // says why
    throw conflict('task_not_running', `task ${machine.taskId} changed state meanwhile; power off`);
  }

  /** The client's final word: the task is done or failed (with a reason a person can act on). */
  async finish(machine: MachineAuth, report: ClientReport): Promise<{ taskId: number; state: 'done' | 'failed'; error: string | null }> {
    const task = await this.machineTask(machine);
    const kind = this.kinds.get(task.kind);
    const params = this.kinds.paramsOf(task);
    return this.events.transaction(this.db, async (tx) => {
      const previous = task.result === null ? {} : (JSON.parse(task.result) as { progress?: unknown });
      let outcome: Outcome = {
        state: report.ok ? 'done' : 'failed',
        error: report.ok ? null : report.reason?.trim() || "the roomcast client reported a failure without a reason; look at the PC's screen",
        result: { ok: report.ok, ...(previous.progress ? { progress: previous.progress } : {}), ...(report.reason ? { reason: report.reason } : {}), ...(report.details ? { details: report.details } : {}) },
      };
      if (kind.onResult) outcome = await kind.onResult(tx, task, params, outcome);
      const fits = kind.result.safeParse(outcome.result);
      if (!fits.success) {
        const i = fits.error.issues[0];
        throw new AppError(400, 'bad_result', `this result does not fit ${an(task.kind)} task: ${i ? `${['result', ...i.path.map(String)].join('.')}: ${i.message}` : 'invalid'}; nothing was recorded`);
      }
      const moved = await this.moveTask(tx, task, 'result', outcome.state, { finished_at: nowIso(), error: outcome.error, result: JSON.stringify(outcome.result) });
      if (!moved) throw conflict('task_not_running', `task ${task.id} ended meanwhile; power off`);
      await writeAudit(tx.trx, machine.actor, {
        action: outcome.state === 'done' ? 'task.done' : 'task.failed',
        targetType: 'task',
        targetId: task.id,
        details: { kind: task.kind, hostId: task.host_id, from: task.state, ...(outcome.error ? { error: outcome.error } : {}) },
      });
      if (outcome.state === 'failed') await this.ended(tx, task, 'failed', outcome.error ?? `the ${task.kind} failed`, machine.actor);
      return { taskId: task.id, state: outcome.state, error: outcome.error };
    });
  }

  /** Open tasks of one kind with their params (what an image version is still needed by). */
  async openOfKind(kind: string, db: Kysely<DB> = this.db): Promise<TaskView[]> {
    return this.repo.list({ kind, open: true, limit: 100_000 }, db);
  }
}

/** The body of POST /api/v1/client/result. */
export const ClientReportSchema = z.object({ ok: z.boolean(), reason: z.string().max(2000).optional(), details: z.record(z.string(), z.unknown()).optional() });
