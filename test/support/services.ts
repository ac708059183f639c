// The services of the composition root against a real, fresh database (SQLite file or throwaway
// PostgreSQL database), without HTTP and without Redis: the middle test level (services tested
// against the database they run on, as in Immich).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { buildServices, type BuildOptions, type Services } from '../../services/container.js';
import { loadConfig } from '../../services/core/config.js';
import { migrateToLatest, openDatabase, type Database } from '../../services/core/db/index.js';
import { createTestDatabase } from './app.js';
import type { TestDialect } from './env.js';

export interface TestServices extends Services {
  database: Database;
  /** sqlite:/path/file.db or postgres://… */
  databaseUrl: string;
  dataDir: string;
  close(): Promise<void>;
}

/** `env`: settings beyond the test's own (they win). Wake-on-LAN goes to 127.0.0.1 unless `env` says otherwise (the run worker of a test is given its own targets). */
export async function openTestServices(dialect: TestDialect, opts: BuildOptions = {}, env: Record<string, string> = {}): Promise<TestServices> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-svc-'));
  const db = await createTestDatabase(dialect, dataDir);
  const config = loadConfig({ ROOMCAST_DATA_DIR: dataDir, ROOMCAST_DATABASE_URL: db.url, ROOMCAST_REDIS_URL: 'redis://127.0.0.1:1', ROOMCAST_WOL_ADDRESSES: '127.0.0.1', ...env });
  const log = pino({ level: process.env.ROOMCAST_TEST_LOG ?? 'silent' });
  const database = openDatabase(config.database);
  await migrateToLatest(database, log);
  return {
    ...buildServices(config, log, database, opts),
    database,
    databaseUrl: db.url,
    dataDir,
    close: async () => {
      await database.close();
      await db.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
