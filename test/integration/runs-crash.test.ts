// Room runs against what goes wrong in a school's night, with the real processes: the api and the
// worker started as the appliance starts them (services/main.ts, one role each) on a SQLite file and a
// real Redis; simulated PCs that answer their magic packets and play the boot client over HTTP.
// - kill -9 of the worker mid-run: a new worker takes the run over and ends it; each PC restored once.
// - Redis killed and restarted mid-run, losing everything (appendonly no) or not (appendonly yes):
//   the api and the worker ride it out, the run resumes from the database and ends.
// - Cancel of a run with PCs waking, booted and restoring: every PC and task cancelled, the restoring
//   client told to stop at its next call, no job of the run left in Redis, no temp file, no process.
// After every run: no BullMQ job of it left in Redis (waiting, delayed, active, failed, stalled, locks).
import { randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUN_QUEUES } from '../../services/jobs/runs.js';
import type { RunView } from '../../services/runs/service.js';
import { ApiClient } from '../support/client.js';
import { REDIS_URL } from '../support/env.js';
import { childrenOf, freePort, kill, launch, PrivateRedis, runLeftovers, SimRoom, type Proc, type SimPc } from '../support/run-procs.js';
import { publishVersion } from '../support/runs.js';
import { openTestServices, type TestServices } from '../support/services.js';

const actor = { userId: null, name: 'tech', ip: null };
const PASSWORD = 'crash-test-password-1';
const ORDER = ['waking', 'booted', 'restoring', 'verifying', 'done'];

/** One school: a database, a Redis prefix, the api and worker processes, a room of simulated PCs. */
class Site {
  s!: TestServices;
  prefix = `rccrash${randomBytes(4).toString('hex')}`;
  api!: Proc;
  worker!: Proc;
  admin!: ApiClient;
  room: SimRoom;
  imageId = 0;
  hosts: Array<{ id: number; mac: string; pc: SimPc }> = [];
  private procs: Proc[] = [];

  constructor(
    readonly redisUrl: string,
    readonly net: number,
  ) {
    this.room = new SimRoom(`127.${net}.${randomInt(1, 250)}.1`);
  }

  env(role: string): Record<string, string> {
    return {
      ROOMCAST_ROLES: role,
      ROOMCAST_DATA_DIR: this.s.dataDir,
      ROOMCAST_DATABASE_URL: this.s.databaseUrl,
      ROOMCAST_REDIS_URL: this.redisUrl,
      ROOMCAST_REDIS_PREFIX: this.prefix,
      ROOMCAST_ADMIN_PASSWORD: PASSWORD,
      ROOMCAST_BOOT_IP: '127.0.0.1',
      ROOMCAST_WOL_ADDRESSES: this.room.wolAddress,
      ROOMCAST_RUN_POLL_MS: '500',
      ROOMCAST_RUN_LOCK_MS: '2000',
    };
  }

  async open(pcs: Array<SimPc['mode']>, steps = 8): Promise<void> {
    this.s = await openTestServices('sqlite');
    const ref = await this.s.inventory.createHost(actor, { name: 'REF', mac: `02:${this.net.toString(16).padStart(2, '0')}:00:00:00:99`, roomId: null });
    this.imageId = (await this.s.catalogue.createImage(actor, { name: 'Windows 11' })).id;
    await publishVersion(this.s, this.imageId, ref);
    await this.addPcs(pcs, steps);
    await this.room.listen();
    this.api = this.start('api');
    const port = (await this.api.waitFor((l) => String(l.msg).startsWith('api listening'))).port as number;
    this.room.api = `http://127.0.0.1:${port}`;
    this.admin = new ApiClient(this.room.api);
    expect((await this.admin.login('admin', PASSWORD)).status).toBe(200);
    this.worker = await this.startWorker();
  }

  async addPcs(modes: Array<SimPc['mode']>, steps = 8) {
    const out: Array<{ id: number; mac: string; pc: SimPc }> = [];
    for (const mode of modes) {
      const i = this.hosts.length + 1;
      const mac = `02:${this.net.toString(16).padStart(2, '0')}:00:00:01:${i.toString(16).padStart(2, '0')}`;
      const h = await this.s.inventory.createHost(actor, { name: `PC-${i}`, mac, roomId: null });
      const host = { id: h.id, mac: h.mac, pc: this.room.add(h.mac, `127.${this.net}.${randomInt(1, 250)}.${10 + i}`, mode, steps) };
      this.hosts.push(host);
      out.push(host);
    }
    return out;
  }

  start(role: string): Proc {
    const p = launch(this.env(role));
    this.procs.push(p);
    return p;
  }

  async startWorker(): Promise<Proc> {
    const w = this.start('worker');
    await w.waitFor((l) => l.msg === 'worker role started');
    return w;
  }

  async run(hosts: Array<{ id: number }>, extra: Record<string, unknown> = {}): Promise<RunView> {
    const r = await this.admin.post('/api/v1/runs', { hostIds: hosts.map((h) => h.id), imageId: this.imageId, maxParallel: 10, wakeAttempts: 3, wakeTimeoutMinutes: 0.1, silenceTimeoutMinutes: 0.5, wakePerSecond: 5, ...extra });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body as RunView;
  }

  view(id: number) {
    return this.s.runs.view(id);
  }

  /** The run ended; then what a correct end leaves: each PC's one restore, its timeline in order, no job in Redis. */
  async ended(run: RunView, hosts: Array<{ id: number; mac: string; pc: SimPc }>, ms = 60_000): Promise<RunView> {
    let view = run;
    await until('the run to end', async () => (view = await this.view(run.id)).state !== 'running', ms, () => this.diagnose(run.id));
    await this.room.settle();
    const why = await this.diagnose(run.id);
    for (const h of hosts) {
      const tasks = (await this.s.tasks.list({ hostId: h.id, kind: 'restore' })).filter((t) => t.createdAt >= run.createdAt);
      expect(tasks, `${h.mac}: one restore task`).toHaveLength(1);
      if (h.pc.mode === 'restore' && view.state === 'done') expect(h.pc.restores, `${h.mac} restored once\n${why}`).toBe(1);
    }
    const timeline = await this.s.runs.timeline(view.pcs.map((p) => p.id));
    for (const pc of view.pcs) {
      const states = timeline.filter((t) => t.run_pc_id === pc.id).map((t) => t.state);
      const at = timeline.filter((t) => t.run_pc_id === pc.id).map((t) => t.at);
      expect(states[0], `${pc.mac}: ${states.join(' > ')}`).toBe('waking');
      expect(states.at(-1)).toBe(pc.state);
      const known = states.filter((s) => ORDER.includes(s));
      // In order, each state once (waking again is a new attempt, recorded as such).
      const steps = known.filter((s, i) => s !== 'waking' || i === 0);
      expect(steps.map((s) => ORDER.indexOf(s)), `${pc.mac}: ${states.join(' > ')}`).toEqual([...steps.map((s) => ORDER.indexOf(s))].sort((a, b) => a - b));
      expect(new Set(steps).size).toBe(steps.length);
      expect([...at].sort()).toEqual(at);
    }
    await until('no job of the run left in Redis', async () => (await runLeftovers(this.redisUrl, this.prefix, run.id)).length === 0, 15_000, async () => (await runLeftovers(this.redisUrl, this.prefix, run.id)).join('\n'));
    return view;
  }

  async diagnose(runId: number): Promise<string> {
    const v = await this.view(runId);
    return [
      JSON.stringify(v.pcs.map((p) => ({ mac: p.mac, state: p.state, reason: p.reason?.code, deadline: p.deadlineAt }))),
      ...this.hosts.map((h) => `${h.mac}: ${h.pc.log.join(' | ')}`),
      `redis: ${(await runLeftovers(this.redisUrl, this.prefix, runId).catch((e: Error) => [e.message])).join(', ')}`,
      ...this.procs.map((p) => `${p.child.pid}: ${p.lines().filter((l) => Number(l.level) >= 40).slice(-8).map((l) => JSON.stringify(l)).join('\n')}`),
    ].join('\n');
  }

  async close(): Promise<void> {
    for (const p of this.procs) await kill(p, 'SIGTERM');
    await this.room.close();
    const r = new Redis(this.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    r.on('error', () => undefined);
    try {
      await r.connect();
      const keys = await r.keys(`${this.prefix}:*`);
      if (keys.length) await r.del(...keys);
    } catch {
      /* a private server already gone */
    } finally {
      r.disconnect();
    }
    await this.s?.close();
  }
}

async function until(what: string, check: () => Promise<boolean>, ms = 30_000, explain?: () => Promise<string>) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${explain ? `\n${await explain()}` : ''}`);
}

const stateOf = async (site: Site, runId: number, mac: string) => (await site.view(runId)).pcs.find((p) => p.mac === mac)!.state;

describe('a room run survives a kill -9 of its worker; a cancel leaves nothing behind', () => {
  const site = new Site(REDIS_URL, 21);
  beforeAll(() => site.open(['restore', 'restore', 'restore', 'restore'], 12), 60_000);
  afterAll(() => site.close(), 30_000);

  it('kill -9 of the worker while PCs wake and restore: a new worker ends the run, each PC restored once', async () => {
    const hosts = site.hosts.slice(0, 4);
    const run = await site.run(hosts);
    await until('a PC restoring', async () => (await site.view(run.id)).pcs.some((p) => p.state === 'restoring'), 30_000, () => site.diagnose(run.id));
    const before = (await site.view(run.id)).pcs.map((p) => p.state);
    await kill(site.worker);
    console.log(`runs-crash: worker killed with PCs ${before.join(', ')}`);
    await sleep(500);
    site.worker = await site.startWorker();
    const view = await site.ended(run, hosts);
    expect(view.state).toBe('done');
    expect(view.pcs.map((p) => p.state)).toEqual(['done', 'done', 'done', 'done']);
    for (const p of view.pcs) expect(p).toMatchObject({ bytesDone: 12_000, bytesTotal: 12_000 });
  }, 90_000);

  it('PC jobs that failed for good while no worker ran (stalled twice, attempts spent) are added again; the run ends, each PC restored once', async () => {
    const hosts = await site.addPcs(['off', 'off']);
    const run = await site.run(hosts, { wakeTimeoutMinutes: 0.05, wakeAttempts: 10 });
    await until('both PCs waking', async () => (await site.view(run.id)).pcs.every((p) => p.state === 'waking'), 30_000, () => site.diagnose(run.id));
    await kill(site.worker);
    // What a job stalled more often than BullMQ allows (or out of attempts) ends as: failed, kept under its id.
    const conn = { connection: new Redis(site.redisUrl, { maxRetriesPerRequest: null }), prefix: site.prefix };
    const rogue = new Worker(RUN_QUEUES.pcs, async () => {
      throw new UnrecoverableError('job stalled more than allowable limit');
    }, { ...conn, lockDuration: 2000, stalledInterval: 2000 });
    const pcs = new Queue(RUN_QUEUES.pcs, conn);
    try {
      await until('the PC jobs to fail for good', async () => {
        const states = await Promise.all(run.pcs.map((p) => pcs.getJobState(`run-${run.id}-pc-${p.id}`)));
        return states.every((st) => st === 'failed');
      }, 20_000);
    } finally {
      await rogue.close();
      await pcs.close();
      conn.connection.disconnect();
    }
    for (const h of hosts) h.pc.mode = 'restore';
    site.worker = await site.startWorker();
    const view = await site.ended(run, hosts);
    expect(view.state).toBe('done');
    expect(view.pcs.map((p) => p.state)).toEqual(['done', 'done']);
  }, 90_000);

  it('cancel with PCs waking, booted and restoring: all cancelled, the client told to stop, nothing left', async () => {
    const [restoring, booted, waking] = await site.addPcs(['restore', 'script-only', 'off'], 60);
    const run = await site.run([restoring!, booted!, waking!], { wakeTimeoutMinutes: 1, wakeAttempts: 10 });
    await until('PCs waking, booted and restoring', async () => {
      const v = await site.view(run.id);
      return v.pcs.map((p) => p.state).join() === 'restoring,booted,waking';
    }, 30_000, () => site.diagnose(run.id));
    const cancelled = await site.admin.post(`/api/v1/runs/${run.id}/cancel`);
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body).toMatchObject({ state: 'cancelled', pcs: [{ state: 'cancelled' }, { state: 'cancelled' }, { state: 'cancelled' }] });
    for (const p of (await site.view(run.id)).pcs) expect(await site.s.tasks.stateOf(p.taskId!), p.mac).toBe('cancelled');
    // The restoring client hears it at its next call.
    await until('the client to stop', async () => restoring!.pc.stoppedWith !== undefined, 5000);
    expect([409, 410]).toContain(restoring!.pc.stoppedWith);
    expect(restoring!.pc.log.at(-1)).toMatch(/^stopped 4\d\d task_/);
    const view = await site.ended(run, [restoring!, booted!, waking!]);
    expect(view.state).toBe('cancelled');
    expect(await stateOf(site, run.id, waking!.mac)).toBe('cancelled');
    // Nothing on disk, and no process left behind by either role.
    const tmp: string[] = [];
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (/(^|\/)tmp\/|\.tmp$|\.partial$/.test(path.relative(site.s.dataDir, p))) tmp.push(p);
      }
    };
    walk(site.s.dataDir);
    expect(tmp).toEqual([]);
    for (const p of [site.api, site.worker]) expect(childrenOf(p.child.pid!), `children of ${p.child.pid}`).toEqual([]);
  }, 60_000);
});

describe('a room run survives a Redis restart, losing everything (appendonly no) or keeping its data (appendonly yes)', () => {
  let redis: PrivateRedis;
  let site: Site;
  beforeAll(async () => {
    const dir = fs.mkdtempSync(path.join('/tmp', 'rc-crash-redis-'));
    redis = new PrivateRedis(dir, await freePort(), false);
    await redis.start();
    site = new Site(redis.url, 22);
    await site.open([]);
  }, 60_000);
  afterAll(async () => {
    await site?.close();
    await redis?.stop();
    if (redis) fs.rmSync(redis.dir, { recursive: true, force: true });
  }, 30_000);

  // One api and one worker for both cases (process starts are most of this file's time); between
  // them, the server is restarted with AOF on, so that the second outage keeps its data.
  it.each([
    { persist: false, what: 'appendonly no' },
    { persist: true, what: 'appendonly yes' },
  ])('$what: the api and the worker ride the outage out, the run resumes and ends, each PC restored once', async ({ persist }) => {
    if (redis.persist !== persist) {
      await redis.stop();
      redis.persist = persist;
      await redis.start();
    }
    const hosts = await site.addPcs(['restore', 'restore', 'restore'], 12);
    const run = await site.run(hosts);
    await until('a PC restoring', async () => (await site.view(run.id)).pcs.some((p) => p.state === 'restoring'), 30_000, () => site.diagnose(run.id));
    await redis.stop();
    await sleep(700);
    await redis.start();
    // Well before the worker's minute reconcile: a Redis that comes back gets the runs' jobs at once.
    const view = await site.ended(run, hosts, 40_000);
    expect(view.state).toBe('done');
    expect(view.pcs.map((p) => p.state)).toEqual(['done', 'done', 'done']);
    for (const p of [site.api, site.worker]) expect(p.child.exitCode, 'the process is still running').toBeNull();
  }, 90_000);
});
