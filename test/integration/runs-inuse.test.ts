// "Skip PCs in use" on real sockets: a PC is a network namespace joined to the test's own namespace
// by a veth pair (a /29 of the test's own, removed at the end). A listener on TCP 3389 inside it
// plays a Windows PC someone is using; an address of the /29 that nobody holds plays a powered-off
// PC (ARP gets no answer: the connect times out). The run goes through the real run worker on
// BullMQ (real Redis) and a real SQLite file, with the worker's real probe (jobs/inuse.ts). Needs
// root (namespaces, veth).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { randomBytes, randomInt } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { urlRedis, type RedisHandle } from '../../services/core/redis.js';
import { inUseProbe, probeHost, tcpAnswer } from '../../services/jobs/inuse.js';
import { startRunWorker } from '../../services/jobs/runs.js';
import type { RunView } from '../../services/runs/service.js';
import { REDIS_URL } from '../support/env.js';
import { publishVersion } from '../support/runs.js';
import { openTestServices, type TestServices } from '../support/services.js';

const isRoot = process.getuid?.() === 0;
const actor = { userId: null, name: 'tech', ip: null };
const log = pino({ level: process.env.ROOMCAST_TEST_LOG ?? 'silent' });
const id = randomBytes(3).toString('hex');
const NS = `rciu${id}`;
const HOST_IF = `rciu${id}h`;
const net3 = `10.199.${randomInt(1, 250)}`;
const HOST_IP = `${net3}.1`;
/** The PC in use: a listener on 3389. */
const BUSY_IP = `${net3}.2`;
/** Nobody holds it: a powered-off PC. */
const OFF_IP = `${net3}.3`;
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

describe.skipIf(!isRoot)('room runs skip the PCs in use (real sockets, real worker, real Redis)', () => {
  let s: TestServices;
  let redis: RedisHandle;
  let prefix: string;
  let listener: ChildProcess | undefined;
  let imageId: number;

  beforeAll(async () => {
    ip('netns', 'add', NS);
    ip('link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', 'pc0', 'netns', NS);
    ip('addr', 'add', `${HOST_IP}/29`, 'dev', HOST_IF);
    ip('link', 'set', HOST_IF, 'up');
    ip('-n', NS, 'addr', 'add', `${BUSY_IP}/29`, 'dev', 'pc0');
    ip('-n', NS, 'link', 'set', 'lo', 'up');
    ip('-n', NS, 'link', 'set', 'pc0', 'up');
    const code = `require('node:net').createServer((c) => c.end()).listen(3389, '0.0.0.0', () => console.log('ready'));`;
    listener = spawn('ip', ['netns', 'exec', NS, process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the listener did not start')), 10_000);
      listener!.stdout!.on('data', (b: Buffer) => {
        if (b.toString().includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    s = await openTestServices('sqlite');
    prefix = `rciu${id}`;
    redis = urlRedis(REDIS_URL, prefix);
    const ref = await s.inventory.createHost(actor, { name: 'REF', mac: '02:00:00:00:07:99', roomId: null });
    imageId = (await s.catalogue.createImage(actor, { name: 'Windows 11' })).id;
    await publishVersion(s, imageId, ref);
  }, 30_000);

  afterAll(async () => {
    listener?.kill('SIGKILL');
    for (const args of [['link', 'del', HOST_IF], ['netns', 'del', NS]]) {
      try {
        ip(...args);
      } catch {
        /* already gone */
      }
    }
    const r = new Redis(REDIS_URL);
    const keys = await r.keys(`${prefix}:*`);
    if (keys.length) await r.del(...keys);
    await r.quit();
    await s?.close();
  });

  it('the probe: a listener is open, a closed port of a host that is up is refused (in use too), an address nobody holds gives no answer', async () => {
    expect(await tcpAnswer(BUSY_IP, 3389, 1000)).toBe('open');
    expect(await tcpAnswer(BUSY_IP, 445, 1000)).toBe('refused');
    expect(await tcpAnswer(OFF_IP, 3389, 500)).toBeNull();
    // An open port wins over the refused ones, whatever their order.
    expect(await probeHost(BUSY_IP, [135, 445, 3389, 22], 1000)).toEqual({ address: BUSY_IP, port: 3389, answer: 'open' });
    // Nothing listens at all, but the host is up: it answers with resets.
    const closed = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const port = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(port));
      });
    });
    expect(await probeHost('127.0.0.1', [closed], 1000)).toEqual({ address: '127.0.0.1', port: closed, answer: 'refused' });
    expect(await probeHost(OFF_IP, [135, 445, 3389, 22], 500)).toBeNull();
  });

  it('a run that skips PCs in use: the PC in use is skipped with its reason (FR and EN) and no task; the powered-off PC and the one that network-booted since the run started are restored (here: given up, nobody boots them)', async () => {
    const roomId = (await s.inventory.createRoom(actor, { name: 'B205' })).id;
    const busy = await s.inventory.createHost(actor, { name: 'B205-01', mac: '02:00:00:00:07:01', ip: BUSY_IP, roomId });
    const off = await s.inventory.createHost(actor, { name: 'B205-02', mac: '02:00:00:00:07:02', ip: OFF_IP, roomId });
    // Same address as the busy one, but its boot client said hello after the run started: roomcast's.
    const ours = await s.inventory.createHost(actor, { name: 'B205-03', mac: '02:00:00:00:07:03', ip: BUSY_IP, roomId });
    await s.database.db.updateTable('hosts').set({ last_seen_at: new Date(Date.now() + 3_600_000).toISOString() }).where('id', '=', ours.id).execute();
    const worker = await startRunWorker(
      { redis, runs: s.runs, tasks: s.tasks, events: s.events, log },
      { wol: { interfaces: [], addresses: [] }, pollMs: 200, inUse: inUseProbe({ hosts: s.hosts, tasks: s.tasks, log }, { timeoutMs: 500 }) },
    );
    try {
      const run = await s.runs.create(actor, { roomId, imageId, steps: ['restore', 'verify'], wakeAttempts: 1, wakeTimeoutMinutes: 0.01, wakePerSecond: 20 });
      await worker.queue.enqueue(run);
      let view: RunView = run;
      const end = Date.now() + 30_000;
      while ((view = await s.runs.view(run.id)).state === 'running' && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      expect(view.state).toBe('done');
      const by = new Map(view.pcs.map((p) => [p.hostId, p]));
      expect(by.get(busy.id)).toMatchObject({ state: 'skipped', taskId: null, reason: { code: 'in_use', text: expect.stringContaining('answers on the network (port 3389)') } });
      for (const h of [off, ours]) expect(by.get(h.id), h.name).toMatchObject({ state: 'failed', reason: { code: 'did_not_boot' } });
      expect(await s.tasks.list({ hostId: busy.id, kind: 'restore' })).toHaveLength(0);
      const report = await s.runs.report(run.id);
      const skipped = report.pcs.find((p) => p.hostName === 'B205-01')!;
      expect(skipped.reason).toEqual({
        code: 'in_use',
        fr: "en cours d'utilisation : répond sur le réseau (port 3389) et n'a pas démarré sur le réseau depuis le début de la restauration ; il n'a pas été touché",
        en: 'in use: it answers on the network (port 3389) and has not network-booted since the run started; it was left as it is',
      });
      // With skipInUse off, the same PC in use is not probed and goes ahead.
      const again = await s.runs.create(actor, { hostIds: [busy.id], imageId, steps: ['restore', 'verify'], skipInUse: false, wakeAttempts: 1, wakeTimeoutMinutes: 0.01 });
      await worker.queue.enqueue(again);
      const end2 = Date.now() + 30_000;
      while ((view = await s.runs.view(again.id)).state === 'running' && Date.now() < end2) await new Promise((r) => setTimeout(r, 100));
      expect(view.pcs[0]).toMatchObject({ state: 'failed', reason: { code: 'did_not_boot' } });
    } finally {
      await worker.stop();
    }
  }, 90_000);
});
