// Runs once per test run: checks that the real Redis and PostgreSQL are there, and drops this run's
// throwaway PostgreSQL databases afterwards.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';
import { PG_ADMIN_URL, REDIS_URL } from './env.js';

function reachable(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect({ host: u.hostname, port: Number(u.port) }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
    s.setTimeout(2000, () => {
      s.destroy();
      resolve(false);
    });
  });
}

export default async function setup() {
  const missing: string[] = [];
  if (!(await reachable(REDIS_URL))) missing.push(`Redis at ${REDIS_URL} (start it: redis-server --daemonize yes, or set ROOMCAST_TEST_REDIS_URL)`);
  if (!(await reachable(PG_ADMIN_URL))) missing.push(`PostgreSQL at ${PG_ADMIN_URL} (start it, or set ROOMCAST_TEST_PG_URL)`);
  if (missing.length) throw new Error(`the integration tests need real services; not reachable:\n  ${missing.join('\n  ')}\n(.ci/run starts them)`);
  const run = randomBytes(4).toString('hex');
  process.env.ROOMCAST_TEST_RUN = run;
  return async () => {
    const client = new pg.Client({ connectionString: PG_ADMIN_URL });
    await client.connect();
    const { rows } = await client.query<{ datname: string }>('select datname from pg_database where datname like $1', [`rc_t_${run}_%`]);
    for (const r of rows) await client.query(`drop database if exists "${r.datname}" with (force)`);
    await client.end();
  };
}
