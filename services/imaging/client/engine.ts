// Capture and restore of a whole disk in image format v1 (services/imaging/format.ts).
//
// Capture: read the table, probe each partition (refuse BitLocker, drop hiberfil.sys), ask partclone
// which ranges are used, hash every window that holds used data, send the manifest, upload only the
// chunks the store lacks (re-reading each and checking it did not change), commit.
// Restore: write the table when it differs, then for every window hash what the disk already holds
// there and fetch only the chunks that differ (the differential restore), check each fetched chunk's
// hash, write its used ranges; then flush, drop the cache and re-read everything to check it.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import {
  DEFAULT_CHUNK_SIZE,
  FORMAT_NAME,
  FORMAT_VERSION,
  maskWindow,
  windowsOf,
  type Chunk,
  type Extent,
  type Manifest,
  type Partition,
  type Window,
} from '../format.js';
import { zstdCompress, zstdDecompress } from '../zstd.js';
import type { ImagingApi } from './api.js';
import { checkSize, describeDisk } from './disk.js';
import { EXTENDED_TYPES, readLayout, sameTable, writeTable } from './layout.js';
import { probe, removeHiberfile, usedExtents, withLoop } from './partition.js';
import { ProgressMeter, mib } from './progress.js';
import { ClientError, run, tryRun } from './sys.js';

export const CLIENT_NAME = 'roomcast-client 1';
/** Fetched chunks kept in memory for windows still to come with the same content (4 MiB each). */
const MAX_KEPT_CHUNKS = 32;

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

export interface RestoreReport {
  chunks: number;
  fetchedChunks: number;
  fetchedBytes: number;
  writtenBytes: number;
  skippedChunks: number;
  tableWritten: boolean;
  verifiedChunks: number;
}

/** One window of the disk, with its absolute position, what of it is used, and its manifest entry. */
interface Slot {
  where: string;
  /** Absolute offset of the window on the disk. */
  base: number;
  window: Window;
  chunk?: Chunk;
}

/** Runs async jobs, at most n at once; the first failure stops new ones and is rethrown by drain(). */
class Pool {
  private active = new Set<Promise<void>>();
  private error: unknown = null;
  constructor(private readonly n: number) {}

  async add(job: () => Promise<void>): Promise<void> {
    if (this.error) throw this.error;
    while (this.active.size >= this.n) await Promise.race(this.active);
    if (this.error) throw this.error;
    const p: Promise<void> = job()
      .catch((err: unknown) => {
        this.error ??= err;
      })
      .finally(() => this.active.delete(p));
    this.active.add(p);
  }

  async drain(): Promise<void> {
    await Promise.all(this.active);
    if (this.error) throw this.error;
  }
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const usedIn = (w: Window) => w.used.reduce((s, [, l]) => s + l, 0);

async function readWindow(fh: fs.FileHandle, slot: Slot, buf?: Buffer): Promise<Buffer> {
  const b = buf && buf.length >= slot.window.length ? buf.subarray(0, slot.window.length) : Buffer.alloc(slot.window.length);
  let got = 0;
  while (got < b.length) {
    const { bytesRead } = await fh.read(b, got, b.length - got, slot.base + got);
    if (bytesRead === 0) {
      b.fill(0, got); // past the end of a shorter disk: compare as zeros (the write then fails clearly)
      break;
    }
    got += bytesRead;
  }
  return maskWindow(b, slot.window.used);
}

async function writeUsed(fh: fs.FileHandle, slot: Slot, data: Buffer): Promise<number> {
  let written = 0;
  for (const [o, l] of slot.window.used) {
    let done = 0;
    while (done < l) {
      const { bytesWritten } = await fh.write(data, o + done, l - done, slot.base + o + done);
      done += bytesWritten;
    }
    written += l;
  }
  return written;
}

/** Drops the kernel's cached copy of the disk, so a verification reads the medium. */
async function dropCache(disk: string): Promise<void> {
  await tryRun('blockdev', ['--flushbufs', disk]);
}

// ---- capture --------------------------------------------------------------------------------

export async function capture(o: CaptureOptions): Promise<CaptureReport> {
  const log = o.log ?? (() => {});
  const chunkSize = o.chunkSize ?? DEFAULT_CHUNK_SIZE;
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
      if (layout.type === 'dos' && EXTENDED_TYPES.has(p.type.toLowerCase())) {
        partitions.push({ ...base, filesystem: 'raw', fsLabel: null, fsUuid: null, usedBytes: 0, used: [], chunks: [] });
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
      const buf = Buffer.alloc(chunkSize);
      for (const s of slots) {
        const data = await readWindow(fh, s, buf);
        s.chunk = { offset: s.window.offset, length: s.window.length, hash: sha256(data) };
        meter.add(usedIn(s.window));
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
        disk: { sizeBytes: disk.sizeBytes, logicalSectorSize: layout.sectorSize as 512 | 4096, minSizeBytes: layout.minDiskBytes, model: disk.model, serial: disk.serial },
        table: { type: layout.type, id: layout.id, sfdisk: layout.dump },
        bootArea: { length: layout.firstStartBytes, write: layout.bootWrite, chunks: bootSlots.map((s) => s.chunk!) },
        partitions,
      };

      const { versionId, number, missing } = await o.api.registerCapture(manifest);
      const want = new Set(missing);
      const toSend = slots.filter((s) => want.delete(s.chunk!.hash)); // each missing hash once
      const sendBytes = toSend.reduce((s, x) => s + x.window.length, 0);
      meter.setPhase('upload', sendBytes, toSend.length, `version ${number}: ${toSend.length} of ${slots.length} chunks are new`);
      let uploadedBytes = 0;
      const pool = new Pool(o.concurrency ?? 4);
      for (const s of toSend) {
        await pool.add(async () => {
          const data = await readWindow(fh, s);
          if (sha256(data) !== s.chunk!.hash) {
            throw new ClientError(`the disk changed during the capture (${s.where}, offset ${s.window.offset}); make sure nothing else writes to it and capture again`, 'disk_changed');
          }
          const z = await zstdCompress(data, o.level ?? 3);
          await o.api.putChunk(s.chunk!.hash, z);
          uploadedBytes += z.length;
          meter.add(s.window.length);
        });
      }
      await pool.drain();
      meter.setPhase('commit', 0, 0, 'publishing the version');
      await o.api.commit();
      log(`roomcast: capture done: version ${number}, ${toSend.length} chunks uploaded (${mib(uploadedBytes)}), ${slots.length - toSend.length} already in the store`);
      return { versionId, number, chunks: slots.length, uploadedChunks: toSend.length, uploadedBytes, usedBytes: totalBytes, hiberfileRemoved };
    } finally {
      await fh.close();
    }
  } finally {
    await meter.stop();
  }
}

// ---- restore --------------------------------------------------------------------------------

function slotsOf(m: Manifest): Slot[] {
  const slots: Slot[] = [];
  const zip = (where: string, start: number, ws: Window[], chunks: Chunk[]) => {
    if (ws.length !== chunks.length) throw new ClientError(`the image manifest is inconsistent (${where}); verify the image on the server`, 'bad_manifest');
    ws.forEach((w, i) => slots.push({ where, base: start + w.offset, window: w, chunk: chunks[i]! }));
  };
  zip('boot area', 0, windowsOf(m.bootArea.write as Extent[], m.chunkSize, m.bootArea.length), m.bootArea.chunks);
  for (const p of m.partitions) zip(`partition ${p.number}`, p.startBytes, windowsOf(p.used as Extent[], m.chunkSize, p.sizeBytes), p.chunks);
  return slots;
}

export interface RestoreOptions extends EngineOptions {
  manifest: Manifest;
}

export async function restore(o: RestoreOptions): Promise<RestoreReport> {
  const log = o.log ?? (() => {});
  const m = o.manifest;
  const meter = new ProgressMeter((p) => o.api.progress(p), log, o.progressMs);
  meter.start();
  try {
    const disk = await describeDisk(o.disk);
    checkSize(disk, m.disk.minSizeBytes);
    if (disk.logicalSectorSize !== m.disk.logicalSectorSize) {
      throw new ClientError(`this disk has ${disk.logicalSectorSize}-byte sectors and the image ${m.disk.logicalSectorSize}-byte ones; it cannot be restored here`, 'sector_size');
    }
    const current = await tryRun('sfdisk', ['--dump', o.disk]);
    const tableWritten = !current || !sameTable(current.stdout, m.table.sfdisk);
    if (tableWritten) {
      log(`roomcast: writing the partition table (${m.table.type}, ${m.partitions.length} partitions)`);
      await writeTable(o.disk, m.table.sfdisk);
    }
    const slots = slotsOf(m);
    const totalBytes = slots.reduce((s, x) => s + usedIn(x.window), 0);
    meter.setPhase('restore', totalBytes, slots.length, 'comparing the disk with the image, fetching what differs');
    const report: RestoreReport = { chunks: slots.length, fetchedChunks: 0, fetchedBytes: 0, writtenBytes: 0, skippedChunks: 0, tableWritten, verifiedChunks: 0 };
    const fh = await fs.open(o.disk, 'r+');
    try {
      const pool = new Pool(o.concurrency ?? 4);
      const buf = Buffer.alloc(m.chunkSize);
      // Chunks the disk lacks, grouped by hash: one download serves every window with that content.
      // A window scanned after its content's download was written gets that content from `kept`,
      // which holds a fetched chunk while windows with the same hash are still to come (rare outside
      // zero windows; bounded, beyond which a repeat is simply fetched again).
      const pending = new Map<string, Slot[]>();
      const kept = new Map<string, Buffer>();
      const ahead = new Map<string, number>();
      for (const s of slots) ahead.set(s.chunk!.hash, (ahead.get(s.chunk!.hash) ?? 0) + 1);
      const writeGroup = async (hash: string, group: Slot[], data: Buffer, downloaded: boolean) => {
        // The group may grow while it is written (for...of sees windows pushed meanwhile); once the
        // loop ends, the hash leaves `pending` in the same tick, so a later window never joins a
        // group that is already done.
        for (const t of group) {
          report.writtenBytes += await writeUsed(fh, t, data);
          meter.add(usedIn(t.window));
        }
        if (!downloaded) return;
        pending.delete(hash);
        if ((ahead.get(hash) ?? 0) > 0 && kept.size < MAX_KEPT_CHUNKS) kept.set(hash, data);
      };
      for (const s of slots) {
        const hash = s.chunk!.hash;
        const left = ahead.get(hash)! - 1;
        ahead.set(hash, left);
        if (sha256(await readWindow(fh, s, buf)) === hash) {
          report.skippedChunks++;
          meter.add(usedIn(s.window));
          if (left === 0) kept.delete(hash);
          continue;
        }
        const same = pending.get(hash);
        if (same) {
          same.push(s);
          continue;
        }
        const known = kept.get(hash);
        if (known) {
          if (left === 0) kept.delete(hash);
          await pool.add(() => writeGroup(hash, [s], known, false));
          continue;
        }
        const group = [s];
        pending.set(hash, group);
        await pool.add(async () => writeGroup(hash, group, await fetchChunk(o.api, s.chunk!, report), true));
      }
      await pool.drain();
      await fh.sync();
    } finally {
      await fh.close();
    }
    await dropCache(o.disk);

    meter.setPhase('verify', totalBytes, slots.length, 'reading back everything written');
    const bad: Slot[] = [];
    const vh = await fs.open(o.disk, 'r');
    try {
      const buf = Buffer.alloc(m.chunkSize);
      for (const s of slots) {
        if (sha256(await readWindow(vh, s, buf)) !== s.chunk!.hash) bad.push(s);
        else report.verifiedChunks++;
        meter.add(usedIn(s.window));
      }
    } finally {
      await vh.close();
    }
    if (bad.length) {
      const where = [...new Set(bad.map((s) => s.where))].join(', ');
      throw new ClientError(`${bad.length} of ${slots.length} chunks read back differently from what was written (${where}): the disk may be failing; run the restore again, and replace the disk if it fails again`, 'verify_failed');
    }
    await run('sync', []);
    log(`roomcast: restore done: ${report.fetchedChunks} chunks fetched (${mib(report.fetchedBytes)}), ${report.skippedChunks} already on the disk, all ${report.verifiedChunks} verified`);
    return report;
  } finally {
    await meter.stop();
  }
}

/** Fetches, decompresses and checks one chunk; a corrupt one is fetched once more before giving up. */
async function fetchChunk(api: ImagingApi, c: Chunk, report: RestoreReport): Promise<Buffer> {
  let why = '';
  for (let attempt = 1; attempt <= 2; attempt++) {
    const z = await api.getChunk(c.hash);
    report.fetchedChunks += attempt === 1 ? 1 : 0;
    report.fetchedBytes += z.length;
    try {
      const data = await zstdDecompress(z, c.length);
      if (data.length === c.length && sha256(data) === c.hash) return data;
      why = `its content does not match its hash`;
    } catch (err) {
      why = (err as Error).message;
    }
  }
  throw new ClientError(`chunk ${c.hash.slice(0, 12)} of the image is damaged on the server (${why}); nothing more was written; ask a technician to verify the image (Images → Verify)`, 'chunk_corrupt');
}
