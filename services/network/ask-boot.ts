// Network pre-flight (issue 14), the worker's side of the link to the boot role (network/probes.ts):
// a job on the network-probes queue, and its answer. Never throws and never hangs:
// - no boot role takes the job within pickMs (it is not running, or not connected to Redis): the job
//   is withdrawn and both checks say "could not run: the boot service is not answering";
// - taken, its answer is awaited up to a bound (the PXE probe alone, or the querier listen too).
import { Queue, QueueEvents } from 'bullmq';
import type { RedisHandle } from '../core/redis.js';
import { QUEUES } from '../jobs/queues.js';
import { notChecked } from './preflight.js';
import { PROBE_JOBS, type ProbeFacts, type ProbeRequest } from './probes.js';

export const BOOT_SILENT = 'the boot service is not answering (is the boot role running and connected to Redis?)';

export interface AskBootOptions {
  /** How long a job may wait for the boot role to take it (default 5 s). */
  pickMs?: number;
  /** The answer's bound once taken, without the querier listen (default 20 s) and with it (default 180 s). */
  quickMs?: number;
  listenMs?: number;
}

const silent = (why: string): ProbeFacts => ({ pxe: notChecked('pxe', why), querier: notChecked('querier', why), answered: false });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class BootProbes {
  private queue: Queue | undefined;
  private events: QueueEvents | undefined;
  private closed = false;

  constructor(
    private readonly redis: Pick<RedisHandle, 'createClient' | 'prefix'>,
    private readonly o: AskBootOptions = {},
  ) {}

  private async open(): Promise<{ queue: Queue; events: QueueEvents }> {
    this.queue ??= new Queue(QUEUES.networkProbes, { connection: this.redis.createClient(), prefix: this.redis.prefix });
    if (!this.events) {
      this.events = new QueueEvents(QUEUES.networkProbes, { connection: this.redis.createClient(), prefix: this.redis.prefix });
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
    let job;
    let events: QueueEvents;
    try {
      const q = await Promise.race([this.open(), sleep(pickMs).then(() => null)]);
      if (!q) return silent(BOOT_SILENT);
      events = q.events;
      job = await q.queue.add(PROBE_JOBS.probe, r, { removeOnComplete: 100, removeOnFail: 100 });
    } catch (err) {
      return silent(`cannot reach Redis to ask the boot service: ${(err as Error).message}`);
    }
    const finished = job.waitUntilFinished(events, pickMs + bound) as Promise<ProbeFacts>;
    finished.catch(() => undefined);
    // Taken within pickMs? A job still waiting means that no boot role consumes the queue.
    const end = Date.now() + pickMs;
    for (;;) {
      const state = await job.getState().catch(() => 'unknown');
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
    await this.events?.close();
    await this.queue?.close();
  }
}
