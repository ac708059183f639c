// Schedules on BullMQ: one Job Scheduler per enabled schedule (upsertJobScheduler('schedule-<id>',
// { pattern: cron, tz })), kept equal to the database: at the worker's start, shortly after a schedule
// or a room changes (schedule.changed, room.changed: a deleted room's schedules went with it), and every
// minute. Schedulers whose schedule is gone or disabled are removed; an unchanged one is left alone (its
// next instant stays where BullMQ put it). BullMQ keeps schedulers in Redis, so they survive a restart.
//
// A scheduler's job carries the instant it was scheduled for (job.opts.prevMillis in BullMQ 6): the
// handler gives that instant to ScheduleService.fire, which records it once (a job delivered twice
// starts one run) and starts the run or says why not, e-mailed when SMTP is configured.
import { Queue, Worker, type Job } from 'bullmq';
import type { EventBus } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { RedisHandle } from '../core/redis.js';
import type { ReportMailer } from '../runs/mail.js';
import type { FireResult, ScheduleService } from '../schedules/service.js';

export const SCHEDULE_QUEUE = 'schedules';
export const schedulerId = (scheduleId: number) => `schedule-${scheduleId}`;

/** The instant a scheduler's job stands for (ms). */
export function scheduledInstant(job: Pick<Job, 'opts' | 'timestamp' | 'delay'>): number {
  return job.opts.prevMillis ?? job.timestamp + (job.delay ?? 0);
}

/** The e-mail of an instant that did not start: French first, then English. */
export function notStartedMail(r: FireResult): { subject: string; text: string } {
  const room = r.room ?? `#${r.roomId}`;
  const at = new Date(r.at).toLocaleString('fr-FR', { timeZone: 'Europe/Paris', dateStyle: 'full', timeStyle: 'short' });
  return {
    subject: `[roomcast] ${room} : restauration planifiée non démarrée / scheduled restore not started`,
    text: [
      `La restauration planifiée de la salle ${room} (${at}) n'a pas démarré : ${r.reason?.fr ?? '?'}.`,
      '',
      `The scheduled restore of room ${room} (${r.at}) did not start: ${r.reason?.en ?? '?'}.`,
    ].join('\n'),
  };
}

export interface ScheduleWorker {
  queue: Queue;
  sync(): Promise<{ upserted: number; removed: number }>;
  stop(): Promise<void>;
}

export async function startScheduleWorker(
  deps: { redis: RedisHandle; schedules: ScheduleService; events: EventBus; log: Logger },
  opts: { mailer?: Pick<ReportMailer, 'notice'>; syncMs?: number; concurrency?: number } = {},
): Promise<ScheduleWorker> {
  const log = deps.log.child({ part: 'schedules' });
  const queue = new Queue(SCHEDULE_QUEUE, { connection: deps.redis.createClient(), prefix: deps.redis.prefix });
  queue.on('error', (err) => log.warn({ err: err.message }, 'schedule queue error'));

  const syncOnce = async () => {
    const want = new Map((await deps.schedules.rows({ enabled: true })).map((s) => [schedulerId(s.id), s]));
    const have = await queue.getJobSchedulers(0, -1);
    let removed = 0;
    let upserted = 0;
    for (const h of have) if (!want.has(h.key) && (await queue.removeJobScheduler(h.key))) removed++;
    for (const [key, s] of want) {
      const h = have.find((x) => x.key === key);
      if (h && h.pattern === s.cron && h.tz === s.time_zone) continue;
      await queue.upsertJobScheduler(key, { pattern: s.cron, tz: s.time_zone }, { name: 'fire', data: { scheduleId: s.id }, opts: { removeOnComplete: 100, removeOnFail: 100, attempts: 5, backoff: { type: 'exponential', delay: 2000 } } });
      upserted++;
    }
    if (upserted || removed) log.info({ upserted, removed, schedules: want.size }, 'job schedulers synced');
    return { upserted, removed };
  };
  // One sync at a time. A call during a sync gets the next one, which starts after the current one
  // ends and so reads every change made before the call; calls meanwhile share that next sync.
  let current: Promise<{ upserted: number; removed: number }> | null = null;
  let queued: Promise<{ upserted: number; removed: number }> | null = null;
  const sync = (): Promise<{ upserted: number; removed: number }> => {
    if (!current) {
      current = syncOnce().finally(() => {
        current = null;
      });
      return current;
    }
    queued ??= current
      .catch(() => undefined)
      .then(() => {
        queued = null;
        return sync();
      });
    return queued;
  };
  const soon = () => void sync().catch((err: Error) => log.warn({ err: err.message }, 'could not sync the job schedulers (retried within a minute)'));

  const worker = new Worker(
    SCHEDULE_QUEUE,
    async (job) => {
      const { scheduleId } = job.data as { scheduleId: number };
      const r = await deps.schedules.fire(scheduleId, scheduledInstant(job));
      if (!r) {
        await queue.removeJobScheduler(job.repeatJobKey ?? schedulerId(scheduleId));
        return { gone: true };
      }
      log.info({ schedule: scheduleId, at: r.at, outcome: r.outcome, run: r.runId, reason: r.reason?.code, duplicate: r.duplicate }, 'schedule fired');
      if (!r.duplicate && r.outcome === 'not_started' && r.reason?.code !== 'disabled' && opts.mailer) {
        const m = notStartedMail(r);
        await opts.mailer.notice(m.subject, m.text).catch((err: Error) => log.warn({ schedule: scheduleId, err: err.message }, 'could not e-mail a schedule that did not start'));
      }
      return { outcome: r.outcome, runId: r.runId, reason: r.reason?.code ?? null };
    },
    { connection: deps.redis.createClient(), prefix: deps.redis.prefix, concurrency: opts.concurrency ?? 2, name: `schedules@${process.pid}` },
  );
  worker.on('error', (err) => log.warn({ err: err.message }, 'schedule worker connection error (BullMQ retries)'));
  worker.on('failed', (job, err) => log.error({ job: job?.id, err: err.message }, 'schedule job failed (retried)'));
  await worker.waitUntilReady();

  const off = [deps.events.on('schedule.changed', (e) => e.change !== 'fired' && soon()), deps.events.on('room.changed', (e) => e.change === 'deleted' && soon())];
  await sync();
  const timer = setInterval(soon, opts.syncMs ?? 60_000);
  timer.unref();
  return {
    queue,
    sync,
    stop: async () => {
      clearInterval(timer);
      for (const o of off) o();
      await Promise.all([current?.catch(() => undefined), queued?.catch(() => undefined)]);
      await worker.close();
      await queue.close();
    },
  };
}
