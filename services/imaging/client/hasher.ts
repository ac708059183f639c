// Windows of the disk hashed on every core: worker threads each read windows themselves (their own
// file descriptor: the reads of two windows are in flight at once) and hash them (the window's SHA-256
// and its v3 block hashes, format.ts). A restore compares the disk with the manifest and reads back
// what it wrote this way. The functions that define the windows' masks and block hashes are put into
// the workers' source from format.ts (WINDOW_SOURCE, shared with the capture's compressor.ts), so the
// hashes are those the store checks.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { blockHashes, maskWindow, type Extent } from '../format.js';

/**
 * What to read of a window to get its used bytes: `used` (ascending, relative to the window) with
 * gaps shorter than `gap` bridged, each span widened to `align` (the disk's sector; O_DIRECT needs it)
 * and cut at `length`. The bytes outside `used` are never needed (maskWindow zeroes them): reading only
 * these spans skips a partly used window's free space, as partclone reads only used blocks.
 */
export function readSpans(used: Extent[], length: number, gap = 131072, align = 4096): Array<[from: number, to: number]> {
  const out: Array<[number, number]> = [];
  for (const [o, l] of used) {
    if (l <= 0) continue;
    const from = Math.max(0, Math.floor(o / align) * align);
    const to = Math.min(length, Math.ceil((o + l) / align) * align);
    const last = out.at(-1);
    if (last && from - last[1] < gap) last[1] = Math.max(last[1], to);
    else out.push([from, to]);
  }
  return out;
}

export interface WindowToHash {
  /** Absolute offset of the window on the disk. */
  base: number;
  length: number;
  /** Used extents, relative to the window: the rest is hashed as zeros. */
  used: Extent[];
}

/** What to hash: the whole window, its blocks, or both. */
export type Want = 'window' | 'blocks' | 'both';

export interface WindowHashes {
  hash: string;
  blocks: string[];
}

/**
 * What every window worker needs (CommonJS text; it expects `fs`, `createHash` and `workerData`): the
 * mask and block hashes of format.ts, the window's hash (an all-zero window hashed once) and a read of
 * a window's used spans only (readSpans, above) that gives zeros past the end of the disk (as
 * engine.ts readFully). compressor.ts uses it too.
 */
export const WINDOW_SOURCE = `
const __name = (f) => f; // esbuild's keepNames helper
const zeroHashes = new Map(); // format.ts blockHashes: an all-zero block hashed once per length
let zeros = Buffer.alloc(0);
// format.ts blockHash, written out (its createHash is an import, which a bundler or a test runner may
// rename in the function's text); client.test.ts checks the workers' hashes against format.ts's.
function blockHash(b) {
  return createHash('sha256').update(b).digest('hex').slice(0, 32);
}
${maskWindow.toString()}
${readSpans.toString()}
${blockHashes.toString()}
const zeroWindow = new Map();
function windowHash(b) {
  if (zeros.length < b.length) zeros = Buffer.alloc(b.length);
  if (!b.equals(zeros.subarray(0, b.length))) return createHash('sha256').update(b).digest('hex');
  let h = zeroWindow.get(b.length); // an all-zero window (a blank disk): hashed once
  if (!h) zeroWindow.set(b.length, (h = createHash('sha256').update(b).digest('hex')));
  return h;
}
// Reads the used spans of the window at base into b (readSpans: the rest is left for maskWindow to zero).
function readWindowSync(fd, b, base, used) {
  for (const [from, to] of readSpans(used, b.length)) {
    let got = from;
    while (got < to) {
      const n = fs.readSync(fd, b, got, to - got, base + got);
      if (n === 0) {
        b.fill(0, got); // past the end of the disk: zeros
        return b;
      }
      got += n;
    }
  }
  return b;
}
`;

// CommonJS run by each worker (eval: no file next to the bundled client to find).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
${WINDOW_SOURCE}
const fd = fs.openSync(workerData.disk, 'r');
// A restore reads with O_DIRECT (workerData.direct): the medium itself rather than a cache, and one
// copy fewer. Its buffer must be aligned in memory, which JavaScript cannot ask for: a read at each
// 16-byte step into a larger buffer finds an offset that is. Any refusal (a file system without
// O_DIRECT, an alignment not found) falls back to ordinary reads.
let dfd = -1;
if (workerData.direct) {
  try {
    dfd = fs.openSync(workerData.disk, fs.constants.O_RDONLY | fs.constants.O_DIRECT);
  } catch {
    dfd = -1;
  }
}
function noDirect() {
  if (dfd >= 0) fs.closeSync(dfd);
  dfd = -1;
}
let raw = Buffer.alloc(0);
let buf = Buffer.alloc(0);
function bufferFor(length) {
  if (buf.length >= length) return;
  raw = Buffer.allocUnsafeSlow(length + 4096);
  buf = raw.subarray(0, length);
  if (dfd < 0) return;
  for (let off = 0; off < 4096; off += 16) {
    try {
      fs.readSync(dfd, raw, off, 4096, 0);
      buf = raw.subarray(off, off + length);
      return;
    } catch (err) {
      if (err.code !== 'EINVAL') break;
    }
  }
  noDirect();
}
// Reads [from, to) of the window at base into the same place of b.
function readRange(b, base, from, to) {
  let got = from;
  while (got < to) {
    let n;
    try {
      n = fs.readSync(dfd >= 0 ? dfd : fd, b, got, to - got, base + got);
    } catch (err) {
      if (dfd < 0 || err.code !== 'EINVAL') throw err;
      noDirect(); // a range O_DIRECT refuses (not aligned to the disk's sectors): read as usual from now on
      continue;
    }
    if (n === 0) {
      b.fill(0, got, to); // past the end of the disk: zeros, as engine.ts readFully
      break;
    }
    got += n;
  }
}
parentPort.on('message', ({ id, base, length, used, want, only }) => {
  try {
    bufferFor(length);
    const b = buf.subarray(0, length);
    const bs = workerData.blockSize;
    if (only) {
      // Only these blocks: each run of adjacent ones read at once; the rest of b is never hashed.
      for (let k = 0; k < only.length; ) {
        let e = k + 1;
        while (e < only.length && only[e] === only[e - 1] + 1) e++;
        readRange(b, base, only[k] * bs, Math.min(length, (only[e - 1] + 1) * bs));
        k = e;
      }
      maskWindow(b, used);
      const blocks = only.map((i) => blockHashes(b.subarray(i * bs, Math.min(length, (i + 1) * bs)), bs)[0]);
      parentPort.postMessage({ id, hash: '', blocks });
      return;
    }
    for (const [from, to] of readSpans(used, length)) readRange(b, base, from, to);
    maskWindow(b, used);
    parentPort.postMessage({ id, hash: want === 'blocks' ? '' : windowHash(b), blocks: want === 'window' ? [] : blockHashes(b, bs) });
  } catch (err) {
    parentPort.postMessage({ id, error: String((err && err.message) || err), code: err && err.code });
  }
});
`;

/** Hashes windows of `disk` on `threads` worker threads (default: the CPUs, 2 to 4), in any order. */
export class WindowHasher {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: Array<{ w: WindowToHash; want: Want; only?: number[]; resolve: (h: WindowHashes) => void; reject: (e: Error) => void }> = [];
  private readonly busy = new Map<Worker, { resolve: (h: WindowHashes) => void; reject: (e: Error) => void }>();
  private failed: Error | null = null;

  /** `direct`: read with O_DIRECT where the disk allows it (a restore: what the medium holds, not a cache). */
  constructor(disk: string, blockSize: number, threads = Math.max(2, Math.min(4, os.availableParallelism())), direct = false) {
    for (let i = 0; i < threads; i++) {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { disk, blockSize, direct } });
      w.on('message', (m: { hash?: string; blocks?: string[]; error?: string; code?: string }) => {
        const job = this.busy.get(w);
        this.busy.delete(w);
        if (job) {
          if (m.error !== undefined) job.reject(Object.assign(new Error(`reading ${disk}: ${m.error}`), { code: m.code }));
          else job.resolve({ hash: m.hash!, blocks: m.blocks! });
        }
        this.idle.push(w);
        this.pump();
      });
      // A worker that dies (out of memory, a bug) fails the window it had, every queued and later one.
      const die = (err: Error) => {
        this.failed ??= err;
        this.busy.get(w)?.reject(this.failed);
        this.busy.delete(w);
        for (const q of this.queue.splice(0)) q.reject(this.failed);
      };
      w.on('error', (err) => die(err));
      w.on('exit', (code) => die(new Error(`a hashing worker stopped (exit code ${code})`)));
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  private pump(): void {
    while (this.queue.length && this.idle.length) {
      const w = this.idle.pop()!;
      const job = this.queue.shift()!;
      this.busy.set(w, job);
      w.postMessage({ id: 0, base: job.w.base, length: job.w.length, used: job.w.used, want: job.want, only: job.only });
    }
  }

  /** The window's SHA-256 (else '') and its block hashes (else []), as `want` says. */
  hash(w: WindowToHash, want: Want = 'both'): Promise<WindowHashes> {
    return this.enqueue(w, want);
  }

  /**
   * Restore's read-back of a patched window: reads only the blocks `only` (ascending block numbers)
   * and returns their hashes, in that order (`hash` is '').
   */
  hashBlocks(w: WindowToHash, only: number[]): Promise<WindowHashes> {
    return this.enqueue(w, 'blocks', only);
  }

  private enqueue(w: WindowToHash, want: Want, only?: number[]): Promise<WindowHashes> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.queue.push({ w, want, only, resolve, reject });
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.failed ??= new Error('the hashing workers were closed');
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
