// Restore of a whole disk from an image (format v1, v2 or v3, services/imaging/format.ts).
//
// The order keeps a PC from ever starting half a Windows (issue 11):
// 1. Pre-flight, before anything is written: the disk fits, the server holds every chunk of the
//    version (a cheap existence check), and the chunk with the head of the disk (LBA 0, the GPT) was
//    fetched and checked.
// 2. The head is wiped (head.ts: LBA 0 and the GPT headers zeroed): from here until step 5 the disk
//    has no partition table and no boot signature, so firmware skips it and the PC network-boots.
// 3. The cache is dropped, and for every window what the disk already holds is hashed (v3: block
//    by block; read with O_DIRECT where the disk allows it) and only what differs is fetched (the
//    differential restore: v3 fetches the blocks that differ, v1/v2 the whole chunk), checked (the
//    window's hash, or each block's) and written (used ranges only), while later windows are still
//    compared: windows.ts.
// 4. Flush, drop the cache, re-read what was written and check it (a window written in a few
//    blocks: those blocks; the rest was read from the disk and checked in step 3).
// 5. The table goes back last: v2 writes the captured head byte for byte, fitted to this disk's size,
//    with the backup GPT at its end (the EBRs of MBR logical partitions were windows of step 3: the
//    extended partition's used extents); v1 replays the sfdisk dump and writes the boot code. It is
//    read back too.
// A failure says which state it left the disk in (the task's error and result.details.diskState).
// A task the server stopped meanwhile (its version found damaged: 409 task_failed on a progress report,
// a download, or the check before step 5) stops the restore where it is, before the table is written.
import fs from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { isExtended, windowsOf, type Chunk, type Extent, type Manifest, type Window } from '../format.js';
import { checkSize, describeDisk } from './disk.js';
import { dropCache, usedIn, type EngineOptions, type Slot } from './engine.js';
import { fitHead, holdsHead, wipeHead, writeAt, writeHead, type FittedHead } from './head.js';
import { sameTable, writeTable } from './layout.js';
import { ProgressMeter, mib } from './progress.js';
import { ClientError, tryRun } from './sys.js';
import { ChunkDecoder } from './decoder.js';
import { fetchChunk, newTimings, type Timings, type TransferCounts } from './fetch.js';
import { readBack, writeWindows } from './windows.js';
/** Boot code of an MBR (v1 images restore only these bytes of LBA 0 themselves). */
const MBR_CODE = 440;

export interface RestoreReport extends TransferCounts {
  chunks: number;
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
  if (m.version >= 2) return m.table.headBytes!;
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
    const report: RestoreReport = { chunks: slots.length, fetchedChunks: 0, fetchedBytes: 0, patchedChunks: 0, writtenBytes: 0, skippedChunks: 0, tableChanged: true, verifiedChunks: 0 };
    const t = newTimings();
    const phase = { sync: 0, dropCache: 0 };
    const began = performance.now();

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
      headData = await fetchChunk(o.api, headSlot.chunk!, report, t);
      headSlot.held = Buffer.from(headData.subarray(0, held));
      if (m.version >= 2) fitted = fitHead(headSlot.held, m.table.type, ss, m.disk.sizeBytes, disk.sizeBytes);
    }
    const current = await tryRun('sfdisk', ['--dump', o.disk]);
    report.tableChanged = !current || !sameTable(current.stdout, m.table.sfdisk);

    const totalBytes = slots.reduce((s, x) => s + usedIn(x.window), 0);
    // What the comparison reads must come from the disk, not from a cache of an earlier run.
    await dropCache(o.disk);
    const fh = await fs.open(o.disk, 'r+');
    let written: Map<Slot, number[] | null>;
    try {
      // 2. No table while the restore runs.
      state = 'unknown';
      await wipeHead(fh, disk.sizeBytes, ss);
      state = 'no_table';
      log('roomcast: partition table removed until the restore is complete (the PC network-boots if it stops)');

      // 3. Every window the disk lacks.
      meter.setPhase('restore', totalBytes, slots.length, 'comparing the disk with the image, fetching what differs');
      const decoder = ChunkDecoder.create();
      try {
        // A disk with a partition table likely holds an image: compared with O_DIRECT (windows.ts).
        const w = { api: o.api, disk: o.disk, decoder, blockSize: m.version === 3 ? m.blockSize : undefined, direct: !!current, concurrency: o.concurrency ?? 4, meter, timings: t };
        written = await writeWindows(w, fh, slots, m.chunkSize, report, headSlot?.held ? new Map([[headSlot.chunk!.hash, headData!]]) : new Map());
      } finally {
        await decoder?.close();
      }
      const s = performance.now();
      await fh.sync();
      phase.sync += (performance.now() - s) / 1000;
    } finally {
      await fh.close();
    }
    let s = performance.now();
    await dropCache(o.disk);
    phase.dropCache += (performance.now() - s) / 1000;

    // 4. Read back what was written (the rest was read from the disk and checked in step 3).
    const toCheck = [...written.keys()];
    meter.setPhase('verify', toCheck.reduce((n, x) => n + usedIn(x.window), 0), toCheck.length, `reading back the ${toCheck.length} windows written`);
    const bad = await readBack(o.disk, written, m.chunkSize, m.version === 3 ? m.blockSize : undefined, meter, t);
    report.verifiedChunks = slots.length - bad.length;
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
      // The disk's every write (sfdisk's too: the same block device) reaches the medium here.
      s = performance.now();
      await th.sync();
      phase.sync += (performance.now() - s) / 1000;
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
    state = 'complete';
    log(`roomcast: restore done: ${report.fetchedChunks} chunks fetched (${mib(report.fetchedBytes)}; ${report.patchedChunks} of them only the blocks that differ), ${report.skippedChunks} already on the disk, all ${report.verifiedChunks} verified, partition table written last`);
    log(`roomcast: restore timings: ${timingText(t, phase, began)}`);
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

/** The restore's time per stage (stages that overlap are summed over their concurrent runs). */
function timingText(t: Timings, phase: { sync: number; dropCache: number }, began: number): string {
  const all: Record<string, number> = { total: (performance.now() - began) / 1000, ...t, ...phase };
  return Object.entries(all)
    .map(([k, v]) => `${k} ${v.toFixed(2)} s`)
    .join(', ');
}
