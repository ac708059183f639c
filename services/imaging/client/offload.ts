// The client's hashing and decompression off its event loop: a few worker threads hash windows (a
// capture's hash pass, a restore's comparison and read-back: SHA-256, v3 block hashes) and decompress and hash fetched chunks, so the comparison, the decompression and
// the read-back use every core while the main thread keeps reading, fetching and writing. A chunk is
// decompressed frame by frame with the synchronous node:zlib call (one trip to a worker per chunk,
// not 64 trips to the thread pool and back, about half the CPU). Where node:zlib has no zstd (Node
// before 22.15: the tests' in-process client) chunks are decompressed by zstd.ts; hashing still runs
// in the workers.
import { createHash } from 'node:crypto';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import zlib from 'node:zlib';
import { frameLength, ZstdError, zstdDecompress, zstdFrames } from '../zstd.js';

const hasNativeZstd = typeof (zlib as unknown as { zstdDecompressSync?: unknown }).zstdDecompressSync === 'function';

// CommonJS run by each worker (eval: no file to find next to the bundle). zstd.ts's frame parser is
// put into it, so there is one copy of it; blockHash is format.ts's (the first 128 bits of the SHA-256).
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const zlib = require('node:zlib');
const crypto = require('node:crypto');
const __name = (f) => f; // esbuild's keepNames helper, when the functions below come from tsx
class ZstdError extends Error {}
const FRAME_MAGIC = 0xfd2fb528;
${frameLength.toString()}
${zstdFrames.toString()}
const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');
let zeros = Buffer.alloc(0);
const zeroHashes = new Map();
function blockHashes(data, bs) {
  const out = [];
  for (let o = 0; o < data.length; o += bs) {
    const b = data.subarray(o, Math.min(o + bs, data.length));
    if (zeros.length < b.length) zeros = Buffer.alloc(b.length);
    if (b.equals(zeros.subarray(0, b.length))) {
      let h = zeroHashes.get(b.length);
      if (!h) zeroHashes.set(b.length, (h = sha(b).slice(0, 32)));
      out.push(h);
    } else out.push(sha(b).slice(0, 32));
  }
  return out;
}
const view = (u) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
parentPort.on('message', (m) => {
  try {
    if (m.op === 'hash') {
      const b = view(m.bytes);
      parentPort.postMessage({ id: m.id, hash: m.whole ? sha(b) : undefined, blocks: m.blockSize ? blockHashes(b, m.blockSize) : undefined });
    } else {
      const frames = zstdFrames(view(m.bytes));
      // Each frame's output in one buffer of its expected size (a v3 block): a buffer of the whole chunk's
      // size per 64 KiB frame cost an allocation of 4 MiB and the garbage collections it set off.
      const piece = Math.max(65536, Math.min(67108864, Math.ceil(m.maxSize / frames.length)));
      const out = Buffer.allocUnsafe(m.maxSize);
      let size = 0;
      for (const f of frames) {
        const raw = zlib.zstdDecompressSync(f, { maxOutputLength: Math.max(1, m.maxSize - size), chunkSize: piece });
        if (size + raw.length > m.maxSize) throw new ZstdError('zstd output larger than ' + m.maxSize + ' bytes');
        raw.copy(out, size);
        size += raw.length;
      }
      const data = out.subarray(0, size);
      parentPort.postMessage({ id: m.id, hash: sha(data), data }, [out.buffer]);
    }
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String((err && err.message) || err) });
  }
});
`;

interface Reply {
  id: number;
  hash?: string;
  blocks?: string[] | null;
  data?: Uint8Array;
  error?: string;
}

interface Job {
  msg: Record<string, unknown> & { id: number };
  transfer: ArrayBuffer[];
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
}

class Pool {
  private idle: Worker[] = [];
  private all: Worker[] = [];
  private queue: Job[] = [];
  private busy = new Map<Worker, Job>();
  private nextId = 1;

  constructor(private readonly size: number) {}

  private spawn(): Worker {
    const w = new Worker(WORKER_SOURCE, { eval: true });
    w.on('message', (m: Reply) => {
      const job = this.busy.get(w);
      this.busy.delete(w);
      w.unref(); // idle: never keeps the process alive
      this.idle.push(w);
      job?.resolve(m);
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
      w.ref(); // a job in a worker keeps the process alive until its answer
      w.postMessage(job.msg, job.transfer);
    }
  }

  run(msg: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Reply> {
    return new Promise((resolve, reject) => {
      this.queue.push({ msg: { ...msg, id: this.nextId++ }, transfer, resolve, reject });
      this.pump();
    });
  }
}

let pool: Pool | null = null;
const workers = () => (pool ??= new Pool(Math.max(1, Math.min(4, os.availableParallelism()))));

/** The SHA-256 (hex) of `data`, in a worker (`data` is copied to it: the caller may reuse it at once). */
export async function hashWindow(data: Buffer): Promise<string> {
  const r = await workers().run({ op: 'hash', bytes: data, whole: true, blockSize: 0 });
  if (r.error !== undefined) throw new Error(r.error);
  return r.hash!;
}

/** The v3 block hashes of `data` (format.ts blockHashes), in a worker (`data` is copied to it). */
export async function hashBlocks(data: Buffer, blockSize: number): Promise<string[]> {
  const r = await workers().run({ op: 'hash', bytes: data, whole: false, blockSize });
  if (r.error !== undefined) throw new Error(r.error);
  return r.blocks!;
}

/** The SHA-256 of `data` and its v3 block hashes (a capture's manifest entry), in a worker (`data` is copied to it). */
export async function hashChunk(data: Buffer, blockSize: number): Promise<{ hash: string; blocks: string[] }> {
  const r = await workers().run({ op: 'hash', bytes: data, whole: true, blockSize });
  if (r.error !== undefined) throw new Error(r.error);
  return { hash: r.hash!, blocks: r.blocks! };
}

/** Decompresses a fetched chunk (one frame, or a v3 block index and block frames) of at most `maxSize` bytes and hashes it. `z` is given to the worker when it owns its memory. */
export async function decodeChunk(z: Buffer, maxSize: number): Promise<{ data: Buffer; hash: string }> {
  if (!hasNativeZstd) {
    const data = await zstdDecompress(z, maxSize);
    return { data, hash: createHash('sha256').update(data).digest('hex') };
  }
  const own = z.byteOffset === 0 && z.byteLength === z.buffer.byteLength && z.buffer instanceof ArrayBuffer;
  const r = await workers().run({ op: 'decode', bytes: z, maxSize }, own ? [z.buffer as ArrayBuffer] : []);
  if (r.error !== undefined) throw new ZstdError(`not a valid zstd chunk: ${r.error}`);
  return { data: Buffer.from(r.data!.buffer, r.data!.byteOffset, r.data!.byteLength), hash: r.hash! };
}
