// The image store: content-addressed chunks and manifests under config.imagesDir, and the `chunks`
// table that says which chunks are present (this module is its only writer). Garbage collection and
// verification live in maintenance.ts; durable writes in core/durable.ts.
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
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import { nowIso, type DB } from '../core/db/index.js';
import { transactionWith, type Durability } from '../core/db/durability.js';
import { isErrno, unlinkSize, writeDurable } from '../core/durable.js';
import { AppError } from '../core/errors.js';
import type { SettingsStore } from '../core/settings.js';
import { HASH_PATTERN } from './format.js';
import { ZstdError, zstdDecompress } from './zstd.js';

export const STORE_LOCK_KEY = 'imaging.store_lock';
export const GIB = 1024 ** 3;
/** Bytes a zstd frame may exceed its chunk's size by (incompressible data, frame and block headers). */
export const CHUNK_UPLOAD_MARGIN = 64 * 1024;
/** Files in tmp/, and chunk files without a row, younger than this are left alone by GC (an upload may own them). */
export const STALE_FILE_MS = 3600_000;
const IN_BATCH = 500;

export interface StoreOptions {
  /** Bytes a capture must leave free on the store's filesystem (default 1 GiB). */
  reserveBytes?: number;
  /** Share of the uncompressed new data a capture is expected to take on disk (default 0.6). */
  compressionAllowance?: number;
  /** Chunks read and checked at the same time by verify (default 4). */
  verifyConcurrency?: number;
}

export const sha256Hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** 1.23 GiB, for messages people read. */
export function gib(bytes: number): string {
  const v = bytes / GIB;
  return `${v < 10 ? v.toFixed(2) : v.toFixed(1)} GiB`;
}

export function* batches<T>(list: T[], size: number): Generator<T[]> {
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

/** The checks of an upload before anything is kept: a SHA-256 name, a frame neither empty nor larger than the chunk can take. */
export function checkUpload(hash: string, frame: Buffer, chunkSize: number): void {
  if (!HASH_PATTERN.test(hash)) throw new AppError(400, 'bad_hash', 'a chunk hash is 64 lowercase hexadecimal digits (SHA-256)');
  if (frame.length === 0) throw new AppError(422, 'bad_chunk', `chunk ${hash}: the upload is empty`);
  if (frame.length > chunkSize + CHUNK_UPLOAD_MARGIN) {
    throw new AppError(413, 'chunk_too_large', `chunk ${hash}: ${frame.length} bytes is more than a ${chunkSize}-byte chunk can take compressed`);
  }
}

export class ImageStore {
  readonly chunksDir: string;
  readonly tmpDir: string;
  readonly manifestsDir: string;
  private readonly reserveBytes: number;
  private readonly allowance: number;
  readonly verifyConcurrency: number;
  private dirs: Promise<void> | undefined;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly settings: Pick<SettingsStore, 'lock'>,
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
    await writeDurable(this.tmpDir, final, data);
  }

  /** The manifest a capture posted, kept until its commit. */
  readPending(versionId: number): Promise<string> {
    return fs.promises.readFile(this.pendingManifestPath(versionId), 'utf8');
  }

  /** Whether a capture's pending manifest was written (a streaming capture has none before its end). */
  async hasPending(versionId: number): Promise<boolean> {
    return fs.promises.access(this.pendingManifestPath(versionId)).then(
      () => true,
      () => false,
    );
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
    await this.settings.lock(trx, STORE_LOCK_KEY);
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
    const rows = await this.rows(hashes, db);
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
    checkUpload(hash, frame, chunkSize);
    await this.ready();
    if (await this.has(hash)) return 'present';
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

  /**
   * Records chunks whose files are in place (fsynced, renamed, directory fsynced) and whose content was
   * checked. 'relaxed' (the intake): a row lost to a power cut leaves its chunk missing, never wrong
   * (core/db/durability.ts).
   */
  async recordChunks(chunks: Array<{ hash: string; size: number; storedSize: number }>, durability: Durability = 'durable'): Promise<void> {
    const now = nowIso();
    await transactionWith(this.db, durability, (trx) =>
      trx
        .insertInto('chunks')
        .values(chunks.map((c) => ({ hash: c.hash, size: c.size, stored_size: c.storedSize, created_at: now, verified_at: now })))
        // A row whose file had vanished now describes the file just written.
        .onConflict((oc) => oc.column('hash').doUpdateSet((eb) => ({ size: eb.ref('excluded.size'), stored_size: eb.ref('excluded.stored_size'), verified_at: now })))
        .execute(),
    );
  }

  /** Whether the store holds the chunk: a row and a file. */
  async has(hash: string): Promise<boolean> {
    const row = await this.db.selectFrom('chunks').select('hash').where('hash', '=', hash).executeTakeFirst();
    return !!row && (await this.fileSize(hash)) !== null;
  }

  /** Size and hash of each of `hashes` that has a row (present or not on disk). */
  async rows(hashes: string[], db: Kysely<DB> = this.db): Promise<Map<string, number>> {
    const rows = new Map<string, number>();
    for (const batch of batches(hashes, IN_BATCH)) {
      for (const r of await db.selectFrom('chunks').select(['hash', 'size']).where('hash', 'in', batch).execute()) rows.set(r.hash, r.size);
    }
    return rows;
  }

  /**
   * Forgets chunks found corrupt or unreadable: their rows go and their files are moved to tmp/
   * (removed by the next garbage collection after an hour), so the next capture that holds the same
   * data uploads it again instead of being told it is present.
   */
  async forget(hashes: string[]): Promise<void> {
    await this.ready();
    for (const batch of batches(hashes, IN_BATCH)) await this.db.deleteFrom('chunks').where('hash', 'in', batch).execute();
    for (const hash of hashes) {
      try {
        await fs.promises.rename(this.chunkPath(hash), path.join(this.tmpDir, `damaged-${hash}`));
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    }
  }

  /** Records that these chunks were re-read and found good. */
  async markVerified(hashes: string[]): Promise<void> {
    const now = nowIso();
    for (const batch of batches(hashes, IN_BATCH)) await this.db.updateTable('chunks').set({ verified_at: now }).where('hash', 'in', batch).execute();
  }

  /**
   * Up to `limit` chunk rows no capturing or ready version references (call under the store lock);
   * their rows are deleted and their files removed while the lock is held, so no capture registration
   * can meanwhile be told they exist. Should the commit fail after this, the rows stay without files,
   * which `present` reports as missing. Returns how many rows went and the bytes freed.
   */
  async removeUnreferenced(trx: Kysely<DB>, limit: number): Promise<{ removed: number; freedBytes: number }> {
    const rows = await trx
      .selectFrom('chunks as c')
      .select(['c.hash'])
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('image_version_chunks as ivc')
              .innerJoin('image_versions as v', 'v.id', 'ivc.version_id')
              .select(sql<number>`1`.as('one'))
              .whereRef('ivc.hash', '=', 'c.hash')
              .where('v.state', 'in', ['capturing', 'ready', 'damaged']),
          ),
        ),
      )
      .orderBy('c.hash')
      .limit(limit)
      .execute();
    if (rows.length === 0) return { removed: 0, freedBytes: 0 };
    await trx.deleteFrom('chunks').where('hash', 'in', rows.map((r) => r.hash)).execute();
    let freedBytes = 0;
    for (const r of rows) freedBytes += await unlinkSize(this.chunkPath(r.hash));
    return { removed: rows.length, freedBytes };
  }
}
