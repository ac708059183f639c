// POST /api/v1/network/preflight through the real api and worker roles (real Redis, SQLite): the api
// asks the worker (a job on the housekeeping queue), the worker runs the pre-flight on its interface
// and answers. The interface here does not exist, so nothing is sent on the host's networks: the
// answer is the unicast fallback with its reason. Technicians may run it, viewers may not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.js';
import { ApiClient } from '../support/client.js';

describe('the on-demand network pre-flight (api → worker)', () => {
  let app: TestApp;
  let admin: ApiClient;

  beforeAll(async () => {
    app = await startTestApp('sqlite', { ROOMCAST_MULTICAST_INTERFACE: 'rcnosuch0' });
    admin = new ApiClient(app.url);
    expect((await admin.login('admin', app.adminPassword)).status).toBe(200);
  }, 60_000);

  afterAll(async () => {
    await app?.stop();
  });

  it('answers with the worker\'s result: multicast impossible on a missing interface, with the reason in English and French', async () => {
    const tech = await admin.userClient('tech1', 'technician');
    const r = await tech.request('POST', '/api/v1/network/preflight', {});
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ available: true, result: { interface: 'rcnosuch0', address: null, verdict: 'unicast', fallback: { code: 'preflight_no_interface' }, pxe: null, querier: null } });
    expect(r.body.result.fallback.text).toContain('"rcnosuch0" does not exist');
    expect(r.body.result.fallback.fr).toContain('restaurés en unicast');
  });

  it('is refused to a viewer and without a login', async () => {
    const viewer = await admin.userClient('view1', 'viewer');
    expect((await viewer.request('POST', '/api/v1/network/preflight', {})).status).toBe(403);
    expect((await new ApiClient(app.url).request('POST', '/api/v1/network/preflight', {})).status).toBe(401);
  });
});
