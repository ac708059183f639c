// Two processes on one SQLite file (the api and the worker under Docker Compose): a transaction that
// reads and then writes must not fail because the other wrote in between. roomcast's transactions
// begin IMMEDIATE (services/core/db/index.ts): they hold the write lock from their start, so the other
// writer waits for it instead; with a deferred BEGIN the transaction's write failed at once with
// SQLITE_BUSY ("database is locked"), which runs-crash.test.ts met as a PC's hello answered 500.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { afterAll, expect, it } from 'vitest';
import { openDatabase } from '../../services/core/db/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-sqlite-writers-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

it('a read-then-write transaction holds the write lock from its start; the other writer waits, nothing fails', async () => {
  const file = path.join(dir, 'shared.db');
  const ours = openDatabase({ kind: 'sqlite', file });
  // The other process's connection (here in this process, with a short busy timeout so the test does not block).
  const other = new SQLite(file);
  other.pragma('busy_timeout = 50');
  try {
    await sql`create table counter (n integer not null)`.execute(ours.db);
    await sql`insert into counter (n) values (0)`.execute(ours.db);
    let otherWrote: unknown = 'not tried';
    await ours.db.transaction().execute(async (trx) => {
      const { rows } = await sql<{ n: number }>`select n from counter`.execute(trx);
      try {
        other.prepare('update counter set n = n + 100').run();
        otherWrote = 'wrote';
      } catch (err) {
        otherWrote = (err as { code?: string }).code;
      }
      await sql`update counter set n = ${rows[0]!.n + 1}`.execute(trx);
    });
    // The other writer had to wait (its short timeout ran out here); ours committed.
    expect(otherWrote).toBe('SQLITE_BUSY');
    other.prepare('update counter set n = n + 100').run();
    expect(other.prepare('select n from counter').get()).toEqual({ n: 101 });
  } finally {
    other.close();
    await ours.close();
  }
});
