// The image version a room uses, through the real API on SQLite and PostgreSQL: set by PATCH
// /rooms/{id} (refused when not ready or damaged), shown on the room views, and the version a run
// restores when it names none.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/client.js';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';
import { DIALECTS } from '../support/env.js';
import { publishVersion } from '../support/runs.js';

const actor = { userId: null, name: 'test', ip: null };

describe.each(DIALECTS)('room image API on %s', (dialect) => {
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

  it('sets, shows and uses the version a room is set to use', async () => {
    const c = app.container;
    const room = await c.inventory.createRoom(actor, { name: 'D201' });
    const pc = await c.inventory.createHost(actor, { name: 'D201-01', mac: '02:5e:30:00:00:01', roomId: room.id });
    const ref = await c.inventory.createHost(actor, { name: 'REF-D', mac: '02:5e:30:00:00:ff', roomId: null });
    const imageId = (await c.catalogue.createImage(actor, { name: 'Ubuntu 24.04' })).id;
    const v1 = await publishVersion(c, imageId, ref);
    const v2 = await publishVersion(c, imageId, ref);
    const v3 = await publishVersion(c, imageId, ref);
    await c.database.db.updateTable('image_versions').set({ state: 'damaged' }).where('image_id', '=', imageId).where('number', '=', v3).execute();

    // Nothing set: a run that names no image is refused with a sentence.
    expect((await viewer.get(`/api/v1/rooms/${room.id}`)).body).toMatchObject({ imageId: null, image: null, version: null });
    const none = await tech.post('/api/v1/runs', { roomId: room.id, steps: ['restore', 'verify'] });
    expect(none.status).toBe(400);
    expect(none.body.code).toBe('image_required');

    expect((await viewer.patch(`/api/v1/rooms/${room.id}`, { imageId, version: v1 })).status).toBe(403);
    const damaged = await tech.patch(`/api/v1/rooms/${room.id}`, { imageId, version: v3 });
    expect(damaged.status).toBe(409);
    expect(damaged.body.code).toBe('version_damaged');
    expect((await tech.patch(`/api/v1/rooms/${room.id}`, { imageId, version: 99 })).body.code).toBe('unknown_version');
    expect((await tech.patch(`/api/v1/rooms/${room.id}`, { version: v1 })).body.code).toBe('image_required');

    const set = await tech.patch(`/api/v1/rooms/${room.id}`, { imageId, version: v1 });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ imageId, image: 'Ubuntu 24.04', version: v1 });
    expect((await viewer.get('/api/v1/rooms')).body.find((r: { id: number }) => r.id === room.id)).toMatchObject({ imageId, version: v1 });

    // A run that names nothing restores the room's version; naming a version wins.
    const run = await tech.post('/api/v1/runs', { roomId: room.id, steps: ['restore', 'verify'] });
    expect(run.status).toBe(201);
    expect(run.body).toMatchObject({ image: { id: imageId }, version: { number: v1 } });
    await tech.post(`/api/v1/runs/${run.body.id}/cancel`);
    await expect.poll(async () => (await tech.get(`/api/v1/runs/${run.body.id}`)).body.state).not.toBe('running');

    // The version null: the newest ready one (v2, v3 being damaged).
    const newest = await tech.patch(`/api/v1/rooms/${room.id}`, { imageId, version: null });
    expect(newest.body).toMatchObject({ imageId, version: null });
    const run2 = await tech.post('/api/v1/runs', { roomId: room.id, hostIds: [pc.id], steps: ['restore', 'verify'] });
    expect(run2.status).toBe(201);
    expect(run2.body.version.number).toBe(v2);
    await tech.post(`/api/v1/runs/${run2.body.id}/cancel`);

    // imageId null clears it.
    expect((await tech.patch(`/api/v1/rooms/${room.id}`, { imageId: null })).body).toMatchObject({ imageId: null, version: null });
  });
});
