// What the capture (capture.ts) and the restore (restore.ts) of image format v3 share: options and
// reports, the disk's windows (Slot), a bounded pool of jobs, whole reads and writes.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { maskWindow, type Chunk, type Window } from '../format.js';
import type { WindowsFacts } from '../windows-facts.js';
import type { ImagingApi } from './api.js';
import { tryRun } from './sys.js';

export const CLIENT_NAME = 'roomcast-client 3';

export interface EngineOptions {
  /** The whole disk: /dev/sda on a PC, a loop device in tests. */
  disk: string;
  api: ImagingApi;
  log?: (line: string) => void;
  /** Chunks compressed and uploaded, or fetched and written, at the same time (default 4). */
  concurrency?: number;
  /** Progress reports (default every second). */
  progressMs?: number;
}

export interface CaptureOptions extends EngineOptions {
  chunkSize?: number;
  /** v3 block size (default DEFAULT_BLOCK_SIZE, or the chunk size when that does not divide it). */
  blockSize?: number;
  /** zstd level (default 3, as Clonezilla and FOG). */
  level?: number;
}

export interface CaptureReport {
  versionId: number;
  number: number;
  chunks: number;
  uploadedChunks: number;
  uploadedBytes: number;
  usedBytes: number;
  hiberfileRemoved: number[];
  /** What the capture read of the Windows it holds (recorded with the version). */
  windows: WindowsFacts[];
}

/** One window of the disk, with its absolute position, what of it is used, and its manifest entry. */
export interface Slot {
  where: string;
  /** Absolute offset of the window on the disk. */
  base: number;
  window: Window;
  chunk?: Chunk;
  /**
   * Restore: the first bytes of the window as the image has them, held back until the end (the head
   * of the disk, restore.ts): never written with the window, and taken as they will be when the
   * window is compared or read back.
   */
  held?: Buffer;
}

/**
 * Runs async jobs, at most n at once. After a failure no new job starts, and add() and drain() wait
 * for the running ones to end (none is left writing to the disk behind its caller) before they throw
 * the most telling of the failures: the first of those `rank` puts highest (a restore puts
 * chunk_corrupt above the refusals it causes in the other downloads once the version is marked
 * damaged), else the first.
 */
export class Pool {
  private active = new Set<Promise<void>>();
  private readonly errors: unknown[] = [];
  constructor(
    private readonly n: number,
    private readonly rank: (err: unknown) => number = () => 0,
  ) {}

  async add(job: () => Promise<void>): Promise<void> {
    if (this.errors.length) return this.drain();
    while (this.active.size >= this.n) await Promise.race(this.active);
    if (this.errors.length) return this.drain();
    const p: Promise<void> = job()
      .catch((err: unknown) => {
        this.errors.push(err);
      })
      .finally(() => this.active.delete(p));
    this.active.add(p);
  }

  async drain(): Promise<void> {
    while (this.active.size) await Promise.all(this.active);
    if (this.errors.length) throw this.errors.reduce((best, e) => (this.rank(e) > this.rank(best) ? e : best));
  }
}

/** At most n jobs at once, in the order they asked. */
export class Semaphore {
  private readonly waiting: Array<() => void> = [];
  constructor(private free: number) {}
  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiting.push(r));
    try {
      return await job();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
export const usedIn = (w: Window) => w.used.reduce((s, [, l]) => s + l, 0);

/** Reads into `b` from `position` until it is full; past the end of the disk, zeros (the write then fails clearly). */
export async function readFully(fh: fs.FileHandle, b: Buffer, position: number): Promise<Buffer> {
  let got = 0;
  while (got < b.length) {
    const { bytesRead } = await fh.read(b, got, b.length - got, position + got);
    if (bytesRead === 0) {
      b.fill(0, got);
      break;
    }
    got += bytesRead;
  }
  return b;
}

/** Writes all of `data` at `position`. */
export async function writeFully(fh: fs.FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) done += (await fh.write(data, done, data.length - done, position + done)).bytesWritten;
}

export async function readWindow(fh: fs.FileHandle, slot: Slot, buf?: Buffer): Promise<Buffer> {
  const b = buf && buf.length >= slot.window.length ? buf.subarray(0, slot.window.length) : Buffer.alloc(slot.window.length);
  await readFully(fh, b, slot.base);
  slot.held?.copy(b, 0);
  return maskWindow(b, slot.window.used);
}

/** Drops the kernel's cached copy of the disk, so a verification reads the medium. */
export async function dropCache(disk: string): Promise<void> {
  await tryRun('blockdev', ['--flushbufs', disk]);
}
