// Store maintenance: verification (re-read every chunk of a version, decompress, hash) and garbage
// collection (remove what no capturing or ready version needs). Both are safe while captures run:
// GC takes the store lock (store.ts) for every batch it removes, the same lock a capture registration
// holds while it is told which chunks exist.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { DB } from '../core/db/index.js';
import { isErrno, listDir, unlinkSize } from '../core/durable.js';
import { AppError } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import type { ImageRepository } from './repository.js';
import { batches, eachLimit, ImageStore, sha256Hex, STALE_FILE_MS } from './store.js';
import { ZstdError, zstdDecompress } from './zstd.js';

const GC_BATCH = 500;
const IN_BATCH = 500;

export type BadChunkReason = 'missing' | 'corrupt' | 'unreadable';
export interface BadChunk {
  hash: string;
  reason: BadChunkReason;
  detail: string;
}
export interface VerifyResult {
  ok: boolean;
  /** Distinct chunks checked. */
  checked: number;
  bad: BadChunk[];
}

export interface GcResult {
  /** Chunk rows and files removed because no capturing or ready version references them. */
  removedChunks: number;
  /** Bytes freed on disk (chunk files, orphan files, stale temporary files, dead manifests). */
  freedBytes: number;
  /** Files in chunks/ that had no row (an interrupted upload, a restored backup). */
  orphanFiles: number;
  /** Files left in tmp/ for more than an hour. */
  tmpFiles: number;
  /** Manifests of failed or deleted versions. */
  manifests: number;
  /** Capturing versions whose task had ended or vanished, marked failed. */
  abandonedCaptures: number;
}

export class StoreMaintenance {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly store: ImageStore,
    private readonly images: ImageRepository,
    private readonly events: EventBus,
  ) {}

  /** Re-reads, decompresses and hashes each chunk; sets verified_at on the good ones. */
  async verifyHashes(hashes: string[], maxSize: number): Promise<VerifyResult> {
    await this.store.ready();
    const rows = await this.store.rows(hashes);
    const bad: BadChunk[] = [];
    const good: string[] = [];
    await eachLimit(hashes, this.store.verifyConcurrency, async (hash) => {
      const size = rows.get(hash);
      if (size === undefined) {
        bad.push({ hash, reason: 'missing', detail: 'not in the store (no record of it)' });
        return;
      }
      let frame: Buffer;
      try {
        frame = await fs.promises.readFile(this.store.chunkPath(hash));
      } catch (err) {
        if (isErrno(err, 'ENOENT')) bad.push({ hash, reason: 'missing', detail: `its file ${ImageStore.chunkName(hash)} is gone` });
        else bad.push({ hash, reason: 'unreadable', detail: `cannot read ${ImageStore.chunkName(hash)}: ${(err as Error).message}` });
        return;
      }
      let raw: Buffer;
      try {
        raw = await zstdDecompress(frame, Math.max(maxSize, size));
      } catch (err) {
        if (!(err instanceof ZstdError)) throw err;
        bad.push({ hash, reason: 'corrupt', detail: err.message });
        return;
      }
      const actual = sha256Hex(raw);
      if (actual !== hash) bad.push({ hash, reason: 'corrupt', detail: `its content hashes to ${actual}` });
      else if (raw.length !== size) bad.push({ hash, reason: 'corrupt', detail: `${raw.length} bytes instead of ${size}` });
      else good.push(hash);
    });
    await this.store.markVerified(good);
    bad.sort((a, b) => a.hash.localeCompare(b.hash));
    return { ok: bad.length === 0, checked: hashes.length, bad };
  }

  /** Every distinct chunk of a version, re-read and checked. */
  async verifyVersion(versionId: number): Promise<VerifyResult> {
    const version = await this.images.version(versionId);
    if (!version) throw new AppError(404, 'not_found', `image version ${versionId} does not exist`);
    return this.verifyHashes(await this.images.chunkHashes(versionId), version.chunk_size);
  }

  /**
   * Removes what no capturing or ready version needs: chunk rows and their files (in batches, each
   * holding the store lock and re-selecting its candidates, so it is safe while captures run), chunk
   * files without a row, stale temporary files, and manifests of failed or deleted versions.
   */
  async gc(): Promise<GcResult> {
    await this.store.ready();
    const out: GcResult = { removedChunks: 0, freedBytes: 0, orphanFiles: 0, tmpFiles: 0, manifests: 0, abandonedCaptures: 0 };

    out.abandonedCaptures = await this.events.transaction(this.db, async (tx) => {
      await this.store.lock(tx.trx);
      return this.images.failAbandonedCaptures(tx);
    });

    for (;;) {
      const batch = await this.db.transaction().execute(async (trx) => {
        await this.store.lock(trx);
        return this.store.removeUnreferenced(trx, GC_BATCH);
      });
      out.removedChunks += batch.removed;
      out.freedBytes += batch.freedBytes;
      if (batch.removed < GC_BATCH) break;
    }

    await this.images.dropDeadChunkLists();
    await this.sweepOrphanChunks(out);
    await this.sweepTmp(out);
    await this.sweepManifests(out);
    return out;
  }

  /**
   * Chunk files without a row, older than an hour. Moved to tmp/ first, then removed only if what was
   * moved is still the old file: an upload of the same chunk that landed meanwhile is put back.
   */
  private async sweepOrphanChunks(out: GcResult): Promise<void> {
    const { chunksDir, tmpDir } = this.store;
    const cutoff = Date.now() - STALE_FILE_MS;
    for (const sub of (await listDir(chunksDir)).filter((d) => /^[0-9a-f]{2}$/.test(d))) {
      const names = (await listDir(path.join(chunksDir, sub))).filter((n) => /^[0-9a-f]{64}\.zst$/.test(n) && n.startsWith(sub));
      for (const batch of batches(names, IN_BATCH)) {
        const hashes = batch.map((n) => n.slice(0, 64));
        const known = await this.store.rows(hashes);
        for (const hash of hashes.filter((h) => !known.has(h))) {
          const file = this.store.chunkPath(hash);
          const before = await fs.promises.lstat(file).catch(() => null);
          if (!before || before.mtimeMs > cutoff) continue;
          const trash = path.join(tmpDir, `gc-${hash}-${randomBytes(4).toString('hex')}`);
          try {
            await fs.promises.rename(file, trash);
          } catch (err) {
            if (isErrno(err, 'ENOENT')) continue;
            throw err;
          }
          const moved = await fs.promises.lstat(trash);
          if (moved.ino !== before.ino) {
            await fs.promises.rename(trash, file);
            continue;
          }
          await fs.promises.unlink(trash);
          out.orphanFiles++;
          out.freedBytes += moved.size;
        }
      }
    }
  }

  private async sweepTmp(out: GcResult): Promise<void> {
    const cutoff = Date.now() - STALE_FILE_MS;
    for (const name of await listDir(this.store.tmpDir)) {
      const file = path.join(this.store.tmpDir, name);
      const st = await fs.promises.lstat(file).catch(() => null);
      if (!st?.isFile() || st.mtimeMs > cutoff) continue;
      out.freedBytes += await unlinkSize(file);
      out.tmpFiles++;
    }
  }

  /** Published manifests of failed or deleted versions, pending ones of versions no longer capturing. */
  private async sweepManifests(out: GcResult): Promise<void> {
    const dir = this.store.manifestsDir;
    await this.db.transaction().execute(async (trx) => {
      // Under the lock: a registration writes its pending manifest inside its own locked transaction.
      await this.store.lock(trx);
      const files = (await listDir(dir))
        .map((name) => ({ name, m: /^(\d{1,15})(\.pending)?\.json$/.exec(name) }))
        .filter((f) => f.m !== null)
        .map((f) => ({ name: f.name, id: Number(f.m![1]), pending: f.m![2] !== undefined }));
      const states = await this.images.states([...new Set(files.map((f) => f.id))], trx);
      const cutoff = Date.now() - STALE_FILE_MS;
      for (const f of files) {
        const state = states.get(f.id);
        const file = path.join(dir, f.name);
        let dead: boolean;
        if (state === undefined) dead = ((await fs.promises.lstat(file).catch(() => null))?.mtimeMs ?? Infinity) < cutoff;
        else dead = f.pending ? state !== 'capturing' : state === 'failed' || state === 'deleted';
        if (!dead) continue;
        out.freedBytes += await unlinkSize(file);
        out.manifests++;
      }
    });
  }
}
