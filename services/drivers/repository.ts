// The `driver_packs` table: every query on it, and its only writer.
import type { Kysely } from 'kysely';
import { nowIso, type DB } from '../core/db/index.js';
import type { DriverPackTable } from '../core/db/schema.js';
import type { Selectable } from 'kysely';

export type DriverPackRow = Selectable<DriverPackTable>;

export interface DriverPackView {
  id: number;
  name: string;
  vendor: string;
  model: string;
  sizeBytes: number;
  sha256: string;
  state: DriverPackRow['state'];
  /** Bytes of the archive the appliance holds (uploading: resume from there). */
  receivedBytes: number;
  files: number;
  unpackedBytes: number;
  error: string | null;
  createdAt: string;
  updatedAt: string;
}

export const toView = (r: DriverPackRow, receivedBytes: number): DriverPackView => ({
  id: r.id,
  name: r.name,
  vendor: r.vendor,
  model: r.model,
  sizeBytes: Number(r.size_bytes),
  sha256: r.sha256,
  state: r.state,
  receivedBytes,
  files: Number(r.files),
  unpackedBytes: Number(r.unpacked_bytes),
  error: r.error,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class DriverPackRepository {
  constructor(private readonly db: Kysely<DB>) {}

  list(db: Kysely<DB> = this.db): Promise<DriverPackRow[]> {
    return db.selectFrom('driver_packs').selectAll().orderBy('id').execute();
  }

  listReady(db: Kysely<DB> = this.db): Promise<DriverPackRow[]> {
    return db.selectFrom('driver_packs').selectAll().where('state', '=', 'ready').orderBy('id').execute();
  }

  get(id: number, db: Kysely<DB> = this.db): Promise<DriverPackRow | undefined> {
    return db.selectFrom('driver_packs').selectAll().where('id', '=', id).executeTakeFirst();
  }

  byName(name: string, db: Kysely<DB> = this.db): Promise<DriverPackRow | undefined> {
    return db.selectFrom('driver_packs').selectAll().where('name', '=', name).executeTakeFirst();
  }

  async create(p: { name: string; vendor: string; model: string; sizeBytes: number; sha256: string }, db: Kysely<DB> = this.db): Promise<number> {
    const now = nowIso();
    const row = await db
      .insertInto('driver_packs')
      .values({ name: p.name, vendor: p.vendor, model: p.model, size_bytes: p.sizeBytes, sha256: p.sha256, state: 'uploading', error: null, created_at: now, updated_at: now })
      .returning('id')
      .executeTakeFirstOrThrow();
    return Number(row.id);
  }

  async setState(id: number, state: DriverPackRow['state'], extra: { files?: number; unpackedBytes?: number; error?: string | null } = {}, db: Kysely<DB> = this.db): Promise<void> {
    await db
      .updateTable('driver_packs')
      .set({
        state,
        updated_at: nowIso(),
        ...(extra.files !== undefined ? { files: extra.files } : {}),
        ...(extra.unpackedBytes !== undefined ? { unpacked_bytes: extra.unpackedBytes } : {}),
        ...(extra.error !== undefined ? { error: extra.error } : {}),
      })
      .where('id', '=', id)
      .execute();
  }

  async setRule(id: number, rule: { vendor?: string; model?: string; name?: string }, db: Kysely<DB> = this.db): Promise<void> {
    await db.updateTable('driver_packs').set({ ...rule, updated_at: nowIso() }).where('id', '=', id).execute();
  }

  async remove(id: number, db: Kysely<DB> = this.db): Promise<void> {
    await db.deleteFrom('driver_packs').where('id', '=', id).execute();
  }
}
