// A run's options as they reach the PC and the record, against a real SQLite file: the end action
// (a run with the poweroff step powers its PCs off; without it, they reboot and are left on) in the
// client's view of its restore task; one PC's cancel and its audit row in one transaction; a run
// with the wake step refused by the api when Wake-on-LAN has nowhere to go.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientTask } from '../../services/imaging/format.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { ApiClient } from '../support/client.js';
import { machineOf, publishVersion } from '../support/runs.js';
import { openTestServices, type TestServices } from '../support/services.js';

const actor = { userId: null, name: 'tech', ip: null };

describe('room run options (real SQLite)', () => {
  let s: TestServices;
  let imageId: number;
  const hosts: Array<{ id: number; mac: string }> = [];

  beforeAll(async () => {
    s = await openTestServices('sqlite');
    const roomId = (await s.inventory.createRoom(actor, { name: 'B206' })).id;
    for (let i = 1; i <= 3; i++) {
      const h = await s.inventory.createHost(actor, { name: `B206-0${i}`, mac: `02:00:00:00:08:0${i}`, roomId });
      hosts.push({ id: h.id, mac: h.mac });
    }
    const ref = await s.inventory.createHost(actor, { name: 'REF', mac: '02:00:00:00:08:99', roomId: null });
    imageId = (await s.catalogue.createImage(actor, { name: 'Windows 11' })).id;
    await publishVersion(s, imageId, ref);
  });

  afterAll(async () => {
    await s?.close();
  });

  /** Starts the run's only PC (its restore task is created), says hello as its boot client, and returns what the client is told. */
  async function clientViewOfRun(host: { id: number; mac: string }, steps?: string[]): Promise<ClientTask> {
    const run = await s.runs.create(actor, { hostIds: [host.id], imageId, ...(steps ? { steps } : {}) });
    const started = await s.runs.apply(run.pcs[0]!.id, { type: 'start', inUse: false });
    const taskId = started.pc.taskId!;
    await s.events.transaction(s.database.db, (tx) => s.tasks.checkIn(tx, machineOf(host.mac, taskId, host.id).actor, taskId, host.id, '127.0.0.1'));
    const view = (await s.tasks.clientView(machineOf(host.mac, taskId, host.id))) as ClientTask;
    await s.runs.cancel(actor, run.id);
    return view;
  }

  it('a run without the poweroff step tells the client to reboot (the PC is left on); with it, to power off', async () => {
    expect(await clientViewOfRun(hosts[0]!, ['wake', 'restore', 'verify'])).toMatchObject({ kind: 'restore', endAction: 'reboot' });
    expect(await clientViewOfRun(hosts[0]!)).toMatchObject({ kind: 'restore', endAction: 'poweroff' });
    expect(await clientViewOfRun(hosts[0]!, ['restore', 'verify', 'poweroff'])).toMatchObject({ endAction: 'poweroff' });
    // A single restore task powers off unless it says otherwise.
    const single = await s.tasks.create(actor, [hosts[1]!.id], 'restore', { imageId });
    const taskId = single.created[0]!;
    await s.events.transaction(s.database.db, (tx) => s.tasks.checkIn(tx, machineOf(hosts[1]!.mac, taskId, hosts[1]!.id).actor, taskId, hosts[1]!.id, '127.0.0.1'));
    expect(await s.tasks.clientView(machineOf(hosts[1]!.mac, taskId, hosts[1]!.id))).toMatchObject({ endAction: 'poweroff' });
    await s.tasks.cancel(actor, taskId);
  });

  it("one PC's cancel writes its audit row in the same transaction: when the row cannot be written, the PC is not cancelled either", async () => {
    const run = await s.runs.create(actor, { hostIds: [hosts[2]!.id], imageId });
    const pcId = run.pcs[0]!.id;
    const started = await s.runs.apply(pcId, { type: 'start', inUse: false });
    expect(started.pc.state).toBe('waking');
    // The audit log refuses this one row (a full disk, a broken table…).
    await sql`create trigger no_pc_cancel_audit before insert on audit_log when new.action = 'run.pc.cancel' begin select raise(abort, 'audit log unavailable'); end`.execute(s.database.db);
    await expect(s.runs.cancelPc(actor, run.id, pcId)).rejects.toThrow(/audit log unavailable/);
    expect(await s.runs.pc(pcId)).toMatchObject({ state: 'waking' });
    expect(await s.tasks.stateOf(started.pc.taskId!)).toBe('pending');
    expect((await s.runs.timeline([pcId])).map((t) => t.state)).toEqual(['waking']);
    await sql`drop trigger no_pc_cancel_audit`.execute(s.database.db);
    // Once the audit log works, the cancel and its row go in together.
    expect(await s.runs.cancelPc(actor, run.id, pcId)).toMatchObject({ state: 'cancelled' });
    expect(await s.tasks.stateOf(started.pc.taskId!)).toBe('cancelled');
    const rows = await s.database.db.selectFrom('audit_log').selectAll().where('action', '=', 'run.pc.cancel').execute();
    expect(rows).toHaveLength(1);
    expect(JSON.parse(rows[0]!.details!)).toEqual({ pcId, host: 'B206-03' });
    // A PC that is already final cannot be cancelled again, and no row is added.
    await expect(s.runs.cancelPc(actor, run.id, pcId)).rejects.toMatchObject({ code: 'run_pc_finished' });
    expect(await s.database.db.selectFrom('audit_log').select('id').where('action', '=', 'run.pc.cancel').execute()).toHaveLength(1);
  });
});

describe('POST /api/v1/runs with the wake step and no Wake-on-LAN target (real api, SQLite, Redis)', () => {
  let app: TestApp;
  let admin: ApiClient;

  beforeAll(async () => {
    app = await startTestApp('sqlite', { ROOMCAST_WOL_ADDRESSES: '', ROOMCAST_WOL_INTERFACES: '' });
    admin = new ApiClient(app.url);
    expect((await admin.login('admin', app.adminPassword)).status).toBe(200);
  }, 60_000);

  afterAll(async () => {
    await app?.stop();
  });

  it('is refused with what to do (400 wake_not_configured), nothing started; without the wake step the run starts', async () => {
    const roomId = (await admin.post('/api/v1/rooms', { name: 'B207' })).body.id as number;
    await admin.post('/api/v1/hosts', { name: 'B207-01', mac: '02:00:00:00:09:01', roomId });
    const ref = (await admin.post('/api/v1/hosts', { name: 'REF', mac: '02:00:00:00:09:99' })).body;
    const imageId = (await admin.post('/api/v1/images', { name: 'Windows 11' })).body.id as number;
    await publishVersion(app.container, imageId, ref);
    for (const body of [{ roomId, imageId }, { roomId, imageId, steps: ['wake', 'restore', 'verify'] }]) {
      const r = await admin.post('/api/v1/runs', body);
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ code: 'wake_not_configured', detail: expect.stringContaining('run without the wake step and start the PCs by hand') });
      expect(r.body.detail).toContain("lancer sans l'étape de réveil");
    }
    expect((await admin.get('/api/v1/runs')).body).toEqual([]);
    const ok = await admin.post('/api/v1/runs', { roomId, imageId, steps: ['restore', 'verify', 'poweroff'] });
    expect(ok.status).toBe(201);
    await admin.post(`/api/v1/runs/${ok.body.id as number}/cancel`);
  });

  it("accepts the wake step for a room that has its own subnet (its directed broadcast is the target); a subnet that is not one is refused", async () => {
    const roomId = (await admin.post('/api/v1/rooms', { name: 'B208' })).body.id as number;
    await admin.post('/api/v1/hosts', { name: 'B208-01', mac: '02:00:00:00:0a:01', roomId });
    const ref = (await admin.post('/api/v1/hosts', { name: 'REF8', mac: '02:00:00:00:0a:99' })).body;
    const imageId = (await admin.post('/api/v1/images', { name: 'Windows 11 B208' })).body.id as number;
    await publishVersion(app.container, imageId, ref);
    for (const subnet of ['10.1.2.0', '10.1.2.3/24', '10.1.2.0/31', '300.1.2.0/24']) {
      const bad = await admin.patch(`/api/v1/rooms/${roomId}`, { subnet });
      expect(bad.status, subnet).toBe(400);
      expect(bad.body).toMatchObject({ code: 'bad_subnet', detail: expect.stringContaining('10.1.2.0/24') });
    }
    expect((await admin.post('/api/v1/runs', { roomId, imageId })).body).toMatchObject({ code: 'wake_not_configured' });
    expect((await admin.patch(`/api/v1/rooms/${roomId}`, { subnet: '10.1.2.0/24' })).body).toMatchObject({ subnet: '10.1.2.0/24' });
    const run = await admin.post('/api/v1/runs', { roomId, imageId });
    expect(run.status).toBe(201);
    expect(await app.container.runs.roomSubnets(run.body.id as number)).toEqual(['10.1.2.0/24']);
    await admin.post(`/api/v1/runs/${run.body.id as number}/cancel`);
  });
});
