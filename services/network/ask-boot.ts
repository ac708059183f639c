// Network pre-flight (issue 14), the worker's side of the link to the boot role (network/probes.ts):
// a job on the network-probes queue, and its answer. Never throws and never hangs:
// - no boot role takes the job within pickMs (it is not running, or not connected to Redis): the job
//   is withdrawn and both checks say "could not run: the boot service is not answering";
// - Redis does not take the job within pickMs: both checks say so;
// - taken, its answer is awaited up to a bound (the PXE probe alone, or the querier listen too).
import { Queue, QueueEvents } from 'bullmq';
import type { RedisHandle } from '../core/redis.js';
import { QUEUES } from '../jobs/queues.js';
import { notChecked } from './preflight.js';
import { PROBE_JOBS, type ProbeFacts, type ProbeRequest } from './probes.js';

export const BOOT_SILENT = 'the boot service is not answering (is the boot role running and connected to Redis?)';
export const REDIS_SILENT = 'Redis does not answer, so the boot service cannot be asked';

export interface AskBootOptions {
  /** How long a job may wait for the boot role to take it (default 5 s). */
  pickMs?: number;
  /** The answer's bound once taken, without the querier listen (default 20 s) and with it (default 180 s). */
  quickMs?: number;
  listenMs?: number;
}

const silent = (why: string): ProbeFacts => ({ pxe: notChecked('pxe', why), querier: notChecked('querier', why), answered: false });
/** A bound for a race: its timer never keeps the process alive. */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

export class BootProbes {
  private queue: Queue | undefined;
  private events: QueueEvents | undefined;
  private closed = false;

  constructor(
    private readonly redis: Pick<RedisHandle, 'createClient' | 'prefix'>,
    private readonly o: AskBootOptions = {},
  ) {}

  /** A client whose connection errors are left to its retries (probe() bounds the wait). */
  private client() {
    const c = this.redis.createClient();
    c.on('error', () => undefined);
    return c;
  }

  private async open(): Promise<{ queue: Queue; events: QueueEvents }> {
    if (!this.queue) {
      this.queue = new Queue(QUEUES.networkProbes, { connection: this.client(), prefix: this.redis.prefix });
      // Connection errors: BullMQ retries, and probe() says "Redis does not answer" within its bound.
      this.queue.on('error', () => undefined);
    }
    if (!this.events) {
      this.events = new QueueEvents(QUEUES.networkProbes, { connection: this.client(), prefix: this.redis.prefix });
      this.events.on('error', () => undefined);
      await this.events.waitUntilReady();
    }
    return { queue: this.queue, events: this.events };
  }

  /** Asks the boot role to start a querier listen on the interface (the worker's start); no answer awaited. */
  warm(iface: string): void {
    void this.open()
      .then(({ queue }) => queue.add(PROBE_JOBS.warm, { interface: iface, own: [], waitQuerier: false, force: false }, { jobId: `warm-${iface}`, removeOnComplete: true, removeOnFail: true }))
      .catch(() => undefined);
  }

  /** The boot role's checks on the interface, or why they could not run. */
  async probe(r: ProbeRequest): Promise<ProbeFacts> {
    if (this.closed) return silent('the worker is stopping');
    const pickMs = this.o.pickMs ?? 5000;
    const bound = r.waitQuerier ? (this.o.listenMs ?? 180_000) : (this.o.quickMs ?? 20_000);
    // Redis itself may be away (its clients retry for ever): the request is bounded too.
    let late = false;
    const adding = this.open().then(async (q) => {
      const job = await q.queue.add(PROBE_JOBS.probe, r, { removeOnComplete: 100, removeOnFail: 100 });
      if (late) await job.remove().catch(() => undefined);
      return { job, events: q.events };
    });
    const added = await Promise.race([adding, sleep(pickMs).then(() => null)]).catch((err: Error) => err);
    if (added === null) {
      late = true;
      adding.catch(() => undefined);
      return silent(REDIS_SILENT);
    }
    if (added instanceof Error) return silent(`${REDIS_SILENT}: ${added.message}`);
    const { job, events } = added;
    const finished = job.waitUntilFinished(events, pickMs + bound) as Promise<ProbeFacts>;
    finished.catch(() => undefined);
    // Taken within pickMs? A job still waiting means that no boot role consumes the queue.
    const end = Date.now() + pickMs;
    for (;;) {
      const state = await Promise.race([job.getState(), sleep(1000).then(() => 'unknown')]).catch(() => 'unknown');
      if (state !== 'waiting' && state !== 'prioritized') break;
      if (Date.now() >= end) {
        await job.remove().catch(() => undefined);
        return silent(BOOT_SILENT);
      }
      await Promise.race([finished.catch(() => undefined), sleep(200)]);
    }
    try {
      return await finished;
    } catch (err) {
      const msg = (err as Error).message;
      if (/timed out/i.test(msg)) return silent(`the boot service did not answer within ${Math.round((pickMs + bound) / 1000)} s`);
      return silent(`the boot service failed: ${msg}`);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    // Bounded: with Redis away, closing waits for a connection that may never come (the role's
    // Redis handle disconnects every client when it stops).
    await Promise.race([Promise.all([this.events?.close(), this.queue?.close()]), sleep(2000)]).catch(() => undefined);
  }
}
