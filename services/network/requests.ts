// The on-demand network pre-flight (POST /api/v1/network/preflight) runs where the PCs' network is:
// in the worker (host networking under Docker), not in the api. The api asks through a BullMQ job on
// the housekeeping queue (jobs/queues.ts) and waits for its answer; the worker's handler runs the
// Preflight (service.ts). No worker answering within the bound: a clear error, never a hang.
import { Queue, QueueEvents } from 'bullmq';
import type { RedisHandle } from '../core/redis.js';
import { AppError } from '../core/errors.js';
import { HOUSEKEEPING_JOBS, QUEUES } from '../jobs/queues.js';
import type { PreflightResult } from './preflight.js';

export type PreflightAnswer = { available: true; result: PreflightResult } | { available: false; reason: string };

export interface PreflightJob {
  waitQuerier: boolean;
}

export class PreflightRequests {
  private queue: Queue | undefined;
  private events: QueueEvents | undefined;

  constructor(
    private readonly redis: RedisHandle,
    /** How long the api waits for the worker: the querier listen and a margin (default 200 s). */
    private readonly timeoutMs = 200_000,
  ) {}

  async run(job: PreflightJob): Promise<PreflightAnswer> {
    this.queue ??= new Queue(QUEUES.housekeeping, { connection: this.redis.createClient(), prefix: this.redis.prefix });
    if (!this.events) {
      this.events = new QueueEvents(QUEUES.housekeeping, { connection: this.redis.createClient(), prefix: this.redis.prefix });
      await this.events.waitUntilReady();
    }
    const j = await this.queue.add(HOUSEKEEPING_JOBS.networkPreflight, job, { removeOnComplete: 100, removeOnFail: 100 });
    try {
      return (await j.waitUntilFinished(this.events, this.timeoutMs)) as PreflightAnswer;
    } catch (err) {
      const msg = (err as Error).message;
      if (/timed out/i.test(msg)) {
        await j.remove().catch(() => undefined);
        throw new AppError(503, 'preflight_no_worker', `no worker ran the network pre-flight within ${Math.round(this.timeoutMs / 1000)} s: check that the worker role is running`);
      }
      throw new AppError(500, 'preflight_failed', `the network pre-flight failed in the worker: ${msg}`);
    }
  }

  async close(): Promise<void> {
    await this.events?.close();
    await this.queue?.close();
  }
}
