// Restore of a whole disk from an image (format v1 or v2, services/imaging/format.ts).
//
// The order keeps a PC from ever starting half a Windows (issue 11):
// 1. Pre-flight, before anything is written: the disk fits, the server holds every chunk of the
//    version (a cheap existence check), and the chunk with the head of the disk (LBA 0, the GPT) was
//    fetched and checked.
// 2. The head is wiped (head.ts: LBA 0 and the GPT headers zeroed): from here until step 5 the disk
//    has no partition table and no boot signature, so firmware skips it and the PC network-boots.
// 3. For every window, what the disk already holds is hashed and only the chunks that differ are
//    fetched (the differential restore), checked against their hash and written (used ranges only).
// 4. Flush, drop the cache, re-read every window and check it.
// 5. The table goes back last: v2 writes the captured head byte for byte, fitted to this disk's size,
//    with the backup GPT at its end (the EBRs of MBR logical partitions were windows of step 3: the
//    extended partition's used extents); v1 replays the sfdisk dump and writes the boot code. It is
//    read back too.
// A failure says which state it left the disk in (the task's error and result.details.diskState).
// A task the server stopped meanwhile (its version found damaged: 409 task_failed on a progress report,
// a download, or the check before step 5) stops the restore where it is, before the table is written.
import fs from 'node:fs/promises';
import { isExtended, windowsOf, type Chunk, type Extent, type Manifest, type Window } from '../format.js';
import { zstdDecompress } from '../zstd.js';
import type { ImagingApi } from './api.js';
import { checkSize, describeDisk } from './disk.js';
import { dropCache, Pool, readWindow, sha256, usedIn, writeUsed, type EngineOptions, type Slot } from './engine.js';
import { fitHead, holdsHead, wipeHead, writeAt, writeHead, type FittedHead } from './head.js';
import { sameTable, writeTable } from './layout.js';
import { ProgressMeter, mib } from './progress.js';
import { ClientError, run, tryRun } from './sys.js';

/** Fetched chunks kept in memory for windows still to come with the same content (4 MiB each). */
const MAX_KEPT_CHUNKS = 32;
/** Boot code of an MBR (v1 images restore only these bytes of LBA 0 themselves). */
const MBR_CODE = 440;

export interface RestoreReport {
  chunks: number;
  fetchedChunks: number;
  fetchedBytes: number;
  writtenBytes: number;
  skippedChunks: number;
  /** Whether the disk's partition table differed from the image's before the restore (it is always written, last). */
  tableChanged: boolean;
  verifiedChunks: number;
}

export interface RestoreOptions extends EngineOptions {
  manifest: Manifest;
}

/** Where a restore left the disk, for the task's error. */
export type DiskState = 'untouched' | 'no_table' | 'unknown' | 'complete';
const DISK_SAYS: Record<DiskState, string> = {
  untouched: 'nothing was written to the disk: it starts as before',
  no_table: 'the disk was left without a partition table: it will not start Windows and network-boots again at its next start; restore it again',
  unknown: 'the disk may be half-written: restore it again before anyone uses this PC',
  complete: 'the disk holds the whole image',
};

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

/**
 * Whether the sfdisk dump is replayed before the head: v1 images, and v2 MBR images captured before
 * EBR chains were captured (an extended partition without extents): their EBRs come from the dump.
 */
function replaysTable(m: Manifest): boolean {
  return m.version === 1 || m.partitions.some((p) => isExtended(m.table.type, p.type) && p.used.length === 0);
}

/** Bytes at the start of the disk written last: v2 the head (table.headBytes), v1 the boot code it holds. */
function heldBytes(m: Manifest): number {
  if (m.version === 2) return m.table.headBytes!;
  const first = m.bootArea.write[0];
  return first && first[0] === 0 ? Math.min(first[1], MBR_CODE) : 0;
}

export async function restore(o: RestoreOptions): Promise<RestoreReport> {
  const log = o.log ?? (() => {});
  const m = o.manifest;
  const meter = new ProgressMeter((p) => o.api.progress(p), log, o.progressMs);
  meter.start();
  let state: DiskState = 'untouched';
  try {
    const disk = await describeDisk(o.disk);
    checkSize(disk, m.disk.minSizeBytes);
    const ss = m.disk.logicalSectorSize;
    if (disk.logicalSectorSize !== ss) {
      throw new ClientError(`this disk has ${disk.logicalSectorSize}-byte sectors and the image ${ss}-byte ones; it cannot be restored here`, 'sector_size');
    }
    const slots = slotsOf(m);
    const report: RestoreReport = { chunks: slots.length, fetchedChunks: 0, fetchedBytes: 0, writtenBytes: 0, skippedChunks: 0, tableChanged: true, verifiedChunks: 0 };

    // 1. Pre-flight.
    meter.setPhase('check', 0, slots.length, 'checking that the server holds every chunk of the image');
    const check = await o.api.restoreCheck();
    if (check.missing.length) {
      throw new ClientError(
        `${check.missing.length} of the ${check.chunks} chunks of this image version are missing from the server (first: ${check.missing[0]!.slice(0, 12)}); the version is marked damaged: restore another version or capture the reference PC again`,
        'chunks_missing',
        { missing: check.missing.slice(0, 20) },
      );
    }
    const held = heldBytes(m);
    const headSlot = slots[0];
    let fitted: FittedHead | null = null;
    let headData: Buffer | null = null;
    if (held > 0) {
      if (!headSlot || headSlot.base !== 0 || headSlot.window.length < held) throw new ClientError('the image manifest has no chunk for the start of the disk; verify the image on the server', 'bad_manifest');
      headData = await fetchChunk(o.api, headSlot.chunk!, report);
      headSlot.held = Buffer.from(headData.subarray(0, held));
      if (m.version === 2) fitted = fitHead(headSlot.held, m.table.type, ss, m.disk.sizeBytes, disk.sizeBytes);
    }
    const current = await tryRun('sfdisk', ['--dump', o.disk]);
    report.tableChanged = !current || !sameTable(current.stdout, m.table.sfdisk);

    const totalBytes = slots.reduce((s, x) => s + usedIn(x.window), 0);
    const fh = await fs.open(o.disk, 'r+');
    try {
      // 2. No table while the restore runs.
      state = 'unknown';
      await wipeHead(fh, disk.sizeBytes, ss);
      state = 'no_table';
      log('roomcast: partition table removed until the restore is complete (the PC network-boots if it stops)');

      // 3. Every window the disk lacks.
      meter.setPhase('restore', totalBytes, slots.length, 'comparing the disk with the image, fetching what differs');
      await writeWindows(o, fh, slots, report, meter, headSlot?.held ? new Map([[headSlot.chunk!.hash, headData!]]) : new Map());
      await fh.sync();
    } finally {
      await fh.close();
    }
    await dropCache(o.disk);

    // 4. Read back.
    meter.setPhase('verify', totalBytes, slots.length, 'reading back everything written');
    const bad: Slot[] = [];
    const vh = await fs.open(o.disk, 'r');
    try {
      const buf = Buffer.alloc(m.chunkSize);
      for (const s of slots) {
        meter.check();
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

    // 5. The table, last, and only while the task still runs (the server stops it when its version is found damaged).
    meter.setPhase('table', 0, 0, `writing the partition table (${m.table.type}, ${m.partitions.length} partitions)`);
    await meter.confirm();
    state = 'unknown';
    if (replaysTable(m)) await writeTable(o.disk, m.table.sfdisk);
    const th = await fs.open(o.disk, 'r+');
    try {
      if (fitted) await writeHead(th, fitted);
      else if (headSlot?.held) await writeAt(th, 0, headSlot.held);
      await th.sync();
    } finally {
      await th.close();
    }
    await dropCache(o.disk);
    if (fitted) {
      const rh = await fs.open(o.disk, 'r');
      try {
        if (!(await holdsHead(rh, fitted))) throw new ClientError('the partition table read back differently from what was written: the disk may be failing; run the restore again, and replace the disk if it fails again', 'verify_failed');
      } finally {
        await rh.close();
      }
    }
    await run('sync', []);
    state = 'complete';
    log(`roomcast: restore done: ${report.fetchedChunks} chunks fetched (${mib(report.fetchedBytes)}), ${report.skippedChunks} already on the disk, all ${report.verifiedChunks} verified, partition table written last`);
    return report;
  } catch (err) {
    throw await explain(err, state, o.disk, m.disk.logicalSectorSize);
  } finally {
    await meter.stop();
  }
}

/** The error of a failed restore, saying which state it left the disk in; a half-written table is wiped again first. */
async function explain(err: unknown, state: DiskState, disk: string, ss: number): Promise<ClientError> {
  if (state === 'unknown') {
    try {
      const fh = await fs.open(disk, 'r+');
      try {
        await wipeHead(fh, (await fh.stat()).size || (await describeDisk(disk)).sizeBytes, ss);
        state = 'no_table';
      } finally {
        await fh.close();
      }
    } catch {
      // the disk does not answer: its state stays unknown
    }
  }
  return describeFailure(err, state);
}

/**
 * A restore's failure with the state of its disk, in the message and as details.diskState; also for
 * the failures before restore() began (main.ts: the disk choice), which leave the disk 'untouched'.
 */
export function describeFailure(err: unknown, state: DiskState): ClientError {
  const base = err instanceof ClientError ? err : new ClientError(`unexpected error in the imaging client: ${(err as Error).stack ?? String(err)}`, 'internal');
  if (typeof base.details.diskState === 'string') return base; // described already
  const message = base.saysNothingWritten && state === 'untouched' ? base.message : `${base.message} — ${DISK_SAYS[state]}`;
  return new ClientError(message, base.code, { ...base.details, diskState: state }, { saysNothingWritten: state === 'untouched' });
}

/** Which of several failed downloads a restore reports: a damaged chunk, not the refusals it causes. */
export const failureRank = (err: unknown): number => (err instanceof ClientError && err.code === 'chunk_corrupt' ? 1 : 0);

/** Step 3; `prefetched`: chunks already fetched (the head's), reused instead of fetched again. */
async function writeWindows(o: RestoreOptions, fh: fs.FileHandle, slots: Slot[], report: RestoreReport, meter: ProgressMeter, prefetched: Map<string, Buffer>): Promise<void> {
  const pool = new Pool(o.concurrency ?? 4, failureRank);
  const buf = Buffer.alloc(o.manifest.chunkSize);
  // Chunks the disk lacks, grouped by hash: one download serves every window with that content.
  // A window scanned after its content's download was written gets that content from `kept`,
  // which holds a fetched chunk while windows with the same hash are still to come (rare outside
  // zero windows; bounded, beyond which a repeat is simply fetched again).
  const pending = new Map<string, Slot[]>();
  const kept = new Map<string, Buffer>(prefetched);
  const ahead = new Map<string, number>();
  for (const s of slots) ahead.set(s.chunk!.hash, (ahead.get(s.chunk!.hash) ?? 0) + 1);
  const writeGroup = async (hash: string, group: Slot[], data: Buffer, downloaded: boolean) => {
    // The group may grow while it is written (for...of sees windows pushed meanwhile); once the
    // loop ends, the hash leaves `pending` in the same tick, so a later window never joins a
    // group that is already done.
    for (const t of group) {
      meter.check();
      report.writtenBytes += await writeUsed(fh, t, data);
      meter.add(usedIn(t.window));
    }
    if (!downloaded) return;
    pending.delete(hash);
    if ((ahead.get(hash) ?? 0) > 0 && kept.size < MAX_KEPT_CHUNKS) kept.set(hash, data);
  };
  for (const s of slots) {
    meter.check(); // the task was stopped on the server: no more writes
    const hash = s.chunk!.hash;
    const left = ahead.get(hash)! - 1;
    ahead.set(hash, left);
    if (sha256(await readWindow(fh, s, buf)) === hash) {
      // The head's chunk was fetched by the pre-flight (and counted there): the rest of its window
      // being on the disk already does not make it a skipped chunk too.
      if (!s.held) report.skippedChunks++;
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
}

/**
 * Fetches, decompresses and checks one chunk; a corrupt one is fetched once more, then reported to
 * the server (which checks its copy and marks the versions that hold it damaged) before giving up.
 */
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
