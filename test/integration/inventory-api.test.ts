// The inventory through the real API, on SQLite and on PostgreSQL, with the real Redis.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/client.js';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';
import { DIALECTS } from '../support/env.js';
import { schoolCsv } from '../support/csv.js';

describe.each(DIALECTS)('inventory API on %s', (dialect) => {
  let app: TestApp;
  let admin: ApiClient;
  let tech: ApiClient;
  let viewer: ApiClient;

  beforeAll(async () => {
    app = await startTestApp(dialect);
    admin = new ApiClient(app.url);
    expect((await admin.login('admin', TEST_ADMIN_PASSWORD)).status).toBe(200);
    tech = await admin.userClient('tech', 'technician');
    viewer = await admin.userClient('prof', 'viewer');
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('reports a healthy database and Redis', async () => {
    const r = await new ApiClient(app.url).get('/api/health');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'ok', database: { status: 'up', dialect }, redis: { status: 'up' } });
    expect(r.body.workers).toBeGreaterThanOrEqual(1);
  });

  it('creates rooms and hosts, normalising MACs and refusing bad names', async () => {
    const room = await tech.post('/api/v1/rooms', { name: 'B204', description: 'Sciences' });
    expect(room.status).toBe(201);
    expect((await tech.post('/api/v1/rooms', { name: 'b204' })).body.code).toBe('duplicate_room');

    const host = await tech.post('/api/v1/hosts', { name: 'B204-PC01', mac: 'AA-BB-CC-00-11-22', roomId: room.body.id, ip: '10.1.2.3' });
    expect(host.status).toBe(201);
    expect(host.body).toMatchObject({ mac: 'aa:bb:cc:00:11:22', room: 'B204', ip: '10.1.2.3', hardware: null });

    const cisco = await tech.post('/api/v1/hosts', { name: 'B204-PC02', mac: 'aabb.cc00.1123', roomId: room.body.id });
    expect(cisco.body.mac).toBe('aa:bb:cc:00:11:23');

    const dupMac = await tech.post('/api/v1/hosts', { name: 'OTHER', mac: 'aa:bb:cc:00:11:22' });
    expect(dupMac.status).toBe(409);
    expect(dupMac.headers.get('content-type')).toContain('application/problem+json');
    expect(dupMac.body).toMatchObject({ code: 'duplicate_mac', status: 409 });
    expect(dupMac.body.detail).toContain('B204-PC01');

    const dupName = await tech.post('/api/v1/hosts', { name: 'b204-pc01', mac: 'aa:bb:cc:00:11:99' });
    expect(dupName.body.code).toBe('duplicate_name');

    const long = await tech.post('/api/v1/hosts', { name: 'SALLE-B204-POSTE-01', mac: '02:00:00:00:00:01' });
    expect(long.status).toBe(400);
    expect(long.body.code).toBe('name_too_long');
    const badMac = await tech.post('/api/v1/hosts', { name: 'X1', mac: 'zz:bb:cc:00:11:22' });
    expect(badMac.body.code).toBe('bad_mac');
    const badIp = await tech.post('/api/v1/hosts', { name: 'X1', mac: '02:00:00:00:00:02', ip: '10.1.2.300' });
    expect(badIp.body.code).toBe('bad_ip');
    const noRoom = await tech.post('/api/v1/hosts', { name: 'X1', mac: '02:00:00:00:00:02', roomId: 99999 });
    expect(noRoom.body.code).toBe('unknown_room');
    const missing = await tech.post('/api/v1/hosts', { mac: '02:00:00:00:00:02' });
    expect(missing.status).toBe(400);
    expect(missing.body.code).toBe('validation_failed');
    expect(missing.body.errors[0].path).toBe('body.name');
  });

  it('updates, moves between rooms, and deletes', async () => {
    const rooms = await tech.post('/api/v1/rooms', { name: 'C101' });
    const hosts = (await tech.get('/api/v1/hosts?q=b204-pc')).body as Array<{ id: number; name: string }>;
    expect(hosts.map((h) => h.name)).toEqual(['B204-PC01', 'B204-PC02']);

    const moved = await tech.post('/api/v1/hosts/move', { hostIds: hosts.map((h) => h.id), roomId: rooms.body.id });
    expect(moved.status).toBe(200);
    expect(moved.body.every((h: { room: string }) => h.room === 'C101')).toBe(true);
    expect((await tech.get(`/api/v1/rooms/${rooms.body.id}/hosts`)).body).toHaveLength(2);

    const badMove = await tech.post('/api/v1/hosts/move', { hostIds: [hosts[0]!.id, 424242], roomId: null });
    expect(badMove.body.code).toBe('unknown_host');
    expect((await tech.get(`/api/v1/hosts/${hosts[0]!.id}`)).body.room).toBe('C101');

    const renamed = await tech.patch(`/api/v1/hosts/${hosts[0]!.id}`, { name: 'C101-PC01', notes: 'écran fissuré' });
    expect(renamed.body).toMatchObject({ name: 'C101-PC01', notes: 'écran fissuré' });

    const notEmpty = await tech.delete(`/api/v1/rooms/${rooms.body.id}`);
    expect(notEmpty.status).toBe(409);
    expect(notEmpty.body.code).toBe('room_not_empty');
    expect((await tech.delete(`/api/v1/rooms/${rooms.body.id}?hosts=unassign`)).status).toBe(204);
    const unassigned = (await tech.get('/api/v1/hosts?room=unassigned')).body as Array<{ name: string; roomId: null }>;
    expect(unassigned.map((h) => h.name).sort()).toEqual(['B204-PC02', 'C101-PC01']);

    expect((await tech.delete(`/api/v1/hosts/${hosts[1]!.id}`)).status).toBe(204);
    expect((await tech.get(`/api/v1/hosts/${hosts[1]!.id}`)).status).toBe(404);
  });

  it('imports a 300-host, 12-room spreadsheet: the dry run names exactly the three bad lines and writes nothing', async () => {
    const before = (await tech.get('/api/v1/hosts')).body.length;
    const bad = schoolCsv({ rooms: 12, perRoom: 25, badLines: true, encoding: 'windows-1252' });
    const dry = await tech.post('/api/v1/hosts/import?dryRun=true', bad.buffer);
    expect(dry.status).toBe(200);
    expect(dry.body.encoding).toBe('windows-1252');
    expect(dry.body.errors.map((e: { line: number }) => e.line)).toEqual(bad.badLines);
    expect(dry.body.errors.map((e: { code: string }) => e.code)).toEqual(['bad_mac', 'duplicate_mac', 'name_too_long']);
    expect((await tech.get('/api/v1/hosts')).body.length).toBe(before);

    const refused = await tech.post('/api/v1/hosts/import', bad.buffer);
    expect(refused.status).toBe(422);
    expect(refused.body.code).toBe('import_rejected');
    expect(refused.body.errors).toHaveLength(3);
    expect((await tech.get('/api/v1/hosts')).body.length).toBe(before);
    expect((await tech.get('/api/v1/rooms')).body.some((r: { name: string }) => r.name.startsWith('Salle'))).toBe(false);

    const good = schoolCsv({ rooms: 12, perRoom: 25, badLines: false, encoding: 'utf-8-bom' });
    const done = await tech.post('/api/v1/hosts/import?fileName=salles.csv', good.buffer);
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ applied: true, summary: { hostsCreated: 300, hostsUpdated: 0 } });
    expect(done.body.summary.roomsCreated).toHaveLength(12);
    const rooms = (await tech.get('/api/v1/rooms')).body as Array<{ name: string; hostCount: number }>;
    const school = rooms.filter((r) => r.name.startsWith('Salle'));
    expect(school).toHaveLength(12);
    expect(school.every((r) => r.hostCount === 25)).toBe(true);
    expect(school.map((r) => r.name)).toContain('Salle Sciences Physiques – Bât. B 1');

    // Re-importing the same file changes nothing; importing it with one room changed moves those PCs.
    const again = await tech.post('/api/v1/hosts/import', good.buffer);
    expect(again.body.summary).toMatchObject({ hostsCreated: 0, hostsUpdated: 0, hostsUnchanged: 300, roomsCreated: [] });
  });

  it('swaps two PC names in one import (temporary names inside the transaction)', async () => {
    const all = (await tech.get('/api/v1/hosts?q=S01-PC0')).body as Array<{ name: string; mac: string; room: string }>;
    const [a, b] = [all.find((h) => h.name === 'S01-PC01')!, all.find((h) => h.name === 'S01-PC02')!];
    const csv = `nom;mac;salle\r\n${b.name};${a.mac};${a.room}\r\n${a.name};${b.mac};${b.room}\r\n`;
    const r = await tech.post('/api/v1/hosts/import', csv);
    expect(r.status).toBe(200);
    expect(r.body.summary.hostsUpdated).toBe(2);
    const after = (await tech.get('/api/v1/hosts?q=S01-PC0')).body as Array<{ name: string; mac: string }>;
    expect(after.find((h) => h.mac === a.mac)!.name).toBe('S01-PC02');
  });

  it('exports a GLPI-friendly CSV that re-imports to the same inventory', async () => {
    const r = await viewer.get('/api/v1/hosts/export.csv');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('text/csv');
    expect(r.headers.get('content-disposition')).toMatch(/attachment; filename="roomcast-inventory-/);
    const text = r.body as string;
    expect(text.split('\r\n')[0]).toBe('name;serial;mac;ip;location;manufacturer;model;comment;last seen');
    const total = (await viewer.get('/api/v1/hosts')).body.length;
    expect(text.trim().split('\r\n')).toHaveLength(total + 1);
    const dry = await tech.post('/api/v1/hosts/import?dryRun=true', Buffer.from('\ufeff' + text, 'utf8'));
    expect(dry.body.errors).toEqual([]);
    expect(dry.body.summary).toMatchObject({ hostsCreated: 0, hostsUpdated: 0, hostsUnchanged: total });
  });

  it('records who changed what in the audit log, including the import', async () => {
    expect((await tech.get('/api/v1/audit')).status).toBe(403);
    const r = await admin.get('/api/v1/audit?limit=500');
    expect(r.status).toBe(200);
    const entries = r.body as Array<{ action: string; actor: string; details: Record<string, unknown> }>;
    const imp = entries.find((e) => e.action === 'hosts.import' && e.details.hostsCreated === 300);
    expect(imp).toMatchObject({ actor: 'tech', details: { file: 'salles.csv', rows: 300 } });
    expect(entries.some((e) => e.action === 'host.create' && e.actor === 'tech')).toBe(true);
    expect(entries.some((e) => e.action === 'room.delete')).toBe(true);
    expect(entries.some((e) => e.action === 'user.create' && e.actor === 'admin')).toBe(true);
  });

  it('lets a viewer read but not change anything', async () => {
    expect((await viewer.get('/api/v1/rooms')).status).toBe(200);
    const host = (await viewer.get('/api/v1/hosts')).body[0];
    expect((await viewer.post('/api/v1/rooms', { name: 'Nope' })).status).toBe(403);
    expect((await viewer.patch(`/api/v1/hosts/${host.id}`, { notes: 'x' })).body.code).toBe('forbidden');
    expect((await viewer.delete(`/api/v1/hosts/${host.id}`)).status).toBe(403);
    expect((await viewer.post('/api/v1/hosts/import', 'nom;mac\r\nV1;02:00:00:00:00:09\r\n')).status).toBe(403);
    expect((await viewer.get(`/api/v1/hosts/${host.id}`)).body.notes).toBe(host.notes);
  });
});
