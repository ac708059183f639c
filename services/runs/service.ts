// Room runs: one image version restored onto a room's PCs (or chosen PCs), each PC through the pure
// pipeline (pipeline.ts). Every change of a PC is one transaction: its state and timeline row, the
// task it creates or cancels (through TaskService, in the same transaction), the run's end when its
// last PC ends, and the events told after the commit. What only the network can do (magic packets,
// waiting for deadlines) comes back to the caller, the run's worker (jobs/), to do after the commit:
// the database is the record, so the worker can die at any moment and decide again from it.
// The input schema and the views are in model.ts (re-exported here).
import type { Kysely } from 'kysely';
import { writeAudit, SYSTEM_ACTOR, type Actor } from '../core/audit.js';
import type { DB } from '../core/db/index.js';
import type { Run, RunPc, RunPcEvent } from '../core/db/schema.js';
import { AppError, conflict, notFound } from '../core/errors.js';
import type { EventBus, Tx } from '../core/events.js';
import type { HostRepository } from '../inventory/hosts.js';
import type { RoomRepository } from '../inventory/rooms.js';
import type { TaskService } from '../tasks/service.js';
import { estimateRun, type RunEstimate } from './estimate.js';
import { checkAcknowledged, generalizedWarnings, versionWindows, type RunWarning } from './generalized.js';
import { blindPlan, deliveriesAndPlan, type Bandwidth } from './plan-facts.js';
import type { RunPlan } from './plan.js';
import { multicastView, pcView, pipelineOf, reasonOf, RunInputSchema, type Applied, type RunOptions, type RunPcView, type RunView } from './model.js';
import { deliveredPath, sessionBounds, type ProbeFinding, type Transport } from './delivery.js';
import { PROBE_PORT, probeGroup } from '../imaging/multicast/probe.js';
import { checkSteps, decidePc, isFinal, STEPS, type PcEvent, type Reason } from './pipeline.js';
import { RunOverview, type PcLastResult, type RoomLastRun } from './overview.js';
import type { RunRepository } from './repository.js';
import { buildReport, type RunReport } from './report.js';
import { checkWakeConfigured, type WolConfigured } from './wake-check.js';

export { pcView, pipelineOf, RunInputSchema, type Applied, type RunInput, type RunOptions, type RunPcView, type RunView } from './model.js';

/** Why multicast is off when the server has no multicast interface. */
export const MULTICAST_UNSET = 'no multicast interface is configured (ROOMCAST_MULTICAST_INTERFACE)';

/** Thrown inside a PC's transaction when another writer moved the PC first: it rolls back, and apply() decides again. */
class Raced extends Error {}

export class RunService {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly repo: RunRepository,
    private readonly tasks: TaskService,
    private readonly hosts: Pick<HostRepository, 'list' | 'existing' | 'viewsOf'>,
    private readonly rooms: Pick<RoomRepository, 'byId'>,
    private readonly events: EventBus,
    /** ms since the epoch; a test passes its own clock. */
    private readonly now: () => number = Date.now,
    /** Where the worker's Wake-on-LAN packets may go (ROOMCAST_WOL_*): a run with the wake step needs somewhere. */
    private readonly wol: WolConfigured = { interfaces: ['(not checked)'], addresses: [] },
    /** null: the worker can send multicast sessions; else why not (runs/delivery.ts: every PC restores by unicast). */
    private readonly multicastOff: string | null = MULTICAST_UNSET,
    /** The server link's rate set by the admin and the multicast cap, in bytes per second, for the runs' bandwidth plan (plan.ts). */
    private readonly bandwidth: Bandwidth = { linkRate: null, multicastCap: null },
  ) {}

  /** Starts a run: checks the target, the version and the options; every PC queued. Refused as a whole when one PC is in another open run. */
  async create(actor: Actor, raw: unknown): Promise<RunView & { warnings?: RunWarning[] }> {
    const parsed = RunInputSchema.safeParse(raw);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      throw new AppError(400, 'validation_failed', `invalid run: ${first ? `${first.path.join('.') || 'input'}: ${first.message}` : 'bad input'}`);
    }
    const input = parsed.data;
    const steps = input.steps ?? [...STEPS];
    const bad = checkSteps(steps);
    if (bad) throw new AppError(400, 'bad_steps', bad);
    const { roomId, hostIds, imageId, version, windowEndsAt, steps: _s, acknowledge, ...rest } = input;
    const options: RunOptions = { ...rest, steps };
    if (windowEndsAt && Date.parse(windowEndsAt) <= this.now()) throw new AppError(400, 'window_over', `the run's window ended at ${windowEndsAt}; nothing was started`);

    return this.events.transaction(this.db, async (tx) => {
      const room = roomId === undefined ? undefined : await this.rooms.byId(roomId, tx.trx);
      if (roomId !== undefined && !room) throw notFound('room', roomId);
      checkWakeConfigured(steps, this.wol, room?.subnet ? [room.subnet] : []);
      let targets = roomId !== undefined ? await this.hosts.list({ roomId }, tx.trx) : await this.hosts.viewsOf(hostIds!, tx.trx);
      if (hostIds) {
        const known = new Set(targets.map((h) => h.id));
        const missing = hostIds.filter((id) => !known.has(id));
        if (missing.length) throw new AppError(400, roomId !== undefined ? 'not_in_room' : 'unknown_host', `host(s) ${missing.join(', ')} ${roomId !== undefined ? `are not in room "${room!.name}"` : 'do not exist'}; nothing was started`);
        targets = targets.filter((h) => hostIds.includes(h.id));
      }
      if (!targets.length) throw new AppError(400, 'empty_room', `room "${room?.name}" has no PCs; add them to the inventory first`);
      const busy = await this.repo.openOfHosts(targets.map((h) => h.id), tx.trx);
      if (busy.length)
        throw conflict('in_another_run', `${busy.map((b) => b.host_name).join(', ')} ${busy.length > 1 ? 'are' : 'is'} already in run ${[...new Set(busy.map((b) => b.run_id))].join(', ')}; wait for it to end or cancel it`);
      // No image named: the room's; no version named for the room's image: the room's (null: newest ready).
      const image = imageId ?? room?.image_id ?? undefined;
      if (image === undefined) throw new AppError(400, 'image_required', room ? `room "${room.name}" uses no image yet: name imageId, or set the room's image first` : 'name imageId: chosen PCs have no room image');
      const chosen = version ?? (room && image === room.image_id ? (room.image_version ?? undefined) : undefined);
      // The restore kind checks the version (ready, not damaged) as it would for a single task.
      const params = await this.tasks.kinds.get('restore').resolve(tx.trx, { imageId: image, ...(chosen !== undefined ? { version: chosen } : {}) });
      const p = params as { imageId: number; image: string; versionId: number; version: number };
      const warnings = generalizedWarnings(await versionWindows(tx.trx, p.versionId), targets.length);
      checkAcknowledged(warnings, acknowledge === true);
      const at = new Date(this.now()).toISOString();
      const run = { imageId: p.imageId, versionId: p.versionId, versionNumber: p.version, transport: options.transport, multicastOff: this.multicastOff };
      const plan = { maxParallel: options.maxParallel, windowEndsAt: windowEndsAt ?? null, now: this.now(), bandwidth: this.bandwidth };
      const { paths, plan: made } = await deliveriesAndPlan(tx.trx, run, targets.map((h) => h.id), plan);
      const id = await this.repo.insertRun(
        tx.trx,
        { roomId: room?.id ?? null, roomName: room?.name ?? null, imageId: p.imageId, imageName: p.image, versionId: p.versionId, versionNumber: p.version, options, createdBy: actor.name, at, windowEndsAt: windowEndsAt ?? null, plan: made },
        targets.map((h) => ({ hostId: h.id, hostName: h.name, mac: h.mac, delivery: paths.get(h.id)! })),
      );
      await writeAudit(tx.trx, actor, { action: 'run.start', targetType: 'run', targetId: id, details: { room: room?.name ?? null, image: p.image, version: p.version, pcs: targets.length, options, ...(warnings.length ? { warnings: warnings.map((w) => w.code) } : {}) } });
      tx.out.add('run.changed', { runId: id, roomId: room?.id ?? null, state: 'running', at });
      const view = await this.viewIn(id, tx.trx);
      return warnings.length ? { ...view, warnings } : view;
    });
  }

  /** Records, in the caller's transaction, a run that did not start (a schedule's instant), with its reason; its id. */
  async recordNotStarted(tx: Tx, r: { roomId: number; imageId: number; version: number | null; options: Record<string, unknown>; createdBy: string; reason: Reason }): Promise<number> {
    const room = await this.rooms.byId(r.roomId, tx.trx);
    const at = new Date(this.now()).toISOString();
    const id = await this.repo.insertNotStarted(tx.trx, { roomId: room ? r.roomId : null, roomName: room?.name ?? null, imageId: r.imageId, versionId: null, versionNumber: r.version ?? 0, options: r.options, createdBy: r.createdBy, at, windowEndsAt: null, reason: r.reason });
    tx.out.add('run.changed', { runId: id, roomId: room ? r.roomId : null, state: 'not_started', at });
    return id;
  }

  /** Where a run's magic packets go besides the server's settings: its room's subnet, when it has one. */
  async roomSubnets(runId: number): Promise<string[]> {
    const run = await this.repo.run(runId);
    const room = run?.room_id ? await this.rooms.byId(run.room_id) : undefined;
    return room?.subnet ? [room.subnet] : [];
  }

  async view(id: number): Promise<RunView> {
    return this.viewIn(id, this.db);
  }

  private async viewIn(id: number, db: Kysely<DB>): Promise<RunView> {
    const run = await this.repo.run(id, db);
    if (!run) throw notFound('run', id);
    const pcs = await this.repo.pcsOf(id, db);
    const counts: RunView['counts'] = {};
    for (const p of pcs) counts[p.state] = (counts[p.state] ?? 0) + 1;
    return {
      id: run.id,
      roomId: run.room_id,
      room: run.room_name,
      image: { id: run.image_id, name: run.image_name },
      version: { id: run.version_id, number: run.version_number },
      state: run.state,
      options: JSON.parse(run.options) as RunOptions,
      createdBy: run.created_by,
      createdAt: run.created_at,
      startedAt: run.started_at,
      endedAt: run.ended_at,
      windowEndsAt: run.window_ends_at,
      reason: reasonOf(run.reason_code, run.reason_text),
      counts,
      multicast: multicastView(run),
      plan: run.plan ? (JSON.parse(run.plan) as RunPlan) : null,
      pcs: pcs.map(pcView),
    };
  }

  /** How long a run of `pcs` PCs with this version should take (estimate.ts); the version as the run would choose it. */
  async estimate(q: { imageId: number; version?: number; pcs: number; maxParallel?: number; transport?: Transport; windowEndsAt?: string }): Promise<RunEstimate & { version: number; plan: RunPlan; warnings: RunWarning[] }> {
    const p = (await this.tasks.kinds.get('restore').resolve(this.db, { imageId: q.imageId, ...(q.version !== undefined ? { version: q.version } : {}) })) as { versionId: number; version: number };
    const o = new RunOverview(this.db);
    const maxParallel = q.maxParallel ?? RunInputSchema.shape.maxParallel.parse(undefined);
    // The plan as if every PC needed the whole version (the PCs' disks are not known here).
    const plan = await blindPlan(this.db, { versionId: p.versionId, pcs: q.pcs, transport: q.transport ?? 'auto', multicastOff: this.multicastOff, maxParallel, windowEndsAt: q.windowEndsAt ?? null, now: this.now(), bandwidth: this.bandwidth });
    const warnings = generalizedWarnings(await versionWindows(this.db, p.versionId), q.pcs);
    return { ...estimateRun({ pcs: q.pcs, maxParallel, usedBytes: await o.usedBytes(p.versionId), past: await o.pastPcs(p.versionId) }), version: p.version, plan, warnings };
  }

  /** The runs' multicast session records (their one sender: jobs/multicast.ts). */
  get sessions(): Pick<RunRepository, 'claimSession' | 'beatSession' | 'endSession' | 'sendingSlots'> {
    return this.repo;
  }

  /** Every room's newest run with its PCs by state (one query: the rooms page). */
  lastRunOfRooms(): Promise<RoomLastRun[]> {
    return new RunOverview(this.db).lastRunOfRooms();
  }

  /** Each PC of the room with its newest run result (one query: the room grid). */
  lastResultOfPcs(roomId: number): Promise<PcLastResult[]> {
    return new RunOverview(this.db).lastResultOfPcs(roomId);
  }

  list(filter: Parameters<RunRepository['runs']>[0] = {}): Promise<Run[]> {
    return this.repo.runs(filter);
  }

  timeline(pcIds: number[]): Promise<RunPcEvent[]> {
    return this.repo.timeline(pcIds);
  }

  /** The run's morning report (report.ts). */
  async report(runId: number): Promise<RunReport> {
    const view = await this.view(runId);
    const params = (await this.repo.run(runId))?.reason_params;
    const taskIds = view.pcs.flatMap((p) => (p.taskId === null ? [] : [p.taskId]));
    const results = taskIds.length ? await this.db.selectFrom('tasks').select(['id', 'result']).where('id', 'in', taskIds).execute() : [];
    return buildReport(view, await this.repo.timeline(view.pcs.map((p) => p.id)), this.now(), params ? (JSON.parse(params) as Record<string, string>) : {}, new Map(results.map((r) => [r.id, r.result])));
  }

  /** Whether the run's report was e-mailed already. */
  async reportSent(runId: number): Promise<boolean> {
    return (await this.repo.run(runId))?.report_sent_at != null;
  }

  markReportSent(runId: number): Promise<boolean> {
    return this.repo.markReportSent(runId, new Date(this.now()).toISOString());
  }

  /** How many more PCs of the run may start now (its maxParallel minus those holding a slot). */
  async freeSlots(runId: number): Promise<number> {
    const run = await this.repo.run(runId);
    if (!run || run.state !== 'running') return 0;
    const o = JSON.parse(run.options) as RunOptions;
    return Math.max(0, o.maxParallel - (await this.repo.activeCount(runId)));
  }

  /** The open run PC following a task (the worker maps task events with it). */
  pcOfTask(taskId: number): Promise<RunPc | undefined> {
    return this.repo.pcOfTask(taskId);
  }

  /** A run PC as people see it. */
  async pc(id: number): Promise<RunPcView | undefined> {
    const p = await this.repo.pc(id);
    return p && pcView(p);
  }

  /** The PC of this task fetched its iPXE script: it booted (nothing when the task is not a run's). */
  async scriptFetched(taskId: number): Promise<void> {
    const pc = await this.repo.pcOfTask(taskId);
    if (pc) await this.apply(pc.id, { type: 'script-fetched' });
  }

  /** Progress figures of a PC (no state change): bytes for the report and the UI. */
  async progress(pcId: number, done: number, total: number): Promise<void> {
    // Progress that moved is word from the PC: its silence deadline starts again (a restore may
    // take longer than silenceTimeoutMinutes; only a PC that stops reporting is given up).
    const pc = await this.repo.pc(pcId);
    if (!pc || (pc.bytes_done === done && pc.bytes_total === total)) return;
    const run = await this.repo.run(pc.run_id);
    const silenceMs = run ? pipelineOf(JSON.parse(run.options) as RunOptions).silenceTimeoutMs : null;
    const now = this.now();
    const deadline = silenceMs !== null && (pc.state === 'restoring' || pc.state === 'verifying') ? new Date(now + silenceMs).toISOString() : undefined;
    await this.repo.setBytes(this.db, pcId, done, total, new Date(now).toISOString(), deadline);
  }

  /**
   * One event for one PC: decided by the pipeline, written in one transaction with what it implies in
   * the database (the restore task created or cancelled, the run ended with its last PC). An event that
   * does not apply changes nothing. A racing writer that moved the PC first makes this decide again.
   */
  async apply(pcId: number, event: PcEvent, actor: Actor = SYSTEM_ACTOR, endAs?: { state: 'cancelled'; reason: Reason }, also?: (tx: Tx) => Promise<void>): Promise<Applied> {
    for (let attempt = 0; ; attempt++) {
      // A lost race rolls back what the attempt did before it lost (a task it created or cancelled).
      const out = await this.events.transaction(this.db, (tx) => this.applyIn(tx, pcId, event, actor, endAs, also)).catch((err: unknown) => {
        if (err instanceof Raced) return null;
        throw err;
      });
      if (out !== null) return out;
      if (attempt >= 3) throw conflict('run_pc_busy', `run PC ${pcId} kept changing under this ${event.type}; try again`);
    }
  }

  /** `also`: more writes of the caller (an audit row), in the same transaction, once the PC moved. */
  private async applyIn(tx: Tx, pcId: number, event: PcEvent, actor: Actor, endAs?: { state: 'cancelled'; reason: Reason }, also?: (tx: Tx) => Promise<void>): Promise<Applied> {
    const pc = await this.repo.pc(pcId, tx.trx);
    if (!pc) throw notFound('run PC', pcId);
    const run = (await this.repo.run(pc.run_id, tx.trx))!;
    const options = JSON.parse(run.options) as RunOptions;
    // A deadline counts only once it is due: a timer delivered twice, or late after the PC moved on, changes nothing.
    if (event.type === 'deadline' && (pc.deadline_at === null || Date.parse(pc.deadline_at) > this.now()))
      return { pc: pcView(pc), decision: { ok: false, ignore: pc.deadline_at === null ? 'the PC has no deadline' : `its deadline is ${pc.deadline_at}, not yet` } };
    if (event.type === 'start' && pc.state === 'queued' && run.window_ends_at !== null && Date.parse(run.window_ends_at) <= this.now())
      return { pc: pcView(pc), decision: { ok: false, ignore: `the run's window ended at ${run.window_ends_at}` } };
    if (event.type === 'start' && pc.state === 'queued' && (run.state !== 'running' || (await this.repo.activeCount(run.id, tx.trx)) >= options.maxParallel))
      return { pc: pcView(pc), decision: { ok: false, ignore: run.state !== 'running' ? `the run is ${run.state}` : `no free slot: ${options.maxParallel} PCs of the run are already under way` } };
    const decision = decidePc({ state: pc.state, wakeAttempts: pc.wake_attempts }, event, pipelineOf(options));
    if (!decision.ok) return { pc: pcView(pc), decision };
    const at = new Date(this.now()).toISOString();
    const set: Parameters<RunRepository['movePc']>[4] = { wake_attempts: decision.memory.wakeAttempts };
    if (decision.deadlineMs !== undefined) set.deadline_at = decision.deadlineMs === null ? null : new Date(this.now() + decision.deadlineMs).toISOString();
    if (pc.state === 'queued') set.started_at = at;
    if (isFinal(decision.to)) set.ended_at = at;
    let reason: Reason = decision.reason;
    let to = decision.to;
    for (const action of decision.actions) {
      if (action.do === 'create-task' && pc.host_id === null) {
        to = 'failed';
        reason = { code: 'host_gone', params: {}, text: 'it was removed from the inventory after the run started' };
        set.deadline_at = null;
        set.ended_at = at;
        break;
      } else if (action.do === 'create-task') {
        const multicast = pc.path === 'multicast' ? await this.joinOrUnicast(tx, pc, run, options, event.type === 'start' ? event.probeListenMs : undefined) : undefined;
        const created = await this.tasks.createIn(tx, actor, [pc.host_id!], 'restore', { imageId: run.image_id, version: run.version_number, endAction: action.powerOff ? 'poweroff' : 'reboot', ...(multicast ? { multicast } : {}) });
        const task = created.tasks[0]!;
        if (!created.created.includes(task.id)) {
          // The PC already has a task of its own (a capture, a single restore): the run leaves it alone.
          to = 'failed';
          reason = { code: 'task_open', params: { taskId: task.id, kind: task.kind }, text: `it already has an open ${task.kind} task (#${task.id}); cancel that task or let it finish, then retry this PC` };
          set.deadline_at = null;
          set.ended_at = at;
          break;
        }
        set.task_id = task.id;
      } else if (action.do === 'cancel-task' && pc.task_id !== null) {
        const state = await this.tasks.stateOf(pc.task_id, tx.trx);
        if (state === 'pending' || state === 'running') await this.tasks.cancelIn(tx, actor, pc.task_id);
      }
    }
    if (!(await this.repo.movePc(tx.trx, pc, to, reason, set, at))) throw new Raced(`run PC ${pc.id} moved under this ${event.type}`);
    await also?.(tx);
    tx.out.add('run.pc.changed', { runId: run.id, runPcId: pc.id, roomId: run.room_id, hostId: pc.host_id, state: to, previous: pc.state, reasonCode: reason.code, reasonText: reason.text, at });
    const moved = (await this.repo.pc(pc.id, tx.trx))!;
    const applied: Applied = { pc: pcView(moved), decision, ...(set.deadline_at !== undefined ? { deadlineMs: decision.ok && to === decision.to ? decision.deadlineMs ?? null : null } : {}) };
    const wake = to === decision.to ? decision.actions.find((a) => a.do === 'wake') : undefined;
    if (wake && wake.do === 'wake') applied.wake = { mac: pc.mac, attempt: wake.attempt };
    if (isFinal(to)) {
      const counts = await this.repo.counts(run.id, tx.trx);
      const ended = endAs?.state ?? (counts.cancelled && !counts.done && !counts.failed ? 'cancelled' : 'done');
      if (await this.repo.endRun(tx.trx, run.id, ended, endAs?.reason ?? null, at)) {
        applied.runEnded = ended;
        tx.out.add('run.changed', { runId: run.id, roomId: run.room_id, state: ended, at });
      }
    }
    return applied;
  }

  /**
   * Where a multicast PC's task joins its run's session (the restore task carries it to the client); when
   * the session is not being sent (it ended before this PC started, or could not start), the PC takes
   * unicast instead, and its path says why.
   */
  private async joinOrUnicast(tx: Tx, pc: RunPc, run: Run, o: RunOptions, probeListenMs?: number) {
    if (run.mcast_state === 'sending' && run.mcast_port !== null && run.version_id !== null) {
      const b = sessionBounds(o);
      // The worker sends the session's probe (jobs/multicast.ts): the PC listens for it before it joins.
      const probe = probeListenMs !== undefined && run.mcast_slot !== null ? { probe: { group: probeGroup(run.mcast_slot), port: PROBE_PORT, runId: run.id, listenMs: probeListenMs } } : {};
      return { portBase: run.mcast_port, versionId: run.version_id, startTimeoutSec: b.receiverStartTimeoutSec, receiveTimeoutSec: b.receiveTimeoutSec, ...probe };
    }
    const detail = run.mcast_outcome ? (JSON.parse(run.mcast_outcome) as { detail?: string }).detail : undefined;
    const reason = run.mcast_state === 'ended'
      ? { code: 'path_unicast_session_over', params: {}, text: `the run's multicast session had ended before this PC started${detail ? ` (${detail})` : ''}: restored over unicast HTTP` }
      : { code: 'path_unicast_no_session', params: {}, text: "the run's multicast session could not start (no free multicast group, or the worker could not send it): restored over unicast HTTP" };
    await this.repo.setPath(tx.trx, pc.id, 'unicast', reason);
    return undefined;
  }

  /** What a PC's restore got by multicast and by repair (the worker reads it from the task's report); a restore that fell back to HTTP says why. */
  async delivered(pcId: number, bytes: { multicastBytes: number; repairBytes: number }, fallback: string | null, probe: ProbeFinding | null = null): Promise<void> {
    await this.repo.setDelivered(pcId, bytes, deliveredPath(fallback, probe));
  }

  /** A new run of the same version and options for the PCs that failed in this one (still in the inventory). */
  async retryFailed(actor: Actor, runId: number): Promise<RunView> {
    const view = await this.view(runId);
    if (view.state === 'running') throw conflict('run_running', `run ${runId} is still running; retry its failed PCs once it has ended`);
    const failed = view.pcs.filter((p) => p.state === 'failed' && p.hostId !== null).map((p) => p.hostId!);
    if (!failed.length) throw conflict('nothing_to_retry', `run ${runId} has no failed PC left in the inventory`);
    if (view.image.id === null) throw conflict('image_gone', `the image of run ${runId} was deleted`);
    return this.create(actor, { ...(view.roomId !== null ? { roomId: view.roomId } : {}), hostIds: failed, imageId: view.image.id, version: view.version.number, ...view.options, acknowledge: true });
  }

  /** Cancels one PC of a running run (its task too); the run goes on with the others. */
  async cancelPc(actor: Actor, runId: number, pcId: number): Promise<RunPcView> {
    const pc = await this.repo.pc(pcId);
    if (!pc || pc.run_id !== runId) throw notFound('run PC', pcId);
    if (isFinal(pc.state)) throw conflict('run_pc_finished', `${pc.host_name} is already ${pc.state} in run ${runId}`);
    // The audit row in the cancel's own transaction: no cancel without its row, no row without its cancel.
    const applied = await this.apply(pcId, { type: 'cancel', why: 'person' }, actor, undefined, (tx) => writeAudit(tx.trx, actor, { action: 'run.pc.cancel', targetType: 'run', targetId: runId, details: { pcId, host: pc.host_name } }));
    if (!applied.decision.ok) throw conflict('run_pc_finished', `${pc.host_name} is already ${applied.pc.state} in run ${runId}`);
    return applied.pc;
  }

  /** Cancels a whole run: every open PC ends cancelled (tasks cancelled in the same transactions), then the run. */
  async cancel(actor: Actor, runId: number): Promise<RunView> {
    const run = await this.repo.run(runId);
    if (!run) throw notFound('run', runId);
    if (run.state !== 'running') throw conflict('run_finished', `run ${runId} is already ${run.state}`);
    const endAs = { state: 'cancelled' as const, reason: { code: 'cancelled', params: { by: actor.name }, text: `cancelled by ${actor.name}` } };
    for (const pc of await this.repo.pcsOf(runId)) if (!isFinal(pc.state)) await this.apply(pc.id, { type: 'cancel', why: 'person' }, actor, endAs);
    await this.events.transaction(this.db, async (tx) => {
      await writeAudit(tx.trx, actor, { action: 'run.cancel', targetType: 'run', targetId: runId, details: {} });
      // A run whose PCs were all final already (a race with their last event) ends here.
      if (await this.repo.endRun(tx.trx, runId, 'cancelled', endAs.reason, new Date(this.now()).toISOString())) tx.out.add('run.changed', { runId, roomId: run.room_id, state: 'cancelled', at: new Date(this.now()).toISOString() });
    });
    return this.view(runId);
  }
}
