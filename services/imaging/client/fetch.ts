// A restore's downloads (windows.ts): a chunk fetched whole and checked against its SHA-256, or
// (format v3) only some blocks of it, each checked against its block hash in the manifest.
import { performance } from 'node:perf_hooks';
import { blockHashes, blockIndexLength, parseBlockIndex, type Chunk } from '../format.js';
import { zstdDecompress } from '../zstd.js';
import type { ImagingApi } from './api.js';
import type { ChunkDecoder, Decoded } from './decoder.js';
import { sha256 } from './engine.js';
import { ClientError } from './sys.js';

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
export async function timed<T>(t: Timings, k: keyof Timings, p: Promise<T>): Promise<T> {
  const s = performance.now();
  try {
    return await p;
  } finally {
    t[k] += (performance.now() - s) / 1000;
  }
}

/** Decompresses frames (at most `maxSize` bytes) on the decoder's threads, else here, with the SHA-256 of the result or, given a block size, each block's hash. */
function decode(decoder: ChunkDecoder | null | undefined, frames: Buffer, maxSize: number, blockSize?: number): Promise<Decoded> {
  if (decoder) return decoder.decode(frames, maxSize, blockSize);
  return zstdDecompress(frames, maxSize).then((data) => ({ data, hash: blockSize ? '' : sha256(data), blocks: blockSize ? blockHashes(data, blockSize) : [] }));
}

/** Blocks of a window fetched and checked: `data` holds blocks first..first+n-1 of the window, in a row. */
export interface BlockRun {
  first: number;
  blocks: number[];
  data: Buffer;
}

/**
 * v3: fetches the block index of `c`'s stored chunk, then the frames of `diff` (ascending block
 * numbers; one Range per run of adjacent blocks), decompresses them and checks every block against
 * its hash in the manifest (the blocks not fetched were checked on the disk by the comparison).
 * Null when the chunk is not stored as blocks (an older client stored it whole) or a block does not
 * match: the caller then fetches the whole chunk, which reports a damaged one.
 */
export async function fetchBlocks(
  api: ImagingApi,
  decoder: ChunkDecoder | null | undefined,
  c: Chunk,
  diff: number[],
  blockSize: number,
  report: TransferCounts,
  t: Timings,
): Promise<BlockRun[] | null> {
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
  let out: BlockRun[];
  try {
    out = await Promise.all(
      runs.map(async ([a, b]) => {
        const bytes = await timed(t, 'fetch', api.getChunkRange(c.hash, frames[a]![0], frames[b - 1]![1]));
        report.fetchedBytes += bytes.length;
        const want = Math.min(c.length, b * blockSize) - a * blockSize;
        const d = await timed(t, 'decompress', decode(decoder, bytes, want, blockSize));
        if (d.data.length !== want || d.blocks.some((h, k) => h !== c.blocks![a + k])) throw new Error('a block differs from its hash');
        return { first: a, blocks: Array.from({ length: b - a }, (_, k) => a + k), data: d.data };
      }),
    );
  } catch {
    return null;
  }
  report.fetchedChunks++;
  report.patchedChunks++;
  return out;
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
      const { data, hash } = await timed(t, 'decompress', decode(decoder, z, c.length));
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
