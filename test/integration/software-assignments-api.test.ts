// Software assignments through the real API (issue 16 item 4) on SQLite and PostgreSQL: technicians
// assign and unassign, viewers read a PC's effective list, problems come back with their codes, and a
// PC's machine token reads its own ordered list and downloads a file by the URL given, checked against
// its SHA-256; no secret property value in any answer.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/client.js';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';
import { DIALECTS } from '../support/env.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const SECRET = `SW-KEY-${randomBytes(6).toString('hex')}`;

describe.each(DIALECTS)('software assignments over the API on %s', (dialect) => {
  let app: TestApp;
  let tech: ApiClient;
  let viewer: ApiClient;
  let admin: ApiClient;
  let roomId: number;
  let hostId: number;
  let hostToken: string;
  const files: Record<string, Buffer> = {};

  async function addReady(id: string, dependsOn: string[] = []) {
    const b = randomBytes(50_000);
    files[id] = b;
    const made = await tech.post('/api/v1/software/packages', {
      manifest: {
        id, version: '1.0', name: `Test ${id}`, publisher: 'roomcast tests', dependsOn,
        files: [{ name: `${id}.msi`, sizeBytes: b.length, sha256: sha(b) }],
        install: { command: `msiexec /i ${id}.msi /qn KEY={{key}}`, timeoutMinutes: 20 },
        properties: [{ name: 'key', type: 'string', secret: true, label: { fr: 'Clé', en: 'Key' } }],
        detection: { type: 'uninstall_entry', displayName: `Test ${id}` },
      },
      values: { key: SECRET },
    });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const put = await tech.request('PUT', `/api/v1/software/packages/${made.body.id}/files/0?offset=0`, b, { contentType: 'application/octet-stream' });
    expect(put.body.state).toBe('ready');
  }

  beforeAll(async () => {
    app = await startTestApp(dialect);
    admin = new ApiClient(app.url);
    expect((await admin.login('admin', TEST_ADMIN_PASSWORD)).status).toBe(200);
    tech = await admin.userClient('tech', 'technician');
    viewer = await admin.userClient('prof', 'viewer');
    roomId = (await tech.post('/api/v1/rooms', { name: 'C101' })).body.id;
    hostId = (await tech.post('/api/v1/hosts', { name: 'C101-01', mac: '02:5e:16:00:01:01', roomId })).body.id;
    hostToken = await app.container.tokens.issue({ purpose: 'task', mac: '02:5e:16:00:01:01', taskId: 1, hostId });
    await addReady('dotnet');
    await addReady('archiwizard', ['dotnet']);
  }, 60_000);
  afterAll(async () => {
    await app?.stop();
  });

  it('lets technicians assign, everyone logged in read, and says why a change is refused', async () => {
    const body = { roomId, packageId: 'archiwizard' };
    expect((await new ApiClient(app.url).post('/api/v1/software/assignments', body)).status).toBe(401);
    expect((await viewer.post('/api/v1/software/assignments', body)).status).toBe(403);
    const refused = await tech.post('/api/v1/software/assignments', body);
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({ code: 'software_dependency_unassigned', detail: expect.stringContaining('archiwizard depends on dotnet') });
    expect((await tech.post('/api/v1/software/assignments', { roomId, hostId, packageId: 'dotnet' })).status).toBe(400);
    expect((await tech.post('/api/v1/software/assignments', { roomId, packageId: 'dotnet' })).status).toBe(200);
    const aw = await tech.post('/api/v1/software/assignments', body);
    expect(aw.body).toMatchObject({ roomId, hostId: null, packageId: 'archiwizard', version: null, exclude: false });
    expect((await viewer.get(`/api/v1/software/assignments?roomId=${roomId}`)).body.map((a: any) => a.packageId)).toEqual(['dotnet', 'archiwizard']);
    const eff = await viewer.get(`/api/v1/software/hosts/${hostId}`);
    expect(eff.status).toBe(200);
    expect(eff.body.entries.map((e: any) => [e.packageId, e.version, e.from, e.state])).toEqual([['dotnet', '1.0', 'room', 'ready'], ['archiwizard', '1.0', 'room', 'ready']]);
    const del = await tech.delete(`/api/v1/software/packages/${eff.body.entries[0].versionId}`);
    expect(del.status).toBe(409);
    expect(del.body.code).toBe('software_package_assigned');
  });

  it('gives a PC its ordered list with download URLs that its token can fetch, and no secret', async () => {
    expect((await new ApiClient(app.url).get('/api/v1/client/software/assignments')).status).toBe(401);
    const res = await fetch(`${app.url}/api/v1/client/software/assignments`, { headers: { authorization: `Bearer ${hostToken}` } });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toContain(SECRET);
    const got = JSON.parse(text);
    expect(got.hostId).toBe(hostId);
    expect(got.packages.map((p: any) => p.packageId)).toEqual(['dotnet', 'archiwizard']);
    expect(got.packages[1].values).toEqual({ key: { set: true } });
    const f = got.packages[1].files[0];
    expect(f).toMatchObject({ index: 0, name: 'archiwizard.msi', sizeBytes: 50_000, sha256: sha(files.archiwizard!) });
    const dl = await fetch(`${app.url}${f.url}`, { headers: { authorization: `Bearer ${hostToken}` } });
    expect(dl.status).toBe(200);
    expect(sha(Buffer.from(await dl.arrayBuffer()))).toBe(f.sha256);
  });

  it('unassigns (refused while another package needs it) and audits both', async () => {
    const rows = (await viewer.get(`/api/v1/software/assignments?roomId=${roomId}`)).body as any[];
    const dotnet = rows.find((r) => r.packageId === 'dotnet');
    const aw = rows.find((r) => r.packageId === 'archiwizard');
    expect((await viewer.delete(`/api/v1/software/assignments/${aw.id}`)).status).toBe(403);
    expect((await tech.delete(`/api/v1/software/assignments/${dotnet.id}`)).body.code).toBe('software_dependency_unassigned');
    expect((await tech.delete(`/api/v1/software/assignments/${aw.id}`)).status).toBe(204);
    expect((await tech.delete(`/api/v1/software/assignments/${dotnet.id}`)).status).toBe(204);
    expect((await viewer.get(`/api/v1/software/hosts/${hostId}`)).body.entries).toEqual([]);
    const audit = await admin.get('/api/v1/audit?targetType=software_assignment');
    expect(audit.body.map((a: any) => a.action).reverse()).toEqual(['software_assignment.assign', 'software_assignment.assign', 'software_assignment.unassign', 'software_assignment.unassign']);
  });
});
