// Small things a careful client (or an attacker) notices: the home page, a clear 415 for a body that
// is not JSON, ids in plain decimal only, API tokens that cannot exceed their owner's role and expire
// by default, and suffix ranges as RFC 9110 says.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/client.js';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';

describe('API hygiene', () => {
  let app: TestApp;
  let admin: ApiClient;
  let roomId: number;

  beforeAll(async () => {
    app = await startTestApp('sqlite');
    admin = new ApiClient(app.url);
    await admin.login('admin', TEST_ADMIN_PASSWORD);
    roomId = (await admin.post('/api/v1/rooms', { name: 'B204' })).body.id;
  });
  afterAll(async () => {
    await app?.stop();
  });

  // GET / is the web UI when it is built (test/support/web-build.ts builds it for the tests), else a
  // short page saying where to go: web-serving.test.ts checks both.
  it('answers GET / with a page in French that says what this is', async () => {
    const r = await fetch(`${app.url}/`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/text\/html/);
    const html = await r.text();
    expect(html).toContain('roomcast');
    expect(html).toContain('lang="fr"');
  });

  it('answers 415 to a JSON route sent another content type, nothing changed', async () => {
    const r = await admin.request('POST', '/api/v1/rooms', '{"name":"B205"}', { contentType: 'text/plain' });
    expect(r.status).toBe(415);
    expect(r.body).toMatchObject({ code: 'unsupported_media_type', detail: expect.stringContaining('application/json') });
    expect((await admin.get('/api/v1/rooms')).body.map((x: { name: string }) => x.name)).toEqual(['B204']);
  });

  it('takes ids in plain decimal only', async () => {
    expect((await admin.get(`/api/v1/rooms/${roomId}`)).status).toBe(200);
    for (const bad of [`0x${roomId.toString(16)}`, `%20${roomId}`, `${roomId}.0`, `1e0`, `0${roomId}`, '-1', '0']) {
      const r = await admin.get(`/api/v1/rooms/${bad}`);
      expect(r.status, bad).toBe(400);
      expect(r.body.code, bad).toBe('validation_failed');
    }
    expect((await admin.get('/api/v1/tasks?hostId=0x1')).status).toBe(400);
    expect((await admin.get('/api/v1/rooms/999999')).status).toBe(404);
  });

  it('refuses an API token above its owner\'s role, and gives tokens a year unless told otherwise', async () => {
    const tech = await admin.userClient('tech1', 'technician');
    const above = await tech.post('/api/v1/tokens', { name: 'script', role: 'admin' });
    expect(above.status).toBe(403);
    expect(above.body.code).toBe('role_too_high');
    const plain = await tech.post('/api/v1/tokens', { name: 'script' });
    expect(plain.status).toBe(201);
    const days = (Date.parse(plain.body.expiresAt) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(364);
    expect(days).toBeLessThan(366);
    expect((await tech.post('/api/v1/tokens', { name: 'forever', expiresInDays: null })).body.expiresAt).toBeNull();
    expect((await tech.post('/api/v1/tokens', { name: 'lower', role: 'viewer', expiresInDays: 7 })).body).toMatchObject({ role: 'viewer' });
  });

  it('refuses a CSV import over 4 MB while reading it (413), and a 400,000-line file before parsing it', async () => {
    const big = await admin.request('POST', '/api/v1/hosts/import?dryRun=true', Buffer.alloc(5 * 1024 * 1024, 0x41), { contentType: 'text/csv' });
    expect(big.status).toBe(413);
    const lines = await admin.request('POST', '/api/v1/hosts/import?dryRun=true', `nom;mac\n${'\n'.repeat(400_000)}`, { contentType: 'text/csv' });
    expect(lines.status).toBe(200);
    expect(lines.body).toMatchObject({ applied: false, errors: [{ code: 'too_many_rows' }] });
  });

  it('dry-runs a 10,000-PC file (parsed on a worker thread) and reports every PC', async () => {
    const hex = (n: number) => n.toString(16).padStart(2, '0');
    const csv = ['nom;mac;salle', ...Array.from({ length: 10_000 }, (_, i) => `PC-${i};02:00:00:01:${hex(i >> 8)};B${i % 40}`.replace(/;B/, `:${hex(i & 255)};B`))].join('\n');
    const r = await admin.request('POST', '/api/v1/hosts/import?dryRun=true', csv, { contentType: 'text/csv' });
    expect(r.status, JSON.stringify(r.body).slice(0, 300)).toBe(200);
    expect(r.body).toMatchObject({ rows: 10_000, errors: [], summary: { hostsCreated: 10_000 } });
  });

  it('answers a suffix range longer than the file with the whole file (206), per RFC 9110', async () => {
    const dir = path.join(app.dataDir, 'client');
    fs.mkdirSync(dir, { recursive: true });
    const body = Buffer.alloc(1000, 7);
    fs.writeFileSync(path.join(dir, 'vmlinuz'), body);
    const whole = await fetch(`${app.url}/boot/client/vmlinuz`, { headers: { range: 'bytes=-5000' } });
    expect(whole.status).toBe(206);
    expect(whole.headers.get('content-range')).toBe('bytes 0-999/1000');
    expect(Buffer.from(await whole.arrayBuffer()).equals(body)).toBe(true);
    const tail = await fetch(`${app.url}/boot/client/vmlinuz`, { headers: { range: 'bytes=-10' } });
    expect(tail.status).toBe(206);
    expect(tail.headers.get('content-range')).toBe('bytes 990-999/1000');
  });

  it('builds the URLs of iPXE scripts from the configuration only: the public URL, else the boot IP, else none', async () => {
    const mac = '02:00:00:00:5c:01';
    const scriptFor = async (env: Record<string, string>) => {
      const other = await startTestApp('sqlite', env);
      try {
        const a = new ApiClient(other.url);
        await a.login('admin', TEST_ADMIN_PASSWORD);
        const host = (await a.post('/api/v1/hosts', { name: 'B204-URL', mac })).body.id;
        await a.post('/api/v1/tasks', { kind: 'inventory', hostIds: [host] });
        return { text: await (await fetch(`${other.url}/boot/ipxe?mac=${mac}`)).text(), url: other.url };
      } finally {
        await other.stop();
      }
    };
    expect((await scriptFor({ ROOMCAST_PUBLIC_URL: 'http://roomcast.ecole.lan:8080' })).text).toContain('kernel http://roomcast.ecole.lan:8080/boot/client/vmlinuz');
    const none = await scriptFor({ ROOMCAST_BOOT_IP: '' });
    expect(none.text).not.toContain('kernel');
    expect(none.text).toContain('ROOMCAST_BOOT_IP');
  });
});
