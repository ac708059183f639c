// Image format v3 (docs/image-format.md; v1 and v2 manifests stay readable and restorable): a manifest plus
// content-addressed chunks; and the few types of the client API both sides use (ClientTask, Progress, the multicast join and probe).
// Shared by the server (image store) and the boot client (capture, restore), so it imports nothing from the server side but the equally
// shared, pure progress report (core/progress.ts) and computer-name rule (inventory/computer-name.ts), which the Dockerfile's imaging stage lists.
//
// A chunk is one aligned window of a partition (default 4 MiB; the last one may be shorter) whose
// bytes outside the partition's used extents are set to zero, compressed with zstd and stored under
// the SHA-256 of its uncompressed (masked) bytes. Windows without any used byte are not stored.
// Masking makes the hash depend only on data the filesystem uses, so an unchanged window has the
// same hash on every capture (deduplication) and on a PC that already holds it (differential
// restore), whatever garbage its free blocks contain.
//
// v3 cuts each window into blocks (default 64 KiB) with their own hash in the manifest, and stores a
// chunk as a block index (a zstd skippable frame) followed by one zstd frame per block: a
// differential restore compares the disk block by block and fetches only the blocks that differ
// (HTTP Range on the stored chunk), while the chunk (the unit of storage, upload and dedup) stays
// a 4 MiB window.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { MulticastJoinSchema } from './multicast/join.js';

export const FORMAT_NAME = 'roomcast-image';
/**
 * What a capture writes. 3: every chunk lists the hashes of its blocks (blockSize) and is stored as a
 * block container (encodeBlockIndex). 2: the head of the disk (LBA 0 and, on GPT, the primary header and entry
 * array: table.headBytes) is captured in the boot area byte for byte and restored as such, fitted to
 * the target's size. 1: the boot area holds only the boot code (bytes 0-439) and the gap after the
 * table; the table comes from the sfdisk dump. A reader accepts both.
 */
export const FORMAT_VERSION = 3;
/** v3: bytes per block, the unit a differential restore compares and fetches (test/bench/imaging/change-unit.ts). */
export const DEFAULT_BLOCK_SIZE = 64 * 1024;
export const DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024;
/** Used extents are kept at this granularity (bytes); partclone ranges are widened to it. */
export const EXTENT_ALIGN = 4096;

export const HASH_PATTERN = /^[0-9a-f]{64}$/;
const Hash = z.string().regex(HASH_PATTERN).describe('SHA-256 of the uncompressed chunk, lowercase hex');
/** A block's hash: the first 128 bits of the SHA-256 of its masked bytes (blockHash). */
export const BLOCK_HASH_PATTERN = /^[0-9a-f]{32}$/;
const Bytes = z.number().int().nonnegative();

export const ChunkSchema = z
  .object({
    offset: Bytes.describe('offset of the window in its partition (or on the disk, for the boot area), a multiple of chunkSize'),
    length: z.number().int().positive().describe('bytes in the window (chunkSize, less at the end)'),
    hash: Hash,
    storedSize: z.number().int().positive().optional().describe('bytes of the zstd frame in the store; the client leaves it out, the store fills it in when the version is published'),
    blocks: z
      .array(z.string().regex(BLOCK_HASH_PATTERN))
      .optional()
      .describe('v3 (required there): the hash of each block of the window (blockSize bytes, the last one shorter), in order: the first 32 hex digits of the SHA-256 of its masked bytes'),
  })
  .strict();
export type Chunk = z.infer<typeof ChunkSchema>;

/** [offset, length] pairs, sorted, not overlapping, not touching. */
export const ExtentsSchema = z.array(z.tuple([Bytes, z.number().int().positive()]));
export type Extent = [offset: number, length: number];

export const FILESYSTEMS = ['ntfs', 'ext2', 'ext3', 'ext4', 'vfat', 'raw'] as const;

/** MBR types of extended partitions: containers of the logical partitions (numbers 5 and up) and their EBRs. */
export const EXTENDED_TYPES = new Set(['5', 'f', '85']);
/** Whether a partition of a `table` is an MBR extended partition (types as sfdisk writes them, any case, leading zeros or not). */
export const isExtended = (table: 'gpt' | 'dos', type: string) => table === 'dos' && EXTENDED_TYPES.has(type.toLowerCase().replace(/^0+(?=.)/, ''));
export type Filesystem = (typeof FILESYSTEMS)[number];

export const PartitionSchema = z
  .object({
    number: z.number().int().positive().describe('partition number (1 = /dev/sda1)'),
    startBytes: Bytes,
    sizeBytes: z.number().int().positive(),
    type: z.string().describe('GPT type GUID, or MBR type as hex (07, 83, ...)'),
    uuid: z.string().nullable().describe('GPT partition GUID (PARTUUID); null on MBR'),
    name: z.string().nullable().describe('GPT partition name'),
    bootable: z.boolean().describe('MBR active flag'),
    filesystem: z.enum(FILESYSTEMS).describe('raw: every byte is stored (an unknown or absent filesystem); an MBR extended partition is raw with the sectors of its EBR chain as its used extents'),
    fsLabel: z.string().nullable(),
    fsUuid: z.string().nullable(),
    usedBytes: Bytes.describe('sum of the used extents'),
    used: ExtentsSchema.describe('byte ranges of the partition the filesystem uses, relative to its start'),
    chunks: z.array(ChunkSchema),
  })
  .strict();
export type Partition = z.infer<typeof PartitionSchema>;

export const BootAreaSchema = z
  .object({
    length: z.number().int().positive().describe('bytes from the start of the disk to the first partition'),
    write: ExtentsSchema.describe('the parts of it a restore writes back. v2: all of it (LBA 0, the primary GPT, the gap after it: GRUB core.img, vendor data); v1: the MBR boot code and the gap after the partition table, the table itself coming from the sfdisk dump'),
    chunks: z.array(ChunkSchema).describe('the whole area, masked to `write`'),
  })
  .strict();
export type BootArea = z.infer<typeof BootAreaSchema>;

export const ManifestSchema = z
  .object({
    format: z.literal(FORMAT_NAME),
    version: z.union([z.literal(1), z.literal(2), z.literal(3)]).describe('3 since chunks list block hashes (blockSize); 2 since the table is captured byte for byte (table.headBytes); 1 and 2 are still read and restored'),
    createdAt: z.string().describe('ISO time of the capture'),
    client: z.string().describe('the capturing client and its version'),
    hash: z.literal('sha256'),
    compression: z.literal('zstd'),
    chunkSize: z.number().int().min(65536).max(64 * 1024 * 1024).refine((n) => n % EXTENT_ALIGN === 0, 'a multiple of 4096'),
    blockSize: z
      .number()
      .int()
      .min(EXTENT_ALIGN)
      .refine((n) => n % EXTENT_ALIGN === 0, 'a multiple of 4096')
      .optional()
      .describe('v3 (required there): bytes per block, dividing chunkSize; a differential restore compares and fetches blocks'),
    disk: z
      .object({
        sizeBytes: z.number().int().positive().describe('size of the captured disk'),
        logicalSectorSize: z.union([z.literal(512), z.literal(4096)]),
        minSizeBytes: z.number().int().positive().describe('the smallest disk this image fits: end of the last partition, plus the backup GPT'),
        model: z.string().nullable(),
        serial: z.string().nullable(),
      })
      .strict(),
    table: z
      .object({
        type: z.enum(['gpt', 'dos']),
        id: z.string().describe('disk GUID (GPT) or disk identifier (MBR)'),
        sfdisk: z.string().describe('`sfdisk --dump` of the captured disk. v1: replayed on restore (last-lba dropped so a larger disk keeps its size); v2: not replayed (the head and the EBRs of logical partitions are restored byte for byte), except for an MBR image whose extended partition has no extents (captured before its EBRs were), before the head is written'),
        headBytes: z
          .number()
          .int()
          .positive()
          .optional()
          .describe('v2 (required there): bytes from the start of the disk that hold the table: LBA 0 (boot code, disk signature, MBR or protective MBR), and on GPT the primary header and entry array. The boot area holds them byte for byte; a restore writes them last, fitted to the target\'s size, with the backup GPT at its end'),
      })
      .strict(),
    bootArea: BootAreaSchema,
    partitions: z.array(PartitionSchema),
  })
  .strict();
export type Manifest = z.infer<typeof ManifestSchema>;

/** What a PC does after its capture or restore is done. */
export const END_ACTIONS = ['poweroff', 'reboot'] as const;
export type EndAction = (typeof END_ACTIONS)[number];
export { MulticastJoinSchema, type MulticastJoin } from './multicast/join.js';
export { decideProbe, decodeProbe, summarize as summarizeProbe, type Arrival as ProbeArrival, type ProbeDecision, type ProbeJoin, type ProbeSeen } from './multicast/probe.js';

/** What a booted client is asked to do for a capture or restore task (GET /api/v1/client/task). */
export const ClientTaskSchema = z
  .object({
    taskId: z.number().int(),
    kind: z.enum(['capture', 'restore']),
    image: z.object({ id: z.number().int(), name: z.string() }),
    version: z.object({ id: z.number().int(), number: z.number().int() }).nullable().describe('restore: the version to write; capture: the version being made, once the manifest was posted'),
    chunkSize: z.number().int().describe('bytes per chunk (capture: use this one)'),
    diskSerial: z.string().nullable().describe('the disk serial pinned for this PC: use that disk, and refuse when it is missing'),
    notes: z.string().nullable(),
    endAction: z.enum(END_ACTIONS).describe('what the PC does once the task is done: poweroff, or reboot (the PC is left on: its next network boot finds no task and starts from its disk). A failed task powers off.'),
    computerName: z.string().nullable().describe("restore: the PC's name in the inventory, which the client writes into the restored Windows (its offline registry) when the image holds one; null for a capture"),
    multicast: MulticastJoinSchema.nullable().optional().describe('restore: the multicast session to join (null: restore over HTTP)'),
  })
  .meta({ id: 'ClientTask' });
export type ClientTask = z.infer<typeof ClientTaskSchema>;

/** What a client reports every second while it captures or restores (POST /api/v1/client/progress). */
export { ProgressSchema, type Progress } from '../core/progress.js';
// The client checks again the name it writes into a restored Windows (identity.ts).
export { checkComputerName } from '../inventory/computer-name.js';

/** Every chunk of a manifest (boot area first, then partitions in order). */
export function allChunks(m: Manifest): Chunk[] {
  return [...m.bootArea.chunks, ...m.partitions.flatMap((p) => p.chunks)];
}

/** Distinct chunk hashes with their sizes (a hash may appear many times: zero windows, copies). */
export function distinctChunks(m: Manifest): Map<string, { length: number; storedSize: number | undefined }> {
  const out = new Map<string, { length: number; storedSize: number | undefined }>();
  for (const c of allChunks(m)) if (!out.has(c.hash)) out.set(c.hash, { length: c.length, storedSize: c.storedSize });
  return out;
}

/** Problems a schema cannot express: overlaps, order, chunks that do not tile the used extents. Empty when sound. */
export function manifestProblems(m: Manifest): string[] {
  const problems: string[] = [];
  const cs = m.chunkSize;
  const extentsOk = (ext: Extent[], limit: number, what: string) => {
    let end = -1;
    for (const [o, l] of ext) {
      if (o <= end) problems.push(`${what}: extent at ${o} overlaps or touches the previous one`);
      if (o + l > limit) problems.push(`${what}: extent at ${o} (+${l}) ends past ${limit}`);
      end = o + l;
    }
  };
  const chunksOk = (chunks: Chunk[], ext: Extent[], limit: number, what: string) => {
    const expected = windowsOf(ext, cs, limit, chunks.length);
    if (expected.length !== chunks.length || expected.some((w, i) => w.offset !== chunks[i]!.offset || w.length !== chunks[i]!.length)) {
      const want = expected.length > chunks.length ? `more than ${chunks.length}` : String(expected.length);
      problems.push(`${what}: chunks do not match the used extents (${chunks.length} chunks, ${want} expected)`);
    }
  };
  extentsOk(m.bootArea.write, m.bootArea.length, 'boot area');
  const head = m.table.headBytes;
  if (m.version === 1 && head !== undefined) problems.push('table.headBytes is a version 2 field');
  if (m.version < 3 && (m.blockSize !== undefined || allChunks(m).some((c) => c.blocks))) problems.push('blockSize and blocks are version 3 fields');
  if (m.version === 3) {
    const bs = m.blockSize;
    if (bs === undefined) problems.push('blockSize is required in version 3');
    else if (cs % bs !== 0) problems.push(`blockSize ${bs} does not divide chunkSize ${cs}`);
    else {
      const bad = allChunks(m).find((c) => c.blocks?.length !== Math.ceil(c.length / bs));
      if (bad) problems.push(`the chunk at ${bad.offset} does not list one hash per block (${bad.blocks?.length ?? 'none'}, ${Math.ceil(bad.length / bs)} expected)`);
    }
  }
  if (m.version >= 2) {
    const first = m.bootArea.write[0];
    if (head === undefined) problems.push('table.headBytes is required in version 2');
    else if (head % m.disk.logicalSectorSize !== 0) problems.push(`table.headBytes ${head} is not a whole number of sectors`);
    else if (!first || first[0] !== 0 || first[1] < head) problems.push(`boot area: its first extent must cover the head of the disk (0 to ${head})`);
  }
  chunksOk(m.bootArea.chunks, m.bootArea.write, m.bootArea.length, 'boot area');
  // MBR logical partitions (5 and up) lie inside the extended partition, which holds their EBRs
  // between them: the primaries and the extended one do not overlap, nor do the logical ones, and
  // the extended partition's extents (its EBRs) stay outside every logical partition.
  const dos = m.table.type === 'dos';
  const containers = m.partitions.filter((p) => isExtended(m.table.type, p.type));
  const isLogical = (p: Partition) => dos && p.number >= 5 && containers.length > 0;
  const end = (p: Partition) => p.startBytes + p.sizeBytes;
  let prevEnd = m.bootArea.length;
  let prevLogicalEnd = 0;
  const numbers = new Set<number>();
  for (const p of [...m.partitions].sort((a, b) => a.startBytes - b.startBytes)) {
    const what = `partition ${p.number}`;
    if (numbers.has(p.number)) problems.push(`${what}: number used twice`);
    numbers.add(p.number);
    if (isLogical(p)) {
      if (!containers.some((c) => p.startBytes >= c.startBytes && end(p) <= end(c))) problems.push(`${what}: a logical partition outside the extended partition`);
      if (p.startBytes < prevLogicalEnd) problems.push(`${what}: starts at ${p.startBytes}, before the end of the logical partition before it (${prevLogicalEnd})`);
      prevLogicalEnd = end(p);
      for (const c of containers) {
        if (c.used.some(([o, l]) => c.startBytes + o < end(p) && c.startBytes + o + l > p.startBytes)) problems.push(`${what}: the extents of extended partition ${c.number} overlap it`);
      }
    } else {
      if (p.startBytes < prevEnd) problems.push(`${what}: starts at ${p.startBytes}, before the end of what precedes it (${prevEnd})`);
      prevEnd = end(p);
    }
    if (end(p) > m.disk.minSizeBytes) problems.push(`${what}: ends past disk.minSizeBytes`);
    extentsOk(p.used, p.sizeBytes, what);
    const sum = p.used.reduce((s, [, l]) => s + l, 0);
    if (sum !== p.usedBytes) problems.push(`${what}: usedBytes ${p.usedBytes} is not the sum of its extents (${sum})`);
    chunksOk(p.chunks, p.used, p.sizeBytes, what);
  }
  if (m.disk.minSizeBytes > m.disk.sizeBytes) problems.push('disk.minSizeBytes is larger than the captured disk');
  return problems;
}

export function parseManifest(json: unknown): Manifest {
  const m = ManifestSchema.parse(json);
  const problems = manifestProblems(m);
  if (problems.length) throw new Error(`invalid image manifest: ${problems.slice(0, 5).join('; ')}`);
  return m;
}

// ---- extents and windows -------------------------------------------------------------------

/** Sorts and merges extents (overlapping or touching), clipping them to [0, limit). */
export function normalizeExtents(ext: Extent[], limit: number): Extent[] {
  const sorted = ext
    .map(([o, l]): Extent => [Math.max(0, o), Math.min(limit, o + l) - Math.max(0, o)])
    .filter(([, l]) => l > 0)
    .sort((a, b) => a[0] - b[0]);
  const out: Extent[] = [];
  for (const [o, l] of sorted) {
    const last = out.at(-1);
    if (last && o <= last[0] + last[1]) last[1] = Math.max(last[1], o + l - last[0]);
    else out.push([o, l]);
  }
  return out;
}

/** Widens every extent to `align` boundaries (never past limit) and merges. */
export function alignExtents(ext: Extent[], align: number, limit: number): Extent[] {
  return normalizeExtents(
    ext.map(([o, l]): Extent => {
      const start = Math.floor(o / align) * align;
      const end = Math.min(limit, Math.ceil((o + l) / align) * align);
      return [start, end - start];
    }),
    limit,
  );
}

export interface Window {
  offset: number;
  length: number;
  /** The used extents inside this window, relative to the window. */
  used: Extent[];
}

/**
 * The chunk windows that hold at least one used byte, in order. Extents are clipped to [0, limit)
 * (an extent past the end must not loop forever on an untrusted manifest). With `max`, stops once
 * more than `max` windows are found (a manifest check need not build millions of windows to see
 * that they are too many).
 */
export function windowsOf(ext: Extent[], chunkSize: number, limit: number, max = Infinity): Window[] {
  const out: Window[] = [];
  for (const [o, l] of ext) {
    let pos = Math.max(0, o);
    const end = Math.min(o + l, limit);
    while (pos < end) {
      if (out.length > max) return out;
      const wStart = Math.floor(pos / chunkSize) * chunkSize;
      const wEnd = Math.min(wStart + chunkSize, limit);
      const segEnd = Math.min(end, wEnd);
      let w = out.at(-1);
      if (!w || w.offset !== wStart) {
        w = { offset: wStart, length: wEnd - wStart, used: [] };
        out.push(w);
      }
      w.used.push([pos - wStart, segEnd - pos]);
      pos = segEnd;
    }
  }
  return out;
}

/** Zeroes the bytes of `buf` (one window) outside `used`, in place. */
export function maskWindow(buf: Buffer, used: Extent[]): Buffer {
  let pos = 0;
  for (const [o, l] of used) {
    if (o > pos) buf.fill(0, pos, o);
    pos = o + l;
  }
  if (pos < buf.length) buf.fill(0, pos);
  return buf;
}

// ---- v3 blocks and the stored block container ----------------------------------------------

/** A block's hash (v3): the first 128 bits of the SHA-256 of its masked bytes, lowercase hex. */
export function blockHash(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex').slice(0, 32);
}

const zeroHashes = new Map<number, string>();
let zeros = Buffer.alloc(0);

/** The block hashes of one (masked) window; an all-zero block (free space, a blank disk) is recognised without hashing. */
export function blockHashes(window: Buffer, blockSize: number): string[] {
  const out: string[] = [];
  for (let o = 0; o < window.length; o += blockSize) {
    const b = window.subarray(o, Math.min(o + blockSize, window.length));
    if (zeros.length < b.length) zeros = Buffer.alloc(b.length);
    if (b.equals(zeros.subarray(0, b.length))) {
      let h = zeroHashes.get(b.length);
      if (!h) zeroHashes.set(b.length, (h = blockHash(b)));
      out.push(h);
    } else out.push(blockHash(b));
  }
  return out;
}

/**
 * A v3 chunk is stored as a zstd skippable frame (the block index) followed by one zstd frame per
 * block: any zstd decoder reads it as the whole window, and a restore that needs a few blocks reads
 * the index (blockIndexLength bytes) and then just their frames, with HTTP Range. The index's
 * payload: BLOCK_INDEX_TAG, the block size, then the size of each block's frame (u32 little-endian).
 */
export const BLOCK_INDEX_MAGIC = 0x184d2a5b;
export const BLOCK_INDEX_TAG = 0x31626372; // 'rcb1'

export function blockIndexLength(blocks: number): number {
  return 16 + 4 * blocks;
}

export function encodeBlockIndex(blockSize: number, frameSizes: number[]): Buffer {
  const b = Buffer.alloc(blockIndexLength(frameSizes.length));
  b.writeUInt32LE(BLOCK_INDEX_MAGIC, 0);
  b.writeUInt32LE(b.length - 8, 4);
  b.writeUInt32LE(BLOCK_INDEX_TAG, 8);
  b.writeUInt32LE(blockSize, 12);
  frameSizes.forEach((s, i) => b.writeUInt32LE(s, 16 + 4 * i));
  return b;
}

/** Where each block's frame lies in a stored chunk: [start, end) byte ranges; null when `head` is not a block index (a v1/v2 single frame). */
export function parseBlockIndex(head: Buffer, blockSize: number): Array<[number, number]> | null {
  if (head.length < 16 || head.readUInt32LE(0) !== BLOCK_INDEX_MAGIC || head.readUInt32LE(8) !== BLOCK_INDEX_TAG || head.readUInt32LE(12) !== blockSize) return null;
  const len = 8 + head.readUInt32LE(4);
  if (len > head.length || (len - 16) % 4 !== 0) return null;
  const out: Array<[number, number]> = [];
  let pos = len;
  for (let o = 16; o < len; o += 4) {
    const s = head.readUInt32LE(o);
    if (s === 0) return null;
    out.push([pos, pos + s]);
    pos += s;
  }
  return out;
}
