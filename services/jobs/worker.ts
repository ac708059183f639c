// The worker role: BullMQ workers: housekeeping on a schedule, and room runs (jobs/runs.ts).
// Its services come from the composition root (services/container.ts), the same the api uses.
import { Worker, type Job } from 'bullmq';
import type { AccountService } from '../accounts/service.js';
import type { Config } from '../core/config.js';
import type { EventBus } from '../core/events.js';
import type { RunService } from '../runs/service.js';
import type { TaskService } from '../tasks/service.js';
import { ReportMailer } from '../runs/mail.js';
import { startRunWorker } from './runs.js';
import type { Logger } from '../core/logger.js';
import type { RedisHandle } from '../core/redis.js';
import { HOUSEKEEPING_JOBS, openQueue, QUEUES } from './queues.js';

export interface WorkerRole {
  stop(): Promise<void>;
}

export async function startWorkerRole(deps: { redis: RedisHandle; accounts: AccountService; runs: RunService; tasks: TaskService; events: EventBus; config: Pick<Config, 'wol' | 'mail'> & Partial<Pick<Config, 'runs'>>; log: Logger }): Promise<WorkerRole> {
  const log = deps.log.child({ role: 'worker' });
  const queue = openQueue(deps.redis, QUEUES.housekeeping);
  queue.on('error', (err) => log.warn({ err: err.message }, 'housekeeping queue error'));
  // One scheduler per job: upserting is idempotent, so every worker start may do it.
  await queue.upsertJobScheduler(HOUSEKEEPING_JOBS.purgeSessions, { pattern: '17 * * * *' }, { name: HOUSEKEEPING_JOBS.purgeSessions });

  const handlers: Record<string, (job: Job) => Promise<unknown>> = {
    [HOUSEKEEPING_JOBS.purgeSessions]: async () => ({ removed: await deps.accounts.purgeExpiredSessions() }),
  };
  const worker = new Worker(
    QUEUES.housekeeping,
    async (job) => {
      const handler = handlers[job.name];
      if (!handler) throw new Error(`no handler for housekeeping job "${job.name}"`);
      return handler(job);
    },
    { connection: deps.redis.createClient(), prefix: deps.redis.prefix, concurrency: 1, name: `worker@${process.pid}` },
  );
  worker.on('error', (err) => log.warn({ err: err.message }, 'worker connection error (BullMQ retries)'));
  worker.on('failed', (job, err) => log.error({ job: job?.name, err: err.message }, 'housekeeping job failed'));
  await worker.waitUntilReady();
  if (!deps.config.wol.interfaces.length && !deps.config.wol.addresses.length)
    log.warn('Wake-on-LAN is not configured (ROOMCAST_WOL_INTERFACES or ROOMCAST_WOL_ADDRESSES): room runs wait for PCs started by hand');
  const mailer = deps.config.mail ? new ReportMailer(deps.config.mail, log) : undefined;
  const runs = await startRunWorker({ redis: deps.redis, runs: deps.runs, tasks: deps.tasks, events: deps.events, log }, { wol: deps.config.wol, ...(deps.config.runs ?? {}), ...(mailer ? { mailer } : {}) });
  log.info({ queues: Object.values(QUEUES) }, 'worker role started');
  return {
    stop: async () => {
      await runs.stop();
      mailer?.close();
      await worker.close();
      await queue.close();
    },
  };
}
