// A capture's windows read, hashed, compressed and digested on worker threads (Node >= 22.15: zstd in
// node:zlib), each window read from the disk once. A streaming capture (capture.ts) asks a worker to
// read a window and hash it (its SHA-256 and v3 block hashes, as the store checks them); the worker
// keeps the bytes while the store is asked whether it has that content, then compresses them as a v3
// stored chunk (the block index, then one frame per block from one zstd context kept across frames, as
// zstd.ts zstdCompressBlocks does) with the SHA-256 of what will be sent (the Content-Digest), or drops
// them. The compressed bytes come back moved, not copied. The main thread is left with the HTTP.
//
// A worker that dies (out of memory, a bug) fails every window it held or had queued, and every later
// call, with the reason: the capture stops with it rather than waiting for ever.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import zlib from 'node:zlib';
import { BLOCK_INDEX_MAGIC, BLOCK_INDEX_TAG, blockIndexLength, encodeBlockIndex } from '../format.js';
import { WINDOW_SOURCE, type WindowToHash } from './hasher.js';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const zlib = require('node:zlib');
const { createHash } = require('node:crypto');
${WINDOW_SOURCE}
const BLOCK_INDEX_MAGIC = ${BLOCK_INDEX_MAGIC};
const BLOCK_INDEX_TAG = ${BLOCK_INDEX_TAG};
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
async function compressWindow(b) {
  const bs = workerData.blockSize;
  const frames = [];
  for (let o = 0; o < b.length; o += bs) frames.push(await frame(b.subarray(o, Math.min(o + bs, b.length))));
  const data = owned(Buffer.concat([encodeBlockIndex(bs, frames.map((f) => f.length)), ...frames]));
  return { data, digest: createHash('sha256').update(data).digest('base64') };
}
// Windows read and hashed, kept until the main thread says compress or drop; their buffers reused.
const held = new Map();
const spare = [];
function take(length) {
  const b = spare.pop();
  return b && b.length >= length ? b : Buffer.allocUnsafe(length);
}
function release(id) {
  const h = held.get(id);
  held.delete(id);
  if (h && spare.length < 4) spare.push(h.full);
  return h;
}
async function handle(m) {
  try {
    if (m.op === 'drop') {
      release(m.id);
      return;
    }
    if (m.op === 'read') {
      const full = take(m.length);
      const b = maskWindow(readWindowSync(fd, full.subarray(0, m.length), m.base, m.used), m.used);
      held.set(m.id, { full, b });
      parentPort.postMessage({ id: m.id, hash: windowHash(b), blocks: blockHashes(b, workerData.blockSize) });
      return;
    }
    if (m.op === 'compress') {
      const h = held.get(m.id);
      if (!h) throw new Error('window ' + m.id + ' is not held by this worker');
      const z = await compressWindow(h.b);
      release(m.id);
      parentPort.postMessage({ id: m.id, data: z.data, digest: z.digest, rawHash: '' }, [z.data.buffer]);
      return;
    }
    // 'once': read, mask, compress (and hash when asked), nothing kept.
    const full = take(m.length);
    try {
      const b = maskWindow(readWindowSync(fd, full.subarray(0, m.length), m.base, m.used), m.used);
      const rawHash = m.raw ? createHash('sha256').update(b).digest('hex') : '';
      const z = await compressWindow(b);
      parentPort.postMessage({ id: m.id, data: z.data, digest: z.digest, rawHash }, [z.data.buffer]);
    } finally {
      if (spare.length < 4) spare.push(full);
    }
  } catch (err) {
    if (m.op === 'compress') release(m.id);
    parentPort.postMessage({ id: m.id, error: String((err && err.message) || err), code: err && err.code });
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

/** A window read and hashed by a worker, which keeps its bytes until compressHeld or drop. */
export interface HeldWindow {
  hash: string;
  blocks: string[];
  readonly worker: number;
  readonly id: number;
}

interface Reply {
  id: number;
  hash?: string;
  blocks?: string[];
  data?: Uint8Array;
  digest?: string;
  rawHash?: string;
  error?: string;
  code?: string;
}

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>;
  /** Windows held plus requests not answered: where the next read goes. */
  load: number;
  /** Ids of the windows this worker holds (read, not yet compressed or dropped). */
  held: Set<number>;
}

const hasNativeZstd = typeof (zlib as unknown as { zstdCompress?: unknown }).zstdCompress === 'function';

/** Worker threads that read, hash, compress and digest windows of `disk`; null where node:zlib has no zstd (the tests' Node 20). */
export class WindowCompressor {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private failed: Error | null = null;

  static create(disk: string, blockSize: number, level: number, threads = Math.max(2, Math.min(4, os.availableParallelism()))): WindowCompressor | null {
    return hasNativeZstd ? new WindowCompressor(disk, blockSize, level, threads) : null;
  }

  private constructor(
    private readonly disk: string,
    blockSize: number,
    level: number,
    threads: number,
  ) {
    for (let i = 0; i < threads; i++) {
      const slot: Slot = { worker: new Worker(WORKER_SOURCE, { eval: true, workerData: { disk, blockSize, level } }), pending: new Map(), load: 0, held: new Set() };
      slot.worker.on('message', (m: Reply) => {
        const job = slot.pending.get(m.id);
        slot.pending.delete(m.id);
        if (!job) return;
        if (m.error !== undefined) job.reject(Object.assign(new Error(`reading or compressing ${disk}: ${m.error}`), { code: m.code }));
        else job.resolve(m);
      });
      const die = (err: Error) => {
        this.failed ??= err;
        for (const job of slot.pending.values()) job.reject(err);
        slot.pending.clear();
      };
      slot.worker.on('error', (err) => die(new Error(`a compression worker failed: ${err.message}`)));
      slot.worker.on('exit', (code) => die(new Error(`a compression worker stopped (exit code ${code})`)));
      this.slots.push(slot);
    }
  }

  private ask(slot: Slot, message: Record<string, unknown> & { id: number }): Promise<Reply> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      slot.pending.set(message.id, { resolve, reject });
      slot.worker.postMessage(message);
    });
  }

  private leastLoaded(): Slot {
    return this.slots.reduce((a, b) => (b.load < a.load ? b : a));
  }

  /** Reads and hashes a window; its bytes stay in the worker until compressHeld or drop. */
  async read(w: WindowToHash): Promise<HeldWindow> {
    const worker = this.slots.indexOf(this.leastLoaded());
    const slot = this.slots[worker]!;
    const id = this.nextId++;
    slot.load++;
    try {
      const r = await this.ask(slot, { op: 'read', id, base: w.base, length: w.length, used: w.used });
      slot.held.add(id);
      return { hash: r.hash!, blocks: r.blocks!, worker, id };
    } catch (err) {
      slot.load--;
      throw err;
    }
  }

  /** The held window compressed and digested (then no longer held). */
  async compressHeld(h: HeldWindow): Promise<CompressedWindow> {
    const slot = this.slots[h.worker]!;
    // A handle already compressed or dropped: refused here, and the load it no longer adds kept right.
    if (!slot.held.delete(h.id)) throw new Error(`reading or compressing ${this.disk}: window ${h.id} is not held by this worker`);
    try {
      return toCompressed(await this.ask(slot, { op: 'compress', id: h.id }));
    } finally {
      slot.load--;
    }
  }

  /** The store has this content: the worker forgets the window. */
  drop(h: HeldWindow): void {
    const slot = this.slots[h.worker]!;
    if (!slot.held.delete(h.id)) return;
    slot.load--;
    if (!this.failed) slot.worker.postMessage({ op: 'drop', id: h.id });
  }

  /** The window read from the disk, compressed and digested, nothing kept; `raw`: also hash the masked window (to tell a changed disk). */
  async compress(w: WindowToHash, raw = false): Promise<CompressedWindow> {
    const slot = this.leastLoaded();
    slot.load++;
    try {
      return toCompressed(await this.ask(slot, { op: 'once', id: this.nextId++, base: w.base, length: w.length, used: w.used, raw }));
    } finally {
      slot.load--;
    }
  }

  async close(): Promise<void> {
    this.failed ??= new Error(`the compression workers of ${this.disk} were closed`);
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

function toCompressed(m: Reply): CompressedWindow {
  return { data: Buffer.from(m.data!.buffer, m.data!.byteOffset, m.data!.byteLength), digest: `sha-256=:${m.digest!}:`, rawHash: m.rawHash ?? '' };
}
