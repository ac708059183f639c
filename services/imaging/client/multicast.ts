// The PC's side of a multicast session (issue 14): Debian's udp-receiver gets the session's record
// stream (multicast-records.ts), and the restore engine reads its chunks through an ImagingApi whose
// getChunk/getChunkRange serve them from the stream, and everything else over HTTP.
//
// Rules:
// - Every chunk of the stream is checked before it is kept: decompressed, its SHA-256 equal to its
//   id (and the engine checks it again, as for HTTP). A chunk that fails is dropped and counted; the
//   engine then gets it by repair.
// - The stream comes in disk order (streamOrder), the order the engine asks in. A chunk asked for that
//   is kept is served at once; one the stream will still bring is waited for; one the stream went past
//   (lost, damaged, evicted), one it does not carry, and every chunk once the stream ended (complete,
//   the PC dropped by the sender, udp-receiver gone, a malformed record, a stream of another version)
//   is fetched over HTTP: the repair. Whether the stream carries a chunk is its SESSION record's list
//   (until it comes, the version's disk order is assumed). No chunk is waited for after the stream ended.
// - udp-receiver's output is read as it comes, checked or not (up to maxBufferBytes waiting to be
//   checked), so a PC busy checking chunks still answers the sender.
// - Kept chunks are bounded (maxBufferBytes): past the bound, the reading stops (udp-receiver's
//   back-pressure: a PC that stays behind is eventually dropped by the sender and repairs), unless the
//   engine waits for a chunk still to come: then the oldest kept chunks are evicted (and repaired if
//   asked for later), so the engine never waits on a full buffer.
// - udp-receiver is bounded too: --start-timeout (a PC that joins after the stream started gets no
//   session and repairs everything), --receive-timeout (a stream that goes silent), and close() kills it.
// - Counts per PC: bytes the engine got by multicast and by repair, chunks dropped, evicted.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import type { Manifest } from '../format.js';
import { zstdDecompress } from '../zstd.js';
import type { ImagingApi, TaskResult } from './api.js';
import { streamOrder, verifiedChunks, type SessionHeader, type VerifyCounts } from './multicast-records.js';

export interface MulticastSourceOptions {
  /** The PC's interface, and the session's first port (the server's allocator). */
  iface: string;
  portBase: number;
  /** The version the session must stream (its id on the server); a stream of another version is ignored. */
  versionId?: number;
  /** udp-receiver waits this long for the session to start (default 60 s), then the PC repairs everything. */
  startTimeoutSec?: number;
  /** A stream silent this long ends (default 10 s). */
  receiveTimeoutSec?: number;
  /** Bytes of checked chunks kept ahead of the engine (default 256 MiB). */
  maxBufferBytes?: number;
  program?: string;
  /** Runs udp-receiver through another program (tests: ip netns exec NS). */
  prefix?: string[];
  log?: (line: string) => void;
}

export interface MulticastCounts extends VerifyCounts {
  /** Stored bytes the engine got from the stream, and over HTTP through this api (the repair). */
  multicastBytes: number;
  multicastChunks: number;
  repairBytes: number;
  repairChunks: number;
  /** Checked chunks evicted from the buffer before the engine asked for them. */
  evictedChunks: number;
  /** Seconds spent checking chunks, and from the first chunk to the end of the stream. */
  verifySeconds: number;
  streamSeconds: number;
  /** Why the stream ended (null while it runs). */
  ended: string | null;
}

type Waiter = (b: Buffer | null) => void;

const DEFAULT_BUFFER = 256 * 1024 * 1024;

/**
 * Reads `stream` as fast as it gives, whatever the consumer does, up to `maxBytes` not yet consumed
 * (then it pauses): udp-receiver is never kept from answering the sender by a PC busy checking
 * chunks, only by a PC that fell a whole buffer behind.
 */
async function* drain(stream: Readable, maxBytes: number): AsyncGenerator<Buffer> {
  const queue: Buffer[] = [];
  let queued = 0;
  let ended = false;
  let failed: Error | null = null;
  let wake: (() => void) | null = null;
  const poke = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  stream.on('data', (b: Buffer) => {
    queue.push(b);
    queued += b.length;
    if (queued > maxBytes) stream.pause();
    poke();
  });
  stream.on('end', () => ((ended = true), poke()));
  stream.on('close', () => ((ended = true), poke()));
  stream.on('error', (err) => ((failed = err), poke()));
  try {
    for (;;) {
      const b = queue.shift();
      if (b) {
        queued -= b.length;
        if (queued <= maxBytes && stream.isPaused()) stream.resume();
        yield b;
      } else if (failed) throw failed;
      else if (ended) return;
      else await new Promise<void>((r) => (wake = r));
    }
  } finally {
    stream.destroy();
  }
}

/** udp-receiver's arguments: the session's port pair (the data group comes from the sender), its bounds; the records on stdout. */
export function receiverArgs(o: Pick<MulticastSourceOptions, 'iface' | 'portBase' | 'startTimeoutSec' | 'receiveTimeoutSec'>): string[] {
  return ['--interface', o.iface, '--portbase', String(o.portBase), '--nokbd', '--no-progress', '--start-timeout', String(o.startTimeoutSec ?? 60), '--receive-timeout', String(o.receiveTimeoutSec ?? 10)];
}

export class MulticastSource {
  readonly counts: MulticastCounts = { goodChunks: 0, goodBytes: 0, badChunks: 0, badBytes: 0, multicastBytes: 0, multicastChunks: 0, repairBytes: 0, repairChunks: 0, evictedChunks: 0, verifySeconds: 0, streamSeconds: 0, ended: null };
  private firstAt = 0;
  private child: ChildProcess | null = null;
  private readonly kept = new Map<string, Buffer>();
  private keptBytes = 0;
  private readonly waiters = new Map<string, Waiter[]>();
  private index = new Map<string, { at: number; length: number }>();
  /** The session's chunks and their positions in the stream (its SESSION record); null until it comes. */
  private carried: Map<string, number> | null = null;
  /** Position in the stream of the last chunk that arrived. */
  private cursor = -1;
  private manifestSet!: () => void;
  private readonly manifestKnown = new Promise<void>((r) => (this.manifestSet = r));
  private wake: (() => void) | null = null;
  private stderr = '';
  readonly done: Promise<void>;

  constructor(private readonly o: MulticastSourceOptions) {
    this.done = this.run();
  }

  /** The manifest tells the stream's order and every chunk's size; reading starts once it is known. */
  expect(m: Manifest): void {
    this.index = new Map(streamOrder(m).map((c, at) => [c.id, { at, length: c.length }]));
    this.manifestSet();
  }

  get ended(): boolean {
    return this.counts.ended !== null;
  }

  /** Where a chunk comes in the stream: the session's list once known, else the version's disk order; undefined when it does not come. */
  private pos(id: string): number | undefined {
    return this.carried ? this.carried.get(id) : this.index.get(id)?.at;
  }

  /** The session's SESSION record: its version must be ours; a chunk it does not carry is repaired at once. */
  private session(h: SessionHeader): void {
    if (this.o.versionId !== undefined && h.versionId !== this.o.versionId) throw new Error(`the stream is of version ${h.versionId}, not ${this.o.versionId}`);
    this.carried = new Map(h.ids.map((id, at) => [id, at]));
    this.o.log?.(`roomcast: multicast session of ${h.chunks} chunks (${(h.bytes / 1048576).toFixed(1)} MiB) started`);
    this.release((id) => !this.carried!.has(id));
  }

  /** Answers null (repair over HTTP) to every wait for a chunk `gone` says will not come. */
  private release(gone: (id: string) => boolean): void {
    for (const [id, ws] of this.waiters) {
      if (!gone(id)) continue;
      this.waiters.delete(id);
      for (const w of ws) w(null);
    }
  }

  /**
   * The chunk's stored bytes from the stream, waiting for it if the stream is still to bring it;
   * null when it will not come (the caller repairs over HTTP). `keep`: leave it kept for other reads.
   */
  async take(id: string, keep = false): Promise<Buffer | null> {
    let b = this.kept.get(id) ?? null;
    if (!b) {
      const at = this.pos(id);
      if (this.ended || at === undefined || at <= this.cursor) return null;
      b = await new Promise<Buffer | null>((resolve) => {
        this.waiters.set(id, [...(this.waiters.get(id) ?? []), resolve]);
        this.poke();
      });
      if (!b) return null;
    }
    if (!keep && this.kept.delete(id)) {
      this.keptBytes -= b.length;
      this.poke();
    }
    return b;
  }

  /** Stops udp-receiver (the restore is over, or failed) and waits for the reader to end. */
  async close(): Promise<void> {
    this.finish('closed by the restore');
    this.manifestSet();
    await this.done;
  }

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private arrive(id: string, bytes: Buffer): void {
    const at = this.pos(id);
    if (at !== undefined) this.cursor = Math.max(this.cursor, at);
    const mine = this.waiters.get(id);
    this.waiters.delete(id);
    if (!this.kept.has(id)) {
      this.kept.set(id, bytes);
      this.keptBytes += bytes.length;
    }
    for (const w of mine ?? []) w(bytes);
    // Chunks before this one that did not come (lost, damaged): repaired.
    this.release((wid) => (this.pos(wid) ?? -1) <= this.cursor);
  }

  /** Past the bound: wait for the engine, or evict the oldest kept chunks when it waits for one still to come. */
  private async room(): Promise<void> {
    const max = this.o.maxBufferBytes ?? DEFAULT_BUFFER;
    while (this.keptBytes > max && !this.ended) {
      if (this.waiters.size) {
        const [oldest, b] = this.kept.entries().next().value as [string, Buffer];
        this.kept.delete(oldest);
        this.keptBytes -= b.length;
        this.counts.evictedChunks++;
      } else {
        await new Promise<void>((r) => (this.wake = r));
      }
    }
  }

  private finish(why: string): void {
    if (this.counts.ended === null) {
      this.counts.ended = why;
      if (this.firstAt) this.counts.streamSeconds = (performance.now() - this.firstAt) / 1000;
      this.o.log?.(`roomcast: multicast stream ended (${why}); ${this.counts.goodChunks} chunks received, ${this.counts.badChunks} dropped as damaged; what is missing is fetched over HTTP`);
    }
    this.release(() => true);
    this.poke();
    const c = this.child;
    if (c && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }

  private async verify(id: string, bytes: Buffer): Promise<boolean> {
    const length = this.index.get(id)?.length;
    if (length === undefined) return false; // not a chunk of this version
    const began = performance.now();
    this.firstAt ||= began;
    try {
      const data = await zstdDecompress(bytes, length);
      return data.length === length && createHash('sha256').update(data).digest('hex') === id;
    } finally {
      this.counts.verifySeconds += (performance.now() - began) / 1000;
    }
  }

  private async run(): Promise<void> {
    const args = receiverArgs(this.o);
    const program = this.o.program ?? 'udp-receiver';
    const [cmd, ...rest] = this.o.prefix?.length ? [...this.o.prefix, program, ...args] : [program, ...args];
    const st: { exit: string | null } = { exit: null };
    let child: ChildProcess;
    try {
      child = spawn(cmd!, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      return this.finish(`udp-receiver could not run: ${(err as Error).message}`);
    }
    this.child = child;
    const exited = new Promise<void>((resolve) => {
      child.on('error', (err) => {
        st.exit = `udp-receiver could not run: ${err.message}`;
        resolve();
      });
      child.on('close', (code, signal) => {
        st.exit ??= code === 0 ? 'complete' : `udp-receiver ended with ${signal ? `signal ${signal}` : `status ${code}`}${/Dropped by server/.test(this.stderr) ? ': this PC was dropped by the sender' : ''}`;
        resolve();
      });
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => (this.stderr = (this.stderr + s).slice(-20_000)));
    await this.manifestKnown;
    try {
      if (this.ended) return;
      for await (const c of verifiedChunks(drain(child.stdout!, this.o.maxBufferBytes ?? DEFAULT_BUFFER), (id, b) => this.verify(id, b), this.counts, (h) => this.session(h))) {
        if (this.ended) break;
        this.arrive(c.id, Buffer.from(c.bytes));
        await this.room();
      }
      await exited;
      this.finish(st.exit === 'complete' || st.exit === null ? 'complete' : st.exit);
    } catch (err) {
      await Promise.race([exited, new Promise((r) => setTimeout(r, 200))]);
      this.finish(st.exit && st.exit !== 'complete' ? `${st.exit} (${(err as Error).message})` : (err as Error).message);
    } finally {
      this.finish('closed');
      await exited;
    }
  }
}

/**
 * The restore's api during a multicast session: chunks from the stream when it brings them, else
 * over HTTP (`http`, the unicast path), counting the bytes of each; every other call goes to `http`.
 * manifest() tells the source the stream's order.
 */
export class MulticastImagingApi implements ImagingApi {
  constructor(
    private readonly http: ImagingApi,
    readonly source: MulticastSource,
  ) {}

  task = () => this.http.task();
  registerCapture: ImagingApi['registerCapture'] = (m) => this.http.registerCapture(m);
  announceChunks: ImagingApi['announceChunks'] = (s, c) => this.http.announceChunks(s, c);
  putChunk: ImagingApi['putChunk'] = (h, d, g) => this.http.putChunk(h, d, g);
  commit = (windows?: Parameters<ImagingApi['commit']>[0]) => this.http.commit(windows);
  restoreCheck = () => this.http.restoreCheck();
  reportDamaged = (h: string, d: string) => this.http.reportDamaged(h, d);
  progress: ImagingApi['progress'] = (p) => this.http.progress(p);
  result = (r: TaskResult) => this.http.result(r);

  async manifest(): Promise<Manifest> {
    const m = await this.http.manifest();
    this.source.expect(m);
    return m;
  }

  async getChunk(hash: string): Promise<Buffer> {
    const b = await this.source.take(hash);
    const c = this.source.counts;
    if (b) {
      c.multicastBytes += b.length;
      c.multicastChunks++;
      return b;
    }
    const r = await this.http.getChunk(hash);
    c.repairBytes += r.length;
    c.repairChunks++;
    return r;
  }

  async getChunkRange(hash: string, start: number, end: number): Promise<Buffer> {
    const b = await this.source.take(hash, true);
    const c = this.source.counts;
    if (b) {
      const part = b.subarray(start, Math.min(end, b.length));
      c.multicastBytes += part.length;
      return part;
    }
    const r = await this.http.getChunkRange(hash, start, end);
    c.repairBytes += r.length;
    return r;
  }
}
