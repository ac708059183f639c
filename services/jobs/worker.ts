// The worker role: BullMQ workers: housekeeping on a schedule, room runs (jobs/runs.ts), schedules
// (jobs/schedules.ts) and the end of run windows (jobs/window-end.ts).
// Its services come from the composition root (services/container.ts), the same the api uses.
import { Worker, type Job } from 'bullmq';
import type { AccountService } from '../accounts/service.js';
import type { Config } from '../core/config.js';
import type { EventBus } from '../core/events.js';
import type { RunService } from '../runs/service.js';
import type { ScheduleService } from '../schedules/service.js';
import type { TaskService } from '../tasks/service.js';
import { ReportMailer } from '../runs/mail.js';
import { startRunProgress } from '../runs/progress.js';
import type { HostRepository } from '../inventory/hosts.js';
import { inUseProbe } from './inuse.js';
import { startRunWorker } from './runs.js';
import { storeSource } from '../imaging/multicast/source.js';
import type { ImageStore } from '../imaging/store.js';
import { startScheduleWorker } from './schedules.js';
import { startWindowCloser } from './window-end.js';
import type { Logger } from '../core/logger.js';
import type { RedisHandle } from '../core/redis.js';
import { HOUSEKEEPING_JOBS, openQueue, QUEUES } from './queues.js';
import { BootProbes } from '../network/ask-boot.js';
import { Preflight } from '../network/service.js';
import type { PreflightAnswer, PreflightJob } from '../network/requests.js';
import { MULTICAST_UNSET } from '../runs/service.js';

export interface WorkerRole {
  stop(): Promise<void>;
}

export async function startWorkerRole(deps: { redis: RedisHandle; accounts: AccountService; runs: RunService; schedules: ScheduleService; tasks: TaskService; hosts: Pick<HostRepository, 'byId'>; events: EventBus; store: Pick<ImageStore, 'readManifest' | 'chunkPath'>; config: Pick<Config, 'wol' | 'mail'> & Partial<Pick<Config, 'runs' | 'multicast' | 'bootIp'>>; log: Logger }): Promise<WorkerRole> {
  const log = deps.log.child({ role: 'worker' });
  const queue = openQueue(deps.redis, QUEUES.housekeeping);
  queue.on('error', (err) => log.warn({ err: err.message }, 'housekeeping queue error'));
  // One scheduler per job: upserting is idempotent, so every worker start may do it.
  await queue.upsertJobScheduler(HOUSEKEEPING_JOBS.purgeSessions, { pattern: '17 * * * *' }, { name: HOUSEKEEPING_JOBS.purgeSessions });

  // The network pre-flight on the PCs' interface (issue 14): before each multicast session, and on demand.
  // Its PXE probe and querier listen run in the boot role (network/probes.ts), which has the rights.
  const mc = deps.config.multicast;
  const preflight = mc ? new Preflight({ interface: mc.interface, own: deps.config.bootIp ? [deps.config.bootIp] : [], probes: new BootProbes(deps.redis) }) : null;
  preflight?.warm();
  const handlers: Record<string, (job: Job) => Promise<unknown>> = {
    [HOUSEKEEPING_JOBS.purgeSessions]: async () => ({ removed: await deps.accounts.purgeExpiredSessions() }),
    [HOUSEKEEPING_JOBS.networkPreflight]: async (job: Job<PreflightJob>): Promise<PreflightAnswer> =>
      preflight ? { available: true, result: await preflight.check({ force: true, waitQuerier: job.data.waitQuerier !== false }) } : { available: false, reason: MULTICAST_UNSET },
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
    log.warn('Wake-on-LAN is not configured (ROOMCAST_WOL_INTERFACES or ROOMCAST_WOL_ADDRESSES): room runs with the wake step are refused; runs without it wait for PCs started by hand');
  const mailer = deps.config.mail ? new ReportMailer(deps.config.mail, log) : undefined;
  const inUse = inUseProbe({ hosts: deps.hosts, tasks: deps.tasks, log });
  const stopProgress = startRunProgress(deps.events, deps.runs);
  // Every session sends its multicast probe (imaging/multicast/probe.ts): its PCs listen for it before joining.
  const multicast = mc ? { settings: { interface: mc.interface, maxBitrate: mc.maxBitrate }, source: storeSource(deps.store), probe: {}, ...(preflight ? { preflight } : {}) } : undefined;
  const runs = await startRunWorker({ redis: deps.redis, runs: deps.runs, tasks: deps.tasks, events: deps.events, log }, { wol: deps.config.wol, inUse, ...(deps.config.runs ?? {}), ...(mailer ? { mailer } : {}), ...(multicast ? { multicast } : {}) });
  const schedules = await startScheduleWorker({ redis: deps.redis, schedules: deps.schedules, events: deps.events, log }, mailer ? { mailer } : {});
  const windows = startWindowCloser({ runs: deps.runs, events: deps.events, log });
  log.info({ queues: Object.values(QUEUES) }, 'worker role started');
  return {
    stop: async () => {
      windows.stop();
      await schedules.stop();
      stopProgress();
      await runs.stop();
      mailer?.close();
      await preflight?.close();
      await worker.close();
      await queue.close();
    },
  };
}
