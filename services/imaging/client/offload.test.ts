// The client's worker threads give the same hashes as format.ts and the same bytes as zstd.ts.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { blockHashes } from '../format.js';
import { zstdCompressBlocks, ZstdError } from '../zstd.js';
import { decodeChunk, hashBlocks, hashChunk, hashWindow } from './offload.js';

const K = 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function sample(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) b.writeUInt32LE((i * 2654435761) >>> 0, i);
  b.fill(0, size / 4, size / 2); // zero blocks take the shortcut
  b.fill(7, size / 2, size / 2 + 1000);
  return b;
}

describe('offload', () => {
  it('hashes windows and blocks in worker threads as format.ts does, several at once', async () => {
    const windows = [sample(256 * K), sample(256 * K).fill(1, 0, 5), Buffer.alloc(256 * K)];
    const got = await Promise.all(windows.map((w) => hashChunk(w, 16 * K)));
    windows.forEach((w, i) => {
      expect(got[i]!.hash).toBe(sha(w));
      expect(got[i]!.blocks).toEqual(blockHashes(w, 16 * K));
    });
    expect(await hashWindow(windows[1]!)).toBe(sha(windows[1]!));
    expect(await hashBlocks(windows[0]!, 64 * K)).toEqual(blockHashes(windows[0]!, 64 * K));
    expect(got[0]!.hash).not.toBe(got[1]!.hash);
  });

  it('decodes a stored chunk and hashes it; a damaged one is refused', async () => {
    const raw = sample(256 * K);
    const z = await zstdCompressBlocks(raw, 16 * K);
    const { data, hash } = await decodeChunk(Buffer.from(z), raw.length);
    expect(data.equals(raw)).toBe(true);
    expect(hash).toBe(sha(raw));
    const bad = Buffer.from(z);
    bad.writeUInt32LE(0x12345678, bad.length - 40 * K); // inside a frame, or no frame at all
    const outcome = await decodeChunk(bad, raw.length).then(({ hash: h }) => h, () => 'refused');
    expect(outcome).not.toBe(sha(raw));
    await expect(decodeChunk(Buffer.from('not zstd at all'), raw.length)).rejects.toBeInstanceOf(ZstdError);
  });
});
