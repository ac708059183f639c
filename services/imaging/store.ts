// The image store: content-addressed chunks and manifests under config.imagesDir, and the `chunks`
// table that says which chunks are present.
//
//   chunks/<first 2 hex>/<hash>.zst      one zstd frame per chunk, named by the SHA-256 of its uncompressed bytes
//   manifests/<versionId>.json           the published manifest of a ready version
//   manifests/<versionId>.pending.json   the manifest of a capture in progress, until its commit
//   tmp/                                 files being written; renamed into place once complete
//
// Rules that keep it sound:
// - Every file is written under tmp/, fsynced, renamed into place, and its directory fsynced: a crash
//   leaves the old file or the new one, never half of one.
// - A `chunks` row is inserted only after its file is in place and the hash of its decompressed bytes
//   was checked, so a row means "present and verified".
// - Garbage collection and the registration of a capture manifest take the same row lock first
//   (UPDATE of the settings row 'imaging.store_lock'; SQLite serializes writers anyway), and the
//   registration records the version's chunks in image_version_chunks in the same transaction that
//   answers which chunks are missing. So a chunk the capture was told exists cannot be collected: it is
//   referenced by a capturing version before the lock is released, and GC keeps every chunk of a
//   capturing or ready version.
// - Free space: a capture is refused up front when the filesystem of the store has less free space
//   than (uncompressed size of the chunks it lacks) x 0.6 + 1 GiB. 0.6 is what zstd -3 typically
//   leaves of a Windows or Linux system partition (the rest is margin for less compressible data);
//   the 1 GiB keeps the store (and the database next to it) from filling its disk. Both are options.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import { nowIso, type DB } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import { HASH_PATTERN } from './format.js';
import { ZstdError, zstdDecompress } from './zstd.js';

export const STORE_LOCK_KEY = 'imaging.store_lock';
export const GIB = 1024 ** 3;
/** Bytes a zstd frame may exceed its chunk's size by (incompressible data, frame and block headers). */
export const CHUNK_UPLOAD_MARGIN = 64 * 1024;
/** Files in tmp/, and chunk files without a row, younger than this are left alone by GC (an upload may own them). */
export const STALE_FILE_MS = 3600_000;
const GC_BATCH = 500;
const IN_BATCH = 500;

export interface StoreOptions {
  /** Bytes a capture must leave free on the store's filesystem (default 1 GiB). */
  reserveBytes?: number;
  /** Share of the uncompressed new data a capture is expected to take on disk (default 0.6). */
  compressionAllowance?: number;
  /** Chunks read and checked at the same time by verify (default 4). */
  verifyConcurrency?: number;
}

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

export const sha256Hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** 1.23 GiB, for messages people read. */
export function gib(bytes: number): string {
  const v = bytes / GIB;
  return `${v < 10 ? v.toFixed(2) : v.toFixed(1)} GiB`;
}

function* batches<T>(list: T[], size: number): Generator<T[]> {
  for (let i = 0; i < list.length; i += size) yield list.slice(i, i + size);
}

/** Runs `fn` over `items`, `limit` at a time. */
export async function eachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.promises.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

const isErrno = (err: unknown, code: string) => (err as NodeJS.ErrnoException | null)?.code === code;

export class ImageStore {
  readonly chunksDir: string;
  readonly tmpDir: string;
  readonly manifestsDir: string;
  private readonly reserveBytes: number;
  private readonly allowance: number;
  private readonly verifyConcurrency: number;
  private dirs: Promise<void> | undefined;

  constructor(
    private readonly db: Kysely<DB>,
    readonly dir: string,
    opts: StoreOptions = {},
  ) {
    this.chunksDir = path.join(dir, 'chunks');
    this.tmpDir = path.join(dir, 'tmp');
    this.manifestsDir = path.join(dir, 'manifests');
    this.reserveBytes = opts.reserveBytes ?? GIB;
    this.allowance = opts.compressionAllowance ?? 0.6;
    this.verifyConcurrency = opts.verifyConcurrency ?? 4;
  }

  /** Creates the store's directories (once per process; nothing touches the disk before the first use). */
  ready(): Promise<void> {
    this.dirs ??= (async () => {
      for (const d of [this.chunksDir, this.tmpDir, this.manifestsDir]) await fs.promises.mkdir(d, { recursive: true });
    })().catch((err: unknown) => {
      this.dirs = undefined;
      throw new AppError(500, 'store_unavailable', `the image store ${this.dir} cannot be used: ${(err as Error).message}`);
    });
    return this.dirs;
  }

  /** chunks/ab/abcdef….zst, relative to chunksDir. */
  static chunkName(hash: string): string {
    return `${hash.slice(0, 2)}/${hash}.zst`;
  }

  chunkPath(hash: string): string {
    return path.join(this.chunksDir, ImageStore.chunkName(hash));
  }

  manifestPath(versionId: number): string {
    return path.join(this.manifestsDir, `${versionId}.json`);
  }

  pendingManifestPath(versionId: number): string {
    return path.join(this.manifestsDir, `${versionId}.pending.json`);
  }

  /** Writes `data` to `final` through tmp/: write, fsync, rename, fsync the directory. */
  async writeDurable(final: string, data: Buffer | string): Promise<void> {
    await this.ready();
    await fs.promises.mkdir(path.dirname(final), { recursive: true });
    const tmp = path.join(this.tmpDir, `${path.basename(final)}.${process.pid}.${randomBytes(6).toString('hex')}`);
    try {
      const fh = await fs.promises.open(tmp, 'wx', 0o640);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.promises.rename(tmp, final);
    } catch (err) {
      await fs.promises.rm(tmp, { force: true });
      throw err;
    }
    await fsyncDir(path.dirname(final));
  }

  /** The manifest a capture posted, kept until its commit. */
  readPending(versionId: number): Promise<string> {
    return fs.promises.readFile(this.pendingManifestPath(versionId), 'utf8');
  }

  async removePending(versionId: number): Promise<void> {
    await fs.promises.rm(this.pendingManifestPath(versionId), { force: true });
  }

  /** The published manifest of a ready version, byte for byte. */
  async readManifest(versionId: number): Promise<Buffer> {
    try {
      return await fs.promises.readFile(this.manifestPath(versionId));
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
      throw new AppError(404, 'manifest_missing', `the manifest of image version ${versionId} is missing from the image store (${this.manifestsDir}); this version cannot be restored`);
    }
  }

  /**
   * The store-wide lock of GC and capture registration: call it first in the transaction. PostgreSQL
   * holds the row lock until the transaction ends; SQLite holds its single write lock.
   */
  async lock(trx: Kysely<DB>): Promise<void> {
    const now = nowIso();
    const r = await trx.updateTable('settings').set({ updated_at: now }).where('key', '=', STORE_LOCK_KEY).executeTakeFirst();
    if (Number(r.numUpdatedRows) > 0) return;
    // The migration creates the row; recreate it if someone removed it, then take the lock.
    await trx.insertInto('settings').values({ key: STORE_LOCK_KEY, value: '-', updated_at: now }).onConflict((oc) => oc.column('key').doNothing()).execute();
    await trx.updateTable('settings').set({ updated_at: now }).where('key', '=', STORE_LOCK_KEY).execute();
  }

  // ---- free space ------------------------------------------------------------------------

  async freeBytes(): Promise<number> {
    await this.ready();
    const s = await fs.promises.statfs(this.dir);
    return s.bavail * s.bsize;
  }

  /** Throws 507 insufficient_storage when a capture of `missingBytes` new (uncompressed) bytes does not fit. */
  async checkSpace(missingBytes: number): Promise<{ needBytes: number; freeBytes: number }> {
    const free = await this.freeBytes();
    const need = Math.ceil(missingBytes * this.allowance) + this.reserveBytes;
    if (free < need) {
      throw new AppError(
        507,
        'insufficient_storage',
        `not enough free space in the image store (${this.dir}) for this capture: it needs about ${gib(need)} free ` +
          `(${gib(missingBytes)} of new data, stored compressed at about ${Math.round(this.allowance * 100)} %, plus ${gib(this.reserveBytes)} kept free) ` +
          `and ${gib(free)} are free. Delete image versions you no longer need and run the garbage collection (POST /api/v1/images/gc), or give the store a larger disk.`,
      );
    }
    return { needBytes: need, freeBytes: free };
  }

  // ---- chunks ----------------------------------------------------------------------------

  /** Size of the chunk's file, or null when it is absent. */
  async fileSize(hash: string): Promise<number | null> {
    try {
      return (await fs.promises.stat(this.chunkPath(hash))).size;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return null;
      throw err;
    }
  }

  /**
   * The hashes among `hashes` that are present: a row and a file. A row whose file vanished (removed
   * by hand, or a GC interrupted between its file removal and its commit) counts as missing, so the
   * next capture uploads it again.
   */
  async present(hashes: string[], db: Kysely<DB> = this.db): Promise<Map<string, { size: number; storedSize: number }>> {
    const rows = new Map<string, number>();
    for (const batch of batches(hashes, IN_BATCH)) {
      for (const r of await db.selectFrom('chunks').select(['hash', 'size']).where('hash', 'in', batch).execute()) rows.set(r.hash, r.size);
    }
    const out = new Map<string, { size: number; storedSize: number }>();
    await eachLimit([...rows.keys()], 32, async (hash) => {
      const stored = await this.fileSize(hash);
      if (stored !== null) out.set(hash, { size: rows.get(hash)!, storedSize: stored });
    });
    return out;
  }

  /**
   * Keeps one uploaded chunk: refuses a frame larger than chunkSize + 64 KiB, decompresses it (at most
   * chunkSize bytes), checks the SHA-256, then writes it durably and records it. Nothing is kept when
   * a check fails. 'present' when the store already had it.
   */
  async putChunk(hash: string, frame: Buffer, chunkSize: number): Promise<'stored' | 'present'> {
    if (!HASH_PATTERN.test(hash)) throw new AppError(400, 'bad_hash', 'a chunk hash is 64 lowercase hexadecimal digits (SHA-256)');
    if (frame.length === 0) throw new AppError(422, 'bad_chunk', `chunk ${hash}: the upload is empty`);
    if (frame.length > chunkSize + CHUNK_UPLOAD_MARGIN) {
      throw new AppError(413, 'chunk_too_large', `chunk ${hash}: ${frame.length} bytes is more than a ${chunkSize}-byte chunk can take compressed`);
    }
    await this.ready();
    const row = await this.db.selectFrom('chunks').select('hash').where('hash', '=', hash).executeTakeFirst();
    if (row && (await this.fileSize(hash)) !== null) return 'present';
    let raw: Buffer;
    try {
      raw = await zstdDecompress(frame, chunkSize);
    } catch (err) {
      if (err instanceof ZstdError) throw new AppError(422, 'bad_chunk', `chunk ${hash}: ${err.message}; nothing was kept, upload it again`);
      throw err;
    }
    const actual = sha256Hex(raw);
    if (actual !== hash) {
      throw new AppError(422, 'hash_mismatch', `chunk ${hash}: its decompressed bytes hash to ${actual}; nothing was kept (a transfer or client error: read and upload it again)`);
    }
    await this.writeDurable(this.chunkPath(hash), frame);
    const now = nowIso();
    await this.db
      .insertInto('chunks')
      .values({ hash, size: raw.length, stored_size: frame.length, created_at: now, verified_at: now })
      // A row whose file had vanished now describes the file just written.
      .onConflict((oc) => oc.column('hash').doUpdateSet({ size: raw.length, stored_size: frame.length, verified_at: now }))
      .execute();
    return 'stored';
  }

  /** Re-reads, decompresses and hashes each chunk; sets verified_at on the good ones. */
  async verifyHashes(hashes: string[], maxSize: number): Promise<VerifyResult> {
    await this.ready();
    const rows = new Map<string, number>();
    for (const batch of batches(hashes, IN_BATCH)) {
      for (const r of await this.db.selectFrom('chunks').select(['hash', 'size']).where('hash', 'in', batch).execute()) rows.set(r.hash, r.size);
    }
    const bad: BadChunk[] = [];
    const good: string[] = [];
    await eachLimit(hashes, this.verifyConcurrency, async (hash) => {
      const size = rows.get(hash);
      if (size === undefined) {
        bad.push({ hash, reason: 'missing', detail: 'not in the store (no record of it)' });
        return;
      }
      let frame: Buffer;
      try {
        frame = await fs.promises.readFile(this.chunkPath(hash));
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
    const now = nowIso();
    for (const batch of batches(good, IN_BATCH)) await this.db.updateTable('chunks').set({ verified_at: now }).where('hash', 'in', batch).execute();
    bad.sort((a, b) => a.hash.localeCompare(b.hash));
    return { ok: bad.length === 0, checked: hashes.length, bad };
  }

  /** Every distinct chunk of a version, re-read and checked. */
  async verifyVersion(versionId: number): Promise<VerifyResult> {
    const version = await this.db.selectFrom('image_versions').select(['id', 'chunk_size']).where('id', '=', versionId).executeTakeFirst();
    if (!version) throw new AppError(404, 'not_found', `image version ${versionId} does not exist`);
    const hashes = (await this.db.selectFrom('image_version_chunks').select('hash').where('version_id', '=', versionId).orderBy('hash').execute()).map((r) => r.hash);
    return this.verifyHashes(hashes, version.chunk_size);
  }

  // ---- garbage collection ----------------------------------------------------------------

  /**
   * Removes what no capturing or ready version needs: chunk rows and their files (in batches, each
   * holding the store lock and re-selecting its candidates, so it is safe while captures run), chunk
   * files without a row, stale temporary files, and manifests of failed or deleted versions.
   */
  async gc(): Promise<GcResult> {
    await this.ready();
    const out: GcResult = { removedChunks: 0, freedBytes: 0, orphanFiles: 0, tmpFiles: 0, manifests: 0, abandonedCaptures: 0 };

    // A capturing version whose task is over or gone (its PC was deleted) will never be committed.
    out.abandonedCaptures = await this.db.transaction().execute(async (trx) => {
      await this.lock(trx);
      const r = await trx
        .updateTable('image_versions')
        .set({ state: 'failed', error: 'its capture task ended or was removed before the capture was committed' })
        .where('state', '=', 'capturing')
        .where((eb) =>
          eb.or([
            eb('task_id', 'is', null),
            eb.not(eb.exists(eb.selectFrom('tasks').select(sql<number>`1`.as('one')).whereRef('tasks.id', '=', 'image_versions.task_id').where('tasks.state', 'in', ['pending', 'running']))),
          ]),
        )
        .executeTakeFirst();
      return Number(r.numUpdatedRows);
    });

    for (;;) {
      const batch = await this.db.transaction().execute(async (trx) => {
        await this.lock(trx);
        const rows = await trx
          .selectFrom('chunks as c')
          .select(['c.hash', 'c.stored_size'])
          .where((eb) =>
            eb.not(
              eb.exists(
                eb
                  .selectFrom('image_version_chunks as ivc')
                  .innerJoin('image_versions as v', 'v.id', 'ivc.version_id')
                  .select(sql<number>`1`.as('one'))
                  .whereRef('ivc.hash', '=', 'c.hash')
                  .where('v.state', 'in', ['capturing', 'ready']),
              ),
            ),
          )
          .orderBy('c.hash')
          .limit(GC_BATCH)
          .execute();
        if (rows.length === 0) return 0;
        await trx.deleteFrom('chunks').where('hash', 'in', rows.map((r) => r.hash)).execute();
        // Files go while the lock is held: no registration can meanwhile be told they exist. Should
        // the commit fail after this, the rows stay without files, which `present` reports as missing.
        for (const r of rows) out.freedBytes += await this.unlinkSize(this.chunkPath(r.hash));
        return rows.length;
      });
      out.removedChunks += batch;
      if (batch < GC_BATCH) break;
    }

    // Failed and deleted versions protect nothing: their chunk lists can go.
    await this.db
      .deleteFrom('image_version_chunks')
      .where('version_id', 'in', this.db.selectFrom('image_versions').select('id').where('state', 'in', ['failed', 'deleted']))
      .execute();

    await this.sweepOrphanChunks(out);
    await this.sweepTmp(out);
    await this.sweepManifests(out);
    return out;
  }

  private async unlinkSize(file: string): Promise<number> {
    try {
      const { size } = await fs.promises.lstat(file);
      await fs.promises.unlink(file);
      return size;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return 0;
      throw err;
    }
  }

  private async listDir(dir: string): Promise<string[]> {
    try {
      return await fs.promises.readdir(dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
  }

  /**
   * Chunk files without a row, older than an hour. Moved to tmp/ first, then removed only if what was
   * moved is still the old file: an upload of the same chunk that landed meanwhile is put back.
   */
  private async sweepOrphanChunks(out: GcResult): Promise<void> {
    const cutoff = Date.now() - STALE_FILE_MS;
    for (const sub of (await this.listDir(this.chunksDir)).filter((d) => /^[0-9a-f]{2}$/.test(d))) {
      const names = (await this.listDir(path.join(this.chunksDir, sub))).filter((n) => /^[0-9a-f]{64}\.zst$/.test(n) && n.startsWith(sub));
      for (const batch of batches(names, IN_BATCH)) {
        const hashes = batch.map((n) => n.slice(0, 64));
        const known = new Set((await this.db.selectFrom('chunks').select('hash').where('hash', 'in', hashes).execute()).map((r) => r.hash));
        for (const hash of hashes.filter((h) => !known.has(h))) {
          const file = this.chunkPath(hash);
          const before = await fs.promises.lstat(file).catch(() => null);
          if (!before || before.mtimeMs > cutoff) continue;
          const trash = path.join(this.tmpDir, `gc-${hash}-${randomBytes(4).toString('hex')}`);
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
    for (const name of await this.listDir(this.tmpDir)) {
      const file = path.join(this.tmpDir, name);
      const st = await fs.promises.lstat(file).catch(() => null);
      if (!st?.isFile() || st.mtimeMs > cutoff) continue;
      out.freedBytes += await this.unlinkSize(file);
      out.tmpFiles++;
    }
  }

  /** Published manifests of failed or deleted versions, pending ones of versions no longer capturing. */
  private async sweepManifests(out: GcResult): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      // Under the lock: a registration writes its pending manifest inside its own locked transaction.
      await this.lock(trx);
      const files = (await this.listDir(this.manifestsDir))
        .map((name) => ({ name, m: /^(\d{1,15})(\.pending)?\.json$/.exec(name) }))
        .filter((f) => f.m !== null)
        .map((f) => ({ name: f.name, id: Number(f.m![1]), pending: f.m![2] !== undefined }));
      const states = new Map<number, string>();
      for (const batch of batches([...new Set(files.map((f) => f.id))], IN_BATCH)) {
        for (const r of await trx.selectFrom('image_versions').select(['id', 'state']).where('id', 'in', batch).execute()) states.set(r.id, r.state);
      }
      const cutoff = Date.now() - STALE_FILE_MS;
      for (const f of files) {
        const state = states.get(f.id);
        const file = path.join(this.manifestsDir, f.name);
        let dead: boolean;
        if (state === undefined) dead = ((await fs.promises.lstat(file).catch(() => null))?.mtimeMs ?? Infinity) < cutoff;
        else dead = f.pending ? state !== 'capturing' : state === 'failed' || state === 'deleted';
        if (!dead) continue;
        out.freedBytes += await this.unlinkSize(file);
        out.manifests++;
      }
    });
  }
}
