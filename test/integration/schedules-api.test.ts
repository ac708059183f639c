// The schedule routes through HTTP on a running app (api and worker roles, real Redis, SQLite): a
// technician creates, edits and deletes a schedule, a viewer reads it and its fires but cannot change
// it, bad input is refused with a reason, and the worker keeps one BullMQ job scheduler for it.
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCHEDULE_QUEUE, schedulerId } from '../../services/jobs/schedules.js';
import { ApiClient } from '../support/client.js';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';
import { publishVersion } from '../support/runs.js';

const actor = { userId: null, name: 'tech', ip: null };

async function until(what: string, check: () => Promise<boolean>, ms = 20_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('schedules API', () => {
  let app: TestApp;
  let tech: ApiClient;
  let viewer: ApiClient;
  let queue: Queue;
  let roomId: number;
  let imageId: number;

  beforeAll(async () => {
    app = await startTestApp('sqlite');
    const admin = new ApiClient(app.url);
    await admin.login('admin', TEST_ADMIN_PASSWORD);
    tech = await admin.userClient('tech1', 'technician');
    viewer = await admin.userClient('viewer1', 'viewer');
    const c = app.container;
    roomId = (await c.inventory.createRoom(actor, { name: 'B204' })).id;
    await c.inventory.createHost(actor, { name: 'B204-01', mac: '02:00:00:00:07:01', roomId });
    const ref = await c.inventory.createHost(actor, { name: 'REF', mac: '02:00:00:00:07:99', roomId: null });
    imageId = (await c.catalogue.createImage(actor, { name: 'Windows 11' })).id;
    await publishVersion({ ...c, database: c.database }, imageId, ref);
    queue = new Queue(SCHEDULE_QUEUE, { connection: c.redis.createClient(), prefix: c.redis.prefix });
  });

  afterAll(async () => {
    await queue?.close();
    await app?.stop();
  });

  it('creates, shows in words, edits in place, lists, and deletes a schedule; the worker keeps one job scheduler for it', async () => {
    const created = await tech.request('POST', '/api/v1/schedules', { roomId, imageId, cron: '0 22 * * 1-5', windowStart: '22:00', windowEnd: '06:00', options: { maxParallel: 10, skipInUse: true } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ roomId, room: 'B204', imageId, version: null, timeZone: 'Europe/Paris', words: { fr: 'du lundi au vendredi à 22:00', en: 'Monday to Friday at 22:00' }, window: { start: '22:00', end: '06:00' }, enabled: true, createdBy: 'tech1' });
    expect(created.body.next).toHaveLength(3);
    const id = created.body.id as number;
    await until('its job scheduler', async () => (await queue.getJobScheduler(schedulerId(id)))?.pattern === '0 22 * * 1-5');

    const patched = await tech.request('PATCH', `/api/v1/schedules/${id}`, { cron: '0 21 * * 6', windowEnd: '05:00' });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ id, cron: '0 21 * * 6', words: { fr: 'le samedi à 21:00', en: 'every Saturday at 21:00' }, window: { start: '22:00', end: '05:00' } });
    await until('its job scheduler to follow the edit', async () => (await queue.getJobScheduler(schedulerId(id)))?.pattern === '0 21 * * 6');
    expect(await queue.getJobSchedulersCount()).toBe(1);

    const list = await viewer.request('GET', `/api/v1/schedules?room=${roomId}`);
    expect(list.status).toBe(200);
    expect(list.body.map((x: { id: number }) => x.id)).toEqual([id]);
    expect((await viewer.request('GET', `/api/v1/schedules/${id}`)).body).toMatchObject({ id, cron: '0 21 * * 6' });
    const fires = await viewer.request('GET', `/api/v1/schedules/${id}/fires`);
    expect(fires).toMatchObject({ status: 200, body: [] });

    expect((await tech.request('DELETE', `/api/v1/schedules/${id}`)).status).toBe(204);
    expect((await viewer.request('GET', `/api/v1/schedules/${id}`)).status).toBe(404);
    await until('its job scheduler to go', async () => (await queue.getJobSchedulersCount()) === 0);
  }, 40_000);

  it('refuses bad input with a reason, and a viewer cannot write', async () => {
    const bad = await tech.request('POST', '/api/v1/schedules', { roomId, imageId, cron: '0 22 * *', windowStart: '22:00', windowEnd: '06:00' });
    expect(bad).toMatchObject({ status: 400, body: { code: 'bad_cron' } });
    const zone = await tech.request('POST', '/api/v1/schedules', { roomId, imageId, cron: '0 22 * * *', timeZone: 'Mars/Olympus', windowStart: '22:00', windowEnd: '06:00' });
    expect(zone).toMatchObject({ status: 400, body: { code: 'bad_time_zone' } });
    const window = await tech.request('POST', '/api/v1/schedules', { roomId, imageId, cron: '0 22 * * *', windowStart: '25:00', windowEnd: '06:00' });
    expect(window.status).toBe(400);
    const extra = await tech.request('POST', '/api/v1/schedules', { roomId, imageId, cron: '0 22 * * *', windowStart: '22:00', windowEnd: '06:00', surprise: 1 });
    expect(extra.status).toBe(400);
    expect((await tech.request('POST', '/api/v1/schedules', { roomId: 999, imageId, cron: '0 22 * * *', windowStart: '22:00', windowEnd: '06:00' })).status).toBe(404);
    expect((await viewer.request('POST', '/api/v1/schedules', { roomId, imageId, cron: '0 22 * * *', windowStart: '22:00', windowEnd: '06:00' })).status).toBe(403);
    expect((await tech.request('GET', '/api/v1/schedules')).body).toEqual([]);
  });
});
