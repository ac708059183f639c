// core/db/durability.ts on a real SQLite file and a real PostgreSQL database: a relaxed transaction
// commits without waiting for the disk for itself only (the setting is back for the next commit, also
// when it failed), is atomic like any other, and the SQLite statements kept compiled follow a schema
// change and stay bounded.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { transactionWith, withStatementCache } from '../../services/core/db/durability.js';
import { openDatabase, type Database } from '../../services/core/db/index.js';
import { createTestDatabase } from '../support/app.js';
import { DIALECTS } from '../support/env.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-durability-'));
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function open(dialect: (typeof DIALECTS)[number]): Promise<Database> {
  const made = await createTestDatabase(dialect, fs.mkdtempSync(path.join(dir, `${dialect}-`)));
  const database = openDatabase(dialect === 'sqlite' ? { kind: 'sqlite', file: made.url.replace(/^sqlite:/, '') } : { kind: 'postgres', url: made.url });
  cleanups.push(async () => {
    await database.close();
    await made.drop();
  });
  return database;
}

/** How hard this connection's next commit waits for the disk, as the database says it. */
async function setting(db: Kysely<never>, dialect: string): Promise<string> {
  if (dialect === 'sqlite') {
    const { rows } = await sql<{ synchronous: number }>`pragma synchronous`.execute(db);
    return ['off', 'normal', 'full', 'extra'][rows[0]!.synchronous]!;
  }
  const { rows } = await sql<{ synchronous_commit: string }>`show synchronous_commit`.execute(db);
  return rows[0]!.synchronous_commit;
}

describe.each(DIALECTS)('transactions of a chosen durability (%s)', (dialect) => {
  it('a relaxed one commits without waiting for the disk, for itself only, also when it fails; it stays atomic', async () => {
    const { db: typed } = await open(dialect);
    const db = typed as unknown as Kysely<never>;
    const durable = dialect === 'sqlite' ? 'full' : 'on';
    const relaxed = dialect === 'sqlite' ? 'normal' : 'off';
    await sql`create table t (n integer not null)`.execute(db);
    expect(await setting(db, dialect)).toBe(durable);

    const inside = await transactionWith(db, 'relaxed', async (trx) => {
      await sql`insert into t (n) values (1)`.execute(trx);
      return setting(trx, dialect);
    });
    expect(inside).toBe(relaxed);
    expect(await setting(db, dialect)).toBe(durable);
    expect(await transactionWith(db, 'durable', (trx) => setting(trx, dialect))).toBe(durable);

    // A relaxed transaction that throws: nothing of it is kept, and the next commit is durable again.
    await expect(
      transactionWith(db, 'relaxed', async (trx) => {
        await sql`insert into t (n) values (2)`.execute(trx);
        throw new Error('the caller changed its mind');
      }),
    ).rejects.toThrow('changed its mind');
    expect(await setting(db, dialect)).toBe(durable);
    const { rows } = await sql<{ n: number }>`select n from t order by n`.execute(db);
    expect(rows.map((r) => Number(r.n))).toEqual([1]);
  });
});

describe('SQLite statements kept compiled', () => {
  it('the same SQL gets the same statement, a schema change is followed, and at most `max` are kept', () => {
    const raw = new SQLite(path.join(dir, 'cache.db'));
    cleanups.push(async () => void raw.close());
    let compiled = 0;
    const counting = new Proxy(raw, {
      get(target, prop) {
        if (prop === 'prepare') return (s: string) => (compiled++, target.prepare(s));
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const db = withStatementCache(counting, 3);
    db.prepare('create table t (a integer)').run([]);
    db.prepare('insert into t (a) values (?)').run([1]);
    const select = db.prepare('select * from t');
    expect(select.all([])).toEqual([{ a: 1 }]);
    expect(db.prepare('select * from t')).toBe(select);
    // A column added after the statement was compiled: the kept statement sees it.
    raw.exec('alter table t add column b text');
    raw.exec("update t set b = 'x'");
    expect(db.prepare('select * from t').all([])).toEqual([{ a: 1, b: 'x' }]);
    const before = compiled;
    for (const q of ['select 1', 'select 2', 'select 3']) db.prepare(q);
    expect(compiled).toBe(before + 3);
    // 'select * from t' was the least recently used of the 3 kept: compiled again.
    db.prepare('select * from t');
    expect(compiled).toBe(before + 4);
    // 'select 3' is still kept.
    db.prepare('select 3');
    expect(compiled).toBe(before + 4);
  });
});
