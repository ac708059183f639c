// The intake of uploaded chunks that came with a Content-Digest (RFC 9530: the SHA-256 of the frame as
// sent). The upload is answered 202 as soon as its body is in its temporary file in tmp/; here, in the
// background (frame-check.ts: worker threads on Node 22), the file's SHA-256 is compared with the
// Content-Digest (the transfer, and what was written, as it will be kept), then the frame is
// decompressed and its content's SHA-256 compared with the hash it was uploaded as. Both hashes are
// computed off the api's event loop, which only moves the body into its file. Only then does the chunk
// enter the store: the checked frames of a batch are fsynced together, renamed into chunks/, their
// directories fsynced once, and their rows inserted in one statement: the same durability as
// store.putChunk (a row means "present and verified"), with fewer waits.
//
// A chunk not yet checked has no row, so it is missing for every reader: the commit of a capture waits
// for the checks of its chunks (ChunkIntake.settle) and never publishes a version with an unchecked
// chunk. A rejected frame is dropped (its reason kept for the commit's answer); the chunk stays missing
// and the client uploads it again. An api that stops before a check ends loses only unchecked temp
// files (removed by the garbage collection): the commit then lists those chunks as missing.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fsyncDir, isErrno } from '../core/durable.js';
import { frameChecker, type FrameChecker } from './frame-check.js';
import type { ImageStore } from './store.js';
import { ZstdError } from './zstd.js';

/** Pieces of an upload written together (one writev) once they reach this many bytes. */
const WRITE_BATCH = 1 << 20;

async function writeAll(fh: fs.promises.FileHandle, pieces: Buffer[]): Promise<void> {
  let total = 0;
  for (const p of pieces) total += p.length;
  const written = (await fh.writev(pieces)).bytesWritten;
  if (written === total) return;
  const rest = Buffer.concat(pieces).subarray(written); // a short write (rare): the rest, in order
  for (let off = 0; off < rest.length; ) off += (await fh.write(rest, off)).bytesWritten;
}

export interface Received {
  /** The temporary file holding the body; null when it was too large (nothing kept). */
  tmp: string | null;
  /** Bytes received. */
  size: number;
  tooLarge: boolean;
}

interface Job {
  hash: string;
  tmp: string;
  frameSize: number;
  /** The SHA-256 (hex) of the frame as the client sent it (its Content-Digest). */
  frameSha256: string;
  rawSize?: number;
}

export interface IntakeOptions {
  checker?: FrameChecker;
  /** Rejection reasons remembered for the commit's answer (default 10,000: oldest forgotten first). */
  keepReasons?: number;
}

export class ChunkIntake {
  private readonly checker: FrameChecker;
  /** Hash → the end of its check and store (never rejects). */
  private readonly inflight = new Map<string, Promise<void>>();
  /** Hash → why its last frame was rejected. */
  private readonly rejected = new Map<string, string>();
  private readonly keepReasons: number;
  private waiting: Array<{ job: Job; done: () => void; fail: (e: unknown) => void }> = [];
  private flushing = false;

  constructor(
    private readonly store: ImageStore,
    opts: IntakeOptions = {},
  ) {
    this.checker = opts.checker ?? frameChecker();
    this.keepReasons = opts.keepReasons ?? 10_000;
  }

  get engine(): string {
    return this.checker.engine;
  }

  /** Whether a frame of this hash is being checked. */
  checking(hash: string): boolean {
    return this.inflight.has(hash);
  }

  /**
   * An upload read as it arrives into a temporary file (no Buffer of the whole body: the api's memory
   * and garbage collector see 64 KiB pieces, not megabytes), with its length. At most
   * `limit` bytes: past it, the rest is read and thrown away (up to twice the limit; then the connection
   * is dropped), nothing is kept and `tooLarge` says so.
   * The file is the caller's: give it to acceptFile, or remove it.
   */
  async receive(hash: string, body: AsyncIterable<Buffer>, limit: number): Promise<Received> {
    await this.store.ready();
    const tmp = this.tmpName(hash);
    const fh = await fs.promises.open(tmp, 'wx', 0o640);
    let size = 0;
    let batch: Buffer[] = [];
    let batched = 0;
    try {
      for await (const piece of body) {
        size += piece.length;
        if (size > limit) {
          if (size > 2 * limit) break; // far past it (a body with no length): stop reading, drop the connection
          continue; // drained, so that the answer can be read
        }
        batch.push(piece);
        batched += piece.length;
        if (batched >= WRITE_BATCH) {
          await writeAll(fh, batch);
          batch = [];
          batched = 0;
        }
      }
      if (size <= limit && batch.length) await writeAll(fh, batch);
    } catch (err) {
      await fh.close().catch(() => {});
      await fs.promises.rm(tmp, { force: true });
      throw err;
    }
    await fh.close();
    if (size > limit) {
      await fs.promises.rm(tmp, { force: true });
      return { tmp: null, size, tooLarge: true };
    }
    return { tmp, size, tooLarge: false };
  }

  /**
   * Takes a frame received into `tmp` (receive) with the SHA-256 its Content-Digest gives: checked
   * and stored in the background. False when a frame of this hash is already being checked (it keeps
   * its first frame; `tmp` is removed).
   */
  async acceptFile(hash: string, tmp: string, frameSize: number, chunkSize: number, frameSha256: string): Promise<boolean> {
    if (this.inflight.has(hash)) {
      await fs.promises.rm(tmp, { force: true });
      return false;
    }
    this.start({ hash, tmp, frameSize, frameSha256 }, chunkSize);
    return true;
  }

  private tmpName(hash: string): string {
    return path.join(this.store.tmpDir, `intake-${hash}.${process.pid}.${randomBytes(6).toString('hex')}`);
  }

  /** Checks and stores the frame in `job.tmp`, in the background (never rejects). */
  private start(job: Job, chunkSize: number): void {
    const { hash, tmp } = job;
    const run = (async () => {
      try {
        await this.process(job, chunkSize);
      } catch (err) {
        this.reject(hash, `it could not be kept (${(err as Error).message})`);
        await fs.promises.rm(tmp, { force: true }).catch(() => {});
      } finally {
        this.inflight.delete(hash);
      }
    })();
    this.inflight.set(hash, run);
    this.rejected.delete(hash);
  }

  private async process(job: Job, chunkSize: number): Promise<void> {
    let result;
    try {
      result = await this.checker.check(job.tmp, chunkSize, job.frameSha256);
    } catch (err) {
      if (!(err instanceof ZstdError)) throw err;
      this.reject(job.hash, err.message);
      await fs.promises.rm(job.tmp, { force: true });
      return;
    }
    if (result.hash !== job.hash) {
      this.reject(job.hash, `its decompressed bytes hash to ${result.hash}`);
      await fs.promises.rm(job.tmp, { force: true });
      return;
    }
    job.rawSize = result.size;
    await new Promise<void>((done, fail) => {
      this.waiting.push({ job, done, fail });
      if (!this.flushing) void this.flushLoop();
    });
  }

  private reject(hash: string, reason: string): void {
    this.rejected.set(hash, reason);
    if (this.rejected.size > this.keepReasons) this.rejected.delete(this.rejected.keys().next().value!);
  }

  /** Group commit: every checked frame waiting when a flush starts goes in that flush. */
  private async flushLoop(): Promise<void> {
    this.flushing = true;
    try {
      while (this.waiting.length) {
        const batch = this.waiting.splice(0);
        try {
          await this.flush(batch.map((b) => b.job));
          for (const b of batch) b.done();
        } catch (err) {
          for (const b of batch) b.fail(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /** fsync every frame, rename them into chunks/, fsync their directories, then record them. */
  private async flush(jobs: Job[]): Promise<void> {
    await Promise.all(
      jobs.map(async (j) => {
        const fh = await fs.promises.open(j.tmp, 'r');
        try {
          await fh.sync();
        } finally {
          await fh.close();
        }
      }),
    );
    const dirs = new Set<string>();
    for (const j of jobs) {
      const final = this.store.chunkPath(j.hash);
      dirs.add(path.dirname(final));
      try {
        await fs.promises.rename(j.tmp, final);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
        await fs.promises.mkdir(path.dirname(final), { recursive: true });
        await fs.promises.rename(j.tmp, final);
      }
    }
    await Promise.all([...dirs].map((d) => fsyncDir(d)));
    await this.store.recordChunks(jobs.map((j) => ({ hash: j.hash, size: j.rawSize!, storedSize: j.frameSize })), 'relaxed');
  }

  /**
   * Waits until no chunk among `hashes` is being checked, at most `ms`; true when none is left.
   * Rejected ones are then missing from the store: `reasons` says why.
   */
  async settle(hashes: Iterable<string>, ms: number): Promise<boolean> {
    const pending = [...hashes].map((h) => this.inflight.get(h)).filter((p): p is Promise<void> => !!p);
    if (!pending.length) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
    try {
      return await Promise.race([Promise.all(pending).then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Why the last frame of each of `hashes` was rejected, for those that were. */
  reasons(hashes: Iterable<string>): Map<string, string> {
    const out = new Map<string, string>();
    for (const h of hashes) {
      const r = this.rejected.get(h);
      if (r) out.set(h, r);
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.inflight.values()]);
    await this.checker.close();
  }
}
