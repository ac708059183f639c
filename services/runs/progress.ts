// Live progress of a run's PCs: the boot client reports its task's progress about once a second
// (task.progress); this turns the reports of a run's restore tasks into run.pc.progress events with
// bytes done and total, a smoothed rate and an ETA, at most one per PC per `minGapMs` (default 1 s),
// so that a 100-PC run does not flood the browsers. A report that is not told still feeds the rate.
// The last report of a phase (bytes done = total) and a change of phase are always told.
//
// These events describe no database change of their own: the task row holds the client's last
// report (written before task.progress is emitted) and the run worker copies the bytes to the run's
// PC at its turns. They are notices for the live view; the report reads the database.
import type { EventBus, RunPcProgressed, TaskProgressed } from '../core/events.js';
import type { RunService } from './service.js';

/** Weight of the newest interval in the smoothed rate: rate = a·instant + (1 − a)·rate, with a = 1 − e^(−Δt/τ). */
export const RATE_TAU_MS = 5000;

interface PcTrack {
  phase: string;
  bytes: number;
  atMs: number;
  rate: number | null;
  toldMs: number;
}

/** The smoothing and throttling, without I/O: feed it reports, it answers what to tell (null: nothing now). */
export class ProgressSmoother {
  private readonly tracks = new Map<number, PcTrack>();

  constructor(private readonly minGapMs = 1000) {}

  update(pcId: number, phase: string, bytesDone: number, bytesTotal: number, nowMs: number): { rateBytesPerSecond: number; etaSeconds: number | null } | null {
    const t = this.tracks.get(pcId);
    let rate: number | null = null;
    let force = false;
    if (!t || t.phase !== phase || bytesDone < t.bytes) {
      force = true; // a new phase (or a restarted client): its rate starts over
    } else if (nowMs > t.atMs) {
      const instant = ((bytesDone - t.bytes) * 1000) / (nowMs - t.atMs);
      const a = 1 - Math.exp(-(nowMs - t.atMs) / RATE_TAU_MS);
      rate = t.rate === null ? instant : a * instant + (1 - a) * t.rate;
    } else rate = t.rate;
    const done = bytesTotal > 0 && bytesDone >= bytesTotal;
    const tell = force || done || nowMs - t!.toldMs >= this.minGapMs;
    this.tracks.set(pcId, { phase, bytes: bytesDone, atMs: nowMs, rate, toldMs: tell ? nowMs : t!.toldMs });
    if (!tell) return null;
    const r = rate ?? 0;
    return { rateBytesPerSecond: Math.round(r), etaSeconds: done ? 0 : r > 0 ? Math.ceil((bytesTotal - bytesDone) / r) : null };
  }

  forget(pcId: number): void {
    this.tracks.delete(pcId);
  }
}

/** Listens to task.progress and tells run.pc.progress for the tasks of runs. Returns its stop. */
export function startRunProgress(events: EventBus, runs: Pick<RunService, 'pcOfTask'>, opts: { minGapMs?: number; now?: () => number } = {}): () => void {
  const now = opts.now ?? Date.now;
  const smoother = new ProgressSmoother(opts.minGapMs);
  // task id → its run PC (null: not a run's task). A run's task is a run's from its creation, so both answers are kept.
  const pcOf = new Map<number, { runId: number; pcId: number } | null>();
  const lookup = async (taskId: number) => {
    if (pcOf.has(taskId)) return pcOf.get(taskId)!;
    const pc = await runs.pcOfTask(taskId);
    if (pcOf.size > 10_000) pcOf.clear();
    const found = pc ? { runId: pc.run_id, pcId: pc.id } : null;
    pcOf.set(taskId, found);
    return found;
  };
  const onProgress = (e: TaskProgressed) =>
    void lookup(e.taskId)
      .then((pc) => {
        if (!pc) return;
        const p = e.progress;
        const told = smoother.update(pc.pcId, p.phase, p.bytesDone, p.bytesTotal, now());
        if (!told) return;
        const payload: RunPcProgressed = { runId: pc.runId, runPcId: pc.pcId, roomId: e.roomId, hostId: e.hostId, phase: p.phase, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, ...told, at: new Date(now()).toISOString() };
        events.emit('run.pc.progress', payload);
      })
      .catch(() => undefined);
  const offs = [
    events.on('task.progress', onProgress),
    events.on('task.changed', (e) => {
      if (e.state === 'running' || e.state === 'pending') return;
      const pc = pcOf.get(e.taskId);
      if (pc) smoother.forget(pc.pcId);
      pcOf.delete(e.taskId);
    }),
  ];
  return () => offs.forEach((o) => o());
}
