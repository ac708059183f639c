// Progress of a capture or restore: counted by the engine, sent to the api and the console once a
// second (rate over the last seconds, ETA), never blocking the work when the api is slow.
import { taskEnded, type Progress } from './api.js';

export class ProgressMeter {
  phase = 'start';
  bytesDone = 0;
  bytesTotal = 0;
  chunksDone = 0;
  chunksTotal = 0;
  message: string | undefined;
  private samples: Array<[number, number]> = [];
  private timer: NodeJS.Timeout | undefined;
  private sending = false;
  /** The api's answer that the task is over (failed or cancelled on the server), seen by a report. */
  private ended: unknown = null;

  constructor(
    private readonly send: (p: Progress) => Promise<void>,
    private readonly log: (line: string) => void = () => {},
    private readonly everyMs = 1000,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.tick(), this.everyMs);
    this.timer.unref?.();
  }

  setPhase(phase: string, bytesTotal: number, chunksTotal: number, message?: string): void {
    this.phase = phase;
    this.bytesDone = 0;
    this.chunksDone = 0;
    this.bytesTotal = bytesTotal;
    this.chunksTotal = chunksTotal;
    this.message = message;
    this.samples = [];
    this.log(`roomcast: ${phase}: ${message ?? ''} ${chunksTotal} chunks, ${mib(bytesTotal)}`.replace(/\s+/g, ' '));
  }

  /** More work found in the current phase (a capture's partitions, scanned while it runs). */
  grow(bytes: number, chunks: number): void {
    this.bytesTotal += bytes;
    this.chunksTotal += chunks;
  }

  add(bytes: number, chunks = 1): void {
    this.bytesDone += bytes;
    this.chunksDone += chunks;
  }

  snapshot(now = Date.now()): Progress {
    this.samples.push([now, this.bytesDone]);
    while (this.samples.length > 2 && now - this.samples[0]![0] > 5000) this.samples.shift();
    const [t0, b0] = this.samples[0]!;
    const rate = now > t0 ? ((this.bytesDone - b0) * 1000) / (now - t0) : 0;
    const left = this.bytesTotal - this.bytesDone;
    return {
      phase: this.phase,
      bytesDone: this.bytesDone,
      bytesTotal: this.bytesTotal,
      chunksDone: this.chunksDone,
      chunksTotal: this.chunksTotal,
      rateBytesPerSecond: Math.round(rate),
      etaSeconds: rate > 0 ? Math.round(left / rate) : null,
      ...(this.message ? { message: this.message } : {}),
    };
  }

  private async tick(): Promise<void> {
    if (this.sending) return; // the previous report is still on its way
    const p = this.snapshot();
    this.log(`roomcast: ${p.phase} ${p.chunksDone}/${p.chunksTotal} chunks, ${mib(p.bytesDone)}/${mib(p.bytesTotal)}, ${mib(p.rateBytesPerSecond)}/s${p.etaSeconds !== null ? `, ${p.etaSeconds} s left` : ''}`);
    this.sending = true;
    try {
      await this.send(p);
    } catch (err) {
      // progress is best effort, but it is also how a restore learns that its task was stopped
      if (taskEnded(err)) this.ended ??= err;
    } finally {
      this.sending = false;
    }
  }

  /** Throws the api's word that the task is over, once a report got it: the work stops there. */
  check(): void {
    if (this.ended) throw this.ended;
  }

  /** Reports now and asks the api whether the task still runs: throws when it is over (a network error does not). */
  async confirm(): Promise<void> {
    this.check();
    try {
      await this.send(this.snapshot());
    } catch (err) {
      if (taskEnded(err)) this.ended ??= err;
    }
    this.check();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    try {
      await this.send(this.snapshot());
    } catch {
      // best effort
    }
  }
}

export const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
