// The room plan through the real API, on SQLite and on PostgreSQL: a PC placed by row and column, one
// PC per cell of a room, a move to another room clears the place.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/client.js';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';
import { DIALECTS } from '../support/env.js';

describe.each(DIALECTS)('room plan API on %s', (dialect) => {
  let app: TestApp;
  let tech: ApiClient;
  let viewer: ApiClient;

  beforeAll(async () => {
    app = await startTestApp(dialect);
    const admin = new ApiClient(app.url);
    expect((await admin.login('admin', TEST_ADMIN_PASSWORD)).status).toBe(200);
    tech = await admin.userClient('tech', 'technician');
    viewer = await admin.userClient('prof', 'viewer');
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('places PCs, refuses a taken cell, and clears the place on a move', async () => {
    const a = (await tech.post('/api/v1/rooms', { name: 'P101' })).body;
    const b = (await tech.post('/api/v1/rooms', { name: 'P102' })).body;
    const pc1 = (await tech.post('/api/v1/hosts', { name: 'P101-PC01', mac: '02:00:00:00:10:01', roomId: a.id })).body;
    const pc2 = (await tech.post('/api/v1/hosts', { name: 'P101-PC02', mac: '02:00:00:00:10:02', roomId: a.id })).body;
    const pc3 = (await tech.post('/api/v1/hosts', { name: 'P102-PC01', mac: '02:00:00:00:10:03', roomId: b.id })).body;
    expect(pc1).toMatchObject({ planRow: null, planCol: null });

    const placed = await tech.patch(`/api/v1/hosts/${pc1.id}`, { planRow: 2, planCol: 3 });
    expect(placed.status).toBe(200);
    expect(placed.body).toMatchObject({ planRow: 2, planCol: 3 });
    const listed = await viewer.get(`/api/v1/rooms/${a.id}/hosts`);
    expect(listed.body.find((h: { id: number }) => h.id === pc1.id)).toMatchObject({ planRow: 2, planCol: 3 });

    // A viewer may not place; the range is 1..40; a row needs its column.
    expect((await viewer.patch(`/api/v1/hosts/${pc2.id}`, { planRow: 1, planCol: 1 })).status).toBe(403);
    expect((await tech.patch(`/api/v1/hosts/${pc2.id}`, { planRow: 41, planCol: 1 })).status).toBe(400);
    expect((await tech.patch(`/api/v1/hosts/${pc2.id}`, { planRow: 0, planCol: 1 })).status).toBe(400);
    expect((await tech.patch(`/api/v1/hosts/${pc2.id}`, { planRow: 1 })).body.code).toBe('plan_incomplete');

    const taken = await tech.patch(`/api/v1/hosts/${pc2.id}`, { planRow: 2, planCol: 3 });
    expect(taken.status).toBe(409);
    expect(taken.body.code).toBe('cell_taken');
    expect(taken.body.detail).toContain('P101-PC01');
    // The same cell in another room is free; the PC keeps its own cell when asked again.
    expect((await tech.patch(`/api/v1/hosts/${pc3.id}`, { planRow: 2, planCol: 3 })).status).toBe(200);
    expect((await tech.patch(`/api/v1/hosts/${pc1.id}`, { planRow: 2, planCol: 3, notes: 'front' })).status).toBe(200);
    // Two PCs at once on one free cell: one wins, the other gets cell_taken (the unique index).
    const pc4 = (await tech.post('/api/v1/hosts', { name: 'P101-PC04', mac: '02:00:00:00:10:04', roomId: a.id })).body;
    const race = await Promise.all([pc2, pc4].map((h) => tech.patch(`/api/v1/hosts/${h.id}`, { planRow: 5, planCol: 5 })));
    expect(race.map((r) => r.status).sort()).toEqual([200, 409]);
    expect(race.find((r) => r.status === 409)!.body.code).toBe('cell_taken');

    // Moving to another room, by PATCH or by the move route, clears the place; null unplaces.
    const moved = await tech.patch(`/api/v1/hosts/${pc1.id}`, { roomId: b.id });
    expect(moved.body).toMatchObject({ roomId: b.id, planRow: null, planCol: null });
    const moveBack = await tech.post('/api/v1/hosts/move', { hostIds: [pc3.id], roomId: a.id });
    expect(moveBack.body[0]).toMatchObject({ roomId: a.id, planRow: null, planCol: null });
    const again = await tech.patch(`/api/v1/hosts/${pc3.id}`, { planRow: 1, planCol: 1 });
    expect(again.body).toMatchObject({ planRow: 1, planCol: 1 });
    const unplaced = await tech.patch(`/api/v1/hosts/${pc3.id}`, { planRow: null, planCol: null });
    expect(unplaced.body).toMatchObject({ planRow: null, planCol: null });
    // A PC in no room cannot be placed.
    await tech.post('/api/v1/hosts/move', { hostIds: [pc3.id], roomId: null });
    expect((await tech.patch(`/api/v1/hosts/${pc3.id}`, { planRow: 1, planCol: 1 })).body.code).toBe('plan_needs_room');
  });
});
