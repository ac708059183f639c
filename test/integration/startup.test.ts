// roomcast as a real process: configuration errors, the embedded redis-server, the one-time admin
// password, and kill -9 in the middle of an import (all or nothing), on SQLite and PostgreSQL.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/client.js';
import { createTestDatabase } from '../support/app.js';
import { DIALECTS } from '../support/env.js';
import { schoolCsv } from '../support/csv.js';
import { launch } from '../support/run-procs.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const MAIN = path.join(ROOT, 'services/main.ts');

function runToExit(env: Record<string, string>) {
  return spawnSync(process.execPath, ['--import', 'tsx', MAIN], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 30_000 });
}

const tmpDirs: string[] = [];
function dataDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-start-'));
  tmpDirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of tmpDirs) {
    // Make sure no embedded redis-server outlives the test.
    const pidFile = path.join(d, 'redis', 'redis.pid');
    if (fs.existsSync(pidFile)) {
      try {
        process.kill(Number(fs.readFileSync(pidFile, 'utf8')), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    fs.rmSync(d, { recursive: true, force: true });
  }
});

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('starting roomcast', () => {
  it('stops on a bad setting with one line naming the variable and what is expected', () => {
    const r = runToExit({ ROOMCAST_HTTP_PORT: 'huit-mille', ROOMCAST_DATA_DIR: dataDir() });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual(['roomcast: invalid ROOMCAST_HTTP_PORT="huit-mille": expected a TCP port number (1-65535)']);

    const roles = runToExit({ ROOMCAST_ROLES: 'api,dhcp', ROOMCAST_DATA_DIR: dataDir() });
    expect(roles.status).toBe(2);
    expect(roles.stderr).toMatch(/^roomcast: invalid ROOMCAST_ROLES="api,dhcp": expected a comma-separated list of api, boot, worker \(got "dhcp"\)\n$/);

    const split = runToExit({ ROOMCAST_ROLES: 'worker', ROOMCAST_DATA_DIR: dataDir() });
    expect(split.status).toBe(2);
    expect(split.stderr).toContain('missing ROOMCAST_REDIS_URL');
  });

  it('refuses to start without redis-server and says how to fix it', async () => {
    const p = launch({ ROOMCAST_DATA_DIR: dataDir(), ROOMCAST_REDIS_SERVER: '/nonexistent/redis-server' });
    expect(await p.exited).toBe(1);
    const fatal = p.lines().find((l) => l.level === 60);
    expect(String(fatal?.msg)).toContain('apt-get install redis-server');
    expect(String(fatal?.msg)).toContain('ROOMCAST_REDIS_URL');
  });

  it('on an empty data directory: embedded Redis with AOF, a one-time admin password that logs in once and must be changed', async () => {
    const dir = dataDir();
    const p = launch({ ROOMCAST_DATA_DIR: dir });
    try {
      const pw = String((await p.waitFor((l) => String(l.msg).includes('one-time password'))).msg).match(/one-time password (\S+)/)![1]!;
      const port = (await p.waitFor((l) => typeof l.port === 'number' && String(l.msg).startsWith('api listening'))).port;
      await p.waitFor((l) => l.msg === 'roomcast started');
      const c = new ApiClient(`http://127.0.0.1:${port}`);
      const health = await c.get('/api/health');
      expect(health.body).toMatchObject({ status: 'ok', redis: { status: 'up', embedded: true }, database: { dialect: 'sqlite' } });
      expect(fs.existsSync(path.join(dir, 'roomcast.db'))).toBe(true);
      expect(fs.readdirSync(path.join(dir, 'redis')).some((f) => f.startsWith('appendonly') || f === 'appendonlydir')).toBe(true);
      const redisPid = Number(fs.readFileSync(path.join(dir, 'redis', 'redis.pid'), 'utf8'));

      expect((await c.login('admin', pw)).status).toBe(200);
      const blocked = await c.get('/api/v1/rooms');
      expect(blocked.body.code).toBe('password_change_required');
      expect((await c.post('/api/v1/auth/password', { currentPassword: pw, newPassword: 'short' })).body.code).toBe('weak_password');
      expect((await c.post('/api/v1/auth/password', { currentPassword: pw, newPassword: 'a-better-password-42' })).status).toBe(204);
      expect((await c.get('/api/v1/rooms')).status).toBe(200);
      expect((await new ApiClient(c.base).login('admin', pw)).status).toBe(401);
      // The password is in the log exactly once, and nowhere else.
      expect(p.lines().filter((l) => JSON.stringify(l).includes(pw))).toHaveLength(1);

      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      expect(isAlive(redisPid)).toBe(false);
    } finally {
      p.child.kill('SIGKILL');
    }
  });
});

async function importOnce(env: Record<string, string>, csv: Buffer, killAfterMs?: number) {
  const p = launch(env);
  const port = (await p.waitFor((l) => String(l.msg).startsWith('api listening'))).port;
  const c = new ApiClient(`http://127.0.0.1:${port}`);
  await c.login('admin', String(env.ROOMCAST_ADMIN_PASSWORD));
  const started = performance.now();
  let answeredAfter: number | undefined;
  const inFlight = c.post('/api/v1/hosts/import', csv).then(
    (r) => {
      if (r.status === 200) answeredAfter = performance.now() - started;
    },
    () => {},
  );
  if (killAfterMs === undefined) await inFlight;
  else await sleep(killAfterMs);
  p.child.kill('SIGKILL');
  await p.exited;
  await inFlight;
  return answeredAfter;
}

async function countAfterRestart(env: Record<string, string>) {
  const q = launch(env);
  const port = (await q.waitFor((l) => String(l.msg).startsWith('api listening'))).port;
  const d = new ApiClient(`http://127.0.0.1:${port}`);
  await d.login('admin', String(env.ROOMCAST_ADMIN_PASSWORD));
  const hosts = (await d.get('/api/v1/hosts')).body.length as number;
  const rooms = (await d.get('/api/v1/rooms')).body.length as number;
  q.child.kill('SIGTERM');
  await q.exited;
  return { hosts, rooms };
}

describe.each(DIALECTS)('kill -9 during an import on %s', (dialect) => {
  it('leaves all of the import or none of it', async () => {
    const csv = schoolCsv({ rooms: 40, perRoom: 250, badLines: false, encoding: 'utf-8' });
    const envFor = async () => {
      const dir = dataDir();
      const db = await createTestDatabase(dialect, dir);
      return { env: { ROOMCAST_DATA_DIR: dir, ROOMCAST_DATABASE_URL: db.url, ROOMCAST_ADMIN_PASSWORD: 'kill-test-password' }, drop: db.drop };
    };
    // First, how long a whole import of 10,000 PCs takes here; then kill at fractions of that.
    const reference = await envFor();
    const full = await importOnce(reference.env, csv.buffer);
    await reference.drop();
    expect(full, 'the reference import did not complete').toBeDefined();

    const target = await envFor();
    try {
      const outcomes: Array<{ at: number; hosts: number; answered: boolean }> = [];
      for (const fraction of [0.5, 0.8, 0.95]) {
        const at = Math.round(full! * fraction);
        const answered = (await importOnce(target.env, csv.buffer, at)) !== undefined;
        const { hosts, rooms } = await countAfterRestart(target.env);
        outcomes.push({ at, hosts, answered });
        expect([0, csv.hosts]).toContain(hosts);
        expect(rooms).toBe(hosts === 0 ? 0 : 40);
        if (answered) expect(hosts).toBe(csv.hosts);
        if (hosts > 0) break;
      }
      // At least one kill landed while the import was running, and it left nothing behind.
      expect(outcomes.some((o) => !o.answered && o.hosts === 0), JSON.stringify(outcomes)).toBe(true);
    } finally {
      await target.drop();
    }
  }, 240_000); // a reference import of 10,000 PCs and up to three killed ones with restarts: minutes on a loaded machine
});
