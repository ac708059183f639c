// Live events over socket.io on the real api (api + worker roles, real Redis and SQLite), with the
// real socket.io client: a connection needs a session cookie from this server's own pages or an API
// token; a client subscribes to a run or a school room, asks for the run's state, and then hears
// each change of its PCs and of the run, after the change is in the database.
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.js';
import { ApiClient } from '../support/client.js';
import { machineOf, publishVersion } from '../support/runs.js';

type Heard = { event: string; payload: Record<string, unknown> };

function open(url: string, opts: { cookie?: string; origin?: string; token?: string }): Promise<Socket> {
  const socket = connect(url, {
    transports: ['websocket'],
    reconnection: false,
    extraHeaders: { ...(opts.cookie ? { cookie: opts.cookie } : {}), ...(opts.origin ? { origin: opts.origin } : {}) },
    ...(opts.token ? { auth: { token: opts.token } } : {}),
  });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => {
      socket.close();
      reject(err);
    });
  });
}

const emitAck = <T>(socket: Socket, event: string, arg: unknown) => socket.timeout(5000).emitWithAck(event, arg) as Promise<T>;

describe('live events (socket.io on the api)', () => {
  let app: TestApp;
  let admin: ApiClient;
  let roomId: number;
  let imageId: number;
  let hostIds: number[];
  const sockets: Socket[] = [];

  beforeAll(async () => {
    app = await startTestApp('sqlite');
    admin = new ApiClient(app.url);
    expect((await admin.login('admin', app.adminPassword)).status).toBe(200);
    roomId = (await admin.post('/api/v1/rooms', { name: 'B204' })).body.id;
    hostIds = [];
    for (let i = 1; i <= 2; i++) hostIds.push((await admin.post('/api/v1/hosts', { name: `B204-0${i}`, mac: `02:00:00:00:04:0${i}`, roomId })).body.id);
    const ref = (await admin.post('/api/v1/hosts', { name: 'REF', mac: '02:00:00:00:04:99' })).body;
    imageId = (await admin.post('/api/v1/images', { name: 'Windows 11' })).body.id;
    await publishVersion(app.container, imageId, ref);
  });

  afterAll(async () => {
    for (const s of sockets) s.close();
    await app?.stop();
  });

  it('refuses a connection without a login, and a session cookie sent from another site', async () => {
    await expect(open(app.url, {})).rejects.toThrow(/unauthenticated/);
    await expect(open(app.url, { cookie: admin['cookie']!, origin: 'http://evil.example' })).rejects.toThrow(/forbidden/);
    await expect(open(app.url, { token: 'not-a-token' })).rejects.toThrow(/unauthenticated/);
  });

  it("a viewer's token follows a run: its state on request, then every PC change and the run's end, each already in the database", async () => {
    const created = (await admin.post('/api/v1/tokens', { name: 'wall screen', role: 'viewer' })).body;
    expect(created.role).toBe('viewer');
    const token = created.token as string;
    const bySession = await open(app.url, { cookie: admin['cookie']!, origin: app.url });
    const byToken = await open(app.url, { token });
    sockets.push(bySession, byToken);
    const heardRoom: Heard[] = [];
    const heardRun: Heard[] = [];
    const seenInDb: Array<Promise<string>> = [];
    for (const ev of ['run:update', 'run:pc', 'task:update']) {
      bySession.on(ev, (payload: Record<string, unknown>) => heardRoom.push({ event: ev, payload }));
      byToken.on(ev, (payload: Record<string, unknown>) => {
        heardRun.push({ event: ev, payload });
        if (ev === 'run:update') seenInDb.push(admin.get(`/api/v1/runs/${payload.runId as number}`).then((r) => r.body.state as string));
      });
    }
    expect(await emitAck(bySession, 'subscribe', { room: roomId })).toEqual({ ok: true, joined: `room:${roomId}` });
    expect(await emitAck(bySession, 'subscribe', { room: 'x' })).toMatchObject({ ok: false });
    // A room, run or PC that does not exist is refused: the UI then says it is not live.
    expect(await emitAck(bySession, 'subscribe', { room: 999_999 })).toEqual({ ok: false, error: 'not_found' });
    expect(await emitAck(bySession, 'subscribe', { run: 999_999 })).toEqual({ ok: false, error: 'not_found' });
    expect(await emitAck(bySession, 'subscribe', { host: 999_999 })).toEqual({ ok: false, error: 'not_found' });
    expect(await emitAck(bySession, 'subscribe', { host: hostIds[0] })).toEqual({ ok: true, joined: `host:${hostIds[0]}` });

    const run = (await admin.post('/api/v1/runs', { roomId, imageId, steps: ['restore', 'verify'], maxParallel: 1 })).body;
    expect(run.state).toBe('running');
    expect(await emitAck(byToken, 'subscribe', { run: run.id })).toEqual({ ok: true, joined: `run:${run.id}` });
    const state = await emitAck<{ ok: boolean; run: { id: number; pcs: unknown[] } }>(byToken, 'run:state', run.id);
    expect(state.ok).toBe(true);
    expect(state.run.pcs).toHaveLength(2);

    // The worker starts one PC (maxParallel 1): its restore task is created and its state changes.
    const until = async (what: string, f: () => boolean) => {
      const end = Date.now() + 20_000;
      while (!f()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(heardRun)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await until('a PC waking', () => heardRun.some((h) => h.event === 'run:pc' && h.payload.state === 'waking'));
    expect((await admin.post(`/api/v1/runs/${run.id}/cancel`)).body.state).toBe('cancelled');
    await until("the run's end", () => heardRun.some((h) => h.event === 'run:update' && h.payload.state === 'cancelled'));
    expect(await Promise.all(seenInDb)).toEqual(['cancelled']);
    const pcStates = heardRun.filter((h) => h.event === 'run:pc').map((h) => `${h.payload.runPcId as number}:${h.payload.state as string}`);
    expect(pcStates.filter((s) => s.endsWith(':waking'))).toHaveLength(1);
    expect(pcStates.filter((s) => s.endsWith(':cancelled'))).toHaveLength(2);
    // The room's subscriber heard the same run changes (and the tasks of the room's PCs).
    await until('the room subscriber', () => heardRoom.filter((h) => h.event === 'run:pc').length === pcStates.length);
    expect(heardRoom.some((h) => h.event === 'task:update' && h.payload.state === 'cancelled')).toBe(true);
    // The run's report, as a viewer's script or a printed page gets it.
    const viewer = new ApiClient(app.url);
    viewer.token = token;
    const page = await viewer.get(`/api/v1/runs/${run.id}/report.html`);
    expect(page.status).toBe(200);
    expect(String(page.body)).toContain('<h1>Rapport de restauration – B204</h1>');
    expect((await viewer.get(`/api/v1/runs/${run.id}/report`)).body.totals).toMatchObject({ pcs: 2, cancelled: 2 });
    expect((await viewer.post(`/api/v1/runs/${run.id}/cancel`)).status).toBe(403);
    // A socket that subscribed to nothing heard nothing.
    const idle = await open(app.url, { token });
    sockets.push(idle);
    let idleHeard = 0;
    idle.onAny(() => idleHeard++);
    await admin.post('/api/v1/runs', { hostIds: [hostIds[0]], imageId, steps: ['restore', 'verify'] });
    await until('another run to start', () => heardRoom.filter((h) => h.event === 'run:update').length >= 2);
    expect(idleHeard).toBe(0);
  });

  it("a run's PC tells its progress (bytes, smoothed rate, ETA) at most once a second, and the end of its phase at once", async () => {
    const created = (await admin.post('/api/v1/tokens', { name: 'progress screen', role: 'viewer' })).body;
    const socket = await open(app.url, { token: created.token as string });
    sockets.push(socket);
    const heard: Array<Record<string, unknown>> = [];
    socket.on('run:progress', (p: Record<string, unknown>) => heard.push(p));
    const run = (await admin.post('/api/v1/runs', { hostIds: [hostIds[1]], imageId, steps: ['restore', 'verify'] })).body;
    expect(await emitAck(socket, 'subscribe', { run: run.id })).toEqual({ ok: true, joined: `run:${run.id}` });
    let taskId: number | null = null;
    const end = Date.now() + 20_000;
    while (taskId === null && Date.now() < end) {
      taskId = (await admin.get(`/api/v1/runs/${run.id}`)).body.pcs[0].taskId as number | null;
      if (taskId === null) await new Promise((r) => setTimeout(r, 100));
    }
    expect(taskId).not.toBeNull();
    const c = app.container;
    const mac = '02:00:00:00:04:02';
    const m = machineOf(mac, taskId!, hostIds[1]!);
    await c.events.transaction(c.database.db, (tx) => c.tasks.checkIn(tx, m.actor, taskId!, hostIds[1]!, '127.0.0.1'));
    // 16 reports, 150 ms apart (2.4 s), 1 MB each, the last one the end of the phase.
    const total = 16_000_000;
    for (let i = 1; i <= 16; i++) {
      await c.tasks.recordProgress(m, { phase: 'restore', bytesDone: i * 1_000_000, bytesTotal: total, chunksDone: i, chunksTotal: 16, rateBytesPerSecond: 0, etaSeconds: null });
      if (i < 16) await new Promise((r) => setTimeout(r, 150));
    }
    const until = Date.now() + 5000;
    while (!heard.some((h) => h.bytesDone === total) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(heard.length).toBeGreaterThanOrEqual(2);
    for (const h of heard) expect(h).toMatchObject({ runId: run.id, runPcId: run.pcs[0].id, hostId: hostIds[1], phase: 'restore', bytesTotal: total, rateBytesPerSecond: expect.any(Number) });
    // Throttled: one a second at most, except the end of the phase.
    const ats = heard.map((h) => Date.parse(h.at as string));
    for (let i = 1; i < heard.length; i++) if (heard[i]!.bytesDone !== total) expect(ats[i]! - ats[i - 1]!).toBeGreaterThanOrEqual(1000);
    expect(heard.at(-1)).toMatchObject({ bytesDone: total, etaSeconds: 0 });
    const mid = heard.find((h) => (h.rateBytesPerSecond as number) > 0 && h.bytesDone !== total)!;
    expect(mid.etaSeconds).toBe(Math.ceil((total - (mid.bytesDone as number)) / (mid.rateBytesPerSecond as number)));
    await admin.post(`/api/v1/runs/${run.id}/cancel`);
  });
});
