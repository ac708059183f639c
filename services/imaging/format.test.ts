// Image format helpers: extents, chunk windows, masking, the manifest checks a schema cannot express,
// and v3's block hashes and block container (with zstd.ts, which reads it).
import { describe, expect, it } from 'vitest';
import { alignExtents, blockHash, blockHashes, blockIndexLength, encodeBlockIndex, manifestProblems, maskWindow, normalizeExtents, parseBlockIndex, parseManifest, windowsOf, type Extent, type Manifest } from './format.js';
import { zstdCompress, zstdCompressBlocks, zstdDecompress, zstdFrames } from './zstd.js';

const K = 1024;
const CS = 64 * K;
const H = (c: string) => c.repeat(64);

/** A sound manifest: a 1 MiB boot area writing the MBR boot code, one 256 KiB partition with two used ranges. */
function manifest(): Manifest {
  const used: Extent[] = [[0, 8 * K], [100 * K, 60 * K]];
  return {
    format: 'roomcast-image',
    version: 1,
    createdAt: '2026-11-29T08:00:00.000Z',
    client: 'test',
    hash: 'sha256',
    compression: 'zstd',
    chunkSize: CS,
    disk: { sizeBytes: 4 * 1024 * K, logicalSectorSize: 512, minSizeBytes: 2 * 1024 * K, model: null, serial: null },
    table: { type: 'dos', id: '0x1234abcd', sfdisk: 'label: dos\n' },
    bootArea: { length: 1024 * K, write: [[0, 446]], chunks: [{ offset: 0, length: CS, hash: H('a') }] },
    partitions: [
      {
        number: 1,
        startBytes: 1024 * K,
        sizeBytes: 256 * K,
        type: '83',
        uuid: null,
        name: null,
        bootable: true,
        filesystem: 'ext4',
        fsLabel: null,
        fsUuid: null,
        usedBytes: 68 * K,
        used,
        // [0, 8K) → window 0; [100K, 160K) → windows 1 (64K-128K) and 2 (128K-192K).
        chunks: [
          { offset: 0, length: CS, hash: H('b') },
          { offset: CS, length: CS, hash: H('c') },
          { offset: 2 * CS, length: CS, hash: H('d') },
        ],
      },
    ],
  };
}

describe('extents', () => {
  it('normalizes: sorts, merges overlapping and touching ranges, clips to the limit', () => {
    expect(normalizeExtents([[50, 10], [0, 10], [10, 5], [55, 20], [200, 10], [-5, 7]], 205)).toEqual([[0, 15], [50, 25], [200, 5]]);
    expect(normalizeExtents([[300, 10]], 100)).toEqual([]);
  });

  it('widens to the alignment without passing the limit, then merges', () => {
    expect(alignExtents([[1, 1]], 4096, 1 << 20)).toEqual([[0, 4096]]);
    expect(alignExtents([[4095, 2]], 4096, 1 << 20)).toEqual([[0, 8192]]);
    expect(alignExtents([[0, 10], [5000, 10]], 4096, 1 << 20)).toEqual([[0, 8192]]);
    expect(alignExtents([[10_000, 100]], 4096, 10_050)).toEqual([[8192, 10_050 - 8192]]);
    expect(alignExtents([[0, 4096], [16384, 4096]], 4096, 1 << 20)).toEqual([[0, 4096], [16384, 4096]]);
  });
});

describe('windowsOf', () => {
  it('lists the windows holding used bytes, with the used ranges inside each', () => {
    expect(windowsOf([[0, 8 * K], [100 * K, 60 * K]], CS, 256 * K)).toEqual([
      { offset: 0, length: CS, used: [[0, 8 * K]] },
      { offset: CS, length: CS, used: [[36 * K, 28 * K]] },
      { offset: 2 * CS, length: CS, used: [[0, 32 * K]] },
    ]);
  });

  it('gathers several extents of one window, and skips windows without used bytes', () => {
    const w = windowsOf([[K, K], [10 * K, K], [5 * CS, 10]], CS, 10 * CS);
    expect(w.map((x) => x.offset)).toEqual([0, 5 * CS]);
    expect(w[0]!.used).toEqual([[K, K], [10 * K, K]]);
  });

  it('makes the last window shorter at the end of the area', () => {
    expect(windowsOf([[CS - 10, 100]], CS, CS + 50)).toEqual([
      { offset: 0, length: CS, used: [[CS - 10, 10]] },
      { offset: CS, length: 50, used: [[0, 50]] },
    ]);
  });

  it('clips extents past the end instead of looping (an untrusted manifest)', () => {
    expect(windowsOf([[0, 10 * CS]], CS, CS)).toEqual([{ offset: 0, length: CS, used: [[0, CS]] }]);
    expect(windowsOf([[2 * CS, CS]], CS, CS)).toEqual([]);
  });

  it('stops soon after max windows, whatever the size of the extents', () => {
    const t = Date.now();
    expect(windowsOf([[0, 2 ** 50]], CS, 2 ** 50, 3)).toHaveLength(4);
    expect(Date.now() - t).toBeLessThan(100);
  });
});

describe('maskWindow', () => {
  it('zeroes every byte outside the used ranges, in place', () => {
    const buf = Buffer.alloc(16, 0xff);
    const out = maskWindow(buf, [[2, 3], [8, 2]]);
    expect(out).toBe(buf);
    expect([...buf]).toEqual([0, 0, 0xff, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0]);
  });

  it('keeps a fully used window and clears an unused one', () => {
    expect([...maskWindow(Buffer.alloc(4, 7), [[0, 4]])]).toEqual([7, 7, 7, 7]);
    expect([...maskWindow(Buffer.alloc(4, 7), [])]).toEqual([0, 0, 0, 0]);
  });
});

describe('manifestProblems', () => {
  it('finds nothing wrong in a sound manifest, and parseManifest accepts it', () => {
    expect(manifestProblems(manifest())).toEqual([]);
    expect(parseManifest(JSON.parse(JSON.stringify(manifest())))).toEqual(manifest());
  });

  it('reads both formats: v1 (the table from the dump) and v2 (the head of the disk byte for byte)', () => {
    const v2: Manifest = { ...manifest(), version: 2, table: { type: 'dos', id: '0x1234abcd', sfdisk: 'label: dos\n', headBytes: 512 }, bootArea: { length: 1024 * K, write: [[0, 1024 * K]], chunks: Array.from({ length: 16 }, (_, i) => ({ offset: i * CS, length: CS, hash: H('a') })) } };
    expect(manifestProblems(v2)).toEqual([]);
    expect(parseManifest(JSON.parse(JSON.stringify(v2))).version).toBe(2);
    expect(parseManifest(JSON.parse(JSON.stringify(manifest()))).version).toBe(1);
    expect(manifestProblems({ ...v2, table: { ...v2.table, headBytes: undefined } })).toEqual(['table.headBytes is required in version 2']);
    expect(manifestProblems({ ...manifest(), table: { ...manifest().table, headBytes: 512 } })).toEqual(['table.headBytes is a version 2 field']);
    expect(manifestProblems({ ...v2, table: { ...v2.table, headBytes: 1000 } })).toEqual(['table.headBytes 1000 is not a whole number of sectors']);
    const uncovered = { ...manifest(), version: 2 as const, table: v2.table };
    expect(manifestProblems(uncovered)).toEqual(['boot area: its first extent must cover the head of the disk (0 to 512)']);
    expect(() => parseManifest({ ...manifest(), version: 4 })).toThrow();
  });

  it('reads v3: blockSize dividing chunkSize and one block hash per block of each chunk', () => {
    const B = 16 * K;
    const withBlocks = (m: Manifest): Manifest => {
      const add = (cs: Manifest['bootArea']['chunks']) => cs.map((c) => ({ ...c, blocks: Array.from({ length: c.length / B }, () => 'e'.repeat(32)) }));
      return { ...m, bootArea: { ...m.bootArea, chunks: add(m.bootArea.chunks) }, partitions: m.partitions.map((p) => ({ ...p, chunks: add(p.chunks) })) };
    };
    const v3: Manifest = withBlocks({ ...manifest(), version: 3, blockSize: B, table: { ...manifest().table, headBytes: 512 }, bootArea: { length: 1024 * K, write: [[0, 1024 * K]], chunks: Array.from({ length: 16 }, (_, i) => ({ offset: i * CS, length: CS, hash: H('a') })) } });
    expect(manifestProblems(v3)).toEqual([]);
    expect(parseManifest(JSON.parse(JSON.stringify(v3))).blockSize).toBe(B);
    expect(manifestProblems({ ...v3, blockSize: undefined })).toEqual(['blockSize is required in version 3']);
    expect(manifestProblems({ ...v3, blockSize: 24 * K })).toEqual([`blockSize ${24 * K} does not divide chunkSize ${CS}`]);
    const short = structuredClone(v3);
    short.partitions[0]!.chunks[1]!.blocks!.pop();
    expect(manifestProblems(short)).toEqual(['the chunk at 65536 does not list one hash per block (3, 4 expected)']);
    expect(manifestProblems({ ...v3, version: 2 })).toEqual(['blockSize and blocks are version 3 fields']);
    expect(() => parseManifest({ ...v3, partitions: [{ ...v3.partitions[0]!, chunks: [{ ...v3.partitions[0]!.chunks[0]!, blocks: ['xyz'] }] }] })).toThrow();
  });
});

describe('v3 blocks and the block container', () => {
  it('hashes blocks as the first 128 bits of their SHA-256, zero blocks included, the last block shorter', () => {
    const w = Buffer.alloc(40 * K);
    w.fill(7, 20 * K, 21 * K);
    const hs = blockHashes(w, 16 * K);
    expect(hs).toEqual([blockHash(Buffer.alloc(16 * K)), blockHash(w.subarray(16 * K, 32 * K)), blockHash(Buffer.alloc(8 * K))]);
    expect(hs[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(hs[1]).not.toBe(hs[0]);
  });

  it('stores a window as a block index and one frame per block: read whole by any zstd reader, or block by block from the index', async () => {
    const data = Buffer.concat([Buffer.alloc(20 * K, 1), Buffer.from(H('0123456789abcdef').repeat(40)), Buffer.alloc(3 * K, 9)]);
    const stored = await zstdCompressBlocks(data, 16 * K);
    expect((await zstdDecompress(stored, CS)).equals(data)).toBe(true);
    const n = Math.ceil(data.length / (16 * K));
    expect(zstdFrames(stored)).toHaveLength(n);
    const frames = parseBlockIndex(stored.subarray(0, blockIndexLength(n)), 16 * K)!;
    expect(frames).toHaveLength(n);
    expect(frames[0]![0]).toBe(blockIndexLength(n));
    expect(frames.at(-1)![1]).toBe(stored.length);
    for (const [i, [a, b]] of frames.entries()) expect((await zstdDecompress(stored.subarray(a, b), 16 * K)).equals(data.subarray(i * 16 * K, (i + 1) * 16 * K))).toBe(true);
  });

  it('tells a chunk stored whole (v1, v2) or with another block size from a block container', async () => {
    const one = await zstdCompress(Buffer.alloc(CS, 3));
    expect(parseBlockIndex(one, 16 * K)).toBeNull();
    const idx = encodeBlockIndex(16 * K, [10, 20]);
    expect(parseBlockIndex(idx, 16 * K)).toEqual([[24, 34], [34, 54]]);
    expect(parseBlockIndex(idx, 32 * K)).toBeNull();
    expect(parseBlockIndex(encodeBlockIndex(16 * K, [10, 0]), 16 * K)).toBeNull();
    await expect(zstdDecompress(Buffer.concat([idx, Buffer.from('not zstd at all')]), CS)).rejects.toThrow(/not a valid zstd chunk|unsupported format/); // node:zlib, or the zstd program
  });

  it('reports extents that overlap, touch, or end past their area', () => {
    const m = manifest();
    m.partitions[0]!.used = [[0, 8 * K], [8 * K, K], [4 * K, K], [250 * K, 10 * K]];
    const p = manifestProblems(m);
    expect(p).toContain('partition 1: extent at 8192 overlaps or touches the previous one');
    expect(p).toContain('partition 1: extent at 4096 overlaps or touches the previous one');
    expect(p).toContain(`partition 1: extent at ${250 * K} (+${10 * K}) ends past ${256 * K}`);
  });

  it('reports usedBytes that is not the sum of the extents', () => {
    const m = manifest();
    m.partitions[0]!.usedBytes = 1;
    expect(manifestProblems(m)).toEqual([`partition 1: usedBytes 1 is not the sum of its extents (${68 * K})`]);
  });

  it('reports chunks that do not tile the used extents', () => {
    const missing = manifest();
    missing.partitions[0]!.chunks.pop();
    expect(manifestProblems(missing)).toEqual(['partition 1: chunks do not match the used extents (2 chunks, more than 2 expected)']);
    const shifted = manifest();
    shifted.partitions[0]!.chunks[1]!.offset = 3 * CS;
    expect(manifestProblems(shifted)).toEqual(['partition 1: chunks do not match the used extents (3 chunks, 3 expected)']);
    const extra = manifest();
    extra.bootArea.chunks.push({ offset: CS, length: CS, hash: H('e') });
    expect(manifestProblems(extra)).toEqual(['boot area: chunks do not match the used extents (2 chunks, 1 expected)']);
  });

  it('reports partitions that overlap each other or the boot area, reuse a number, or pass the disk', () => {
    const m = manifest();
    const second = structuredClone(m.partitions[0]!);
    second.startBytes = 1024 * K + 128 * K;
    m.partitions.push(second);
    const p = manifestProblems(m);
    expect(p).toContain('partition 1: number used twice');
    expect(p).toContain(`partition 1: starts at ${1152 * K}, before the end of what precedes it (${1280 * K})`);

    const early = manifest();
    early.partitions[0]!.startBytes = 512 * K;
    expect(manifestProblems(early)).toEqual([`partition 1: starts at ${512 * K}, before the end of what precedes it (${1024 * K})`]);

    const small = manifest();
    small.disk.minSizeBytes = 1024 * K;
    expect(manifestProblems(small)).toEqual(['partition 1: ends past disk.minSizeBytes']);
    const big = manifest();
    big.disk.minSizeBytes = 8 * 1024 * K;
    expect(manifestProblems(big)).toEqual(['disk.minSizeBytes is larger than the captured disk']);
  });

  it('accepts MBR logical partitions inside the extended partition, between its EBR extents, and reports those that are not', () => {
    /** Primary 1 (the fixture), extended 2 at 1280 KiB (512 KiB) with EBRs at 0 and 256 KiB, logical 5 and 6 after each. */
    const withLogical = () => {
      const m = manifest();
      m.disk.minSizeBytes = 2048 * K;
      const part = (number: number, startBytes: number, sizeBytes: number, type: string, used: Extent[], chunks: Manifest['partitions'][0]['chunks']) => ({
        number, startBytes, sizeBytes, type, uuid: null, name: null, bootable: false, filesystem: 'raw' as const, fsLabel: null, fsUuid: null,
        usedBytes: used.reduce((n, [, l]) => n + l, 0), used, chunks,
      });
      m.partitions.push(
        part(2, 1280 * K, 512 * K, '5', [[0, 512], [256 * K, 512]], [{ offset: 0, length: CS, hash: H('e') }, { offset: 4 * CS, length: CS, hash: H('e') }]),
        part(5, 1280 * K + 64 * K, 192 * K, '83', [[0, 192 * K]], [0, 1, 2].map((i) => ({ offset: i * CS, length: CS, hash: H('f') }))),
        part(6, 1280 * K + 320 * K, 192 * K, 'c', [[0, 192 * K]], [0, 1, 2].map((i) => ({ offset: i * CS, length: CS, hash: H('f') }))),
      );
      return m;
    };
    expect(manifestProblems(withLogical())).toEqual([]);

    const ebrInside = withLogical();
    ebrInside.partitions[1]!.used = [[0, 512], [64 * K, 512]];
    ebrInside.partitions[1]!.chunks = [{ offset: 0, length: CS, hash: H('e') }, { offset: CS, length: CS, hash: H('e') }];
    expect(manifestProblems(ebrInside)).toEqual(['partition 5: the extents of extended partition 2 overlap it']);

    const outside = withLogical();
    outside.partitions[3]!.startBytes = 1280 * K + 400 * K;
    expect(manifestProblems(outside)).toContain('partition 6: a logical partition outside the extended partition');

    const overlapping = withLogical();
    overlapping.partitions[3]!.startBytes = 1280 * K + 192 * K;
    expect(manifestProblems(overlapping)).toContain(`partition 6: starts at ${1472 * K}, before the end of the logical partition before it (${1536 * K})`);

    // Without an extended partition, 5 and up are ordinary partitions: overlaps are reported as such.
    const noContainer = withLogical();
    noContainer.partitions.splice(1, 1);
    expect(manifestProblems(noContainer)).toEqual([]);
    noContainer.partitions[2]!.startBytes = 1280 * K + 128 * K;
    expect(manifestProblems(noContainer)).toEqual([`partition 6: starts at ${1408 * K}, before the end of what precedes it (${1536 * K})`]);
  });

  it('answers quickly for a huge partition claiming few chunks', () => {
    const m = manifest();
    const p = m.partitions[0]!;
    p.sizeBytes = 2 ** 50;
    p.used = [[0, 2 ** 50]];
    p.usedBytes = 2 ** 50;
    m.disk.sizeBytes = m.disk.minSizeBytes = 2 ** 51;
    const t = Date.now();
    expect(manifestProblems(m)).toEqual(['partition 1: chunks do not match the used extents (3 chunks, more than 3 expected)']);
    expect(Date.now() - t).toBeLessThan(100);
  });

  it('parseManifest throws with the problems, and on schema errors', () => {
    const m = manifest();
    m.partitions[0]!.usedBytes = 1;
    expect(() => parseManifest(m)).toThrow(/invalid image manifest: partition 1: usedBytes 1/);
    expect(() => parseManifest({ ...manifest(), chunkSize: 1000 })).toThrow();
    expect(() => parseManifest({ ...manifest(), extra: true })).toThrow();
  });
});
