// The room run's edges on BullMQ: one flow per run (FlowProducer), a parent job for the run and a
// child job per PC, so that one PC's failure is recorded without failing or stalling the room.
//
// A PC's job is a loop that sleeps between its turns (moveToDelayed + DelayedError): at each turn it
// reads the PC and its task from the database, turns what the task did into pipeline events (the task's
// state and the client's last progress report are in the task's row), starts the PC when the run has a
// free slot, applies a deadline that fell, sends the magic packets a decision asks for, and sleeps
// until its deadline or its next poll, whichever comes first. Every decision is RunService's, in one
// transaction, so a turn can be repeated (a killed worker, a stalled job) without doing anything twice.
// Events (task.changed, and task.progress when a restore's phase changes) only wake a PC's job early;
// nothing relies on them.
//
// The database is the record, Redis only the schedule: reconcile() adds the jobs of every running run
// again (existing job ids are left alone; a job of an open PC that failed for good is removed and added
// again), at the worker's start, every minute and when Redis comes back, so a Redis that lost its data
// (restarted without persistence) or a job that failed for good costs a delay, not a run
// (test/integration/runs-crash.test.ts: kill -9 of the worker, Redis restarts, cancel).
import { DelayedError, FlowProducer, Job, Queue, Worker } from 'bullmq';
import type { Logger } from '../core/logger.js';
import type { RedisHandle } from '../core/redis.js';
import type { EventBus } from '../core/events.js';
import type { PcEvent } from '../runs/pipeline.js';
import { isFinal } from '../runs/pipeline.js';
import { deliveredPath, type ProbeFinding } from '../runs/delivery.js';
import type { RunPcView, RunService, RunView } from '../runs/service.js';
import type { ReportMailer } from '../runs/mail.js';
import type { TaskService } from '../tasks/service.js';
import type { InUseFinding } from './inuse.js';
import { RunSessions, type RunSessionOptions } from './multicast.js';
import { sendMagicPacket, wolTargets, type WolSettings } from './wol.js';

export const RUN_QUEUES = { runs: 'runs', pcs: 'run-pcs' } as const;
const JOB_OPTS = { removeOnComplete: true, removeOnFail: 1000, attempts: 20, backoff: { type: 'exponential', delay: 1000 } } as const;

// A PC's job lives as long as its PC (it sleeps between turns), and BullMQ counts its stalls over that whole
// life: with the default limit of 1, the second killed worker of a night fails the PC's job for good.
const PC_MAX_STALLS = 100;

const runJobId = (runId: number) => `run-${runId}`;
const pcJobId = (runId: number, pcId: number) => `run-${runId}-pc-${pcId}`;

/** Adds runs to BullMQ and nudges their PCs' jobs; the api and the worker both use it. */
export class RunQueue {
  private readonly flow: FlowProducer;
  private readonly pcs: Queue;
  private readonly runs: Queue;

  constructor(redis: RedisHandle) {
    this.flow = new FlowProducer({ connection: redis.createClient(), prefix: redis.prefix });
    this.pcs = new Queue(RUN_QUEUES.pcs, { connection: redis.createClient(), prefix: redis.prefix });
    this.runs = new Queue(RUN_QUEUES.runs, { connection: redis.createClient(), prefix: redis.prefix });
  }

  /**
   * The run's flow: its open PCs, their first turns staggered by the run's wakePerSecond. Idempotent.
   * A job of the run that failed for good (its attempts spent, or stalled more often than BullMQ allows)
   * while its PC is still open is removed first, so that it is added again: kept under its id in the
   * failed set, it would make this add a no-op and leave the PC open for ever.
   */
  async enqueue(run: RunView): Promise<void> {
    const open = run.pcs.filter((p) => !isFinal(p.state));
    for (const [queue, id] of [[this.runs, runJobId(run.id)] as const, ...open.map((p) => [this.pcs, pcJobId(run.id, p.id)] as const)]) {
      const job = await Job.fromId(queue, id);
      if (job && (await job.isFailed())) await job.remove({ removeChildren: false });
    }
    const gapMs = 1000 / run.options.wakePerSecond;
    await this.flow.add({
      name: 'run',
      queueName: RUN_QUEUES.runs,
      data: { runId: run.id },
      opts: { ...JOB_OPTS, jobId: runJobId(run.id) },
      children: open.map((p, i) => ({
        name: 'pc',
        queueName: RUN_QUEUES.pcs,
        data: { runId: run.id, pcId: p.id },
        opts: { ...JOB_OPTS, jobId: pcJobId(run.id, p.id), delay: p.state === 'queued' ? Math.round(i * gapMs) : 0, ignoreDependencyOnFailure: true },
      })),
    });
  }

  /** Wakes a PC's sleeping job now (nothing when it is not sleeping). */
  async nudge(runId: number, pcId: number): Promise<void> {
    const job = await Job.fromId(this.pcs, pcJobId(runId, pcId));
    if (job && (await job.isDelayed())) await job.promote().catch(() => undefined);
  }

  async close(): Promise<void> {
    await Promise.all([this.flow.close(), this.pcs.close(), this.runs.close()]);
  }
}

export interface RunWorkerOptions {
  /** Sends each ended run's report (once: runs.report_sent_at). */
  mailer?: Pick<ReportMailer, 'send'>;
  wol: WolSettings;
  /** Longest sleep of a PC's job between turns (ms). */
  pollMs?: number;
  /** Whether a PC is in use (it answers on the network and has not network-booted since the run started): jobs/inuse.ts. Asked only when the run skips PCs in use. */
  inUse?: (pc: RunPcView, run: RunView) => Promise<InUseFinding | null>;
  /** A job's lock (ms); a killed worker's jobs are taken over once it lapsed, and stalled jobs are looked for as often. Default BullMQ's 30 s. */
  lockMs?: number;
  concurrency?: number;
  /** Multicast sessions for the runs' multicast PCs (jobs/multicast.ts); absent: none is sent. */
  multicast?: RunSessionOptions;
}

/** What a finished restore says it got by multicast and by repair, why it did not join its session (null: it did, or it had none), and what it heard of the session's probe. */
export function deliveredOf(result: Record<string, unknown> | null): { bytes: { multicastBytes: number; repairBytes: number }; fallback: string | null; probe: ProbeFinding | null } | null {
  const d = (result?.details ?? {}) as { multicastBytes?: unknown; repairBytes?: unknown; multicastFallback?: unknown; probe?: Partial<ProbeFinding> };
  const fallback = typeof d.multicastFallback === 'string' ? d.multicastFallback : null;
  const p = d.probe;
  const probe = p && typeof p.code === 'string' && typeof p.text === 'string' && typeof p.received === 'number' && typeof p.expected === 'number' ? { code: p.code, text: p.text, received: p.received, expected: p.expected, rate: typeof p.rate === 'number' ? p.rate : null } : null;
  if (typeof d.multicastBytes !== 'number' || typeof d.repairBytes !== 'number') return fallback || probe ? { bytes: { multicastBytes: 0, repairBytes: 0 }, fallback, probe } : null;
  return { bytes: { multicastBytes: d.multicastBytes, repairBytes: d.repairBytes }, fallback, probe };
}

/**
 * What the PC's task says happened, as a pipeline event (null: nothing new to tell). A running task's
 * result holds the client's last progress report ({ progress }). A task that ended done between two
 * turns tells the steps the turns did not see first (the client started; it read back what it wrote),
 * so that every done PC's timeline has its restoring and verifying rows: one event per call, the
 * caller asks again until nothing is new.
 */
export function taskEvent(pc: RunPcView, task: { state: string; error: string | null; result: Record<string, unknown> | null }): PcEvent | null {
  const details = (task.result?.details ?? {}) as { code?: unknown; diskState?: unknown; verifiedChunks?: unknown };
  switch (task.state) {
    case 'running': {
      const progress = task.result?.progress as { phase?: unknown } | undefined;
      const phase = typeof progress?.phase === 'string' ? progress.phase : null;
      if (pc.state === 'waking' || pc.state === 'booted') return { type: 'task-running' };
      // 'table' comes after the read-back: a short verify (a small disk) may be over before a turn reads the task.
      if (pc.state === 'restoring' && (phase === 'verify' || phase === 'table')) return { type: 'task-progress', phase: 'verify' };
      return null;
    }
    case 'done': {
      if (pc.state === 'waking' || pc.state === 'booted') return { type: 'task-running' };
      const lastPhase = (task.result?.progress as { phase?: unknown } | undefined)?.phase;
      if (pc.state === 'restoring' && (typeof details.verifiedChunks === 'number' || lastPhase === 'verify')) return { type: 'task-progress', phase: 'verify' };
      return { type: 'task-done' };
    }
    case 'failed':
      return { type: 'task-failed', code: typeof details.code === 'string' ? details.code : null, message: task.error ?? 'the restore failed', diskState: typeof details.diskState === 'string' ? details.diskState : null };
    case 'cancelled':
      return { type: 'task-cancelled' };
    default:
      return null;
  }
}

export async function startRunWorker(deps: { redis: RedisHandle; runs: RunService; tasks: TaskService; events: EventBus; log: Logger }, opts: RunWorkerOptions): Promise<{ queue: RunQueue; reconcile(): Promise<number>; stop(): Promise<void> }> {
  const log = deps.log.child({ part: 'runs' });
  const { runs, tasks } = deps;
  const pollMs = opts.pollMs ?? 5000;
  const queue = new RunQueue(deps.redis);
  const lockOpts = opts.lockMs ? { lockDuration: opts.lockMs, stalledInterval: opts.lockMs } : {};
  const sessions = opts.multicast ? new RunSessions(runs, opts.multicast, log) : null;

  const wake = async (mac: string, attempt: number, runId: number) => {
    const { targets, problems } = wolTargets(opts.wol, await runs.roomSubnets(runId).catch(() => []));
    const r = await sendMagicPacket(mac, targets);
    if (problems.length || r.errors.length) log.warn({ run: runId, mac, attempt, problems, errors: r.errors }, 'Wake-on-LAN: some packets could not be sent');
    else log.info({ run: runId, mac, attempt, sent: r.sent }, 'Wake-on-LAN sent');
  };

  // The probe only when the PC may start now (a free slot) and the run skips PCs in use.
  const startEvent = async (runId: number, pc: RunPcView): Promise<PcEvent> => {
    if (!opts.inUse || (await runs.freeSlots(runId)) <= 0) return { type: 'start', inUse: false };
    const run = await runs.view(runId);
    if (!run.options.skipInUse) return { type: 'start', inUse: false };
    const found = await opts.inUse(pc, run).catch((err: Error) => {
      log.warn({ run: runId, pc: pc.id, err: err.message }, 'in-use probe failed; the PC is taken as not in use');
      return null;
    });
    return found ? { type: 'start', inUse: true, port: found.port, answer: found.answer } : { type: 'start', inUse: false };
  };

  /**
   * One turn of a PC: returns when it is final, else the ms to sleep. Reads the PC once and its task
   * once; every change comes back with the PC as it now is (the run's whole view only for the in-use probe).
   */
  const turn = async (runId: number, pcId: number): Promise<number | 'final'> => {
    let pc = await runs.pc(pcId);
    if (!pc || isFinal(pc.state)) return 'final';
    const act = async (event: PcEvent) => {
      const a = await runs.apply(pcId, event);
      if (a.wake) await wake(a.wake.mac, a.wake.attempt, runId);
      pc = a.pc;
    };
    if (pc.taskId !== null) {
      const task = await tasks.get(pc.taskId).catch(() => null);
      if (task) {
        const last = task.result?.progress as { bytesDone?: unknown; bytesTotal?: unknown } | undefined;
        // A finished restore's own count of what it fetched is what the report calls bytes moved (the
        // last progress report may be of the read-back or the table); else the last figures, also when
        // the task ended between two turns (its result keeps them), so a PC is never reported with 0.
        const fetched = task.state === 'done' ? (task.result?.details as { fetchedBytes?: unknown } | undefined)?.fetchedBytes : undefined;
        const p = typeof fetched === 'number' ? { bytesDone: fetched, bytesTotal: fetched } : last;
        if (typeof p?.bytesDone === 'number' && typeof p.bytesTotal === 'number' && (p.bytesDone !== pc.bytesDone || p.bytesTotal !== pc.bytesTotal)) await runs.progress(pcId, p.bytesDone, p.bytesTotal);
        // Bytes by multicast and by repair, once the client reported them (its result's details).
        const got = task.state === 'done' || task.state === 'failed' ? deliveredOf(task.result) : null;
        const pathNow = got && deliveredPath(got.fallback, got.probe);
        if (got && (got.bytes.multicastBytes !== pc.delivery?.multicastBytes || got.bytes.repairBytes !== pc.delivery.repairBytes || (pathNow && pathNow.reason.code !== pc.delivery?.reason.code)))
          await runs.delivered(pcId, got.bytes, got.fallback, got.probe);
        // A hello, the verify phase and the end may all be new: look again while the PC moves.
        for (let i = 0; i < 4 && !isFinal(pc.state); i++) {
          const e = taskEvent(pc, task);
          if (!e) break;
          const before = pc.state;
          await act(e);
          if (pc.state === before) break;
        }
      }
    }
    // The run's session is being sent before its first multicast PC starts: the PC's task names its ports.
    if (pc.state === 'queued' && sessions && pc.delivery?.path === 'multicast') await sessions.ensure(runId);
    if (pc.state === 'queued') {
      const e = await startEvent(runId, pc);
      const listen = sessions?.probeListenMs(runId) ?? null;
      await act(e.type === 'start' && listen !== null ? { ...e, probeListenMs: listen } : e);
    }
    const due = () => (pc!.deadlineAt === null ? null : Date.parse(pc!.deadlineAt));
    if (!isFinal(pc.state) && (due() ?? Infinity) <= Date.now()) await act({ type: 'deadline' });
    if (isFinal(pc.state)) return 'final';
    const deadline = due();
    return Math.max(50, Math.min(pollMs, deadline === null ? pollMs : deadline - Date.now()));
  };

  const pcWorker = new Worker(
    RUN_QUEUES.pcs,
    async (job, token) => {
      const { runId, pcId } = job.data as { runId: number; pcId: number };
      const next = await turn(runId, pcId);
      if (next === 'final') return { state: (await runs.pc(pcId))?.state ?? 'gone' };
      await job.moveToDelayed(Date.now() + next, token);
      throw new DelayedError();
    },
    { connection: deps.redis.createClient(), prefix: deps.redis.prefix, concurrency: opts.concurrency ?? 20, name: `runs@${process.pid}`, ...lockOpts, maxStalledCount: PC_MAX_STALLS },
  );
  const runWorker = new Worker(
    RUN_QUEUES.runs,
    async (job) => {
      const view = await runs.view((job.data as { runId: number }).runId);
      log.info({ run: view.id, state: view.state, counts: view.counts }, 'run ended');
      await sessions?.stop(view.id);
      // At least once: a failed send throws and the job is retried; a send whose mark was lost may repeat.
      if (opts.mailer && view.state !== 'running' && !(await runs.reportSent(view.id))) {
        await opts.mailer.send(await runs.report(view.id));
        await runs.markReportSent(view.id);
      }
      return { state: view.state, counts: view.counts };
    },
    { connection: deps.redis.createClient(), prefix: deps.redis.prefix, concurrency: 2, name: `runs@${process.pid}`, ...lockOpts },
  );
  for (const w of [pcWorker, runWorker]) {
    w.on('error', (err) => log.warn({ err: err.message }, 'run worker connection error (BullMQ retries)'));
    w.on('failed', (job, err) => log.error({ job: job?.id, err: err.message }, 'run job failed (it is retried; reconcile adds it again)'));
  }

  // Task events only wake the PC's job early; its turn reads the database.
  const nudgeTask = (taskId: number) =>
    void runs
      .pcOfTask(taskId)
      .then((pc) => pc && queue.nudge(pc.run_id, pc.id))
      .catch((err: Error) => log.warn({ err: err.message }, 'could not wake a run PC job'));
  // A run started by the api (or cancelled) is heard here through the event relay; reconcile catches what the relay missed.
  const onRun = (e: { runId: number; state: string }) =>
    void (async () => {
      const view = await runs.view(e.runId);
      if (e.state === 'running') await queue.enqueue(view);
      else {
        await sessions?.stop(view.id);
        for (const p of view.pcs) await queue.nudge(view.id, p.id);
      }
    })().catch((err: Error) => log.warn({ run: e.runId, err: err.message }, 'could not schedule a run'));
  // A restore's progress wakes its PC's job only when its phase changes (restore → verify → table): once a phase, not once a second.
  const phases = new Map<number, string>();
  const onProgress = (e: { taskId: number; kind: string; progress: { phase: string } }) => {
    if (e.kind !== 'restore' || phases.get(e.taskId) === e.progress.phase) return;
    if (e.progress.phase === 'table') phases.delete(e.taskId);
    else phases.set(e.taskId, e.progress.phase);
    nudgeTask(e.taskId);
  };
  const off = [deps.events.on('run.changed', onRun), deps.events.on('task.changed', (e) => (e.state !== 'running' && phases.delete(e.taskId), nudgeTask(e.taskId))), deps.events.on('task.progress', onProgress), deps.events.on('run.pc.changed', (e) => void (isFinal(e.state as RunPcView['state']) && queue.nudge(e.runId, e.runPcId).catch(() => undefined)))];

  const reconcile = async () => {
    const open = await runs.list({ state: 'running' });
    for (const r of open) await queue.enqueue(await runs.view(r.id));
    return open.length;
  };
  await Promise.all([pcWorker.waitUntilReady(), runWorker.waitUntilReady()]);
  await reconcile();
  const timer = setInterval(() => void reconcile().catch((err: Error) => log.warn({ err: err.message }, 'run reconcile failed')), 60_000);
  timer.unref();
  // A Redis that comes back (restarted, maybe without its data): the runs' jobs are added again at once,
  // not at the next minute. BullMQ's own clients reconnect by themselves; this one only listens.
  const watch = deps.redis.createClient();
  let seenReady = false;
  watch.on('error', () => undefined);
  watch.on('ready', () => {
    if (!seenReady) return void (seenReady = true);
    log.info('redis is back: adding the running runs\' jobs again');
    void reconcile().catch((err: Error) => log.warn({ err: err.message }, 'run reconcile failed'));
  });
  return {
    queue,
    reconcile,
    stop: async () => {
      clearInterval(timer);
      watch.disconnect();
      for (const o of off) o();
      await Promise.all([pcWorker.close(), runWorker.close()]);
      await sessions?.close();
      await queue.close();
    },
  };
}
