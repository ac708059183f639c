// The software package store through the real API (issue 16 item 2) on SQLite and PostgreSQL: a
// package version added from its manifest, its installer files uploaded in resumable pieces (one cut
// off mid-way and resumed where the appliance says), each checked against its SHA-256, the version seen
// by PCs only once every file is; downloads with HTTP Range for technicians and for a PC's machine
// token; a secret property value never in an answer, the log, or the database in clear.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/client.js';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';
import { DIALECTS } from '../support/env.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const SECRET = `SW-SERIAL-${randomBytes(6).toString('hex')}`;
const SECRET2 = `SW-SERIAL-${randomBytes(6).toString('hex')}`;

function manifest(id: string, version: string, files: Array<[string, Buffer]>, over: Record<string, unknown> = {}) {
  return {
    id, version, name: `Test ${id}`, publisher: 'roomcast tests',
    files: files.map(([name, b]) => ({ name, sizeBytes: b.length, sha256: sha(b) })),
    install: { command: 'StartSWInstall.exe /install /now /server {{licenceServer}}', timeoutMinutes: 120, waitForProcesses: ['sldIM.exe'] },
    properties: [
      { name: 'licenceServer', type: 'string', required: true, label: { fr: 'Serveur de licences', en: 'Licence server' } },
      { name: 'serialNumber', type: 'string', secret: true, label: { fr: 'Numéro de série', en: 'Serial number' } },
    ],
    detection: { type: 'msi_product_code', productCode: '{7A1E1C6B-3E1F-4B5D-9C1A-2B3C4D5E6F70}' },
    ...over,
  };
}

/** GET with a bearer token (or none) and a Range, as bytes. */
async function fetchBytes(url: string, opts: { token?: string; cookie?: string; range?: string } = {}) {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.cookie) headers.cookie = opts.cookie;
  if (opts.range) headers.range = opts.range;
  const res = await fetch(url, { headers });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

describe.each(DIALECTS)('software package store over the API on %s', (dialect) => {
  let app: TestApp;
  let tech: ApiClient;
  let viewer: ApiClient;
  let admin: ApiClient;
  let hostToken: string;
  let otherToken: string;
  let hostId: number;
  let registerToken: string;
  const logLines: string[] = [];
  const big = randomBytes(3 * 1024 * 1024);
  const small = randomBytes(100_000);

  beforeAll(async () => {
    app = await startTestApp(dialect, {}, { log: pino({ level: 'trace' }, { write: (line: string) => void logLines.push(line) }) });
    admin = new ApiClient(app.url);
    expect((await admin.login('admin', TEST_ADMIN_PASSWORD)).status).toBe(200);
    tech = await admin.userClient('tech', 'technician');
    viewer = await admin.userClient('prof', 'viewer');
    const roomId = (await tech.post('/api/v1/rooms', { name: 'D201' })).body.id as number;
    hostId = (await tech.post('/api/v1/hosts', { name: 'D201-01', mac: '02:5e:16:00:00:01', roomId })).body.id as number;
    const otherId = (await tech.post('/api/v1/hosts', { name: 'D202-01', mac: '02:5e:16:00:00:03' })).body.id as number;
    hostToken = await app.container.tokens.issue({ purpose: 'task', mac: '02:5e:16:00:00:01', taskId: 1, hostId });
    otherToken = await app.container.tokens.issue({ purpose: 'task', mac: '02:5e:16:00:00:03', taskId: 2, hostId: otherId });
    registerToken = await app.container.tokens.issue({ purpose: 'register', mac: '02:5e:16:00:00:02' });
  }, 60_000);
  afterAll(async () => {
    await app?.stop();
  });

  const put = (id: number, idx: number, body: Buffer, offset = 0) => tech.request('PUT', `/api/v1/software/packages/${id}/files/${idx}?offset=${offset}`, body, { contentType: 'application/octet-stream' });
  const client = (p: string) => fetchBytes(`${app.url}/api/v1/client/software${p}`, { token: hostToken });

  it('resumes a cut-off upload, hashes each file, and shows the version to PCs only when all its files are there', async () => {
    const body = { manifest: manifest('solidworks', '2025.1-1', [['StartSWInstall.exe', small], ['swdata.zip', big]]), values: { licenceServer: '25734@licences.lycee.local', serialNumber: SECRET } };
    expect((await new ApiClient(app.url).post('/api/v1/software/packages', body)).status).toBe(401);
    expect((await viewer.post('/api/v1/software/packages', body)).status).toBe(403);
    const made = await tech.post('/api/v1/software/packages', body);
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    expect(made.body).toMatchObject({ packageId: 'solidworks', state: 'uploading', values: { licenceServer: '25734@licences.lycee.local', serialNumber: { set: true } } });
    expect(made.body.files.map((f: any) => [f.name, f.state, f.receivedBytes])).toEqual([['StartSWInstall.exe', 'uploading', 0], ['swdata.zip', 'uploading', 0]]);
    const id = made.body.id as number;
    expect((await tech.post('/api/v1/software/packages', body)).body).toMatchObject({ code: 'software_package_exists' });

    // Not ready: a PC does not see it.
    expect((await client('/packages')).body.toString()).toBe('[]');
    expect((await client(`/packages/${id}`)).status).toBe(404);

    // File 1 sent whole by a PUT cut off after part of it reached the appliance.
    const url = new URL(`${app.url}/api/v1/software/packages/${id}/files/1?offset=0`);
    const req = http.request(url, { method: 'PUT', headers: { cookie: (tech as any).cookie, 'x-csrf-token': tech.csrf!, 'content-type': 'application/octet-stream', 'content-length': big.length } });
    const ended = new Promise((resolve) => req.on('error', resolve).on('response', resolve));
    const half = Math.floor(big.length / 2);
    for (let at = 0; at < half; at += 64 * 1024) await new Promise<void>((resolve) => req.write(big.subarray(at, Math.min(half, at + 64 * 1024)), () => resolve()));
    let held = 0;
    while (held === 0) held = (await viewer.get(`/api/v1/software/packages/${id}`)).body.files[1].receivedBytes;
    req.destroy();
    await ended;
    let offset = 0;
    for (let i = 0; i < 50 && offset < held; i++) offset = (await viewer.get(`/api/v1/software/packages/${id}`)).body.files[1].receivedBytes;
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThanOrEqual(half);
    const ahead = await put(id, 1, big.subarray(half + 10), half + 10);
    expect(ahead.status).toBe(409);
    expect(ahead.body).toMatchObject({ code: 'upload_offset_mismatch', detail: expect.stringMatching(/holds \d+ bytes of file 1 \(swdata.zip\).*send the bytes from offset \d+/) });
    const rest = await tech.request('PUT', `/api/v1/software/packages/${id}/files/1`, big.subarray(offset), { contentType: 'application/octet-stream', headers: { 'content-range': `bytes ${offset}-${big.length - 1}/${big.length}` } });
    expect(rest.status, JSON.stringify(rest.body)).toBe(200);
    expect(rest.body).toMatchObject({ state: 'uploading', files: [{ state: 'uploading', receivedBytes: 0 }, { state: 'ready', receivedBytes: big.length }] });
    expect((await client(`/packages/${id}`)).status).toBe(404);

    const last = await put(id, 0, small);
    expect(last.body).toMatchObject({ state: 'ready', files: [{ state: 'ready' }, { state: 'ready' }] });
    const dir = path.join(app.dataDir, 'software');
    expect(fs.readdirSync(path.join(dir, 'packages', String(id))).sort()).toEqual(['StartSWInstall.exe', 'swdata.zip']);
    expect(sha(fs.readFileSync(path.join(dir, 'packages', String(id), 'swdata.zip')))).toBe(sha(big));
    expect(fs.readdirSync(path.join(dir, 'uploads', String(id)))).toEqual([]);

    // Ready, but assigned to no PC: no PC reads it.
    expect((await client(`/packages/${id}`)).status).toBe(404);
    expect((await client(`/packages/${id}/files/0`)).status).toBe(404);
    expect((await tech.post('/api/v1/software/assignments', { hostId, packageId: 'solidworks' })).status).toBe(200);

    // Another PC, not assigned the package, still reads nothing of it (an admin image may hold serial numbers).
    const other = (p: string) => fetchBytes(`${app.url}/api/v1/client/software${p}`, { token: otherToken });
    expect((await other('/packages')).body.toString()).toBe('[]');
    expect((await other(`/packages/${id}`)).status).toBe(404);
    expect((await other(`/packages/${id}/files/1`)).status).toBe(404);

    // Now the PC it is assigned to sees it and downloads with Range.
    const seen = await client(`/packages/${id}`);
    expect(seen.status).toBe(200);
    expect(JSON.parse(seen.body.toString())).toMatchObject({ state: 'ready', manifest: { install: { waitForProcesses: ['sldIM.exe'] } }, values: { serialNumber: { set: true } } });
    expect(JSON.parse((await client('/packages')).body.toString()).map((v: any) => v.id)).toEqual([id]);
    const whole = await client(`/packages/${id}/files/1`);
    expect(whole.status).toBe(200);
    expect(sha(whole.body)).toBe(sha(big));
    const part = await fetchBytes(`${app.url}/api/v1/client/software/packages/${id}/files/1`, { token: hostToken, range: 'bytes=1000000-1999999' });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 1000000-1999999/${big.length}`);
    expect(part.body.equals(big.subarray(1_000_000, 2_000_000))).toBe(true);
    const tail = await fetchBytes(`${app.url}/api/v1/client/software/packages/${id}/files/0`, { token: hostToken, range: `bytes=-${small.length + 50}` });
    expect([tail.status, tail.body.equals(small)]).toEqual([206, true]);
    // Technicians download too; a viewer, no token, or a token naming no PC may not.
    const byTech = await fetchBytes(`${app.url}/api/v1/software/packages/${id}/files/0`, { cookie: (tech as any).cookie, range: 'bytes=0-99' });
    expect([byTech.status, byTech.body.equals(small.subarray(0, 100))]).toEqual([206, true]);
    expect((await fetchBytes(`${app.url}/api/v1/software/packages/${id}/files/0`, { cookie: (viewer as any).cookie })).status).toBe(403);
    expect((await fetchBytes(`${app.url}/api/v1/client/software/packages/${id}/files/0`)).status).toBe(401);
    const reg = await fetchBytes(`${app.url}/api/v1/client/software/packages/${id}/files/0`, { token: registerToken });
    expect([reg.status, JSON.parse(reg.body.toString()).code]).toEqual([403, 'not_a_host_token']);
    expect((await fetchBytes(`${app.url}/api/v1/client/software/packages/${id}/files/0`, { cookie: (tech as any).cookie })).status).toBe(401);
  }, 60_000);

  it('keeps a file the api renamed into place just before it stopped: an empty piece at its end checks it and makes the version ready', async () => {
    const bytes = randomBytes(120_000);
    const made = await tech.post('/api/v1/software/packages', { manifest: manifest('firefox', '140.5-1', [['Firefox.msi', bytes]]), values: { licenceServer: '1@x' } });
    const id = made.body.id as number;
    // The state an api killed between the rename and the database's update leaves: the whole file in place, no part, the row uploading.
    const dir = path.join(app.dataDir, 'software');
    fs.mkdirSync(path.join(dir, 'packages', String(id)), { recursive: true });
    fs.writeFileSync(path.join(dir, 'packages', String(id), 'Firefox.msi'), bytes);
    expect((await viewer.get(`/api/v1/software/packages/${id}`)).body).toMatchObject({ state: 'uploading', files: [{ state: 'uploading', receivedBytes: bytes.length }] });
    const again = await put(id, 0, Buffer.alloc(0), bytes.length);
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body).toMatchObject({ state: 'ready', files: [{ state: 'ready', receivedBytes: bytes.length }] });
    // A file that does not hash right is dropped and waits for an upload from byte 0.
    const other = await tech.post('/api/v1/software/packages', { manifest: manifest('firefox', '140.5-2', [['Firefox.msi', bytes]]), values: { licenceServer: '1@x' } });
    fs.mkdirSync(path.join(dir, 'packages', String(other.body.id)), { recursive: true });
    fs.writeFileSync(path.join(dir, 'packages', String(other.body.id), 'Firefox.msi'), randomBytes(bytes.length));
    expect((await put(other.body.id, 0, Buffer.alloc(0), bytes.length)).body).toMatchObject({ code: 'software_file_hash_mismatch' });
    expect((await viewer.get(`/api/v1/software/packages/${other.body.id}`)).body).toMatchObject({ files: [{ state: 'uploading', receivedBytes: 0 }] });
  });

  it('drops a file whose SHA-256 is not the declared one: it waits for an upload from byte 0', async () => {
    const declared = randomBytes(50_000);
    const made = await tech.post('/api/v1/software/packages', { manifest: manifest('geogebra', '6.0-1', [['geogebra.msi', declared]]), values: { licenceServer: '1@x' } });
    const r = await put(made.body.id, 0, randomBytes(50_000));
    expect(r.status).toBe(422);
    expect(r.body).toMatchObject({ code: 'software_file_hash_mismatch', detail: expect.stringMatching(/not to the declared SHA-256 .*it was dropped.*upload it again from byte 0/) });
    expect((await viewer.get(`/api/v1/software/packages/${made.body.id}`)).body).toMatchObject({ state: 'uploading', files: [{ state: 'uploading', receivedBytes: 0 }] });
    expect((await client(`/packages/${made.body.id}`)).status).toBe(404);
    expect((await put(made.body.id, 0, declared)).body).toMatchObject({ state: 'ready' });
  });

  it('makes a version ready when its files are uploaded at the same time and end together', async () => {
    const files = Array.from({ length: 4 }, (_, i) => [`part${i}.cab`, randomBytes(400_000)] as [string, Buffer]);
    const made = await tech.post('/api/v1/software/packages', { manifest: manifest('office', '2024-1', files), values: {} });
    const answers = await Promise.all(files.map(([, b], i) => put(made.body.id, i, b)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    expect((await viewer.get(`/api/v1/software/packages/${made.body.id}`)).body).toMatchObject({ state: 'ready' });
    expect((await tech.post('/api/v1/software/assignments', { hostId, packageId: 'office' })).status).toBe(200);
    expect(JSON.parse((await client('/packages')).body.toString()).map((v: any) => v.packageId)).toContain('office');
  });

  it('refuses a manifest with a clear message, a dependency missing from the store, and a dependency cycle', async () => {
    const bad = await tech.post('/api/v1/software/packages', { manifest: { ...manifest('x', '1', [['a.exe', small]]), install: { command: 'a.exe {{serial}}', timeoutMinutes: 5 } } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('the command names {{serial}}, which is not a property of the package');
    const one = (id: string, v: string, dependsOn: string[]) => tech.post('/api/v1/software/packages', { manifest: manifest(id, v, [['setup.exe', small]], { dependsOn }) });
    expect((await one('matlab', '1', ['vcredist'])).body).toMatchObject({ code: 'package_dependency_missing', detail: 'matlab depends on vcredist, which is not in the store: add vcredist first, or remove it from dependsOn' });
    expect((await one('vcredist', '1', [])).status).toBe(201);
    expect((await one('matlab', '1', ['vcredist'])).status).toBe(201);
    const cycle = await one('vcredist', '2', ['matlab']);
    expect(cycle.status).toBe(422);
    expect(cycle.body).toMatchObject({ code: 'package_dependency_cycle', detail: expect.stringContaining('vcredist → matlab → vcredist') });
    expect((await one('vcredist', '2', [])).status).toBe(201);
  });

  it('keeps a secret value sealed: set or not in answers, never in an answer, the log or the database in clear; audits create and delete', async () => {
    const made = await tech.post('/api/v1/software/packages', { manifest: manifest('labview', '2025-1', [['setup.exe', small]]), values: { licenceServer: '27000@lic', serialNumber: SECRET2 } });
    const id = made.body.id as number;
    const bad = await tech.request('PUT', `/api/v1/software/packages/${id}/values`, { serialNumber: 42 });
    expect(bad.body).toMatchObject({ code: 'software_values_invalid', detail: 'property values: serialNumber: a text of at most 2000 characters' });
    const cleared = await tech.request('PUT', `/api/v1/software/packages/${id}/values`, { serialNumber: null });
    expect(cleared.body.values).toEqual({ licenceServer: '27000@lic', serialNumber: { set: false } });
    const again = await tech.request('PUT', `/api/v1/software/packages/${id}/values`, { serialNumber: SECRET2 });
    expect(again.body.values.serialNumber).toEqual({ set: true });
    expect((await tech.request('PUT', `/api/v1/software/packages/${id}/values`, { licenceServer: '27001@lic' })).body.values).toEqual({ licenceServer: '27001@lic', serialNumber: { set: true } });

    const rows = await app.container.database.db.selectFrom('software_package_versions').selectAll().execute();
    const sealed = JSON.parse(rows.find((r) => r.id === id)!.secret_values);
    expect(sealed.serialNumber).toMatch(/^v1:/);
    expect((await tech.delete(`/api/v1/software/packages/${id}`)).status).toBe(204);
    expect(fs.existsSync(path.join(app.dataDir, 'software', 'packages', String(id)))).toBe(false);
    const audit = await admin.get('/api/v1/audit?targetType=software_package');
    expect(audit.body.filter((e: any) => e.targetId === String(id)).map((e: any) => e.action)).toEqual(expect.arrayContaining(['software_package.create', 'software_package.values', 'software_package.delete']));

    // A value refused by the request's schema: the answer says why, not what.
    const tooLong = await tech.post('/api/v1/software/packages', { manifest: manifest('labview', '2025-9', [['setup.exe', small]]), values: { serialNumber: SECRET2.repeat(200) } });
    expect(tooLong.status).toBe(400);

    // Every answer given so far and every log line: no secret.
    const answers = [JSON.stringify(tooLong.body), JSON.stringify(bad.body), JSON.stringify(made.body), JSON.stringify(again.body), JSON.stringify((await viewer.get('/api/v1/software/packages')).body), JSON.stringify(audit.body)];
    for (const text of [...answers, JSON.stringify(rows), ...logLines]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(SECRET2);
    }
    expect(logLines.length).toBeGreaterThan(10);
  });
});

describe.skipIf(process.getuid?.() !== 0)('software store on a small disk (a 1 MiB tmpfs under the data directory)', () => {
  let app: TestApp;
  let tech: ApiClient;
  let mnt = '';

  beforeAll(async () => {
    app = await startTestApp('sqlite');
    const admin = new ApiClient(app.url);
    await admin.login('admin', TEST_ADMIN_PASSWORD);
    tech = await admin.userClient('tech', 'technician');
    mnt = path.join(app.dataDir, 'software');
    fs.mkdirSync(mnt, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
  }, 60_000);
  afterAll(async () => {
    if (mnt) execFileSync('umount', [mnt]);
    await app?.stop();
  });

  it('refuses a version larger than the free space, and a piece that cannot fit, before writing anything', async () => {
    const huge = randomBytes(2 * 1024 * 1024);
    const refused = await tech.post('/api/v1/software/packages', { manifest: manifest('big', '1', [['big.iso', huge]]), values: {} });
    expect(refused.status).toBe(507);
    expect(refused.body).toMatchObject({ code: 'insufficient_storage', detail: expect.stringMatching(/take 2097152 bytes and \d+ are free; nothing was added/) });
    expect((await tech.get('/api/v1/software/packages')).body).toEqual([]);

    const file = randomBytes(600 * 1024);
    const made = await tech.post('/api/v1/software/packages', { manifest: manifest('mid', '1', [['mid.msi', file]]), values: {} });
    expect(made.status).toBe(201);
    fs.writeFileSync(path.join(mnt, 'filler'), randomBytes(700 * 1024)); // something else takes the space meanwhile
    const r = await tech.request('PUT', `/api/v1/software/packages/${made.body.id}/files/0?offset=0`, file, { contentType: 'application/octet-stream' });
    expect(r.status).toBe(507);
    expect(r.body.detail).toMatch(/614400 bytes of file 0 \(mid.msi\) of package version \d+ are still to come and \d+ are free; nothing of this piece was written/);
    expect((await tech.get(`/api/v1/software/packages/${made.body.id}`)).body.files[0].receivedBytes).toBe(0);
    expect(fs.existsSync(path.join(mnt, 'uploads'))).toBe(false);
    fs.rmSync(path.join(mnt, 'filler'));
    expect((await tech.request('PUT', `/api/v1/software/packages/${made.body.id}/files/0?offset=0`, file, { contentType: 'application/octet-stream' })).body).toMatchObject({ state: 'ready' });
  }, 60_000);
});
