// Starts the real roomcast (api + worker roles) against a real database and the real Redis, on a free port.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import type { Logger } from '../../services/core/logger.js';
import { loadConfig } from '../../services/core/config.js';
import type { BuildOptions, Container } from '../../services/container.js';
import { start } from '../../services/main.js';
import { PG_ADMIN_URL, REDIS_URL, type TestDialect } from './env.js';

let counter = 0;

/** A fresh database: a temporary SQLite file, or a throwaway PostgreSQL database named after this run. */
export async function createTestDatabase(dialect: TestDialect, dir: string): Promise<{ url: string; drop: () => Promise<void> }> {
  if (dialect === 'sqlite') return { url: `sqlite:${path.join(dir, 'test.db')}`, drop: async () => {} };
  const name = `rc_t_${process.env.ROOMCAST_TEST_RUN ?? 'x'}_${process.pid}_${++counter}_${randomBytes(2).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`create database "${name}"`);
  await admin.end();
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`drop database if exists "${name}" with (force)`);
      await c.end();
    },
  };
}

export interface TestApp {
  url: string;
  /** The services of the running app (its database, events, tasks…), for setting up what HTTP cannot. */
  container: Container;
  dataDir: string;
  databaseUrl: string;
  adminPassword: string;
  stop(): Promise<void>;
}

export const TEST_ADMIN_PASSWORD = 'admin-test-password-1';

/** `opts.kinds`: task kinds beyond the built-in ones, registered in this app only; `opts.log`: the app's logger (a test that reads the log lines). */
export async function startTestApp(dialect: TestDialect, env: Record<string, string> = {}, opts: BuildOptions & { log?: Logger } = {}): Promise<TestApp> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-test-'));
  const database = await createTestDatabase(dialect, dataDir);
  const config = loadConfig({
    ROOMCAST_ROLES: 'api,worker',
    ROOMCAST_DATA_DIR: dataDir,
    ROOMCAST_DATABASE_URL: database.url,
    ROOMCAST_REDIS_URL: REDIS_URL,
    ROOMCAST_REDIS_PREFIX: `rct${randomBytes(4).toString('hex')}`,
    ROOMCAST_HTTP_HOST: '127.0.0.1',
    ROOMCAST_HTTP_PORT: '0',
    ROOMCAST_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD,
    // Where PCs reach this api: the iPXE scripts' URLs come from it (http://127.0.0.1:<port>).
    ROOMCAST_BOOT_IP: '127.0.0.1',
    // Runs with the wake step are refused without a Wake-on-LAN target; here the packets stay on loopback.
    ROOMCAST_WOL_ADDRESSES: '127.0.0.1',
    ...env,
  });
  const { log = pino({ level: process.env.ROOMCAST_TEST_LOG ?? 'silent' }), ...build } = opts;
  const running = await start(config, log, build);
  return {
    url: `http://127.0.0.1:${running.port}`,
    container: running.container!,
    dataDir,
    databaseUrl: database.url,
    adminPassword: config.adminPassword ?? '',
    stop: async () => {
      await running.stop();
      await database.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
