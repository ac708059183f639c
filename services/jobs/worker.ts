// The worker role: BullMQ workers. For now, housekeeping on a schedule; later the room pipelines.
// Its services come from the composition root (services/container.ts), the same the api uses.
import { Worker, type Job } from 'bullmq';
import type { AccountService } from '../accounts/service.js';
import type { Logger } from '../core/logger.js';
import type { RedisHandle } from '../core/redis.js';
import { HOUSEKEEPING_JOBS, openQueue, QUEUES } from './queues.js';

export interface WorkerRole {
  stop(): Promise<void>;
}

export async function startWorkerRole(deps: { redis: RedisHandle; accounts: AccountService; log: Logger }): Promise<WorkerRole> {
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
  log.info({ queues: Object.values(QUEUES) }, 'worker role started');
  return {
    stop: async () => {
      await worker.close();
      await queue.close();
    },
  };
}
