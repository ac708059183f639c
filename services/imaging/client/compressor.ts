// A capture's chunks read, compressed and digested on worker threads (Node >= 22.15: zstd in
// node:zlib): each worker reads the window from the disk itself, masks it, compresses it as a v3 stored
// chunk (the block index, then one frame per block from one zstd context kept across frames, as
// zstd.ts zstdCompressBlocks does) and computes the SHA-256 of what will be sent (the Content-Digest);
// the bytes come back moved, not copied. The main thread is left with the uploads: compressing on the
// libuv pool handed each 64 KiB block's frame back to it, 64 trips per chunk, which made it the
// capture's bottleneck beside the hashing (test/bench/results/imaging.md).
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import zlib from 'node:zlib';
import { BLOCK_INDEX_MAGIC, BLOCK_INDEX_TAG, blockIndexLength, encodeBlockIndex, maskWindow } from '../format.js';
import type { WindowToHash } from './hasher.js';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const zlib = require('node:zlib');
const { createHash } = require('node:crypto');
const __name = (f) => f; // esbuild's keepNames helper
const BLOCK_INDEX_MAGIC = ${BLOCK_INDEX_MAGIC};
const BLOCK_INDEX_TAG = ${BLOCK_INDEX_TAG};
${maskWindow.toString()}
${blockIndexLength.toString()}
${encodeBlockIndex.toString()}
const c = zlib.constants;
const fd = fs.openSync(workerData.disk, 'r');
let stream = null;
let out = [];
let failed = null;
function compressor() {
  if (stream && !failed) return stream;
  if (stream) stream.destroy();
  failed = null;
  out = [];
  stream = zlib.createZstdCompress({ chunkSize: 128 * 1024, params: { [c.ZSTD_c_compressionLevel]: workerData.level, [c.ZSTD_c_checksumFlag]: 1 } });
  stream.on('data', (b) => out.push(b));
  stream.on('error', (e) => (failed = e));
  return stream;
}
function frame(block) {
  return new Promise((resolve, reject) => {
    const s = compressor();
    s.write(block);
    s.flush(c.ZSTD_e_end, () => {
      if (failed) return reject(failed);
      const f = out.length === 1 ? out[0] : Buffer.concat(out);
      out = [];
      resolve(f);
    });
  });
}
// Moved back whole: a small buffer may live in Node's shared pool (which cannot be moved) and a view
// shares its memory, so those are copied into memory of their own first.
function owned(b) {
  if (b.byteLength >= 65536 && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) return b;
  const u = new Uint8Array(b.byteLength);
  u.set(b);
  return u;
}
let buf = Buffer.alloc(0);
async function handle({ id, base, length, used, raw }) {
  try {
    if (buf.length < length) buf = Buffer.allocUnsafe(length);
    const b = buf.subarray(0, length);
    let got = 0;
    while (got < length) {
      const n = fs.readSync(fd, b, got, length - got, base + got);
      if (n === 0) {
        b.fill(0, got); // past the end of the disk: zeros, as engine.ts readFully
        break;
      }
      got += n;
    }
    maskWindow(b, used);
    const rawHash = raw ? createHash('sha256').update(b).digest('hex') : '';
    const bs = workerData.blockSize;
    const frames = [];
    for (let o = 0; o < length; o += bs) frames.push(await frame(b.subarray(o, Math.min(o + bs, length))));
    const data = owned(Buffer.concat([encodeBlockIndex(bs, frames.map((f) => f.length)), ...frames]));
    const digest = createHash('sha256').update(data).digest('base64');
    parentPort.postMessage({ id, data, digest, rawHash }, [data.buffer]);
  } catch (err) {
    parentPort.postMessage({ id, error: String((err && err.message) || err), code: err && err.code });
  }
}
let chain = Promise.resolve();
parentPort.on('message', (m) => {
  chain = chain.then(() => handle(m));
});
`;

export interface CompressedWindow {
  /** The v3 stored chunk: block index, then one zstd frame per block. */
  data: Buffer;
  /** The chunk's Content-Digest header value (RFC 9530, sha-256). */
  digest: string;
  /** SHA-256 (hex) of the masked window, when asked for; else ''. */
  rawHash: string;
}

const hasNativeZstd = typeof (zlib as unknown as { zstdCompress?: unknown }).zstdCompress === 'function';

/** Worker threads that read, compress and digest windows of `disk`; null where node:zlib has no zstd (the tests' Node 20). */
export class WindowCompressor {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: Array<{ w: WindowToHash; raw: boolean; resolve: (c: CompressedWindow) => void; reject: (e: Error) => void }> = [];
  private readonly busy = new Map<Worker, { resolve: (c: CompressedWindow) => void; reject: (e: Error) => void }>();

  static create(disk: string, blockSize: number, level: number, threads = Math.max(2, Math.min(4, os.availableParallelism()))): WindowCompressor | null {
    return hasNativeZstd ? new WindowCompressor(disk, blockSize, level, threads) : null;
  }

  private constructor(disk: string, blockSize: number, level: number, threads: number) {
    for (let i = 0; i < threads; i++) {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { disk, blockSize, level } });
      w.on('message', (m: { data?: Uint8Array; digest?: string; rawHash?: string; error?: string; code?: string }) => {
        const job = this.busy.get(w);
        this.busy.delete(w);
        if (job) {
          if (m.error !== undefined) job.reject(Object.assign(new Error(`reading or compressing ${disk}: ${m.error}`), { code: m.code }));
          else job.resolve({ data: Buffer.from(m.data!.buffer, m.data!.byteOffset, m.data!.byteLength), digest: `sha-256=:${m.digest!}:`, rawHash: m.rawHash! });
        }
        this.idle.push(w);
        this.pump();
      });
      w.on('error', (err) => {
        this.busy.get(w)?.reject(err);
        this.busy.delete(w);
      });
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  private pump(): void {
    while (this.queue.length && this.idle.length) {
      const w = this.idle.pop()!;
      const job = this.queue.shift()!;
      this.busy.set(w, job);
      w.postMessage({ id: 0, base: job.w.base, length: job.w.length, used: job.w.used, raw: job.raw });
    }
  }

  /** The window read from the disk, compressed and digested; `raw`: also hash the masked window (to tell a changed disk). */
  compress(w: WindowToHash, raw = false): Promise<CompressedWindow> {
    return new Promise((resolve, reject) => {
      this.queue.push({ w, raw, resolve, reject });
      this.pump();
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
