// Steps 3 and 4 of a restore (restore.ts): compare the disk with the image window by window (format
// v3: block by block), fetch what differs, check it against its hash and write it; then read back
// every window written and check it again.
//
// The change unit is the block (v3, 64 KiB by default): a window whose blocks differ in a few places
// gets the block index of its stored chunk and then only those blocks' frames (HTTP Range), patches
// them into what the disk holds, checks the whole window's SHA-256 and writes the blocks that differ.
// A window that differs in more than half of its blocks, a v1/v2 manifest, or a chunk stored whole
// by an older client is fetched whole, as before.
//
// Honest read-back: the disk's cache is dropped before the comparison, so a window left as it was
// was read from the disk and checked in this run (v3: its 128-bit block hashes; v1/v2: its SHA-256);
// every window written is read back after a flush and a cache drop and checked against its SHA-256.
import fs from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { blockHashes, blockIndexLength, parseBlockIndex, type Chunk } from '../format.js';
import { zstdDecompress } from '../zstd.js';
import type { ImagingApi } from './api.js';
import { Pool, readWindow, sha256, usedIn, writeFully, type Slot } from './engine.js';
import type { ProgressMeter } from './progress.js';
import type { ChunkDecoder } from './decoder.js';
import { WindowHasher } from './hasher.js';
import { ClientError } from './sys.js';

/** Fetched chunks kept in memory for windows still to come with the same content (4 MiB each). */
const MAX_KEPT_CHUNKS = 32;
/** Windows read ahead of the one being compared or checked. */
const READ_AHEAD = 4;

export interface TransferCounts {
  fetchedChunks: number;
  fetchedBytes: number;
  /** v3: windows patched block by block (their index and some blocks fetched, not the whole chunk). */
  patchedChunks: number;
  writtenBytes: number;
  skippedChunks: number;
}

/** Seconds spent per stage (summed over what runs at once), for the log and the bench. */
export type Timings = Record<'compare' | 'fetch' | 'decompress' | 'write' | 'readBack', number>;
export const newTimings = (): Timings => ({ compare: 0, fetch: 0, decompress: 0, write: 0, readBack: 0 });
async function timed<T>(t: Timings, k: keyof Timings, p: Promise<T>): Promise<T> {
  const s = performance.now();
  try {
    return await p;
  } finally {
    t[k] += (performance.now() - s) / 1000;
  }
}

export interface WindowsOptions {
  api: ImagingApi;
  /** The disk's path, for the worker threads that read and hash its windows. */
  disk: string;
  /** Worker threads that decompress and hash the chunks fetched (null: here, as zstd.ts can). */
  decoder?: ChunkDecoder | null;
  /** v3: the manifest's block size; undefined for v1/v2. */
  blockSize: number | undefined;
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
 * Calls `fn` with each slot in order, the blocks where the disk differs from the image ([]: none;
 * null: the whole window, v1/v2) and a function that reads the window as the disk has it (a buffer of
 * its own). Worker threads read and hash the windows ahead (hasher.ts); a window with a held head is
 * read and compared here.
 */
async function eachCompared(
  disk: string,
  fh: fs.FileHandle,
  slots: Slot[],
  chunkSize: number,
  blockSize: number | undefined,
  t: Timings,
  fn: (s: Slot, diff: number[] | null, local: () => Promise<Buffer>) => Promise<void>,
): Promise<void> {
  const hasher = new WindowHasher(disk, blockSize ?? chunkSize);
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
      const s = slots[i]!;
      await fn(s, diff, () => readWindow(fh, s));
    }
  } finally {
    await hasher.close();
  }
}

/**
 * Writes the used bytes of `slot` from `data` (the whole window), only inside `blocks` when given
 * (v3: the blocks that differ), never the held head; adjacent ranges go in one write.
 */
export async function writeBlocks(fh: fs.FileHandle, slot: Slot, data: Buffer, blocks: number[] | null, blockSize: number | undefined): Promise<number> {
  const len = slot.window.length;
  const runs: Array<[number, number]> = [];
  if (!blocks || !blockSize) runs.push([0, len]);
  else for (const i of blocks) {
    const [a, b] = [i * blockSize, Math.min(len, (i + 1) * blockSize)];
    const last = runs.at(-1);
    if (last && last[1] === a) last[1] = b;
    else runs.push([a, b]);
  }
  const from = slot.held?.length ?? 0;
  let written = 0;
  let r = 0;
  for (const [uo, ul] of slot.window.used) {
    for (; r < runs.length && runs[r]![1] <= uo; r++);
    for (let k = r; k < runs.length && runs[k]![0] < uo + ul; k++) {
      const o = Math.max(uo, runs[k]![0], from);
      const end = Math.min(uo + ul, runs[k]![1]);
      if (end <= o) continue;
      await writeFully(fh, data.subarray(o, end), slot.base + o);
      written += end - o;
    }
  }
  return written;
}

/** Which of several failed downloads a restore reports: a damaged chunk, not the refusals it causes. */
export const failureRank = (err: unknown): number => (err instanceof ClientError && err.code === 'chunk_corrupt' ? 1 : 0);

/** Step 3: every window the disk lacks; `prefetched`: chunks already fetched (the head's). Returns the windows written. */
export async function writeWindows(o: WindowsOptions, fh: fs.FileHandle, slots: Slot[], chunkSize: number, report: TransferCounts, prefetched: Map<string, Buffer>): Promise<Set<Slot>> {
  const { meter, timings: t, blockSize } = o;
  const pool = new Pool(o.concurrency, failureRank);
  const written = new Set<Slot>();
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
    written.add(w.slot);
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
  /** A window fetched whole (or from `kept`); `run`: the pool, or inline for a job already in it (a patch that failed). */
  const whole = async (w: Want, run: (job: () => Promise<void>) => Promise<void> = (job) => pool.add(job)) => {
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

  await eachCompared(o.disk, fh, slots, chunkSize, blockSize, t, async (s, diff, local) => {
    meter.check();
    const c = s.chunk!;
    ahead.set(c.hash, ahead.get(c.hash)! - 1);
    if (diff && !diff.length) {
      // The head's chunk was fetched by the pre-flight (and counted there): the rest of its window
      // being on the disk already does not make it a skipped chunk too.
      if (!s.held) report.skippedChunks++;
      meter.add(usedIn(s.window));
      if (ahead.get(c.hash) === 0) kept.delete(c.hash);
      return;
    }
    if (diff && blockSize && diff.length * 2 <= c.blocks!.length && !kept.has(c.hash) && !pending.has(c.hash)) {
      const mine = await local();
      return pool.add(async () => {
        const data = await patchBlocks(o.api, c, mine, diff, blockSize, report, t);
        if (data) await write({ slot: s, blocks: diff }, data);
        else await whole({ slot: s, blocks: diff }, (job) => job());
      });
    }
    await whole({ slot: s, blocks: diff });
  });
  await pool.drain();
  return written;
}

/**
 * v3: fetches the block index of `c`'s stored chunk, then the frames of `diff` (one Range per run
 * of adjacent blocks), patches them into `mine` (the window as the disk has it) and checks the
 * window's SHA-256. Null when the chunk is not stored as blocks (an older client stored it) or the
 * result does not match (the caller then fetches it whole, which reports a damaged chunk).
 */
async function patchBlocks(api: ImagingApi, c: Chunk, mine: Buffer, diff: number[], blockSize: number, report: TransferCounts, t: Timings): Promise<Buffer | null> {
  const n = c.blocks!.length;
  const head = await timed(t, 'fetch', api.getChunkRange(c.hash, 0, blockIndexLength(n)));
  report.fetchedBytes += head.length;
  const frames = parseBlockIndex(head, blockSize);
  if (!frames || frames.length !== n) return null;
  const runs: Array<[number, number]> = [];
  for (const i of diff) {
    const last = runs.at(-1);
    if (last && last[1] === i) last[1] = i + 1;
    else runs.push([i, i + 1]);
  }
  try {
    await Promise.all(
      runs.map(async ([a, b]) => {
        const bytes = await timed(t, 'fetch', api.getChunkRange(c.hash, frames[a]![0], frames[b - 1]![1]));
        report.fetchedBytes += bytes.length;
        const base = frames[a]![0];
        for (let i = a; i < b; i++) {
          const frame = bytes.subarray(frames[i]![0] - base, frames[i]![1] - base);
          const want = Math.min(blockSize, c.length - i * blockSize);
          const data = await timed(t, 'decompress', zstdDecompress(frame, want));
          if (data.length !== want) throw new Error('a block of the wrong size');
          data.copy(mine, i * blockSize);
        }
      }),
    );
  } catch {
    return null;
  }
  report.fetchedChunks++;
  report.patchedChunks++;
  return sha256(mine) === c.hash ? mine : null;
}

/**
 * Fetches, decompresses and checks one chunk; a corrupt one is fetched once more, then reported to
 * the server (which checks its copy and marks the versions that hold it damaged) before giving up.
 */
export async function fetchChunk(api: ImagingApi, c: Chunk, report: TransferCounts, t: Timings, decoder?: ChunkDecoder | null): Promise<Buffer> {
  let why = '';
  for (let attempt = 1; attempt <= 2; attempt++) {
    const z = await timed(t, 'fetch', api.getChunk(c.hash));
    report.fetchedChunks += attempt === 1 ? 1 : 0;
    report.fetchedBytes += z.length;
    try {
      const { data, hash } = decoder ? await timed(t, 'decompress', decoder.decode(z, c.length)) : await timed(t, 'decompress', zstdDecompress(z, c.length).then((d) => ({ data: d, hash: sha256(d) })));
      if (data.length === c.length && hash === c.hash) return data;
      why = `its content does not match its hash`;
    } catch (err) {
      why = (err as Error).message;
    }
  }
  let marked = false;
  try {
    marked = (await api.reportDamaged(c.hash, why)).damaged;
  } catch {
    // the failure below says it all; the server's verify finds the chunk too
  }
  throw new ClientError(
    `chunk ${c.hash.slice(0, 12)} of the image is damaged on the server (${why}); the restore stopped there${marked ? '; the version is now marked damaged' : ''}: restore another version, or capture the reference PC again`,
    'chunk_corrupt',
    { chunk: c.hash },
  );
}

/**
 * Step 4: reads back `slots` (after a flush and a cache drop) and returns those that differ from the
 * image. Worker threads read and hash the windows (hasher.ts); a window with a held head (its first
 * bytes as the image has them, written last) is read here.
 */
export async function readBack(disk: string, slots: Slot[], chunkSize: number, meter: ProgressMeter, t: Timings): Promise<Slot[]> {
  const bad: Slot[] = [];
  const start = performance.now();
  const held = slots.filter((s) => s.held);
  const hasher = new WindowHasher(disk, chunkSize);
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
      await pool.add(async () => {
        meter.check();
        if ((await hasher.hash({ base: s.base, length: s.window.length, used: s.window.used }, 'window')).hash !== s.chunk!.hash) bad.push(s);
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
