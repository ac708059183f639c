// Small image versions built in memory (a manifest and its zstd frames), for tests that capture
// through the api without a disk.
import { createHash } from 'node:crypto';
import { maskWindow, windowsOf, type Chunk, type Extent, type Manifest } from '../../services/imaging/format.js';
import { zstdCompress } from '../../services/imaging/zstd.js';

/** The chunk size of these test images (64 KiB: many chunks from little data). */
export const SMALL_CHUNK = 65536;
const CS = SMALL_CHUNK;
const MIB = 1024 * 1024;
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** `len` bytes determined by `key` (the same key gives the same window, hence the same chunk). */
export function bytesOf(key: string, len: number): Buffer {
  const out = Buffer.alloc(len);
  for (let i = 0, n = 0; i < len; i += 32, n++) createHash('sha256').update(`${key}/${n}`).digest().copy(out, i);
  return out;
}

export interface Built {
  manifest: Manifest;
  /** hash → zstd frame */
  frames: Map<string, Buffer>;
}

/**
 * A disk with a boot area (MBR boot code and the gap after it) and one partition of `keys.length`
 * windows; window i holds the bytes of keys[i]. The last 4 KiB of the partition are unused.
 */
export async function buildImage(keys: string[], bootKey = 'boot'): Promise<Built> {
  const frames = new Map<string, Buffer>();
  const chunksOf = async (ext: Extent[], limit: number, keyOf: (i: number) => string): Promise<Chunk[]> => {
    const out: Chunk[] = [];
    for (const [i, w] of windowsOf(ext, CS, limit).entries()) {
      const raw = maskWindow(bytesOf(keyOf(i), w.length), w.used);
      const hash = sha256(raw);
      if (!frames.has(hash)) frames.set(hash, await zstdCompress(raw));
      out.push({ offset: w.offset, length: w.length, hash });
    }
    return out;
  };
  const bootLength = MIB;
  const write: Extent[] = [[0, 446], [512, 8192]];
  const size = keys.length * CS;
  const used: Extent[] = [[0, size - 4096]];
  const manifest: Manifest = {
    format: 'roomcast-image',
    version: 1,
    createdAt: new Date().toISOString(),
    client: 'imaging-store.test',
    hash: 'sha256',
    compression: 'zstd',
    chunkSize: CS,
    disk: { sizeBytes: 64 * MIB, logicalSectorSize: 512, minSizeBytes: bootLength + size + MIB, model: 'QEMU HARDDISK', serial: 'QM0001' },
    table: { type: 'gpt', id: '5B1F2A7E-0000-4000-8000-000000000001', sfdisk: 'label: gpt\nunit: sectors\n' },
    bootArea: { length: bootLength, write, chunks: await chunksOf(write, bootLength, () => bootKey) },
    partitions: [
      {
        number: 1,
        startBytes: bootLength,
        sizeBytes: size,
        type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
        uuid: '11111111-2222-3333-4444-555555555555',
        name: 'data',
        bootable: false,
        filesystem: 'ext4',
        fsLabel: 'data',
        fsUuid: null,
        usedBytes: size - 4096,
        used,
        chunks: await chunksOf(used, size, (i) => keys[i]!),
      },
    ],
  };
  return { manifest, frames };
}

