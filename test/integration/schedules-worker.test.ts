// Schedules on real BullMQ (Redis) and a real SQLite file: one Job Scheduler per enabled schedule,
// replaced (never duplicated) by edits, removed when the schedule is disabled or deleted or its room
// is deleted, still there after a worker restart; a scheduler's job fires the schedule for its own
// instant and creates the run (or e-mails, through a real SMTP listener, why it did not start); the
// end of a run's window stops a running PC cleanly.
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { urlRedis, type RedisHandle } from '../../services/core/redis.js';
import { schedulerId, startScheduleWorker, type ScheduleWorker } from '../../services/jobs/schedules.js';
import { startWindowCloser } from '../../services/jobs/window-end.js';
import { ReportMailer } from '../../services/runs/mail.js';
import { nextFires } from '../../services/schedules/time.js';
import { REDIS_URL } from '../support/env.js';
import { publishVersion } from '../support/runs.js';
import { openTestServices, type TestServices } from '../support/services.js';

const actor = { userId: null, name: 'tech', ip: null };
const log = pino({ level: process.env.ROOMCAST_TEST_LOG ?? 'silent' });

async function until(what: string, check: () => Promise<boolean>, ms = 20_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('schedules on BullMQ job schedulers (real Redis, real SQLite)', () => {
  let s: TestServices;
  let redis: RedisHandle;
  let prefix: string;
  let roomId: number;
  let imageId: number;
  let smtp: SMTPServer;
  let mailer: ReportMailer;
  const mails: string[] = [];

  beforeAll(async () => {
    s = await openTestServices('sqlite');
    prefix = `rcsched${randomBytes(4).toString('hex')}`;
    redis = urlRedis(REDIS_URL, prefix);
    roomId = (await s.inventory.createRoom(actor, { name: 'B204' })).id;
    for (let i = 1; i <= 2; i++) await s.inventory.createHost(actor, { name: `B204-0${i}`, mac: `02:00:00:00:06:0${i}`, roomId });
    const ref = await s.inventory.createHost(actor, { name: 'REF', mac: '02:00:00:00:06:99', roomId: null });
    imageId = (await s.catalogue.createImage(actor, { name: 'Windows 11' })).id;
    await publishVersion(s, imageId, ref);
    smtp = new SMTPServer({
      disabledCommands: ['STARTTLS'],
      authOptional: true,
      onData: (stream, _session, cb) => {
        const parts: Buffer[] = [];
        stream.on('data', (b: Buffer) => parts.push(b));
        stream.on('end', () => {
          mails.push(Buffer.concat(parts).toString('utf8'));
          cb();
        });
      },
    });
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
    const port = (smtp.server.address() as AddressInfo).port;
    mailer = new ReportMailer({ smtpUrl: `smtp://127.0.0.1:${port}`, from: 'roomcast@school.test', to: ['rn@school.test'], lang: 'fr' }, log);
  });

  afterAll(async () => {
    mailer?.close();
    await new Promise<void>((r) => (smtp ? smtp.close(() => r()) : r()));
    const r = new Redis(REDIS_URL);
    const keys = await r.keys(`${prefix}:*`);
    if (keys.length) await r.del(...keys);
    await r.quit();
    await s?.close();
  });

  const start = () => startScheduleWorker({ redis, schedules: s.schedules, events: s.events, log }, { mailer, syncMs: 3_600_000 });
  const schedulers = async (w: ScheduleWorker) => (await w.queue.getJobSchedulers(0, -1)).map((j) => ({ key: j.key, pattern: j.pattern, tz: j.tz, next: j.next }));

  it('keeps one job scheduler per enabled schedule: edits replace it, disabling or deleting removes it, a restart keeps it', async () => {
    let w = await start();
    try {
      const sched = await s.schedules.create(actor, { roomId, imageId, cron: '0 22 * * 1-5', windowStart: '22:00', windowEnd: '06:00' });
      await w.sync();
      let list = await schedulers(w);
      expect(list).toEqual([{ key: schedulerId(sched.id), pattern: '0 22 * * 1-5', tz: 'Europe/Paris', next: nextFires('0 22 * * 1-5', 'Europe/Paris', Date.now(), 1)[0] }]);
      expect(await w.queue.getJobCountByTypes('delayed')).toBe(1);

      for (const cron of ['30 21 * * 1-5', '0 23 * * 1,3,5', '15 22 * * *']) {
        await s.schedules.update(actor, sched.id, { cron });
        await w.sync();
      }
      list = await schedulers(w);
      expect(list).toEqual([{ key: schedulerId(sched.id), pattern: '15 22 * * *', tz: 'Europe/Paris', next: nextFires('15 22 * * *', 'Europe/Paris', Date.now(), 1)[0] }]);
      expect(await w.queue.getJobCountByTypes('delayed')).toBe(1);

      // The worker restarts: the scheduler is still in Redis, and an unchanged one is left alone.
      await w.stop();
      w = await start();
      expect(await schedulers(w)).toEqual(list);
      expect(await w.sync()).toEqual({ upserted: 0, removed: 0 });

      // The event alone (no explicit sync) is enough.
      await s.schedules.update(actor, sched.id, { enabled: false });
      await until('the disabled schedule to lose its scheduler', async () => (await schedulers(w)).length === 0);
      await s.schedules.update(actor, sched.id, { enabled: true });
      await until('the enabled schedule to get it back', async () => (await schedulers(w)).length === 1);
      await s.schedules.delete(actor, sched.id);
      await until('the deleted schedule to lose its scheduler', async () => (await schedulers(w)).length === 0);
      expect(await w.queue.getJobCountByTypes('delayed')).toBe(0);
    } finally {
      await w.stop();
    }
  }, 60_000);

  it('removes the schedulers of a deleted room', async () => {
    const w = await start();
    try {
      const room = (await s.inventory.createRoom(actor, { name: 'C101' })).id;
      const sched = await s.schedules.create(actor, { roomId: room, imageId, cron: '0 22 * * *', windowStart: '22:00', windowEnd: '06:00' });
      await until('its scheduler', async () => (await schedulers(w)).some((x) => x.key === schedulerId(sched.id)));
      await s.inventory.deleteRoom(actor, room, { unassignHosts: false });
      await until('the room’s schedulers to go', async () => (await schedulers(w)).length === 0);
    } finally {
      await w.stop();
    }
  }, 30_000);

  it("fires a schedule for its job's own instant and creates the run; an instant that cannot start is e-mailed with its reason", async () => {
    // The window below is open all day in UTC but its last minute: near midnight UTC, wait for the
    // new day so that the next instant falls inside it (at most two minutes, once a day).
    const msToMidnight = 86_400_000 - (Date.now() % 86_400_000);
    if (msToMidnight < 150_000) await new Promise((r) => setTimeout(r, msToMidnight + 5_000));
    const w = await start();
    try {
      // Every minute, a window that is open all day in UTC but its last minute.
      const sched = await s.schedules.create(actor, { roomId, imageId, cron: '* * * * *', timeZone: 'UTC', windowStart: '00:00', windowEnd: '23:59', options: { maxParallel: 5 } });
      await w.sync();
      const [job] = await w.queue.getDelayed();
      const instant = job!.opts.prevMillis!;
      expect(instant % 60_000).toBe(0);
      await job!.promote();
      await until('the fire to be recorded', async () => (await s.schedules.fires(sched.id)).length > 0);
      const [fire] = await s.schedules.fires(sched.id);
      expect(fire).toMatchObject({ at: new Date(instant).toISOString(), outcome: 'started' });
      const run = await s.runs.view(fire!.runId!);
      expect(run).toMatchObject({ state: 'running', room: 'B204', createdBy: `schedule:${sched.id}`, windowEndsAt: new Date(Math.floor(instant / 86_400_000) * 86_400_000 + 23 * 3_600_000 + 59 * 60_000).toISOString() });
      await s.runs.cancel(actor, run.id);

      // A schedule whose cron falls outside its window: not started, and the RN gets an e-mail saying why.
      await s.schedules.update(actor, sched.id, { windowStart: '23:59', windowEnd: '00:00', cron: '0 12 * * *' });
      await w.sync();
      const [job2] = await w.queue.getDelayed();
      await job2!.promote();
      await until('the e-mail', async () => mails.length > 0);
      const f2 = (await s.schedules.fires(sched.id))[0]!;
      expect(f2).toMatchObject({ outcome: 'not_started', reason: { code: 'outside_window' } });
      const mail = mails[0]!.replace(/=\r?\n/g, '');
      expect(mail).toMatch(/Subject: .*B204/);
      expect(mail).toMatch(/n'a pas d=C3=A9marr=C3=A9|n'a pas démarré/);
      expect(mail).toContain('outside its window 23:59');
      await s.schedules.delete(actor, sched.id);
    } finally {
      await w.stop();
    }
  }, 240_000);

  it("stops a running PC cleanly when its run's window ends", async () => {
    const closer = startWindowCloser({ runs: s.runs, events: s.events, log }, { maxSleepMs: 60_000 });
    try {
      const run = await s.runs.create(actor, { roomId, imageId, windowEndsAt: new Date(Date.now() + 1500).toISOString() });
      const pc = run.pcs[0]!;
      const started = await s.runs.apply(pc.id, { type: 'start', inUse: false });
      await s.runs.apply(pc.id, { type: 'task-running' });
      await until('the window to end the run', async () => (await s.runs.view(run.id)).state !== 'running', 15_000);
      const view = await s.runs.view(run.id);
      expect(view.pcs.map((p) => [p.state, p.reason?.code])).toEqual([
        ['cancelled', 'window_ended'],
        ['cancelled', 'window_ended'],
      ]);
      expect(view.pcs[0]!.reason!.text).toMatch(/still running at the end of the window \(\d\d:\d\d\)/);
      expect(await s.tasks.stateOf(started.pc.taskId!)).toBe('cancelled');
    } finally {
      closer.stop();
    }
  }, 30_000);
});
