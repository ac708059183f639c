// zstd for image chunks, on the server (Node 20) and in the boot client (Node 22).
// Node >= 22.15 has zstd in node:zlib; older Node runs Debian's `zstd` program (package zstd) per
// chunk. Both produce standard zstd frames, so either side can read what the other wrote.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Transform } from 'node:stream';
import zlib from 'node:zlib';
import { encodeBlockIndex } from './format.js';

type ZstdZlib = {
  zstdCompress(buf: Buffer, opts: object, cb: (err: Error | null, out: Buffer) => void): void;
  zstdDecompress(buf: Buffer, opts: object, cb: (err: Error | null, out: Buffer) => void): void;
  constants: Record<string, number>;
};
const native = typeof (zlib as unknown as Partial<ZstdZlib>).zstdCompress === 'function' ? (zlib as unknown as ZstdZlib) : null;

/** 'node:zlib' or 'zstd program': what this process uses. */
export const zstdEngine = native ? 'node:zlib' : 'zstd program';

export class ZstdError extends Error {}

function runZstd(args: string[], input: Buffer, maxOut: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn('zstd', ['-q', '-c', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (err) {
      reject(err as Error);
      return;
    }
    const out: Buffer[] = [];
    let size = 0;
    let err = '';
    let tooBig = false;
    child.stdout.on('data', (b: Buffer) => {
      size += b.length;
      if (size > maxOut) {
        tooBig = true;
        child.kill('SIGKILL');
        return;
      }
      out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.stdin.on('error', () => {}); // zstd may exit before reading everything (bad input)
    child.once('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'ENOENT' ? new ZstdError('the zstd program is missing (apt-get install zstd)') : e),
    );
    child.once('close', (code) => {
      if (tooBig) reject(new ZstdError(`zstd output larger than ${maxOut} bytes`));
      else if (code !== 0) reject(new ZstdError(`zstd failed: ${err.trim() || `exit ${code}`}`));
      else resolve(Buffer.concat(out, size));
    });
    child.stdin.end(input);
  });
}

export function zstdCompress(data: Buffer, level = 3): Promise<Buffer> {
  if (native) {
    return new Promise((resolve, reject) =>
      // The pledged size lets zstd size its tables to the input: without it every 64 KiB block
      // frame (format v3) set up tables for megabytes, and a chunk took 5 times as long. One output
      // buffer large enough for the frame: with the default 16 KiB pieces, each piece is a trip between
      // the thread pool and the event loop and a copy when they are joined.
      native.zstdCompress(data, { pledgedSrcSize: data.length, chunkSize: Math.max(64 * 1024, data.length + (data.length >> 7) + 65536), params: { [native.constants.ZSTD_c_compressionLevel!]: level, [native.constants.ZSTD_c_checksumFlag!]: 1 } }, (err, out) =>
        err ? reject(err) : resolve(out),
      ),
    );
  }
  return runZstd([`-${level}`, '--no-progress'], data, data.length + (data.length >> 7) + 65536);
}

/**
 * Decompresses a stored chunk: one frame, or (format v3) a block index and one frame per block; fails
 * when the result would exceed `maxSize` (a chunk never does). Each run of adjacent data frames goes
 * through one decompression (dataSpans); a run whose output comes out shorter than its frames declare
 * is decompressed again frame by frame, so the result never depends on where node:zlib stops.
 */
export async function zstdDecompress(data: Buffer, maxSize: number): Promise<Buffer> {
  if (!native) return runZstd(['-d'], data, maxSize);
  const spans = dataSpans(data);
  if (spans.length === 1 && spans[0]!.frames.length === 1 && spans[0]!.bytes.length === data.length) return zstdDecompressFrame(data, maxSize);
  const parts: Buffer[] = [];
  let size = 0;
  for (const s of spans) {
    let out: Buffer | null = null;
    if (s.piece !== null && s.piece >= 64 && s.frames.length > 1 && s.min <= maxSize - size) {
      const piece = s.piece;
      out = await new Promise<Buffer | null>((resolve) =>
        native.zstdDecompress(s.bytes, { maxOutputLength: maxSize - size, chunkSize: piece }, (err, b) => resolve(err ? null : b)),
      );
      if (out && (out.length < s.min || out.length > s.max)) out = null;
    }
    const got = out ? [out] : await Promise.all(s.frames.map((f) => zstdDecompressFrame(f, maxSize, Math.ceil(maxSize / s.frames.length))));
    for (const g of got) {
      size += g.length;
      if (size > maxSize) throw new ZstdError(`zstd output larger than ${maxSize} bytes`);
      parts.push(g);
    }
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
}

const FRAME_MAGIC = 0xfd2fb528;

/** Byte length of the zstd frame at `pos` (a skippable frame included); throws on anything else. */
export function frameLength(b: Buffer, pos: number): number {
  const bad = () => new ZstdError(`not a valid zstd chunk: no frame at byte ${pos}`);
  if (pos + 8 > b.length) throw bad();
  const magic = b.readUInt32LE(pos);
  if ((magic & 0xfffffff0) === 0x184d2a50) return 8 + b.readUInt32LE(pos + 4);
  if (magic !== FRAME_MAGIC) throw bad();
  const fhd = b[pos + 4]!;
  const single = (fhd >> 5) & 1;
  let p = pos + 5 + (single ? 0 : 1) + [0, 1, 2, 4][fhd & 3]! + [single, 2, 4, 8][fhd >> 6]!;
  for (;;) {
    if (p + 3 > b.length) throw bad();
    const h = b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16);
    p += 3 + (((h >> 1) & 3) === 1 ? 1 : h >> 3);
    if (h & 1) break;
  }
  return p + ((fhd >> 2) & 1 ? 4 : 0) - pos;
}

/** The data frames of `data`, in order (skippable frames left out). */
export function zstdFrames(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let pos = 0; pos < data.length; ) {
    const len = frameLength(data, pos);
    if (pos + len > data.length) throw new ZstdError(`not a valid zstd chunk: a frame runs past its end`);
    if ((data.readUInt32LE(pos) & 0xfffffff0) !== 0x184d2a50) out.push(data.subarray(pos, pos + len));
    pos += len;
  }
  if (!out.length) throw new ZstdError('not a valid zstd chunk: no data frame');
  return out;
}

/** The content size the header of the frame at `pos` declares, or null when it declares none. */
export function frameContentSize(b: Buffer, pos: number): number | null {
  const fhd = b[pos + 4]!;
  const single = (fhd >> 5) & 1;
  const fcsBytes = [single, 2, 4, 8][fhd >> 6]!;
  if (!fcsBytes) return null;
  const at = pos + 5 + (single ? 0 : 1) + [0, 1, 2, 4][fhd & 3]!;
  if (at + fcsBytes > b.length) return null;
  if (fcsBytes === 1) return b[at]!;
  if (fcsBytes === 2) return b.readUInt16LE(at) + 256;
  if (fcsBytes === 4) return b.readUInt32LE(at);
  const big = b.readBigUInt64LE(at);
  return big > BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(big);
}

/** A run of adjacent data frames; `piece`: the output size of each but the last; `min`..`max`: their total output. */
export interface DataSpan {
  bytes: Buffer;
  frames: Buffer[];
  piece: number | null;
  min: number;
  max: number;
}

/**
 * The runs of adjacent data frames of a chunk: a v3 chunk is its block index (a skippable frame) and
 * one run of one frame per block, every block `blockSize` long but the last. One decompression of a
 * run, with output pieces of the block size, goes on from frame to frame (where a context per frame
 * cost four times the CPU: test/bench/results/imaging.md) as long as each frame fills its piece, and
 * stops at the end of the first frame that does not; so a result longer than (frames − 1) × block
 * size has decoded every frame. A run whose sizes are not known (no index before it and frames that
 * declare no size) has piece null. A caller checks the result against min..max and otherwise
 * decompresses the run frame by frame: the result never depends on where node:zlib stops.
 */
export function dataSpans(data: Buffer): DataSpan[] {
  const spans: DataSpan[] = [];
  let run: { start: number; end: number; frames: Buffer[]; declared: number | null; first: number | null } | null = null;
  let index: { blockSize: number; count: number } | null = null;
  let runIndex: { blockSize: number; count: number } | null = null;
  const close = () => {
    if (run) {
      const n = run.frames.length;
      const byIndex = runIndex && runIndex.count === n && runIndex.blockSize > 0 ? runIndex.blockSize : null;
      if (run.declared !== null) spans.push({ bytes: data.subarray(run.start, run.end), frames: run.frames, piece: run.first, min: run.declared, max: run.declared });
      else spans.push({ bytes: data.subarray(run.start, run.end), frames: run.frames, piece: byIndex, min: byIndex === null ? 0 : (n - 1) * byIndex + 1, max: byIndex === null ? 0 : n * byIndex });
    }
    run = null;
  };
  for (let pos = 0; pos < data.length; ) {
    const len = frameLength(data, pos);
    if (pos + len > data.length) throw new ZstdError(`not a valid zstd chunk: a frame runs past its end`);
    if ((data.readUInt32LE(pos) & 0xfffffff0) === 0x184d2a50) {
      close();
      // format.ts encodeBlockIndex: magic 0x184d2a5b, tag 'rcb1', the block size, one u32 per frame.
      const isIndex = data.readUInt32LE(pos) === 0x184d2a5b && len >= 16 && (len - 16) % 4 === 0 && data.readUInt32LE(pos + 8) === 0x31626372;
      index = isIndex ? { blockSize: data.readUInt32LE(pos + 12), count: (len - 16) / 4 } : null;
    } else {
      const fcs = frameContentSize(data, pos);
      if (!run) {
        run = { start: pos, end: pos, frames: [], declared: 0, first: fcs };
        runIndex = index;
        index = null;
      }
      run.frames.push(data.subarray(pos, pos + len));
      run.end = pos + len;
      run.declared = run.declared === null || fcs === null ? null : run.declared + fcs;
    }
    pos += len;
  }
  close();
  if (!spans.length) throw new ZstdError('not a valid zstd chunk: no data frame');
  return spans;
}

/**
 * Decompresses a stored chunk with node:zlib's synchronous zstd (`z`: node:zlib, passed in so that
 * a worker thread can run this function's source, frame-check.ts and client/decoder.ts): its parts in
 * order. Each run of data frames in one pass when its block index allows (dataSpans), else frame by
 * frame; throws when the result would exceed `maxSize` or a frame is not valid zstd.
 */
export function decodeChunkSync(z: { zstdDecompressSync(b: Buffer, o: object): Buffer }, data: Buffer, maxSize: number): Buffer[] {
  const parts: Buffer[] = [];
  let size = 0;
  const add = (raw: Buffer) => {
    size += raw.length;
    if (size > maxSize) throw new ZstdError(`zstd output larger than ${maxSize} bytes`);
    parts.push(raw);
  };
  for (const s of dataSpans(data)) {
    if (s.piece !== null && s.piece >= 64 && s.frames.length > 1 && s.min <= maxSize - size) {
      let raw: Buffer | null = null;
      try {
        raw = z.zstdDecompressSync(s.bytes, { maxOutputLength: maxSize - size, chunkSize: s.piece });
      } catch {
        raw = null; // decompressed again frame by frame below, for the frame's own error
      }
      if (raw && raw.length >= s.min && raw.length <= s.max) {
        add(raw);
        continue;
      }
    }
    // Each frame's output in one buffer of its expected size (a v3 block), not 16 KiB pieces to join.
    const piece = Math.max(65536, Math.min(67108864, Math.ceil(maxSize / s.frames.length)));
    for (const f of s.frames) add(z.zstdDecompressSync(f, { maxOutputLength: Math.max(1, maxSize - size), chunkSize: piece }));
  }
  return parts;
}

/** The source of the functions above, for a worker thread (eval) that decodes chunks. */
export function chunkDecoderSource(): string {
  return [
    'const __name = (f) => f; // esbuild\'s keepNames helper, when the functions come from tsx or a bundle',
    'class ZstdError extends Error {}',
    `const FRAME_MAGIC = ${FRAME_MAGIC};`,
    frameLength.toString(),
    frameContentSize.toString(),
    dataSpans.toString(),
    decodeChunkSync.toString(),
  ].join('\n');
}

/**
 * One zstd compression context of node:zlib kept across frames: each block is written and the frame
 * ended (ZSTD_e_end), so the next block starts a new, independent frame in the same context. A context
 * set up per 64 KiB block (zstdCompress) allocated and cleared its tables each time, which cost more
 * than the compression itself at level 3 (test/bench/results/imaging.md).
 */
class FrameCompressor {
  private readonly stream: Transform & { flush(kind: number, cb: () => void): void };
  private out: Buffer[] = [];
  private failed: Error | null = null;

  constructor(readonly level: number) {
    const c = native!.constants;
    this.stream = (zlib as unknown as { createZstdCompress(o: object): FrameCompressor['stream'] }).createZstdCompress({
      chunkSize: 128 * 1024,
      params: { [c.ZSTD_c_compressionLevel!]: level, [c.ZSTD_c_checksumFlag!]: 1 },
    });
    this.stream.on('data', (b: Buffer) => this.out.push(b));
    this.stream.on('error', (err: Error) => (this.failed = err));
  }

  /** The frames of `blocks`, one each, in order. */
  async frames(blocks: Buffer[]): Promise<Buffer[]> {
    const frames: Buffer[] = [];
    for (const b of blocks) {
      await new Promise<void>((resolve, reject) => {
        this.stream.write(b);
        this.stream.flush(native!.constants.ZSTD_e_end!, () => (this.failed ? reject(this.failed) : resolve()));
      });
      frames.push(this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out));
      this.out = [];
    }
    return frames;
  }

  get broken(): boolean {
    return this.failed !== null;
  }

  close(): void {
    this.stream.destroy();
  }
}

/** Idle contexts, reused by the next chunk (one per chunk being compressed at once). */
const idleCompressors: FrameCompressor[] = [];
const MAX_IDLE_COMPRESSORS = 8;

async function compressFrames(blocks: Buffer[], level: number): Promise<Buffer[]> {
  const i = idleCompressors.findIndex((c) => c.level === level);
  const c = i >= 0 ? idleCompressors.splice(i, 1)[0]! : new FrameCompressor(level);
  try {
    return await c.frames(blocks);
  } finally {
    if (!c.broken && idleCompressors.length < MAX_IDLE_COMPRESSORS) idleCompressors.push(c);
    else c.close();
  }
}

/** Compresses a window as a v3 stored chunk: the block index, then one frame per block (format.ts). */
export async function zstdCompressBlocks(data: Buffer, blockSize: number, level = 3): Promise<Buffer> {
  const blocks: Buffer[] = [];
  for (let o = 0; o < data.length; o += blockSize) blocks.push(data.subarray(o, Math.min(o + blockSize, data.length)));
  const frames = native ? await compressFrames(blocks, level) : zstdFrames(await runZstdFiles(blocks, level));
  if (frames.length !== blocks.length) throw new ZstdError(`zstd made ${frames.length} frames of ${blocks.length} blocks`);
  return Buffer.concat([encodeBlockIndex(blockSize, frames.map((f) => f.length)), ...frames]);
}

/**
 * The zstd program, one frame per input, in one process: the blocks go through a temporary folder
 * (zstd takes only regular files besides stdin, and node's extra stdio pipes are sockets). Only
 * where node:zlib lacks zstd (Node < 22.15: the tests' in-process client).
 */
async function runZstdFiles(inputs: Buffer[], level: number): Promise<Buffer> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rc-zstd-'));
  try {
    const files = inputs.map((_, i) => path.join(dir, String(i)));
    await Promise.all(inputs.map((b, i) => fs.writeFile(files[i]!, b)));
    return await new Promise((resolve, reject) => {
      const child = spawn('zstd', ['-q', '-c', `-${level}`, '--no-progress', ...files], { stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      let err = '';
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => (err += b.toString()));
      child.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'ENOENT' ? new ZstdError('the zstd program is missing (apt-get install zstd)') : e));
      child.once('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new ZstdError(`zstd failed: ${err.trim() || `exit ${code}`}`))));
    });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** node:zlib, one frame; `piece`: its output buffer size (the expected size, not 16 KiB pieces to join). */
function zstdDecompressFrame(data: Buffer, maxSize: number, piece = maxSize): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    // One output buffer of the expected size rather than 16 KiB pieces (a quarter of the client's
    // restore time went to joining them, test/bench/results/imaging.md).
    native!.zstdDecompress(data, { maxOutputLength: maxSize, chunkSize: Math.max(64 * 1024, Math.min(piece, 64 * 1024 * 1024)) }, (err, out) =>
      err ? reject(new ZstdError(`not a valid zstd chunk: ${err.message}`)) : resolve(out),
    ),
  );
}
