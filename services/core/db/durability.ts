// How hard a commit waits for the disk, and the SQLite statements kept compiled.
//
// Rules:
// - A transaction is durable by default: on SQLite (WAL, synchronous = FULL) its commit returns once
//   the log is on the disk; on PostgreSQL once the WAL is flushed (synchronous_commit on). A committed
//   import, a published image version, a task's end survive a power cut, not only a killed process.
// - A *relaxed* transaction is one whose loss on a power cut costs nothing, because what it records is
//   recorded again later anyway: a streaming capture's chunk announcements (the manifest at the end
//   records the whole list again and asks the store again), a checked chunk's row (a chunk without its
//   row is missing: the commit lists it and the client uploads it again), a client's progress report
//   (the next one replaces it). It commits without waiting for the disk: SQLite synchronous = NORMAL
//   for that one commit, PostgreSQL `SET LOCAL synchronous_commit = off`. It is as atomic and
//   isolated as any other, and a killed process loses nothing of it (the log is in the kernel's
//   cache); only a power cut can lose it, and then only with everything committed after it up to the
//   next durable commit: both logs are written in order, so a durable commit makes every relaxed one
//   before it durable too. A version published (durable) never refers to a lost chunk row.
// - Why: every durable commit blocks the api's event loop on an fsync (better-sqlite3 is
//   synchronous): one per announced window and per group of checked chunks, hundreds per capture,
//   while the uploads it should be reading wait.
import { CompiledQuery, SqliteAdapter, type Kysely, type SqliteDatabase } from 'kysely';
import type SQLite from 'better-sqlite3';

export type Durability = 'durable' | 'relaxed';

const isSqlite = <DB>(db: Kysely<DB>) => db.getExecutor().adapter instanceof SqliteAdapter;

/**
 * Runs `fn` in a transaction of the given durability (see the rules above). On SQLite the transaction
 * holds the one connection from the pragma before it to the pragma after it, so no other commit runs
 * with the relaxed setting.
 */
export async function transactionWith<DB, T>(db: Kysely<DB>, durability: Durability, fn: (trx: Kysely<DB>) => Promise<T>): Promise<T> {
  if (durability === 'durable') return db.transaction().execute(fn);
  if (!isSqlite(db)) {
    return db.transaction().execute(async (trx) => {
      await trx.executeQuery(CompiledQuery.raw('set local synchronous_commit = off'));
      return fn(trx);
    });
  }
  return db.connection().execute(async (conn) => {
    await conn.executeQuery(CompiledQuery.raw('pragma synchronous = normal'));
    try {
      return await conn.transaction().execute(fn);
    } finally {
      await conn.executeQuery(CompiledQuery.raw('pragma synchronous = full'));
    }
  });
}

/**
 * The better-sqlite3 database as Kysely sees it, with its statements kept compiled: Kysely prepares
 * every query it runs, and compiling the same SQL again costs more than running it (a lookup by
 * primary key: about a third of a millisecond, most of it the compile). The `max` most recently used
 * statements are kept; SQLite recompiles a kept one by itself when the schema changed under it.
 */
export function withStatementCache(sqlite: SQLite.Database, max = 256): SqliteDatabase {
  const kept = new Map<string, SQLite.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(sqlText: string) {
      let stmt = kept.get(sqlText);
      if (stmt) {
        kept.delete(sqlText); // most recently used last
      } else {
        stmt = sqlite.prepare(sqlText);
        if (kept.size >= max) kept.delete(kept.keys().next().value!);
      }
      kept.set(sqlText, stmt);
      return stmt;
    },
  };
}
