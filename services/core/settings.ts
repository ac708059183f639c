// The `settings` table as a small key/value store, and its only writer. Each domain names its own
// keys next to its code (boot.signing_key, boot.registration_until, imaging.store_lock).
import type { Kysely } from 'kysely';
import { nowIso, type DB } from './db/index.js';

export class SettingsStore {
  constructor(private readonly db: Kysely<DB>) {}

  async get(key: string, db: Kysely<DB> = this.db): Promise<string | undefined> {
    const row = await db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
    return row?.value;
  }

  async set(key: string, value: string, db: Kysely<DB> = this.db): Promise<void> {
    const now = nowIso();
    await db
      .insertInto('settings')
      .values({ key, value, updated_at: now })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at: now }))
      .execute();
  }

  /** Stores `value` unless the key exists; returns the value that is stored afterwards (first writer wins). */
  async setIfAbsent(key: string, value: string): Promise<string> {
    await this.db.insertInto('settings').values({ key, value, updated_at: nowIso() }).onConflict((oc) => oc.column('key').doNothing()).execute();
    const stored = await this.get(key);
    if (stored === undefined) throw new Error(`setting ${key} vanished right after it was written`);
    return stored;
  }

  async delete(key: string, db: Kysely<DB> = this.db): Promise<void> {
    await db.deleteFrom('settings').where('key', '=', key).execute();
  }

  /**
   * A row lock held until `trx` ends: an UPDATE of the key's row (PostgreSQL keeps the row lock to the
   * end of the transaction; SQLite holds its single write lock). The row is made when missing.
   */
  async lock(trx: Kysely<DB>, key: string): Promise<void> {
    const now = nowIso();
    const r = await trx.updateTable('settings').set({ updated_at: now }).where('key', '=', key).executeTakeFirst();
    if (Number(r.numUpdatedRows) > 0) return;
    await trx.insertInto('settings').values({ key, value: '-', updated_at: now }).onConflict((oc) => oc.column('key').doNothing()).execute();
    await trx.updateTable('settings').set({ updated_at: now }).where('key', '=', key).execute();
  }
}
