// Steps 3 and 4 of a restore (restore.ts): compare the disk with the image window by window (format
// v3: block by block), fetch what differs, check it against its hash and write it; then read back
// what was written and check it again.
//
// The comparison runs ahead on worker threads (hasher.ts) and never waits for a download: a window
// found different is queued at once and fetched and written while later windows are still compared.
//
// The change unit is the block (v3, 64 KiB by default): a window whose blocks differ in a few places
// gets the block index of its stored chunk and then only those blocks' frames (HTTP Range, fetch.ts),
// each checked against its block hash, and only those blocks are written. A window that differs in
// more than half of its blocks, a v1/v2 manifest, or a chunk stored whole by an older client is
// fetched whole and checked against the window's SHA-256, as before.
//
// Honest read-back: the disk's cache is dropped before the comparison, so a window left as it was
// was read from the disk and checked in this run (v3: its 128-bit block hashes; v1/v2: its SHA-256);
// after a flush and a cache drop, what was written is read back with O_DIRECT where the disk allows
// it (the medium, not a cache): a window written in at most half of its blocks has those blocks read
// and checked against their block hashes (the others were checked by the comparison), any other
// window written is read whole and checked against its SHA-256.
import fs from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { blockHashes, type Chunk } from '../format.js';
import type { ImagingApi } from './api.js';
import { Pool, readWindow, sha256, usedIn, writeFully, type Slot } from './engine.js';
import { fetchBlocks, fetchChunk, timed, type Timings, type TransferCounts } from './fetch.js';
import type { ProgressMeter } from './progress.js';
import type { ChunkDecoder } from './decoder.js';
import { WindowHasher } from './hasher.js';
import { ClientError } from './sys.js';

export { fetchChunk, newTimings, type Timings, type TransferCounts } from './fetch.js';

/** Fetched chunks kept in memory for windows still to come with the same content (4 MiB each). */
const MAX_KEPT_CHUNKS = 32;
/** Windows read ahead of the one being compared or checked. */
const READ_AHEAD = 4;

export interface WindowsOptions {
  api: ImagingApi;
  /** The disk's path, for the worker threads that read and hash its windows. */
  disk: string;
  /** Worker threads that decompress and hash the chunks fetched (null: here, as zstd.ts can). */
  decoder?: ChunkDecoder | null;
  /** v3: the manifest's block size; undefined for v1/v2. */
  blockSize: number | undefined;
  /**
   * The comparison reads with O_DIRECT, on 4 threads (reads waited for on some while others hash).
   * Measured on the bench's loop devices: faster over a disk that holds an image, but dearer in CPU
   * over a blank disk, whose windows all get written while the comparison reads (restore.ts asks for
   * it when the disk has a partition table).
   */
  direct?: boolean;
  concurrency: number;
  meter: ProgressMeter;
  timings: Timings;
}

/**
 * Reads `slots` in order with up to READ_AHEAD reads in flight, and calls `fn` with each window's
 * masked bytes (a buffer reused once `fn` resolves: copy what must outlive it).
 */
async function eachWindow(fh: fs.FileHandle, slots: Slot[], size: number, fn: (s: Slot, data: Buffer) => Promise<void> | void): Promise<void> {
  const free: Buffer[] = Array.from({ length: READ_AHEAD }, () => Buffer.alloc(size));
  const inFlight: Array<Promise<[Buffer, Buffer]>> = [];
  let next = 0;
  const start = () => {
    while (next < slots.length && free.length) {
      const buf = free.pop()!;
      const s = slots[next++]!;
      inFlight.push(readWindow(fh, s, buf).then((d) => [buf, d]));
    }
  };
  start();
  for (const s of slots) {
    const [buf, data] = await inFlight.shift()!;
    await fn(s, data);
    free.push(buf);
    start();
  }
}

/** The SHA-256 of a masked window; an all-zero window (a blank disk) without hashing it. */
const zeroWindowHashes = new Map<number, string>();
let zeros = Buffer.alloc(0);
function windowHash(data: Buffer): string {
  if (zeros.length < data.length) zeros = Buffer.alloc(data.length);
  if (data.equals(zeros.subarray(0, data.length))) {
    let h = zeroWindowHashes.get(data.length);
    if (!h) zeroWindowHashes.set(data.length, (h = sha256(data)));
    return h;
  }
  return sha256(data);
}

/** Blocks of `data` (v3) whose hash differs from the image's; [] when the window is right. Null: the whole window (v1/v2) differs. */
function differingBlocks(c: Chunk, data: Buffer, blockSize: number | undefined): number[] | null {
  if (blockSize && c.blocks) {
    const mine = blockHashes(data, blockSize);
    return c.blocks.flatMap((h, i) => (mine[i] === h ? [] : [i]));
  }
  return windowHash(data) === c.hash ? [] : null;
}

/** Windows hashed ahead of the one being compared. */
const COMPARE_AHEAD = 8;

/**
 * Calls `fn` with each slot in order and the blocks where the disk differs from the image ([]: none;
 * null: the whole window, v1/v2), until `fn` returns false. Worker threads read and hash the windows
 * ahead (hasher.ts); a window with a held head is read and compared here.
 */
async function eachCompared(
  disk: string,
  fh: fs.FileHandle,
  slots: Slot[],
  chunkSize: number,
  blockSize: number | undefined,
  direct: boolean,
  t: Timings,
  fn: (s: Slot, diff: number[] | null) => Promise<boolean>,
): Promise<void> {
  const hasher = new WindowHasher(disk, blockSize ?? chunkSize, direct ? 4 : undefined, direct);
  const queued: Array<Promise<number[] | null> | undefined> = [];
  const want = (i: number) => {
    const s = slots[i]!;
    const c = s.chunk!;
    const blocks = !!(blockSize && c.blocks);
    const p = s.held
      ? readWindow(fh, s).then((data) => differingBlocks(c, data, blockSize))
      : hasher.hash({ base: s.base, length: s.window.length, used: s.window.used }, blocks ? 'blocks' : 'window').then((h) => (blocks ? c.blocks!.flatMap((x, k) => (h.blocks[k] === x ? [] : [k])) : h.hash === c.hash ? [] : null));
    p.catch(() => {}); // awaited in order below; not an unhandled rejection meanwhile
    queued[i] = p;
  };
  try {
    for (let i = 0; i < Math.min(COMPARE_AHEAD, slots.length); i++) want(i);
    for (let i = 0; i < slots.length; i++) {
      const start = performance.now();
      const diff = await queued[i]!;
      t.compare += (performance.now() - start) / 1000;
      queued[i] = undefined;
      if (i + COMPARE_AHEAD < slots.length) want(i + COMPARE_AHEAD);
      if (!(await fn(slots[i]!, diff))) break;
    }
  } finally {
    await hasher.close();
  }
}

/**
 * Writes the used bytes of `slot` from `data` (the window's bytes from offset `from` on), only inside
 * `blocks` when given (v3: the blocks that differ), never the held head; adjacent ranges go in one write.
 */
export async function writeBlocks(fh: fs.FileHandle, slot: Slot, data: Buffer, blocks: number[] | null, blockSize: number | undefined, from = 0): Promise<number> {
  const len = Math.min(slot.window.length, from + data.length);
  const runs: Array<[number, number]> = [];
  if (!blocks || !blockSize) runs.push([from, len]);
  else for (const i of blocks) {
    const [a, b] = [Math.max(from, i * blockSize), Math.min(len, (i + 1) * blockSize)];
    if (b <= a) continue;
    const last = runs.at(-1);
    if (last && last[1] === a) last[1] = b;
    else runs.push([a, b]);
  }
  const heldEnd = slot.held?.length ?? 0;
  let written = 0;
  let r = 0;
  for (const [uo, ul] of slot.window.used) {
    for (; r < runs.length && runs[r]![1] <= uo; r++);
    for (let k = r; k < runs.length && runs[k]![0] < uo + ul; k++) {
      const o = Math.max(uo, runs[k]![0], heldEnd);
      const end = Math.min(uo + ul, runs[k]![1]);
      if (end <= o) continue;
      await writeFully(fh, data.subarray(o - from, end - from), slot.base + o);
      written += end - o;
    }
  }
  return written;
}

/** Which of several failed downloads a restore reports: a damaged chunk, not the refusals it causes. */
export const failureRank = (err: unknown): number => (err instanceof ClientError && err.code === 'chunk_corrupt' ? 1 : 0);

/** Windows found different and queued, not yet started, beyond which the comparison waits. */
const MAX_QUEUED = 16;

/**
 * Jobs run on `pool` in the order they are pushed, as it has room, without the one who pushes them
 * waiting (the comparison runs on while chunks download) until MAX_QUEUED wait (a blank disk: all of
 * them differ). `done` settles once close() was called and every job ended; it rejects with the
 * pool's failure, after which no queued job starts.
 */
class Feeder {
  private readonly jobs: Array<() => Promise<void>> = [];
  private wake: (() => void) | null = null;
  private taken: (() => void) | null = null;
  private closed = false;
  failed = false;
  readonly done: Promise<void>;

  constructor(pool: Pool) {
    this.done = (async () => {
      try {
        for (;;) {
          const job = this.jobs.shift();
          if (job) {
            const w = this.taken;
            this.taken = null;
            w?.();
            await pool.add(job);
          }
          else if (this.closed) break;
          else await new Promise<void>((resolve) => (this.wake = resolve));
        }
        await pool.drain();
      } catch (err) {
        this.failed = true;
        this.jobs.length = 0;
        this.taken?.();
        throw err;
      }
    })();
    this.done.catch(() => {}); // awaited by the caller
  }

  /** Queues `job`; resolves once fewer than MAX_QUEUED jobs wait. */
  async push(job: () => Promise<void>): Promise<void> {
    this.jobs.push(job);
    this.poke();
    while (this.jobs.length >= MAX_QUEUED && !this.failed) await new Promise<void>((resolve) => (this.taken = resolve));
  }

  /** No more jobs; `drop`: forget those not started yet (the caller failed). */
  close(drop = false): void {
    if (drop) this.jobs.length = 0;
    this.closed = true;
    this.poke();
  }

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}

/**
 * Step 3: every window the disk lacks; `prefetched`: chunks already fetched (the head's). Returns
 * the windows written, each with the blocks written (v3) or null (the whole window).
 */
export async function writeWindows(o: WindowsOptions, fh: fs.FileHandle, slots: Slot[], chunkSize: number, report: TransferCounts, prefetched: Map<string, Buffer>): Promise<Map<Slot, number[] | null>> {
  const { meter, timings: t, blockSize } = o;
  const pool = new Pool(o.concurrency, failureRank);
  const feeder = new Feeder(pool);
  const written = new Map<Slot, number[] | null>();
  // Windows fetched whole, grouped by hash: one download serves every window with that content.
  // A window compared after its content's download was written gets that content from `kept`,
  // which holds a fetched chunk while windows with the same hash are still to come (rare outside
  // zero windows; bounded, beyond which a repeat is simply fetched again).
  type Want = { slot: Slot; blocks: number[] | null };
  const pending = new Map<string, Want[]>();
  const kept = new Map<string, Buffer>(prefetched);
  const ahead = new Map<string, number>();
  for (const s of slots) ahead.set(s.chunk!.hash, (ahead.get(s.chunk!.hash) ?? 0) + 1);
  const write = async (w: Want, data: Buffer) => {
    meter.check(); // the task was stopped on the server (its version found damaged): no more writes
    report.writtenBytes += await timed(t, 'write', writeBlocks(fh, w.slot, data, w.blocks, blockSize));
    written.set(w.slot, w.blocks);
    meter.add(usedIn(w.slot.window));
  };
  const writeGroup = async (hash: string, group: Want[], data: Buffer, downloaded: boolean) => {
    // The group may grow while it is written (for...of sees windows pushed meanwhile); once the
    // loop ends, the hash leaves `pending` in the same tick, so a later window never joins a
    // group that is already done.
    for (const w of group) await write(w, data);
    if (!downloaded) return;
    pending.delete(hash);
    if ((ahead.get(hash) ?? 0) > 0 && kept.size < MAX_KEPT_CHUNKS) kept.set(hash, data);
  };
  /** A window fetched whole (or from `kept`); `run`: queued, or inline for a job already running (a patch that failed). */
  const whole = async (w: Want, run: (job: () => Promise<void>) => Promise<void> = (job) => feeder.push(job)) => {
    const hash = w.slot.chunk!.hash;
    const same = pending.get(hash);
    if (same) return void same.push(w);
    const known = kept.get(hash);
    if (known) {
      if ((ahead.get(hash) ?? 0) === 0) kept.delete(hash);
      return run(() => writeGroup(hash, [w], known, false));
    }
    const group = [w];
    pending.set(hash, group);
    await run(async () => writeGroup(hash, group, await fetchChunk(o.api, w.slot.chunk!, report, t, o.decoder), true));
  };
  /** v3: only the blocks that differ, each checked, or the whole chunk when they cannot be. */
  const patch = async (s: Slot, diff: number[]) => {
    const runs = await fetchBlocks(o.api, o.decoder, s.chunk!, diff, blockSize!, report, t);
    if (!runs) return whole({ slot: s, blocks: diff }, (job) => job());
    meter.check();
    for (const r of runs) report.writtenBytes += await timed(t, 'write', writeBlocks(fh, s, r.data, r.blocks, blockSize, r.first * blockSize!));
    written.set(s, diff);
    meter.add(usedIn(s.window));
  };

  try {
    await eachCompared(o.disk, fh, slots, chunkSize, blockSize, !!o.direct, t, async (s, diff) => {
      if (feeder.failed) return false;
      meter.check();
      const c = s.chunk!;
      ahead.set(c.hash, ahead.get(c.hash)! - 1);
      if (diff && !diff.length) {
        // The head's chunk was fetched by the pre-flight (and counted there): the rest of its window
        // being on the disk already does not make it a skipped chunk too.
        if (!s.held) report.skippedChunks++;
        meter.add(usedIn(s.window));
        if (ahead.get(c.hash) === 0) kept.delete(c.hash);
      } else if (diff && blockSize && diff.length * 2 <= c.blocks!.length && !kept.has(c.hash) && !pending.has(c.hash)) {
        await feeder.push(() => patch(s, diff));
      } else await whole({ slot: s, blocks: diff });
      return true;
    });
  } catch (err) {
    // Nothing left writing behind the failure.
    feeder.close(true);
    await feeder.done.catch(() => {});
    throw err;
  }
  feeder.close();
  await feeder.done;
  return written;
}

/**
 * Step 4: reads back the windows `written` (after a flush and a cache drop) and returns those that
 * differ from the image: a window with a held head (its first bytes as the image has them, written
 * last) is read here, the others by worker threads (hasher.ts); a window written in at most half of
 * its blocks (v3) has only those read and checked against their block hashes, any other is read whole
 * and checked against its SHA-256.
 */
export async function readBack(disk: string, written: Map<Slot, number[] | null>, chunkSize: number, blockSize: number | undefined, meter: ProgressMeter, t: Timings): Promise<Slot[]> {
  const bad: Slot[] = [];
  const start = performance.now();
  const slots = [...written.keys()].sort((a, b) => a.base - b.base);
  const held = slots.filter((s) => s.held);
  const hasher = new WindowHasher(disk, blockSize ?? chunkSize, undefined, true);
  const vh = await fs.open(disk, 'r');
  try {
    await eachWindow(vh, held, chunkSize, (s, data) => {
      meter.check();
      if (windowHash(data) !== s.chunk!.hash) bad.push(s);
      meter.add(usedIn(s.window));
    });
    const pool = new Pool(8);
    for (const s of slots) {
      if (s.held) continue;
      const c = s.chunk!;
      const blocks = written.get(s);
      const w = { base: s.base, length: s.window.length, used: s.window.used };
      const some = blockSize && c.blocks && blocks && blocks.length * 2 <= c.blocks.length ? blocks : null;
      await pool.add(async () => {
        meter.check();
        if (some) {
          const h = await hasher.hashBlocks(w, some);
          if (some.some((b, k) => h.blocks[k] !== c.blocks![b])) bad.push(s);
        } else if ((await hasher.hash(w, 'window')).hash !== c.hash) bad.push(s);
        meter.add(usedIn(s.window));
      });
    }
    await pool.drain();
  } finally {
    await vh.close();
    await hasher.close();
    t.readBack += (performance.now() - start) / 1000;
  }
  return bad;
}
