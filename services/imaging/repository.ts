// The image catalogue's tables — `images`, `image_versions` and `image_version_chunks` — every query on
// them and their only writer. The catalogue (people), the capture protocol (clients), the capture task
// kind and the store's maintenance all change versions through here; each change of a version's state
// tells an event through the caller's outbox (emitted after its commit).
import { sql, type Kysely } from 'kysely';
import { nowIso, type DB } from '../core/db/index.js';
import type { Image, ImageVersion, ImageVersionState } from '../core/db/schema.js';
import type { Tx } from '../core/events.js';

export type VersionRow = ImageVersion & { source_host_name: string | null };

/** What a capture's manifest says about its version. */
export interface CaptureStats {
  chunk_size: number;
  disk_bytes: number;
  used_bytes: number;
  stored_bytes: number;
  chunk_count: number;
}

const INSERT_BATCH = 500;
/** Hashes per grouped query of markDamaged (well under SQLite's and PostgreSQL's bound parameters). */
const HASH_BATCH = 5000;

export class ImageRepository {
  constructor(private readonly db: Kysely<DB>) {}

  // ---- images ---------------------------------------------------------------------------------

  images(db: Kysely<DB> = this.db, onlyId?: number): Promise<Image[]> {
    let q = db.selectFrom('images').selectAll().orderBy((eb) => eb.fn('lower', ['name']));
    if (onlyId !== undefined) q = q.where('id', '=', onlyId);
    return q.execute();
  }

  image(id: number, db: Kysely<DB> = this.db): Promise<Pick<Image, 'id' | 'name'> | undefined> {
    return db.selectFrom('images').select(['id', 'name']).where('id', '=', id).executeTakeFirst();
  }

  /** The image named `name`, any case. */
  imageNamed(name: string, db: Kysely<DB> = this.db): Promise<Pick<Image, 'id' | 'name'> | undefined> {
    return db.selectFrom('images').select(['id', 'name']).where((eb) => eb(eb.fn('lower', ['name']), '=', name.toLowerCase())).executeTakeFirst();
  }

  async insertImage(trx: Kysely<DB>, name: string, description: string | null): Promise<number> {
    const now = nowIso();
    const row = await trx.insertInto('images').values({ name, description, created_at: now, updated_at: now }).returning('id').executeTakeFirstOrThrow();
    return row.id;
  }

  private async touchImage(trx: Kysely<DB>, imageId: number): Promise<void> {
    await trx.updateTable('images').set({ updated_at: nowIso() }).where('id', '=', imageId).execute();
  }

  // ---- versions: reads ------------------------------------------------------------------------

  private versionViews(db: Kysely<DB>) {
    return db.selectFrom('image_versions').leftJoin('hosts', 'hosts.id', 'image_versions.source_host_id').selectAll('image_versions').select('hosts.name as source_host_name');
  }

  /** Versions of every image (or of one), newest first within each image. */
  versions(db: Kysely<DB> = this.db, imageId?: number): Promise<VersionRow[]> {
    let q = this.versionViews(db).orderBy('image_versions.image_id').orderBy('image_versions.number', 'desc');
    if (imageId !== undefined) q = q.where('image_versions.image_id', '=', imageId);
    return q.execute();
  }

  versionByNumber(imageId: number, number: number, db: Kysely<DB> = this.db): Promise<VersionRow | undefined> {
    return this.versionViews(db).where('image_versions.image_id', '=', imageId).where('image_versions.number', '=', number).executeTakeFirst();
  }

  version(id: number, db: Kysely<DB> = this.db): Promise<ImageVersion | undefined> {
    return db.selectFrom('image_versions').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** The newest ready version of an image, or a given number in any state. */
  restorable(imageId: number, number: number | undefined, db: Kysely<DB> = this.db): Promise<Pick<ImageVersion, 'id' | 'number' | 'state'> | undefined> {
    let q = db.selectFrom('image_versions').select(['id', 'number', 'state']).where('image_id', '=', imageId);
    q = number === undefined ? q.where('state', '=', 'ready').orderBy('number', 'desc').limit(1) : q.where('number', '=', number);
    return q.executeTakeFirst();
  }

  /** The version a capture task is making (capturing, or ready once committed). */
  captureOf(taskId: number, db: Kysely<DB> = this.db): Promise<ImageVersion | undefined> {
    return db.selectFrom('image_versions').selectAll().where('task_id', '=', taskId).where('state', 'in', ['capturing', 'ready']).orderBy('id', 'desc').executeTakeFirst();
  }

  /** The capturing version of a task, when `hash` is in its chunk list. */
  capturingWithChunk(taskId: number, hash: string): Promise<Pick<ImageVersion, 'id' | 'chunk_size'> | undefined> {
    return this.db
      .selectFrom('image_versions as v')
      .innerJoin('image_version_chunks as ivc', 'ivc.version_id', 'v.id')
      .select(['v.id', 'v.chunk_size'])
      .where('v.task_id', '=', taskId)
      .where('v.state', '=', 'capturing')
      .where('ivc.hash', '=', hash)
      .executeTakeFirst();
  }

  async hasChunk(versionId: number, hash: string): Promise<boolean> {
    return Boolean(await this.db.selectFrom('image_version_chunks').select('hash').where('version_id', '=', versionId).where('hash', '=', hash).executeTakeFirst());
  }

  /** The distinct chunk hashes of a version, sorted. */
  async chunkHashes(versionId: number): Promise<string[]> {
    return (await this.db.selectFrom('image_version_chunks').select('hash').where('version_id', '=', versionId).orderBy('hash').execute()).map((r) => r.hash);
  }

  /** The state of each of these versions (those that exist). */
  async states(ids: number[], db: Kysely<DB> = this.db): Promise<Map<number, ImageVersionState>> {
    const out = new Map<number, ImageVersionState>();
    for (let i = 0; i < ids.length; i += INSERT_BATCH) {
      for (const r of await db.selectFrom('image_versions').select(['id', 'state']).where('id', 'in', ids.slice(i, i + INSERT_BATCH)).execute()) out.set(r.id, r.state);
    }
    return out;
  }

  // ---- versions: writes -----------------------------------------------------------------------

  /** A new capturing version (next number of its image) with its chunk list. */
  async insertCapturing(
    tx: Tx,
    v: { imageId: number; notes: string | null; createdBy: string; sourceHostId: number; source: { mac: string; serial: string | null; ip: string | null }; taskId: number; stats: CaptureStats; hashes: string[] },
  ): Promise<{ id: number; number: number }> {
    const max = await tx.trx.selectFrom('image_versions').select((eb) => eb.fn.max('number').as('n')).where('image_id', '=', v.imageId).executeTakeFirst();
    const number = Number(max?.n ?? 0) + 1;
    const row = await tx.trx
      .insertInto('image_versions')
      .values({
        image_id: v.imageId,
        number,
        state: 'capturing',
        notes: v.notes,
        created_by: v.createdBy,
        source_host_id: v.sourceHostId,
        source_mac: v.source.mac,
        source_serial: v.source.serial,
        source_ip: v.source.ip,
        task_id: v.taskId,
        ...v.stats,
        manifest_sha256: null,
        error: null,
        created_at: nowIso(),
        published_at: null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await this.insertChunkList(tx.trx, row.id, v.hashes);
    tx.out.add('image.version.changed', { imageId: v.imageId, versionId: row.id, number, state: 'capturing' });
    return { id: row.id, number };
  }

  /** The same capture posted again (its client restarted): new figures and chunk list. */
  async recapture(tx: Tx, versionId: number, stats: CaptureStats, hashes: string[]): Promise<void> {
    await tx.trx.deleteFrom('image_version_chunks').where('version_id', '=', versionId).execute();
    await tx.trx.updateTable('image_versions').set({ ...stats, error: null }).where('id', '=', versionId).execute();
    await this.insertChunkList(tx.trx, versionId, hashes);
  }

  /**
   * A streaming capture names more of its chunks (protocol.ts announceChunks): added to the capturing
   * version's list (those already there are kept), so the store's GC keeps them from now on.
   */
  async addChunks(tx: Tx, versionId: number, hashes: string[]): Promise<void> {
    for (let i = 0; i < hashes.length; i += INSERT_BATCH) {
      await tx.trx
        .insertInto('image_version_chunks')
        .values(hashes.slice(i, i + INSERT_BATCH).map((hash) => ({ version_id: versionId, hash })))
        .onConflict((oc) => oc.columns(['version_id', 'hash']).doNothing())
        .execute();
    }
  }

  private async insertChunkList(trx: Kysely<DB>, versionId: number, hashes: string[]): Promise<void> {
    for (let i = 0; i < hashes.length; i += INSERT_BATCH) {
      await trx
        .insertInto('image_version_chunks')
        .values(hashes.slice(i, i + INSERT_BATCH).map((hash) => ({ version_id: versionId, hash })))
        .execute();
    }
  }

  /** capturing → ready; false when it was no longer capturing (cancelled meanwhile). */
  async publish(tx: Tx, v: Pick<ImageVersion, 'id' | 'image_id' | 'number'>, figures: { storedBytes: number; chunkCount: number; manifestSha256: string; windows?: string | null }): Promise<boolean> {
    const now = nowIso();
    const r = await tx.trx
      .updateTable('image_versions')
      .set({ state: 'ready', published_at: now, stored_bytes: figures.storedBytes, chunk_count: figures.chunkCount, manifest_sha256: figures.manifestSha256, error: null, ...(figures.windows !== undefined ? { windows: figures.windows } : {}) })
      .where('id', '=', v.id)
      .where('state', '=', 'capturing')
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) return false;
    await this.touchImage(tx.trx, v.image_id);
    tx.out.add('image.version.published', { imageId: v.image_id, versionId: v.id, number: v.number, state: 'ready' });
    return true;
  }

  /** Fails the capturing versions of a task (cancelled or failed): never offered, chunks collectable unless shared. */
  async failCapturesOf(tx: Tx, taskId: number, why: string): Promise<Array<Pick<ImageVersion, 'id' | 'image_id' | 'number'>>> {
    const versions = await tx.trx.selectFrom('image_versions').select(['id', 'image_id', 'number']).where('task_id', '=', taskId).where('state', '=', 'capturing').execute();
    for (const v of versions) {
      await tx.trx.updateTable('image_versions').set({ state: 'failed', error: why }).where('id', '=', v.id).where('state', '=', 'capturing').execute();
      tx.out.add('image.version.changed', { imageId: v.image_id, versionId: v.id, number: v.number, state: 'failed' });
    }
    return versions;
  }

  /**
   * Marks damaged every ready version that references one of `hashes` (a chunk found missing or
   * corrupt is missing from all of them): one grouped query finds the versions and how many of the
   * distinct hashes each holds (per batch of HASH_BATCH hashes: one query for any usual report), and
   * each version is changed once, guarded by its state, so a version reported twice (the same hash
   * twice, or two reports racing) gets one change, one event and, from the caller, one alert.
   * Returns the versions it changed.
   */
  async markDamaged(tx: Tx, hashes: string[], why: (v: { image: string; number: number; bad: number }) => string): Promise<Array<Pick<ImageVersion, 'id' | 'image_id' | 'number'> & { image: string; bad: number; error: string }>> {
    const distinct = [...new Set(hashes)];
    const hit = new Map<number, { id: number; image_id: number; number: number; image: string; bad: number }>();
    for (let i = 0; i < distinct.length; i += HASH_BATCH) {
      const rows = await tx.trx
        .selectFrom('image_version_chunks as ivc')
        .innerJoin('image_versions as v', 'v.id', 'ivc.version_id')
        .innerJoin('images as i', 'i.id', 'v.image_id')
        .select(['v.id', 'v.image_id', 'v.number', 'i.name as image'])
        .select((eb) => eb.fn.count<number>('ivc.hash').distinct().as('bad'))
        .where('v.state', '=', 'ready')
        .where('ivc.hash', 'in', distinct.slice(i, i + HASH_BATCH))
        .groupBy(['v.id', 'v.image_id', 'v.number', 'i.name'])
        .execute();
      for (const r of rows) {
        const seen = hit.get(r.id);
        if (seen) seen.bad += Number(r.bad);
        else hit.set(r.id, { ...r, bad: Number(r.bad) });
      }
    }
    const out = [];
    for (const v of [...hit.values()].sort((a, b) => a.id - b.id)) {
      const error = why({ image: v.image, number: v.number, bad: v.bad });
      const r = await tx.trx.updateTable('image_versions').set({ state: 'damaged', error }).where('id', '=', v.id).where('state', '=', 'ready').executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) continue; // damaged (or deleted) by another writer meanwhile
      await this.touchImage(tx.trx, v.image_id);
      tx.out.add('image.version.changed', { imageId: v.image_id, versionId: v.id, number: v.number, state: 'damaged' });
      out.push({ id: v.id, image_id: v.image_id, number: v.number, image: v.image, bad: v.bad, error });
    }
    return out;
  }

  /** damaged → ready, when a verify found every chunk of it present and intact again. */
  async markWhole(tx: Tx, v: Pick<ImageVersion, 'id' | 'image_id' | 'number'>): Promise<boolean> {
    const r = await tx.trx.updateTable('image_versions').set({ state: 'ready', error: null }).where('id', '=', v.id).where('state', '=', 'damaged').executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) return false;
    await this.touchImage(tx.trx, v.image_id);
    tx.out.add('image.version.changed', { imageId: v.image_id, versionId: v.id, number: v.number, state: 'ready' });
    return true;
  }

  async setNotes(trx: Kysely<DB>, versionId: number, notes: string | null): Promise<void> {
    await trx.updateTable('image_versions').set({ notes }).where('id', '=', versionId).execute();
  }

  async markDeleted(tx: Tx, v: Pick<ImageVersion, 'id' | 'image_id' | 'number'>): Promise<void> {
    await tx.trx.updateTable('image_versions').set({ state: 'deleted' }).where('id', '=', v.id).execute();
    await this.touchImage(tx.trx, v.image_id);
    tx.out.add('image.version.changed', { imageId: v.image_id, versionId: v.id, number: v.number, state: 'deleted' });
  }

  /** Capturing versions whose task is over or gone (its PC was deleted): they will never be committed. */
  async failAbandonedCaptures(tx: Tx): Promise<number> {
    const abandoned = await tx.trx
      .selectFrom('image_versions')
      .select(['id', 'image_id', 'number'])
      .where('state', '=', 'capturing')
      .where((eb) =>
        eb.or([
          eb('task_id', 'is', null),
          eb.not(eb.exists(eb.selectFrom('tasks').select(sql<number>`1`.as('one')).whereRef('tasks.id', '=', 'image_versions.task_id').where('tasks.state', 'in', ['pending', 'running']))),
        ]),
      )
      .execute();
    for (const v of abandoned) {
      await tx.trx.updateTable('image_versions').set({ state: 'failed', error: 'its capture task ended or was removed before the capture was committed' }).where('id', '=', v.id).where('state', '=', 'capturing').execute();
      tx.out.add('image.version.changed', { imageId: v.image_id, versionId: v.id, number: v.number, state: 'failed' });
    }
    return abandoned.length;
  }

  /** Failed and deleted versions protect no chunk: their chunk lists go. */
  async dropDeadChunkLists(): Promise<void> {
    await this.db
      .deleteFrom('image_version_chunks')
      .where('version_id', 'in', this.db.selectFrom('image_versions').select('id').where('state', 'in', ['failed', 'deleted']))
      .execute();
  }
}
