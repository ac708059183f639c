// Capture of a whole disk in image format v3 (services/imaging/format.ts), and what restore.ts shares.
//
// Capture: read the table, probe each partition (refuse BitLocker, drop hiberfil.sys), ask partclone
// which ranges are used, hash every window that holds used data, send the manifest, upload only the
// chunks the store lacks (with a Content-Digest; the store checks each content against its hash),
// commit; chunks the store then still lacks are re-read, re-hashed (a changed disk: disk_changed) and
// uploaded again.
// Restore: restore.ts.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import {
  DEFAULT_BLOCK_SIZE,
  DEFAULT_CHUNK_SIZE,
  FORMAT_NAME,
  FORMAT_VERSION,
  isExtended,
  maskWindow,
  windowsOf,
  type Chunk,
  type Extent,
  type Manifest,
  type Partition,
  type Window,
} from '../format.js';
import { zstdCompressBlocks } from '../zstd.js';
import { contentDigest, type ImagingApi } from './api.js';
import { WindowCompressor } from './compressor.js';
import { WindowHasher } from './hasher.js';
import { describeDisk } from './disk.js';
import { ebrExtents, readLayout } from './layout.js';
import { probe, removeHiberfile, usedExtents, withLoop } from './partition.js';
import { ProgressMeter, mib } from './progress.js';
import { ClientError, tryRun } from './sys.js';

export const CLIENT_NAME = 'roomcast-client 3';

export interface EngineOptions {
  /** The whole disk: /dev/sda on a PC, a loop device in tests. */
  disk: string;
  api: ImagingApi;
  log?: (line: string) => void;
  /** Chunks compressed and uploaded, or fetched and written, at the same time (default 4). */
  concurrency?: number;
  /** Progress reports (default every second). */
  progressMs?: number;
}

export interface CaptureOptions extends EngineOptions {
  chunkSize?: number;
  /** v3 block size (default DEFAULT_BLOCK_SIZE, or the chunk size when that does not divide it). */
  blockSize?: number;
  /** zstd level (default 3, as Clonezilla and FOG). */
  level?: number;
}

export interface CaptureReport {
  versionId: number;
  number: number;
  chunks: number;
  uploadedChunks: number;
  uploadedBytes: number;
  usedBytes: number;
  hiberfileRemoved: number[];
}

/** One window of the disk, with its absolute position, what of it is used, and its manifest entry. */
export interface Slot {
  where: string;
  /** Absolute offset of the window on the disk. */
  base: number;
  window: Window;
  chunk?: Chunk;
  /**
   * Restore: the first bytes of the window as the image has them, held back until the end (the head
   * of the disk, restore.ts): never written with the window, and taken as they will be when the
   * window is compared or read back.
   */
  held?: Buffer;
}

/**
 * Runs async jobs, at most n at once. After a failure no new job starts, and add() and drain() wait
 * for the running ones to end (none is left writing to the disk behind its caller) before they throw
 * the most telling of the failures: the first of those `rank` puts highest (a restore puts
 * chunk_corrupt above the refusals it causes in the other downloads once the version is marked
 * damaged), else the first.
 */
export class Pool {
  private active = new Set<Promise<void>>();
  private readonly errors: unknown[] = [];
  constructor(
    private readonly n: number,
    private readonly rank: (err: unknown) => number = () => 0,
  ) {}

  async add(job: () => Promise<void>): Promise<void> {
    if (this.errors.length) return this.drain();
    while (this.active.size >= this.n) await Promise.race(this.active);
    if (this.errors.length) return this.drain();
    const p: Promise<void> = job()
      .catch((err: unknown) => {
        this.errors.push(err);
      })
      .finally(() => this.active.delete(p));
    this.active.add(p);
  }

  async drain(): Promise<void> {
    while (this.active.size) await Promise.all(this.active);
    if (this.errors.length) throw this.errors.reduce((best, e) => (this.rank(e) > this.rank(best) ? e : best));
  }
}

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
export const usedIn = (w: Window) => w.used.reduce((s, [, l]) => s + l, 0);

/** Reads into `b` from `position` until it is full; past the end of the disk, zeros (the write then fails clearly). */
export async function readFully(fh: fs.FileHandle, b: Buffer, position: number): Promise<Buffer> {
  let got = 0;
  while (got < b.length) {
    const { bytesRead } = await fh.read(b, got, b.length - got, position + got);
    if (bytesRead === 0) {
      b.fill(0, got);
      break;
    }
    got += bytesRead;
  }
  return b;
}

/** Writes all of `data` at `position`. */
export async function writeFully(fh: fs.FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) done += (await fh.write(data, done, data.length - done, position + done)).bytesWritten;
}

export async function readWindow(fh: fs.FileHandle, slot: Slot, buf?: Buffer): Promise<Buffer> {
  const b = buf && buf.length >= slot.window.length ? buf.subarray(0, slot.window.length) : Buffer.alloc(slot.window.length);
  await readFully(fh, b, slot.base);
  slot.held?.copy(b, 0);
  return maskWindow(b, slot.window.used);
}

/** Drops the kernel's cached copy of the disk, so a verification reads the medium. */
export async function dropCache(disk: string): Promise<void> {
  await tryRun('blockdev', ['--flushbufs', disk]);
}

// ---- capture --------------------------------------------------------------------------------

/** Commits tried, each after uploading again what the store said it lacks (a chunk lost or rejected). */
const COMMIT_ROUNDS = 3;

const diskChanged = (s: Slot) =>
  new ClientError(`the disk changed during the capture (${s.where}, offset ${s.window.offset}); make sure nothing else writes to it and capture again`, 'disk_changed');

export async function capture(o: CaptureOptions): Promise<CaptureReport> {
  const log = o.log ?? (() => {});
  const chunkSize = o.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const blockSize = o.blockSize ?? (chunkSize % DEFAULT_BLOCK_SIZE === 0 ? DEFAULT_BLOCK_SIZE : chunkSize);
  const meter = new ProgressMeter((p) => o.api.progress(p), log, o.progressMs);
  meter.start();
  try {
    const disk = await describeDisk(o.disk);
    const layout = await readLayout(o.disk, disk.sizeBytes);
    log(`roomcast: capturing ${o.disk} (${mib(disk.sizeBytes)}, ${layout.type}, ${layout.partitions.length} partitions)`);
    meter.setPhase('scan', 0, layout.partitions.length, 'reading the partitions');
    const hiberfileRemoved: number[] = [];
    const partitions: Partition[] = [];
    for (const p of layout.partitions) {
      const base = { number: p.number, startBytes: p.startBytes, sizeBytes: p.sizeBytes, type: p.type, uuid: p.uuid, name: p.name, bootable: p.bootable };
      if (isExtended(layout.type, p.type)) {
        // Its EBRs are its used extents: restored byte for byte like the rest.
        const used = await ebrExtents(o.disk, p, layout.sectorSize);
        partitions.push({ ...base, filesystem: 'raw', fsLabel: null, fsUuid: null, usedBytes: used.reduce((n, [, l]) => n + l, 0), used, chunks: [] });
        log(`roomcast: partition ${p.number}: extended, ${used.length} EBRs`);
        continue;
      }
      const part = await withLoop(o.disk, p.startBytes, p.sizeBytes, async (loop) => {
        const pr = await probe(loop);
        if (pr.bitlocker) {
          throw new ClientError(
            `partition ${p.number} is encrypted with BitLocker: a captured copy would not start on other PCs; on the reference PC run "manage-bde -off C:", wait for decryption to finish, then capture again`,
            'bitlocker',
          );
        }
        if (pr.filesystem === 'ntfs' && (await removeHiberfile(loop))) {
          hiberfileRemoved.push(p.number);
          log(`roomcast: partition ${p.number}: removed hiberfil.sys (Windows was hibernated or used fast startup)`);
        }
        const used = await usedExtents(loop, pr.filesystem, p.sizeBytes);
        return { fs: pr, used };
      });
      const usedBytes = part.used.reduce((s, [, l]) => s + l, 0);
      log(`roomcast: partition ${p.number}: ${part.fs.filesystem}${part.fs.blkidType && part.fs.filesystem === 'raw' ? ` (${part.fs.blkidType})` : ''}, ${mib(usedBytes)} used of ${mib(p.sizeBytes)}`);
      partitions.push({ ...base, filesystem: part.fs.filesystem, fsLabel: part.fs.label, fsUuid: part.fs.uuid, usedBytes, used: part.used, chunks: [] });
      meter.add(0);
    }

    // Hash every window that holds used data.
    const slots: Slot[] = [];
    for (const w of windowsOf(layout.bootWrite, chunkSize, layout.firstStartBytes)) slots.push({ where: 'boot area', base: w.offset, window: w });
    for (const p of partitions) for (const w of windowsOf(p.used as Extent[], chunkSize, p.sizeBytes)) slots.push({ where: `partition ${p.number}`, base: p.startBytes + w.offset, window: w });
    const totalBytes = slots.reduce((s, x) => s + usedIn(x.window), 0);
    meter.setPhase('hash', totalBytes, slots.length, 'hashing the used data');
    const fh = await fs.open(o.disk, 'r');
    try {
      // Worker threads read and hash the windows (hasher.ts), a few more queued than there are threads.
      const hasher = new WindowHasher(o.disk, blockSize);
      try {
        const pool = new Pool(8);
        for (const s of slots) {
          await pool.add(async () => {
            const h = await hasher.hash({ base: s.base, length: s.window.length, used: s.window.used });
            s.chunk = { offset: s.window.offset, length: s.window.length, hash: h.hash, blocks: h.blocks };
            meter.add(usedIn(s.window));
          });
        }
        await pool.drain();
      } finally {
        await hasher.close();
      }
      const bootSlots = slots.filter((s) => s.where === 'boot area');
      for (const p of partitions) p.chunks = slots.filter((s) => s.where === `partition ${p.number}`).map((s) => s.chunk!);
      const manifest: Manifest = {
        format: FORMAT_NAME,
        version: FORMAT_VERSION,
        createdAt: new Date().toISOString(),
        client: CLIENT_NAME,
        hash: 'sha256',
        compression: 'zstd',
        chunkSize,
        blockSize,
        disk: { sizeBytes: disk.sizeBytes, logicalSectorSize: layout.sectorSize as 512 | 4096, minSizeBytes: layout.minDiskBytes, model: disk.model, serial: disk.serial },
        table: { type: layout.type, id: layout.id, sfdisk: layout.dump, headBytes: layout.headBytes },
        bootArea: { length: layout.firstStartBytes, write: layout.bootWrite, chunks: bootSlots.map((s) => s.chunk!) },
        partitions,
      };

      const { versionId, number, missing } = await o.api.registerCapture(manifest);
      const want = new Set(missing);
      const toSend = slots.filter((s) => want.delete(s.chunk!.hash)); // each missing hash once
      const sendBytes = toSend.reduce((s, x) => s + x.window.length, 0);
      meter.setPhase('upload', sendBytes, toSend.length, `version ${number}: ${toSend.length} of ${slots.length} chunks are new`);
      let uploadedBytes = 0;
      // One read buffer per upload in flight, reused (not 4 MiB allocated and zeroed per chunk).
      const readBufs: Buffer[] = [];
      // On Node 22 worker threads read, compress and digest the windows (compressor.ts); else here.
      const compressor = WindowCompressor.create(o.disk, blockSize, o.level ?? 3);
      const upload = async (list: Slot[], recheck: boolean) => {
        const pool = new Pool(o.concurrency ?? 4);
        for (const s of list) {
          await pool.add(async () => {
            let z: Buffer;
            let digest: string;
            // The store checks every chunk's content against its hash: a first upload is not hashed
            // again here; one the store found wrong is, to tell a changed disk from a damaged transfer.
            if (compressor) {
              const c = await compressor.compress({ base: s.base, length: s.window.length, used: s.window.used }, recheck);
              if (recheck && c.rawHash !== s.chunk!.hash) throw diskChanged(s);
              [z, digest] = [c.data, c.digest];
            } else {
              const buf = readBufs.pop() ?? Buffer.allocUnsafe(chunkSize);
              try {
                const data = await readWindow(fh, s, buf);
                if (recheck && sha256(data) !== s.chunk!.hash) throw diskChanged(s);
                z = await zstdCompressBlocks(data, blockSize, o.level ?? 3);
              } finally {
                readBufs.push(buf);
              }
              digest = contentDigest(z);
            }
            await o.api.putChunk(s.chunk!.hash, z, digest);
            uploadedBytes += z.length;
            meter.add(s.window.length);
          });
        }
        await pool.drain();
      };
      try {
        await upload(toSend, false);
        meter.setPhase('commit', 0, 0, 'publishing the version');
        const slotOf = new Map(toSend.map((s) => [s.chunk!.hash, s]));
        for (let round = 1; ; round++) {
          try {
            await o.api.commit();
            break;
          } catch (err) {
            const missing = err instanceof ClientError && err.code === 'chunks_missing' ? (err.details.missing as string[]) : null;
            if (!missing || round >= COMMIT_ROUNDS) throw err;
            const again = missing.map((h) => slotOf.get(h) ?? slots.find((s) => s.chunk!.hash === h)).filter((s): s is Slot => !!s);
            log(`roomcast: the store lacks ${missing.length} chunk(s) after the upload (${(err as Error).message}); uploading them again`);
            await upload(again, true);
          }
        }
      } finally {
        await compressor?.close();
      }
      log(`roomcast: capture done: version ${number}, ${toSend.length} chunks uploaded (${mib(uploadedBytes)}), ${slots.length - toSend.length} already in the store`);
      return { versionId, number, chunks: slots.length, uploadedChunks: toSend.length, uploadedBytes, usedBytes: totalBytes, hiberfileRemoved };
    } finally {
      await fh.close();
    }
  } finally {
    await meter.stop();
  }
}
