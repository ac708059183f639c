// The `settings` table as a small key/value store (boot signing key, registration window).
import type { Kysely } from 'kysely';
import { nowIso, type DB } from '../../core/db/index.js';

export const SETTING_SIGNING_KEY = 'boot.signing_key';
export const SETTING_REGISTRATION_UNTIL = 'boot.registration_until';

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
}
