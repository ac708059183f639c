// The check of one uploaded chunk frame: the SHA-256 of the frame as stored, against the Content-Digest
// it was sent with (when given), then decompress it (at most the chunk size) and hash what comes out.
// On Node >= 22.15 (node:zlib has zstd: the appliance) a small pool of worker threads does it, off
// the api's event loop and without a process per chunk; on older Node (the tests' Node 20) the zstd
// program per chunk (zstd.ts), hashed here.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import zlib from 'node:zlib';
import { chunkDecoderSource, ZstdError, zstdDecompress } from './zstd.js';

export interface FrameCheck {
  /** SHA-256 (hex) of the decompressed bytes. */
  hash: string;
  /** Length of the decompressed bytes. */
  size: number;
}

export interface FrameChecker {
  readonly engine: string;
  /**
   * Hashes the frame in `file` and compares it with `frameSha256` (hex) when given, then decompresses
   * it; rejects with ZstdError when the frame is not the one sent, or not a valid frame of at most
   * `maxSize` bytes.
   */
  check(file: string, maxSize: number, frameSha256?: string): Promise<FrameCheck>;
  close(): Promise<void>;
}

const hasNativeZstd = typeof (zlib as unknown as { zstdDecompressSync?: unknown }).zstdDecompressSync === 'function';

// CommonJS run by each worker (eval: no file to find next to the compiled or bundled module). A chunk
// may hold several frames (format v3: a skippable index frame, then one frame per 64 KiB block), and
// node:zlib's zstd stops at a skippable frame, or at the end of a frame that does not fill its output
// piece: zstd.ts decodeChunkSync cuts it into runs of data frames and decompresses each run at once,
// or frame by frame when its output is not as long as its block index says (its source is put into
// the worker's: one copy of the frame parser).
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const zlib = require('node:zlib');
const crypto = require('node:crypto');
const fs = require('node:fs');
${chunkDecoderSource()}
parentPort.on('message', ({ id, file, maxSize, frameSha256 }) => {
  try {
    const frame = fs.readFileSync(file);
    if (frameSha256) {
      const sent = crypto.createHash('sha256').update(frame).digest('hex');
      if (sent !== frameSha256) return parentPort.postMessage({ id, digest: sent });
    }
    const hash = crypto.createHash('sha256');
    let size = 0;
    for (const part of decodeChunkSync(zlib, frame, maxSize)) {
      hash.update(part);
      size += part.length;
    }
    parentPort.postMessage({ id, hash: hash.digest('hex'), size });
  } catch (err) {
    parentPort.postMessage({ id, error: String((err && err.message) || err), io: Boolean(err && err.syscall) });
  }
});
`;

/** A frame that is not the one its client sent (the transfer damaged it): rejected like an invalid frame. */
const digestMismatch = (got: string, sent: string) =>
  new ZstdError(`the frame received hashes to ${got}, not to the SHA-256 its Content-Digest gives (${sent}): the transfer damaged it`);

interface Job {
  id: number;
  file: string;
  maxSize: number;
  frameSha256?: string;
  resolve: (r: FrameCheck) => void;
  reject: (e: Error) => void;
}

/** Worker threads decompressing with node:zlib's zstd, `size` at a time. */
class WorkerChecker implements FrameChecker {
  readonly engine = 'node:zlib (worker threads)';
  private idle: Worker[] = [];
  private all: Worker[] = [];
  private queue: Job[] = [];
  private busy = new Map<Worker, Job>();
  private nextId = 1;

  constructor(private readonly size: number) {}

  private spawn(): Worker {
    const w = new Worker(WORKER_SOURCE, { eval: true });
    w.unref(); // an idle pool never keeps the process alive
    w.on('message', (m: { id: number; hash?: string; size?: number; error?: string; io?: boolean; digest?: string }) => {
      const job = this.busy.get(w);
      this.busy.delete(w);
      if (job) {
        if (m.digest !== undefined) job.reject(digestMismatch(m.digest, job.frameSha256!));
        else if (m.error !== undefined) job.reject(m.io ? new Error(m.error) : new ZstdError(`not a valid zstd chunk: ${m.error}`));
        else job.resolve({ hash: m.hash!, size: m.size! });
      }
      this.idle.push(w);
      this.pump();
    });
    w.on('error', (err) => {
      const job = this.busy.get(w);
      this.busy.delete(w);
      this.all = this.all.filter((x) => x !== w);
      job?.reject(err);
      this.pump();
    });
    this.all.push(w);
    return w;
  }

  private pump(): void {
    while (this.queue.length) {
      const w = this.idle.pop() ?? (this.all.length < this.size ? this.spawn() : undefined);
      if (!w) return;
      const job = this.queue.shift()!;
      this.busy.set(w, job);
      w.postMessage({ id: job.id, file: job.file, maxSize: job.maxSize, frameSha256: job.frameSha256 });
    }
  }

  check(file: string, maxSize: number, frameSha256?: string): Promise<FrameCheck> {
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, file, maxSize, frameSha256, resolve, reject });
      this.pump();
    });
  }

  async close(): Promise<void> {
    const all = this.all;
    this.all = [];
    this.idle = [];
    await Promise.all(all.map((w) => w.terminate()));
  }
}

/** The zstd program, one process per frame (Node without zstd in node:zlib). */
class ProgramChecker implements FrameChecker {
  readonly engine = 'zstd program';
  async check(file: string, maxSize: number, frameSha256?: string): Promise<FrameCheck> {
    const frame = await fs.promises.readFile(file);
    if (frameSha256) {
      const sent = createHash('sha256').update(frame).digest('hex');
      if (sent !== frameSha256) throw digestMismatch(sent, frameSha256);
    }
    const raw = await zstdDecompress(frame, maxSize);
    return { hash: createHash('sha256').update(raw).digest('hex'), size: raw.length };
  }
  async close(): Promise<void> {}
}

/** The checker this Node can run best; `threads` workers on Node with zstd in node:zlib (default: the CPUs, at most 4). */
export function frameChecker(threads = Math.min(4, os.availableParallelism())): FrameChecker {
  return hasNativeZstd ? new WorkerChecker(Math.max(1, threads)) : new ProgramChecker();
}
