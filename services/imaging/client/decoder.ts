// A restore's chunks decompressed and hashed on worker threads (Node >= 22.15: zstd in node:zlib):
// the downloaded frame goes to a worker (its memory moved, not copied), which decompresses it with
// zstd.ts decodeChunkSync (one pass per run of block frames) and hashes the result; the bytes come
// back moved too. The main thread is left with the downloads and the writes: decompressing there, or
// on the libuv pool in 64 KiB pieces each handed back to the main thread, made it the restore's
// bottleneck (test/bench/results/imaging.md).
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import zlib from 'node:zlib';
import { chunkDecoderSource, ZstdError } from '../zstd.js';

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const zlib = require('node:zlib');
const { createHash } = require('node:crypto');
${chunkDecoderSource()}
parentPort.on('message', ({ id, frame, maxSize, blockSize }) => {
  try {
    const parts = decodeChunkSync(zlib, Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength), maxSize);
    let out = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    // Moved back whole: a small buffer may live in Node's shared pool (which cannot be moved) and a
    // view shares its memory, so those are copied into memory of their own first.
    if (out.byteLength < 65536 || out.byteOffset !== 0 || out.byteLength !== out.buffer.byteLength) {
      const u = new Uint8Array(out.byteLength);
      u.set(out);
      out = u;
    }
    // A whole chunk: its SHA-256; a run of v3 blocks: each block's hash (format.ts blockHash).
    const sha = (b) => createHash('sha256').update(b).digest('hex');
    const blocks = [];
    if (blockSize) for (let o = 0; o < out.byteLength; o += blockSize) blocks.push(sha(out.subarray(o, Math.min(out.byteLength, o + blockSize))).slice(0, 32));
    parentPort.postMessage({ id, data: out, hash: blockSize ? '' : sha(out), blocks }, [out.buffer]);
  } catch (err) {
    parentPort.postMessage({ id, error: String((err && err.message) || err) });
  }
});
`;

export interface Decoded {
  data: Buffer;
  /** SHA-256 (hex) of `data`; '' when block hashes were asked for. */
  hash: string;
  /** With a block size: the v3 hash of each block of `data` (format.ts blockHash), else []. */
  blocks: string[];
}

const hasNativeZstd = typeof (zlib as unknown as { zstdDecompressSync?: unknown }).zstdDecompressSync === 'function';

/** Worker threads that decompress and hash chunks; null where node:zlib has no zstd (the tests' Node 20). */
export class ChunkDecoder {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: Array<{ frame: Buffer; maxSize: number; blockSize?: number; resolve: (d: Decoded) => void; reject: (e: Error) => void }> = [];
  private readonly busy = new Map<Worker, { resolve: (d: Decoded) => void; reject: (e: Error) => void }>();
  /** Why the decoder can no longer work (a worker died, or close): every waiting and later call fails with it. */
  private failed: Error | null = null;

  static create(threads = Math.max(2, Math.min(4, os.availableParallelism()))): ChunkDecoder | null {
    return hasNativeZstd ? new ChunkDecoder(threads) : null;
  }

  private constructor(threads: number) {
    for (let i = 0; i < threads; i++) {
      const w = new Worker(WORKER_SOURCE, { eval: true });
      w.unref();
      w.on('message', (m: { data?: Uint8Array; hash?: string; blocks?: string[]; error?: string }) => {
        const job = this.busy.get(w);
        this.busy.delete(w);
        if (job) {
          if (m.error !== undefined) job.reject(new ZstdError(`not a valid zstd chunk: ${m.error}`));
          else job.resolve({ data: Buffer.from(m.data!.buffer, m.data!.byteOffset, m.data!.byteLength), hash: m.hash!, blocks: m.blocks ?? [] });
        }
        this.idle.push(w);
        this.pump();
      });
      w.on('error', (err) => this.die(w, new Error(`a decompression worker failed: ${err.message}`)));
      w.on('exit', (code) => this.die(w, new Error(`a decompression worker stopped (exit code ${code})`)));
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  /** A worker died (out of memory, a bug): the restore stops with the reason rather than waiting for ever. */
  private die(w: Worker, err: Error): void {
    this.failed ??= err;
    this.busy.get(w)?.reject(this.failed);
    this.busy.delete(w);
    for (const job of this.queue.splice(0)) job.reject(this.failed);
  }

  private pump(): void {
    while (this.queue.length && this.idle.length) {
      const w = this.idle.pop()!;
      const job = this.queue.shift()!;
      this.busy.set(w, job);
      const f = job.frame;
      // Moved when the frame owns its memory (a download does; a small one may live in Node's pool), else copied.
      const own = f.byteLength >= 65536 && f.byteOffset === 0 && f.byteLength === f.buffer.byteLength && !(f.buffer instanceof SharedArrayBuffer);
      w.postMessage({ id: 0, frame: f, maxSize: job.maxSize, blockSize: job.blockSize }, own ? [f.buffer as ArrayBuffer] : []);
    }
  }

  /**
   * Decompresses a stored chunk (at most `maxSize` bytes) and hashes it, or with `blockSize` a run
   * of v3 block frames and hashes each block; `frame` is moved to the worker: do not use it after.
   */
  decode(frame: Buffer, maxSize: number, blockSize?: number): Promise<Decoded> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.queue.push({ frame, maxSize, blockSize, resolve, reject });
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.failed ??= new Error('the decompression workers were closed');
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
