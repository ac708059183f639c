// The runs' read side for the web UI, against real SQLite and PostgreSQL: every room's newest run with
// its PCs counted by state in one answer, each PC's newest result, and a run's estimate from what past
// PCs of the same version took (else the default rate); a cron said back in words before saving.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RoomRepository } from '../../services/inventory/rooms.js';
import { DEFAULT_BYTES_PER_SECOND, OVERHEAD_SECONDS } from '../../services/runs/estimate.js';
import { RunRepository } from '../../services/runs/repository.js';
import { RunService } from '../../services/runs/service.js';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';
import { ApiClient } from '../support/client.js';
import { DIALECTS } from '../support/env.js';
import { refused } from '../support/refused.js';
import { publishVersion } from '../support/runs.js';
import { openTestServices, type TestServices } from '../support/services.js';

const actor = { userId: null, name: 'tech', ip: null };

describe.each(DIALECTS)('runs overview and estimate (%s)', (dialect) => {
  let s: TestServices;
  let runs: RunService;
  let clock = Date.parse('2026-12-07T21:00:00Z');
  let roomId: number;
  let otherRoomId: number;
  let hostIds: number[];
  let imageId: number;

  beforeAll(async () => {
    s = await openTestServices(dialect);
    runs = new RunService(s.database.db, new RunRepository(s.database.db), s.tasks, s.hosts, new RoomRepository(s.database.db), s.events, () => clock);
    roomId = (await s.inventory.createRoom(actor, { name: 'B204' })).id;
    otherRoomId = (await s.inventory.createRoom(actor, { name: 'C101' })).id;
    hostIds = [];
    for (let i = 1; i <= 2; i++) hostIds.push((await s.inventory.createHost(actor, { name: `B204-0${i}`, mac: `02:00:00:00:0b:0${i}`, roomId })).id);
    const ref = await s.inventory.createHost(actor, { name: 'REF', mac: '02:00:00:00:0b:99', roomId: null });
    imageId = (await s.catalogue.createImage(actor, { name: 'Windows 11' })).id;
    await publishVersion(s, imageId, ref);
  });

  afterAll(async () => {
    await s?.close();
  });

  it('estimates from the default rate with no history, and refuses an unknown version', async () => {
    const e = await runs.estimate({ imageId, pcs: 40 });
    // publishVersion's version uses 1 MiB.
    expect(e).toMatchObject({ basis: 'default', samples: 0, pcs: 40, waves: 2, version: 1, usedBytes: 1 << 20, perPcSeconds: Math.round(OVERHEAD_SECONDS + (1 << 20) / DEFAULT_BYTES_PER_SECOND) });
    expect(await refused(runs.estimate({ imageId, version: 9, pcs: 1 }))).toMatchObject({ code: 'unknown_version' });
  });

  it("lists every room's newest run with its counts, each PC's newest result, and estimates from the PCs that restored this version", async () => {
    const old = await runs.create(actor, { roomId, imageId });
    await runs.cancel(actor, old.id);
    clock += 60_000;
    const run = await runs.create(actor, { roomId, imageId });
    const [a, b] = run.pcs;
    await runs.apply(a!.id, { type: 'start', inUse: false });
    await runs.apply(a!.id, { type: 'script-fetched' });
    await runs.apply(a!.id, { type: 'task-running' });
    await runs.progress(a!.id, 1 << 20, 1 << 20);
    await runs.apply(a!.id, { type: 'task-progress', phase: 'verify' });
    clock += 600_000;
    expect((await runs.apply(a!.id, { type: 'task-done' })).pc.state).toBe('done');
    await runs.cancelPc(actor, run.id, b!.id);
    await s.events.transaction(s.database.db, (tx) => runs.recordNotStarted(tx, { roomId: otherRoomId, imageId, version: null, options: {}, createdBy: 'schedule:1', reason: { code: 'outside_window', params: {}, text: 'outside' } }));

    const rooms = await runs.lastRunOfRooms();
    expect(rooms).toHaveLength(2);
    expect(rooms.find((r) => r.roomId === roomId)).toEqual({ roomId, run: expect.objectContaining({ id: run.id, state: 'done', image: 'Windows 11', version: 1 }), counts: { done: 1, cancelled: 1 } });
    expect(rooms.find((r) => r.roomId === otherRoomId)).toMatchObject({ run: { state: 'not_started' }, counts: {} });

    const pcs = await runs.lastResultOfPcs(roomId);
    expect(pcs.map((p) => [p.hostId, p.runId, p.state])).toEqual([
      [hostIds[0], run.id, 'done'],
      [hostIds[1], run.id, 'cancelled'],
    ]);
    expect(await runs.lastResultOfPcs(otherRoomId)).toEqual([]);

    const e = await runs.estimate({ imageId, pcs: 3, maxParallel: 2 });
    expect(e).toMatchObject({ basis: 'same_version', samples: 1, perPcSeconds: 600, waves: 2, seconds: 1200 });
  });

  it('says a cron back in words with its next instants, and refuses a bad one', () => {
    const d = s.schedules.describe('0 22 * * 1-5');
    expect(d.words).toEqual({ fr: 'du lundi au vendredi à 22:00', en: 'Monday to Friday at 22:00' });
    expect(d.next).toHaveLength(3);
    expect(() => s.schedules.describe('0 25 * * *')).toThrow(expect.objectContaining({ code: 'bad_cron' }));
  });
});

describe('runs overview, estimate and cron words through HTTP: login needed, a viewer reads', () => {
  let app: TestApp;
  let viewer: ApiClient;
  let imageId: number;
  let roomId: number;

  beforeAll(async () => {
    app = await startTestApp('sqlite');
    const admin = new ApiClient(app.url);
    await admin.login('admin', TEST_ADMIN_PASSWORD);
    viewer = await admin.userClient('viewer1', 'viewer');
    const c = app.container;
    roomId = (await c.inventory.createRoom(actor, { name: 'B204' })).id;
    const ref = await c.inventory.createHost(actor, { name: 'REF', mac: '02:00:00:00:0d:99', roomId: null });
    imageId = (await c.catalogue.createImage(actor, { name: 'Windows 11' })).id;
    await publishVersion({ ...c, database: c.database }, imageId, ref);
  });

  afterAll(async () => {
    await app?.stop();
  });

  it('answers a viewer, refuses without a session, and is not taken for a run id', async () => {
    const anonymous = new ApiClient(app.url);
    for (const path of [`/api/v1/runs/estimate?image=${imageId}&pcs=3`, '/api/v1/runs/latest-by-room', `/api/v1/runs/latest-by-pc?room=${roomId}`, '/api/v1/schedules/words?cron=0+22+*+*+5'])
      expect((await anonymous.request('GET', path)).status, path).toBe(401);
    expect((await viewer.request('GET', `/api/v1/runs/estimate?image=${imageId}&pcs=3`)).body).toMatchObject({ basis: 'default', pcs: 3, waves: 1, version: 1 });
    expect((await viewer.request('GET', '/api/v1/runs/latest-by-room')).body).toEqual([]);
    expect((await viewer.request('GET', `/api/v1/runs/latest-by-pc?room=${roomId}`)).body).toEqual([]);
    const words = await viewer.request('GET', '/api/v1/schedules/words?cron=0+22+*+*+5');
    expect(words.body).toMatchObject({ cron: '0 22 * * 5', words: { fr: 'le vendredi à 22:00', en: 'every Friday at 22:00' } });
    expect(await viewer.request('GET', '/api/v1/schedules/words?cron=0+25+*+*+5')).toMatchObject({ status: 400, body: { code: 'bad_cron' } });
    expect((await viewer.request('GET', `/api/v1/runs/estimate?image=${imageId}&pcs=0`)).status).toBe(400);
  });
});
