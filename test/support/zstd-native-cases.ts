// Run under Node >= 22.15 (services/imaging/zstd-node22.test.ts): zstd.ts's and frame-check.ts's
// node:zlib paths on chunks of each shape, printed as one JSON line for the test to assert on.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { contentDigest } from '../../services/imaging/client/api.js';
import { WindowCompressor } from '../../services/imaging/client/compressor.js';
import { ChunkDecoder } from '../../services/imaging/client/decoder.js';
import { frameChecker } from '../../services/imaging/frame-check.js';
import { blockHashes, encodeBlockIndex, maskWindow, type Extent } from '../../services/imaging/format.js';
import { ZstdError, zstdCompress, zstdCompressBlocks, zstdDecompress, zstdEngine, zstdFrames } from '../../services/imaging/zstd.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** Half random, half text: compresses to about 0.6, as a disk's programs do. */
function data(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4096) {
    randomBytes(Math.min(2048, n - i)).copy(b, i);
    if (i + 2048 < n) b.write('roomcast restores rooms '.repeat(90).slice(0, Math.min(2048, n - i - 2048)), i + 2048);
  }
  return b;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-zstd22-'));
const checker = frameChecker(2);
const decoder = ChunkDecoder.create(2)!;
const out: Record<string, unknown> = { node: process.version, zstdEngine, checker: checker.engine };
async function shape(name: string, raw: Buffer, stored: Buffer, maxSize = raw.length) {
  const file = path.join(dir, name);
  fs.writeFileSync(file, stored);
  const back = await zstdDecompress(stored, maxSize);
  const checked = await checker.check(file, maxSize);
  // The client's decoder: once with a frame that owns its memory (moved to the worker), once with a view into a larger buffer (copied).
  const owned = Buffer.from(Uint8Array.prototype.slice.call(stored));
  const moved = await decoder.decode(owned, maxSize);
  const framed = Buffer.concat([Buffer.alloc(7), stored]).subarray(7);
  const copied = await decoder.decode(framed, maxSize);
  out[name] = {
    equal: back.equals(raw),
    checkedHashOk: checked.hash === sha(raw),
    checkedSize: checked.size,
    size: raw.length,
    decoded: moved.data.equals(raw) && moved.hash === sha(raw) && copied.data.equals(raw) && copied.hash === sha(raw),
    sent: owned.length === 0 ? 'moved' : 'copied',
    storedSize: stored.length,
    viewKept: framed.equals(stored),
  };
}
async function refused(name: string, stored: Buffer, maxSize: number) {
  const file = path.join(dir, name);
  fs.writeFileSync(file, stored);
  const r: Record<string, string> = {};
  await zstdDecompress(stored, maxSize).then(() => (r.decompress = 'accepted'), (e: Error) => (r.decompress = e instanceof ZstdError ? `ZstdError: ${e.message}` : `other: ${e.message}`));
  await checker.check(file, maxSize).then(() => (r.check = 'accepted'), (e: Error) => (r.check = e instanceof ZstdError ? `ZstdError: ${e.message}` : `other: ${e.message}`));
  await decoder.decode(Buffer.from(stored), maxSize).then(() => (r.decode = 'accepted'), (e: Error) => (r.decode = e instanceof ZstdError ? `ZstdError: ${e.message}` : `other: ${e.message}`));
  out[name] = r;
}
try {
  const w = data(4 << 20);
  const v3 = await zstdCompressBlocks(w, 64 * 1024);
  await shape('v3-64k', w, v3);
  const odd = data((4 << 20) - 5000); // the last block short
  await shape('v3-16k-short-tail', odd, await zstdCompressBlocks(odd, 16 * 1024));
  await shape('v1-one-frame', w, await zstdCompress(w));
  const small = data(3000); // decoded into less than Node's pool size
  await shape('v3-small', small, await zstdCompressBlocks(small, 64 * 1024));
  // Frames of unequal sizes in one run: the one-pass decompression stops early and each frame is done alone.
  const parts = [data(65536), data(1000), data(65536), data(300)];
  await shape('mixed-frames', Buffer.concat(parts), Buffer.concat(await Promise.all(parts.map((p) => zstdCompress(p)))));
  // A block index that says 64 KiB blocks over a middle frame of 1000 bytes (not a chunk roomcast
  // makes): the one-pass decompression stops after it, comes out short, and the frames are done alone.
  const blocks = [data(65536), data(1000), data(65536), data(65536)];
  const frames = await Promise.all(blocks.map(async (b) => zstdFrames(await zstdCompressBlocks(b, 65536))[0]!));
  await shape('v3-short-middle-block', Buffer.concat(blocks), Buffer.concat([encodeBlockIndex(65536, frames.map((f) => f.length)), ...frames]));
  // A restore's patch (client/fetch.ts): the frames of blocks 3..5 of a v3 chunk, decoded in one go
  // with each block's hash (format.ts blockHash).
  const v3Frames = zstdFrames(v3); // the data frames, without the block index
  const run = Buffer.concat(v3Frames.slice(3, 6));
  const runDecoded = await decoder.decode(run, 3 * 65536, 65536);
  const runRaw = w.subarray(3 * 65536, 6 * 65536);
  out.blockRun = { equal: runDecoded.data.equals(runRaw), blocksOk: JSON.stringify(runDecoded.blocks) === JSON.stringify(blockHashes(runRaw, 65536)), hash: runDecoded.hash };
  // The capture's compressor (worker threads reading the disk themselves): a window with holes, one
  // running past the end of the disk; what it makes decompresses to the masked window, and its digest
  // is the Content-Digest of what it made.
  const disk = path.join(dir, 'disk');
  const content = data(3 * (1 << 20) + 12345);
  fs.writeFileSync(disk, content);
  const compressor = WindowCompressor.create(disk, 64 * 1024, 3, 2)!;
  try {
    const windows = [
      { base: 0, length: 1 << 20, used: [[0, 1 << 20]] as Extent[] },
      { base: 1 << 20, length: 1 << 20, used: [[4096, 70_000], [300_000, 5000]] as Extent[] },
      { base: 3 << 20, length: 1 << 20, used: [[0, 1 << 20]] as Extent[] },
      { base: 2 << 20, length: 1 << 20, used: [] as Extent[] }, // all zeros: a chunk of a few hundred bytes (Node's pool)
    ];
    const got = await Promise.all(windows.map((w, i) => compressor.compress(w, i === 1)));
    out.compressor = await Promise.all(
      windows.map(async (w, i) => {
        const want = Buffer.alloc(w.length);
        content.copy(want, 0, w.base, Math.min(content.length, w.base + w.length));
        maskWindow(want, w.used);
        const g = got[i]!;
        return { roundTrip: (await zstdDecompress(g.data, w.length)).equals(want), digestOk: g.digest === contentDigest(g.data), rawHash: g.rawHash === '' ? 'none' : g.rawHash === sha(want) ? 'right' : 'wrong' };
      }),
    );
    // The streaming capture's way: read and hash (the bytes kept by the worker), then compress or drop.
    const held = await Promise.all(windows.map((w) => compressor.read(w)));
    const kept = await Promise.all(held.map((h, i) => (i % 2 === 0 ? compressor.compressHeld(h) : (compressor.drop(h), null))));
    out.held = await Promise.all(
      windows.map(async (w, i) => {
        const want = Buffer.alloc(w.length);
        content.copy(want, 0, w.base, Math.min(content.length, w.base + w.length));
        maskWindow(want, w.used);
        const k = kept[i];
        return {
          hashOk: held[i]!.hash === sha(want),
          blocksOk: JSON.stringify(held[i]!.blocks) === JSON.stringify(blockHashes(want, 64 * 1024)),
          compressed: k ? (await zstdDecompress(k.data, w.length)).equals(want) && k.digest === contentDigest(k.data) : 'dropped',
        };
      }),
    );
    // A held window compressed again (already given back) is refused with a reason, the worker lives on.
    out.heldTwice = await compressor.compressHeld(held[0]!).then(
      () => 'accepted',
      (e: Error) => e.message,
    );
    out.afterRefusal = (await compressor.read(windows[0]!)).hash === held[0]!.hash;
  } finally {
    await compressor.close();
  }
  // After close, a call is refused at once with the reason rather than waiting for ever.
  out.afterClose = await compressor.read({ base: 0, length: 4096, used: [[0, 4096]] }).then(
    () => 'answered',
    (e: Error) => e.message,
  );
  // A decoder whose worker stops (as out of memory would end it): the waiting call and every later one fail with the reason.
  const lone = ChunkDecoder.create(1)!;
  const first = lone.decode(Buffer.from(v3), w.length);
  await (lone as unknown as { workers: Array<{ terminate(): Promise<number> }> }).workers[0]!.terminate();
  out.decoderStopped = await Promise.all([first, lone.decode(Buffer.from(v3), w.length)].map((p) => p.then(() => 'answered', (e: Error) => e.message)));
  await lone.close();
  const bad = Buffer.from(v3);
  bad[bad.length >> 1]! ^= 0x5a;
  await refused('v3-one-byte-flipped', bad, w.length);
  await refused('v3-over-max-size', v3, w.length - 65536);
} finally {
  await checker.close();
  await decoder.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify(out)}\n`);
