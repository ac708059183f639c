// The end of run windows, on the worker: a timer that closes every running run whose window ended
// (runs/window.ts) and sleeps until the next window's end, at most a minute (a run started elsewhere is
// seen within a minute, or at once through run.changed). The database is the record: after a restart
// the first tick closes what ended while the worker was down.
import type { EventBus } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { RunService } from '../runs/service.js';
import { closeDueWindows } from '../runs/window.js';

export function startWindowCloser(deps: { runs: RunService; events: EventBus; log: Logger }, opts: { timeZone?: string; maxSleepMs?: number; now?: () => number } = {}): { tick(): Promise<void>; stop(): void } {
  const log = deps.log.child({ part: 'window-end' });
  const now = opts.now ?? Date.now;
  const maxSleep = opts.maxSleepMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let running: Promise<void> | null = null;

  const tick = async () => {
    if (running) return running;
    running = (async () => {
      try {
        const { closed, nextAt } = await closeDueWindows(deps.runs, now(), opts.timeZone ?? 'Europe/Paris');
        for (const c of closed) log.info({ run: c.runId, stopped: c.stopped }, 'run window ended: PCs still running were stopped');
        arm(nextAt === null ? maxSleep : Math.min(maxSleep, Math.max(50, nextAt - now())));
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'could not close run windows (tried again within a minute)');
        arm(maxSleep);
      }
    })().finally(() => {
      running = null;
    });
    return running;
  };
  const arm = (ms: number) => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(() => void tick(), ms);
    timer.unref();
  };
  const off = deps.events.on('run.changed', (e) => e.state === 'running' && void tick());
  void tick();
  return {
    tick,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      off();
    },
  };
}
