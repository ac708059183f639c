// Capture of a whole disk in image format v3 (services/imaging/format.ts), streamed: the disk is read
// once.
//
// Read the partition table, probe each partition (refuse BitLocker and Windows' Fast Startup, read what
// Windows it holds: windows-facts.ts, drop hiberfil.sys), ask partclone
// which ranges are used. Then every window that holds used data is read and hashed on worker threads
// (compressor.ts), which keep its bytes while the store is asked, in batches, whether it has that
// content (POST /api/v1/client/capture/chunks: the batch joins the capturing version's chunk list, so
// the store's GC keeps what it answered present); a window the store lacks is compressed from the
// bytes already read and uploaded with its Content-Digest (the store checks each content against its
// hash before it enters the store), one the store has is dropped. Reading, hashing, asking, compressing
// and uploading overlap. At the end the manifest is posted (it replaces the chunk list) and the
// version committed; chunks the store then still lacks (rejected by its check) are read again and
// re-hashed (a changed disk: disk_changed) and uploaded again.
//
// A client restarted mid-capture posts its batches again: the version is the same, the chunks it
// uploaded before are answered present, so only the rest moves.
import fs from 'node:fs/promises';
import { blockHashes, DEFAULT_BLOCK_SIZE, DEFAULT_CHUNK_SIZE, FORMAT_NAME, FORMAT_VERSION, windowsOf, type Extent, type Manifest, type Partition } from '../format.js';
import { zstdCompressBlocks } from '../zstd.js';
import { contentDigest, type ImagingApi } from './api.js';
import { WindowCompressor, type CompressedWindow } from './compressor.js';
import { describeDisk } from './disk.js';
import { CLIENT_NAME, Pool, readWindow, Semaphore, sha256, usedIn, type CaptureOptions, type CaptureReport, type Slot } from './engine.js';
import { readLayout } from './layout.js';
import { scanDisk } from './scan.js';
import { ProgressMeter, mib } from './progress.js';
import { ClientError } from './sys.js';

/** Commits tried, each after uploading again what the store said it lacks (a chunk lost or rejected). */
const COMMIT_ROUNDS = 3;
/** Hashes per batch asked of the store at most. */
const ANNOUNCE_BATCH = 1024;

/** Windows read and hashed ahead of their upload at most (their bytes held by the workers: 24 × 4 MiB). */
const READ_AHEAD = 24;

const diskChanged = (s: Slot) =>
  new ClientError(`the disk changed during the capture (${s.where}, offset ${s.window.offset}); make sure nothing else writes to it and capture again`, 'disk_changed');

/** Reads, hashes and compresses windows: on worker threads (Node 22), else on the main thread (the tests' Node 20). */
interface WindowSource<H extends { hash: string; blocks: string[] }> {
  /** Reads and hashes the window; the bytes are kept until compressHeld or drop. */
  read(s: Slot): Promise<H>;
  compressHeld(h: H): Promise<CompressedWindow>;
  drop(h: H): void;
  /** Reads the window again, compresses it and hashes it (rawHash), nothing kept. */
  reread(s: Slot): Promise<CompressedWindow>;
  close(): Promise<void>;
}

const toWindow = (s: Slot) => ({ base: s.base, length: s.window.length, used: s.window.used });

function workerSource(c: WindowCompressor): WindowSource<Awaited<ReturnType<WindowCompressor['read']>>> {
  return {
    read: (s) => c.read(toWindow(s)),
    compressHeld: (h) => c.compressHeld(h),
    drop: (h) => c.drop(h),
    reread: (s) => c.compress(toWindow(s), true),
    close: () => c.close(),
  };
}

function mainThreadSource(fh: fs.FileHandle, blockSize: number, level: number): WindowSource<{ hash: string; blocks: string[]; bytes: Buffer }> {
  const compress = async (bytes: Buffer, rawHash: string): Promise<CompressedWindow> => {
    const data = await zstdCompressBlocks(bytes, blockSize, level);
    return { data, digest: contentDigest(data), rawHash };
  };
  return {
    read: async (s) => {
      const bytes = await readWindow(fh, s);
      return { hash: sha256(bytes), blocks: blockHashes(bytes, blockSize), bytes };
    },
    compressHeld: (h) => compress(h.bytes, ''),
    drop: () => {},
    reread: async (s) => {
      const bytes = await readWindow(fh, s);
      return compress(bytes, sha256(bytes));
    },
    close: async () => {},
  };
}

/**
 * Asks the store which hashes it lacks, in batches: a hash waits for the batch in flight to be answered
 * and goes with the next, so the questions follow the reads without one round trip per window. A hash
 * met again (a repeated window, the all-zero one) is not asked twice: its first window uploads it.
 */
class Announcer {
  private readonly claimed = new Set<string>();
  private pending: Array<{ hash: string; length: number; resolve: (missing: boolean) => void; reject: (e: unknown) => void }> = [];
  private busy = false;
  version: { versionId: number; number: number } | null = null;

  constructor(
    private readonly api: ImagingApi,
    private readonly chunkSize: number,
  ) {}

  /** True when this window must be uploaded: the store lacks its content and no earlier window claimed it. */
  need(hash: string, length: number): Promise<boolean> {
    if (this.claimed.has(hash)) return Promise.resolve(false);
    this.claimed.add(hash);
    return new Promise((resolve, reject) => {
      this.pending.push({ hash, length, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.busy || !this.pending.length) return;
    this.busy = true;
    void (async () => {
      await new Promise((r) => setImmediate(r)); // the windows hashed meanwhile join this batch
      const batch = this.pending.splice(0, ANNOUNCE_BATCH);
      try {
        const a = await this.api.announceChunks(this.chunkSize, batch.map(({ hash, length }) => ({ hash, length })));
        this.version = { versionId: a.versionId, number: a.number };
        const missing = new Set(a.missing);
        for (const b of batch) b.resolve(missing.has(b.hash));
      } catch (err) {
        for (const b of batch) b.reject(err);
      } finally {
        this.busy = false;
        this.kick();
      }
    })();
  }
}

export async function capture(o: CaptureOptions): Promise<CaptureReport> {
  const log = o.log ?? (() => {});
  const chunkSize = o.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const blockSize = o.blockSize ?? (chunkSize % DEFAULT_BLOCK_SIZE === 0 ? DEFAULT_BLOCK_SIZE : chunkSize);
  const level = o.level ?? 3;
  const meter = new ProgressMeter((p) => o.api.progress(p), log, o.progressMs);
  meter.start();
  try {
    const disk = await describeDisk(o.disk);
    const layout = await readLayout(o.disk, disk.sizeBytes);
    log(`roomcast: capturing ${o.disk} (${mib(disk.sizeBytes)}, ${layout.type}, ${layout.partitions.length} partitions)`);
    meter.setPhase('scan', 0, layout.partitions.length, 'probing the partitions');
    const scan = await scanDisk(o.disk, layout, log);
    const bootSlots: Slot[] = windowsOf(layout.bootWrite, chunkSize, layout.firstStartBytes).map((w) => ({ where: 'boot area', base: w.offset, window: w }));
    // The total grows as the partitions' scans end (they overlap the upload of the ones before).
    meter.setPhase('capture', bootSlots.reduce((n, s) => n + usedIn(s.window), 0), bootSlots.length, 'reading, hashing and uploading the used data');
    const slots: Slot[] = [];
    const partitions: Partition[] = [];
    const fh = await fs.open(o.disk, 'r');
    const compressor = WindowCompressor.create(o.disk, blockSize, level);
    const source: WindowSource<{ hash: string; blocks: string[] }> = compressor
      ? (workerSource(compressor) as WindowSource<{ hash: string; blocks: string[] }>)
      : (mainThreadSource(fh, blockSize, level) as WindowSource<{ hash: string; blocks: string[] }>);
    try {
      const announcer = new Announcer(o.api, chunkSize);
      const uploaded = new Set<string>();
      let uploadedBytes = 0;
      const put = async (s: Slot, c: CompressedWindow) => {
        await o.api.putChunk(s.chunk!.hash, c.data, c.digest);
        uploaded.add(s.chunk!.hash);
        uploadedBytes += c.data.length;
      };
      // Reads run well ahead of the uploads (READ_AHEAD windows held at most), so that the store is
      // asked about many hashes at once (one transaction per batch on the server) and the compression
      // workers always have a window waiting; at most `concurrency` windows compress and upload at once.
      const pool = new Pool(READ_AHEAD);
      const uploads = new Semaphore(o.concurrency ?? 4);
      const windowsOfDisk = async function* (): AsyncGenerator<Slot> {
        yield* bootSlots;
        for (const scanned of scan.partitions) {
          const p = await scanned;
          partitions.push(p);
          const ps = windowsOf(p.used as Extent[], chunkSize, p.sizeBytes).map((w): Slot => ({ where: `partition ${p.number}`, base: p.startBytes + w.offset, window: w }));
          meter.grow(ps.reduce((n, s) => n + usedIn(s.window), 0), ps.length);
          yield* ps;
        }
      };
      for await (const s of windowsOfDisk()) {
        slots.push(s);
        await pool.add(async () => {
          const h = await source.read(s);
          s.chunk = { offset: s.window.offset, length: s.window.length, hash: h.hash, blocks: h.blocks };
          let need: boolean;
          try {
            need = await announcer.need(h.hash, s.window.length);
          } catch (err) {
            source.drop(h);
            throw err;
          }
          if (need) await uploads.run(async () => put(s, await source.compressHeld(h)));
          else source.drop(h);
          meter.add(usedIn(s.window));
        });
      }
      await pool.drain();

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
      // What this capture uploaded may still be in the store's check (the commit waits for it).
      const slotOf = new Map<string, Slot>();
      for (const s of slots) if (!slotOf.has(s.chunk!.hash)) slotOf.set(s.chunk!.hash, s);
      const reupload = async (hashes: string[]) => {
        const again = new Pool(o.concurrency ?? 4);
        for (const h of hashes) {
          const s = slotOf.get(h);
          if (!s) continue;
          await again.add(async () => {
            const c = await source.reread(s);
            if (c.rawHash !== h) throw diskChanged(s);
            await put(s, c);
          });
        }
        await again.drain();
      };
      await reupload(missing.filter((h) => !uploaded.has(h)));
      meter.setPhase('commit', 0, 0, 'publishing the version');
      for (let round = 1; ; round++) {
        try {
          await o.api.commit(scan.windows);
          break;
        } catch (err) {
          const lacking = err instanceof ClientError && err.code === 'chunks_missing' ? (err.details.missing as string[]) : null;
          if (!lacking || round >= COMMIT_ROUNDS) throw err;
          log(`roomcast: the store lacks ${lacking.length} chunk(s) after the upload (${(err as Error).message}); uploading them again`);
          await reupload(lacking);
        }
      }
      const distinct = slotOf.size;
      const totalBytes = slots.reduce((n, x) => n + usedIn(x.window), 0);
      log(`roomcast: capture done: version ${number}, ${uploaded.size} chunks uploaded (${mib(uploadedBytes)}), ${distinct - uploaded.size} already in the store`);
      return { versionId, number, chunks: slots.length, uploadedChunks: uploaded.size, uploadedBytes, usedBytes: totalBytes, hiberfileRemoved: scan.hiberfileRemoved, windows: scan.windows };
    } finally {
      await source.close();
      await fh.close();
    }
  } finally {
    await meter.stop();
  }
}
