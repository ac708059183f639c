// The recipes shipped with roomcast through the real API (issue 16 item 3) on SQLite and PostgreSQL:
// listed to anyone logged in; a technician makes a package version from the MATLAB recipe with the
// licence server and the uploads' sizes and hashes, the network licence file made from the values is
// already in the store, and the version is ready once the technician has uploaded the two installer files.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/client.js';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';
import { DIALECTS } from '../support/env.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.each(DIALECTS)('software recipes over the API on %s', (dialect) => {
  let app: TestApp;
  let tech: ApiClient;
  let viewer: ApiClient;
  const mpm = randomBytes(50_000);
  const source = randomBytes(300_000);

  beforeAll(async () => {
    app = await startTestApp(dialect);
    const admin = new ApiClient(app.url);
    expect((await admin.login('admin', TEST_ADMIN_PASSWORD)).status).toBe(200);
    tech = await admin.userClient('tech', 'technician');
    viewer = await admin.userClient('prof', 'viewer');
  }, 60_000);
  afterAll(async () => {
    await app?.stop();
  });

  const body = (values: Record<string, unknown>) => ({ values, files: { 'mpm.exe': { sizeBytes: mpm.length, sha256: sha(mpm) }, 'matlab-source.zip': { sizeBytes: source.length, sha256: sha(source) } } });

  it('lists the recipes to anyone logged in, and to no one else', async () => {
    expect((await new ApiClient(app.url).request('GET', '/api/v1/software/recipes')).status).toBe(401);
    const list = await viewer.request<Array<{ id: string; installerTechnology: string; uploads: Array<{ name: string }>; toConfirm: unknown[] }>>('GET', '/api/v1/software/recipes');
    expect(list.status).toBe(200);
    expect(list.body.map((r) => r.id)).toEqual(['matlab-r2025b', 'solidworks-2025', 'labview-2025', 'archiwizard', 'libreoffice', 'geogebra-classic', 'firefox-esr']);
    expect(list.body.find((r) => r.id === 'archiwizard')).toMatchObject({ installerTechnology: 'to_detect', uploads: [{ name: 'ArchiWIZARD-setup.exe' }] });
  });

  it('lets only a technician make a package version from a recipe', async () => {
    expect((await new ApiClient(app.url).request('POST', '/api/v1/software/recipes/matlab-r2025b/packages', body({ licenceHost: 'lic' }))).status).toBe(401);
    const refused = await viewer.request('POST', '/api/v1/software/recipes/matlab-r2025b/packages', body({ licenceHost: 'lic' }));
    expect(refused.status).toBe(403);
    expect((await tech.request('GET', '/api/v1/software/packages')).body).toEqual([]);
  });

  it('makes MATLAB\'s package version with its licence file in the store, ready once the two uploads are there', async () => {
    expect((await tech.request('POST', '/api/v1/software/recipes/nope/packages', body({}))).status).toBe(404);
    const missing = await tech.request('POST', '/api/v1/software/recipes/matlab-r2025b/packages', body({}));
    expect(missing.status).toBe(422);
    expect(missing.body.detail).toContain('licenceHost: required');

    const made = await tech.request('POST', '/api/v1/software/recipes/matlab-r2025b/packages', body({ licenceHost: 'licences.lycee.local', products: 'MATLAB Simulink' }));
    expect(made.status).toBe(201);
    const lic = Buffer.from('SERVER licences.lycee.local ANY 27000\r\nUSE_SERVER\r\n');
    expect(made.body).toMatchObject({ packageId: 'matlab-r2025b', version: '25.2-1', state: 'uploading', values: { licenceHost: 'licences.lycee.local', products: 'MATLAB Simulink' } });
    expect(made.body.files).toEqual([
      { index: 0, name: 'mpm.exe', sizeBytes: mpm.length, sha256: sha(mpm), state: 'uploading', receivedBytes: 0 },
      { index: 1, name: 'matlab-source.zip', sizeBytes: source.length, sha256: sha(source), state: 'uploading', receivedBytes: 0 },
      { index: 2, name: 'network.lic', sizeBytes: lic.length, sha256: sha(lic), state: 'ready', receivedBytes: lic.length },
    ]);
    const id = made.body.id as number;
    const got = await fetch(`${app.url}/api/v1/software/packages/${id}/files/2`, { headers: { cookie: (tech as unknown as { cookie: string }).cookie } });
    expect(Buffer.from(await got.arrayBuffer())).toEqual(lic);

    for (const [idx, b] of [[0, mpm], [1, source]] as const) expect((await tech.request('PUT', `/api/v1/software/packages/${id}/files/${idx}?offset=0`, b, { contentType: 'application/octet-stream' })).status).toBe(200);
    expect((await viewer.request('GET', `/api/v1/software/packages/${id}`)).body.state).toBe('ready');
    expect((await tech.request('POST', '/api/v1/software/recipes/matlab-r2025b/packages', body({ licenceHost: 'lic' }))).status).toBe(409);
  });
});
