// A room run on real BullMQ (Redis) and a real SQLite file: the flow's PC jobs start the PCs (at most
// maxParallel at once), send real magic packets (to a UDP listener on 127.0.0.1 that plays the
// powered-off PCs), wake a silent PC again and give it up; the PCs that "boot" fetch their iPXE script
// through BootService and report through TaskService as the boot client would (no HTTP, no disk: the
// client's side of the restore is tested elsewhere). A worker that goes away mid-run is replaced and the run
// ends correctly, with no PC started twice; a cancelled run leaves no job behind in Redis.
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { urlRedis, type RedisHandle } from '../../services/core/redis.js';
import { startRunWorker } from '../../services/jobs/runs.js';
import type { RunView } from '../../services/runs/service.js';
import { REDIS_URL } from '../support/env.js';
import { machineOf, publishVersion } from '../support/runs.js';
import { openTestServices, type TestServices } from '../support/services.js';

const actor = { userId: null, name: 'tech', ip: null };
const log = pino({ level: process.env.ROOMCAST_TEST_LOG ?? 'silent' });

describe('room runs on BullMQ (real Redis, real SQLite, real magic packets on 127.0.0.1)', () => {
  let s: TestServices;
  let redis: RedisHandle;
  let prefix: string;
  let wolSocket: dgram.Socket;
  let wolPort: number;
  const woken: Array<{ mac: string; at: number }> = [];
  const listeners: Array<(mac: string) => void> = [];
  let roomId: number;
  let imageId: number;
  const hosts: Array<{ id: number; mac: string; name: string }> = [];

  beforeAll(async () => {
    s = await openTestServices('sqlite');
    prefix = `rcrun${randomBytes(4).toString('hex')}`;
    redis = urlRedis(REDIS_URL, prefix);
    wolSocket = dgram.createSocket('udp4');
    wolSocket.on('message', (m) => {
      if (m.length !== 102 || !m.subarray(0, 6).equals(Buffer.alloc(6, 0xff))) return;
      const mac = m.subarray(6, 12).toString('hex').match(/../g)!.join(':');
      woken.push({ mac, at: Date.now() });
      for (const l of listeners) l(mac);
    });
    await new Promise<void>((r) => wolSocket.bind(0, '127.0.0.1', r));
    wolPort = wolSocket.address().port;
    roomId = (await s.inventory.createRoom(actor, { name: 'B204' })).id;
    for (let i = 1; i <= 5; i++) {
      const h = await s.inventory.createHost(actor, { name: `B204-0${i}`, mac: `02:00:00:00:03:0${i}`, roomId });
      hosts.push({ id: h.id, mac: h.mac, name: h.name });
    }
    const ref = await s.inventory.createHost(actor, { name: 'REF', mac: '02:00:00:00:03:99', roomId: null });
    imageId = (await s.catalogue.createImage(actor, { name: 'Windows 11' })).id;
    await publishVersion(s, imageId, ref);
  });

  afterAll(async () => {
    wolSocket?.close();
    const r = new Redis(REDIS_URL);
    const keys = await r.keys(`${prefix}:*`);
    if (keys.length) await r.del(...keys);
    await r.quit();
    await s?.close();
  });

  /** A PC that boots when its magic packet arrives: fetches its script, says hello, restores, verifies, reports. */
  /** quickVerify: its read-back is too short for any turn to see (no progress report in the verify phase). */
  function bootsOnWake(mac: string, outcome: 'done' | 'fail', quickVerify = false) {
    const seen = new Set<number>();
    listeners.push((m) => {
      if (m !== mac) return;
      void (async () => {
        const host = hosts.find((h) => h.mac === mac)!;
        const task = await s.tasks.openTaskOf(host.id);
        if (!task || seen.has(task.id)) return;
        seen.add(task.id);
        const decision = await s.boot.decide(mac, 0, '127.0.0.1');
        expect(decision).toMatchObject({ script: 'client', taskId: task.id });
        await s.events.transaction(s.database.db, (tx) => s.tasks.checkIn(tx, machineOf(mac, task.id, host.id).actor, task.id, host.id, '127.0.0.1'));
        const m = machineOf(mac, task.id, host.id);
        await s.tasks.recordProgress(m, { phase: 'restore', bytesDone: 400, bytesTotal: 1000, chunksDone: 4, chunksTotal: 10, rateBytesPerSecond: 100, etaSeconds: 6 });
        await new Promise((r) => setTimeout(r, 300));
        await s.tasks.recordProgress(m, { phase: quickVerify ? 'restore' : 'verify', bytesDone: 1000, bytesTotal: 1000, chunksDone: 10, chunksTotal: 10, rateBytesPerSecond: 100, etaSeconds: 0 });
        await new Promise((r) => setTimeout(r, 300));
        if (outcome === 'done') await s.tasks.finish(m, { ok: true, details: { fetched: 10, ...(quickVerify ? { verifiedChunks: 10 } : {}) } });
        else await s.tasks.finish(m, { ok: false, reason: 'the disk sda (238 GB) is smaller than this image needs (256 GB); nothing was written', details: { code: 'disk_too_small', diskState: 'untouched' } });
      })().catch((err: unknown) => console.error('simulated PC', mac, err));
    });
  }

  async function until(what: string, check: () => Promise<boolean>, ms = 30_000) {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  const opts = () => ({ wol: { interfaces: [], addresses: ['127.0.0.1'], ports: [wolPort] }, pollMs: 200 });

  it('runs a room: PCs woken in turn, at most maxParallel at once, a silent PC woken again then given up, a failing PC with its reason, the others done', async () => {
    const [a, b, c, d, e] = hosts;
    for (const h of [a!, b!, c!, d!]) bootsOnWake(h.mac, h === d ? 'fail' : 'done', h === c);
    // e never answers its magic packets.
    const worker = await startRunWorker({ redis, runs: s.runs, tasks: s.tasks, events: s.events, log }, opts());
    try {
      const run = await s.runs.create(actor, { roomId, imageId, maxParallel: 2, wakeAttempts: 2, wakeTimeoutMinutes: 0.03, silenceTimeoutMinutes: 0.5, wakePerSecond: 10 });
      let maxActive = 0;
      const off = s.events.on('run.pc.changed', () => void s.runs.view(run.id).then((v) => (maxActive = Math.max(maxActive, (v.counts.waking ?? 0) + (v.counts.booted ?? 0) + (v.counts.restoring ?? 0) + (v.counts.verifying ?? 0)))));
      await worker.queue.enqueue(run);
      let view: RunView = run;
      await until('the run to end', async () => (view = await s.runs.view(run.id)).state !== 'running', 60_000);
      off();
      expect(view.state).toBe('done');
      const by = new Map(view.pcs.map((p) => [p.mac, p]));
      for (const h of [a!, b!, c!]) expect(by.get(h.mac), h.name).toMatchObject({ state: 'done', bytesDone: 1000, bytesTotal: 1000 });
      expect(by.get(d!.mac)).toMatchObject({ state: 'failed', reason: { code: 'disk_too_small', text: expect.stringContaining('The disk was not touched.') } });
      expect(by.get(e!.mac)).toMatchObject({ state: 'failed', wakeAttempts: 2, reason: { code: 'did_not_wake' } });
      expect(maxActive).toBeLessThanOrEqual(2);
      expect(woken.filter((w) => w.mac === e!.mac).length).toBe(6); // two attempts, each packet sent three times (one port here)
      const timeline = await s.runs.timeline([by.get(a!.mac)!.id]);
      expect(timeline.map((t) => t.state)).toEqual(['waking', 'booted', 'restoring', 'verifying', 'done']);
      // A verify phase no turn saw: the result's verified chunks put it in the timeline all the same.
      expect((await s.runs.timeline([by.get(c!.mac)!.id])).map((t) => t.state)).toEqual(['waking', 'booted', 'restoring', 'verifying', 'done']);
      // No PC started twice: one restore task per PC.
      for (const h of hosts) expect((await s.tasks.list({ hostId: h.id, kind: 'restore' })).length, h.name).toBe(1);
    } finally {
      await worker.stop();
    }
  }, 90_000);

  it('a worker that goes away mid-run is replaced and the run ends with each PC restored once; a cancelled run leaves no job in Redis', async () => {
    listeners.length = 0;
    const [a, b] = hosts;
    // a boots only once the first worker is gone (nothing listens for its packets before); b never does (cancelled later).
    const first = await startRunWorker({ redis, runs: s.runs, tasks: s.tasks, events: s.events, log }, opts());
    const run = await s.runs.create(actor, { hostIds: [a!.id], imageId, wakeAttempts: 5, wakeTimeoutMinutes: 0.02, wakePerSecond: 10 });
    await first.queue.enqueue(run);
    await until('a first magic packet', async () => woken.some((w) => w.mac === a!.mac && w.at >= Date.parse(run.createdAt) - 1000));
    // The worker goes away mid-run (closed here; runs-crash.test.ts kills -9 a worker process); its jobs stay in Redis.
    await first.stop();
    bootsOnWake(a!.mac, 'done');
    const second = await startRunWorker({ redis, runs: s.runs, tasks: s.tasks, events: s.events, log }, opts());
    try {
      await until('the run to end', async () => (await s.runs.view(run.id)).state !== 'running', 60_000);
      const view = await s.runs.view(run.id);
      expect(view).toMatchObject({ state: 'done', pcs: [{ state: 'done' }] });
      expect((await s.tasks.list({ hostId: a!.id, kind: 'restore' })).filter((t) => t.createdAt >= run.createdAt)).toHaveLength(1);

      const other = await s.runs.create(actor, { hostIds: [b!.id], imageId, wakeAttempts: 10, wakeTimeoutMinutes: 1 });
      await second.queue.enqueue(other);
      await until('b to be waking', async () => (await s.runs.view(other.id)).pcs[0]!.state === 'waking');
      const cancelled = await s.runs.cancel(actor, other.id);
      expect(cancelled).toMatchObject({ state: 'cancelled', pcs: [{ state: 'cancelled' }] });
      expect(await s.tasks.stateOf(cancelled.pcs[0]!.taskId!)).toBe('cancelled');
      const r = new Redis(REDIS_URL);
      try {
        await until('no job of the runs left in Redis', async () => {
          const keys = (await r.keys(`${prefix}:run*`)).filter((k) => /:run-\d+/.test(k));
          return keys.length === 0;
        }, 20_000);
      } finally {
        await r.quit();
      }
    } finally {
      await second.stop();
    }
  }, 120_000);

  it("a client faster than the worker's poll (its read-back between two turns) still leaves verifying in the PC's timeline", async () => {
    listeners.length = 0;
    const c = hosts[2]!;
    // A long poll: the turns come only from the task's own changes (hello, end), never in between.
    const worker = await startRunWorker({ redis, runs: s.runs, tasks: s.tasks, events: s.events, log }, { ...opts(), pollMs: 5000 });
    try {
      const run = await s.runs.create(actor, { hostIds: [c.id], imageId, steps: ['restore', 'verify'] });
      await worker.queue.enqueue(run);
      await until('the PC to wait for its boot', async () => (await s.runs.view(run.id)).pcs[0]!.state === 'waking');
      const task = (await s.tasks.openTaskOf(c.id))!;
      await s.boot.decide(c.mac, 0, '127.0.0.1');
      const m = machineOf(c.mac, task.id, c.id);
      await s.events.transaction(s.database.db, (tx) => s.tasks.checkIn(tx, m.actor, task.id, c.id, '127.0.0.1'));
      await s.tasks.recordProgress(m, { phase: 'restore', bytesDone: 1000, bytesTotal: 1000, chunksDone: 10, chunksTotal: 10, rateBytesPerSecond: 100, etaSeconds: 0 });
      await s.tasks.recordProgress(m, { phase: 'verify', bytesDone: 1000, bytesTotal: 1000, chunksDone: 10, chunksTotal: 10, rateBytesPerSecond: 100, etaSeconds: 0 });
      await s.tasks.finish(m, { ok: true, details: { verifiedChunks: 10 } });
      await until('the run to end', async () => (await s.runs.view(run.id)).state !== 'running', 20_000);
      const view = await s.runs.view(run.id);
      expect(view.pcs[0]).toMatchObject({ state: 'done' });
      expect((await s.runs.timeline([view.pcs[0]!.id])).map((t) => t.state)).toEqual(['waking', 'booted', 'restoring', 'verifying', 'done']);
    } finally {
      await worker.stop();
    }
  }, 60_000);
});
