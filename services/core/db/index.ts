// Opens the database (SQLite file by default, PostgreSQL when configured) and runs migrations.
import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { CompiledQuery, Kysely, Migrator, PostgresDialect, SqliteDialect, SqliteDriver, sql, type DatabaseConnection, type Driver, type MigrationProvider, type SqliteDialectConfig } from 'kysely';
import pg from 'pg';
import type { Config } from '../config.js';
import { redactUrl } from '../url.js';
import type { Logger } from '../logger.js';
import { withStatementCache } from './durability.js';
import { migrations, type Dialect } from './migrations.js';
import type { DB } from './schema.js';

export type { DB } from './schema.js';
export type { Dialect } from './migrations.js';

export interface Database {
  db: Kysely<DB>;
  dialect: Dialect;
  /** A short description without credentials, for logs and health. */
  describe: string;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * SQLite transactions that take the write lock when they begin (BEGIN IMMEDIATE). The api and the worker
 * are separate processes on one file under Docker Compose: a plain (deferred) BEGIN that read first and
 * then writes, while the other process wrote, fails at once with "database is locked" (SQLITE_BUSY,
 * the busy timeout cannot help a transaction whose snapshot is stale); an immediate one waits its turn.
 */
class SqliteImmediateDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}
class SqliteImmediateDialect extends SqliteDialect {
  constructor(private readonly config: SqliteDialectConfig) {
    super(config);
  }
  override createDriver(): Driver {
    return new SqliteImmediateDriver(this.config);
  }
}

export function openDatabase(cfg: Config['database']): Database {
  if (cfg.kind === 'sqlite') {
    fs.mkdirSync(path.dirname(cfg.file), { recursive: true });
    const sqlite = new SQLite(cfg.file);
    sqlite.pragma('journal_mode = WAL');
    // FULL: a committed import survives a power cut, not only a killed process.
    sqlite.pragma('synchronous = FULL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 10000');
    const db = new Kysely<DB>({ dialect: new SqliteImmediateDialect({ database: withStatementCache(sqlite) }) });
    return {
      db,
      dialect: 'sqlite',
      describe: `sqlite:${cfg.file}`,
      ping: async () => {
        await sql`select 1`.execute(db);
      },
      close: () => db.destroy(),
    };
  }
  // pg returns int8 (count(*)) as a string; our counts fit in a JS number.
  pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));
  const pool = new pg.Pool({ connectionString: cfg.url, max: 10, connectionTimeoutMillis: 5000 });
  // An idle client losing its server must not crash the process; the next query reports it.
  pool.on('error', () => {});
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    dialect: 'postgres',
    describe: redactUrl(cfg.url),
    ping: async () => {
      await sql`select 1`.execute(db);
    },
    close: () => db.destroy(),
  };
}

/** Applies pending migrations; returns the names applied. Throws with the failing migration's name. */
export async function migrateToLatest(database: Database, log?: Logger): Promise<string[]> {
  const all = migrations(database.dialect);
  const provider: MigrationProvider = { getMigrations: async () => all };
  const migrator = new Migrator({ db: database.db, provider, migrationTableName: 'schema_migrations', migrationLockTableName: 'schema_migrations_lock' });
  const { error, results } = await migrator.migrateToLatest();
  const applied = (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  const failed = (results ?? []).find((r) => r.status === 'Error');
  if (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${reason}`);
  }
  for (const name of applied) log?.info({ migration: name }, 'database migration applied');
  return applied;
}

export function nowIso(): string {
  return new Date().toISOString();
}
