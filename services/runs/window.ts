// The end of a run's window (runs.window_ends_at, set by a schedule or by whoever started the run):
// every PC of the run not yet final is stopped cleanly then, one PC per transaction through
// RunService.apply (its restore task cancelled: a running client is told to stop at its next call),
// with the reason window_ended and the window's end as people read it (local time). The report counts
// these PCs as needing a person (report.ts). The worker calls closeDueWindows on a timer
// (jobs/window-end.ts); the database is the record, so a worker that was down closes them late.
import { SYSTEM_ACTOR } from '../core/audit.js';
import { isFinal } from './pipeline.js';
import type { RunService } from './service.js';

/** 'HH:MM' of an instant in a time zone. */
export function wallTime(at: number, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(at));
}

/** Stops the open PCs of one run whose window ended; returns how many were stopped. */
export async function closeWindow(runs: Pick<RunService, 'view' | 'apply'>, runId: number, timeZone: string): Promise<number> {
  const view = await runs.view(runId);
  if (view.state !== 'running' || view.windowEndsAt === null) return 0;
  const windowEnd = wallTime(Date.parse(view.windowEndsAt), timeZone);
  let stopped = 0;
  for (const pc of view.pcs) {
    if (isFinal(pc.state)) continue;
    const a = await runs.apply(pc.id, { type: 'cancel', why: 'window-end', windowEnd }, { ...SYSTEM_ACTOR, name: 'window-end' });
    if (a.decision.ok) stopped++;
  }
  return stopped;
}

/**
 * Closes every running run whose window has ended by `now`; returns the runs closed and when the next
 * window of a running run ends (null: none), so that the caller sleeps until then.
 */
export async function closeDueWindows(runs: Pick<RunService, 'list' | 'view' | 'apply'>, now: number, timeZone: string): Promise<{ closed: Array<{ runId: number; stopped: number }>; nextAt: number | null }> {
  const closed: Array<{ runId: number; stopped: number }> = [];
  let nextAt: number | null = null;
  for (const run of await runs.list({ state: 'running', limit: 10_000 })) {
    if (run.window_ends_at === null) continue;
    const end = Date.parse(run.window_ends_at);
    if (end <= now) closed.push({ runId: run.id, stopped: await closeWindow(runs, run.id, timeZone) });
    else nextAt = nextAt === null ? end : Math.min(nextAt, end);
  }
  return { closed, nextAt };
}
