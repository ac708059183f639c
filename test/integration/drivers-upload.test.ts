// Driver packs through the real API (issue 15 item 3): a resumable upload over real HTTP, cut off
// mid-way and resumed where the appliance says it stopped; the archive checked against its declared
// SHA-256 and refused when it is not a safe tar of .inf drivers.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/client.js';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';
import { DIALECTS } from '../support/env.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A tar.gz of `files` (relative name → content), made by GNU tar; `args`: more of tar's options. */
function makeTar(dir: string, name: string, files: Record<string, Buffer | string>, args: string[] = []): Buffer {
  const src = fs.mkdtempSync(path.join(dir, 'src-'));
  for (const [f, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(src, f)), { recursive: true });
    fs.writeFileSync(path.join(src, f), content);
  }
  const out = path.join(dir, name);
  execFileSync('tar', ['-czf', out, ...args, '-C', src, ...Object.keys(files)]);
  return fs.readFileSync(out);
}

describe.each(DIALECTS)('driver packs over the API on %s', (dialect) => {
  let app: TestApp;
  let tech: ApiClient;
  let viewer: ApiClient;
  let dir: string;
  const sys = randomBytes(3 * 1024 * 1024); // incompressible: the archive is about as large
  let pack: Buffer;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-drivers-'));
    app = await startTestApp(dialect);
    const admin = new ApiClient(app.url);
    expect((await admin.login('admin', TEST_ADMIN_PASSWORD)).status).toBe(200);
    tech = await admin.userClient('tech', 'technician');
    viewer = await admin.userClient('prof', 'viewer');
    pack = makeTar(dir, 'optiplex.tgz', { 'net/e1d.inf': '[Version]\r\nClass=Net\r\n', 'net/e1d.sys': sys, 'chipset/intel.INF': '[Version]\r\n' });
  }, 60_000);
  afterAll(async () => {
    await app?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const create = (name: string, archive: Buffer, over: Record<string, unknown> = {}) =>
    tech.post('/api/v1/driver-packs', { name, vendor: 'Dell Inc.', model: 'OptiPlex 70*', sizeBytes: archive.length, sha256: sha(archive), ...over });
  const put = (id: number, body: Buffer, offset = 0) => tech.request('PUT', `/api/v1/driver-packs/${id}/archive?offset=${offset}`, body, { contentType: 'application/octet-stream' });

  it('resumes an upload cut off mid-way from the bytes the appliance holds, then checks and unpacks it', async () => {
    expect((await viewer.post('/api/v1/driver-packs', { name: 'x', vendor: 'a', model: 'b', sizeBytes: 1, sha256: sha(Buffer.from('x')) })).status).toBe(403);
    const made = await create('optiplex-70', pack);
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    expect(made.body).toMatchObject({ state: 'uploading', receivedBytes: 0, sizeBytes: pack.length });
    const id = made.body.id as number;

    // A PUT announcing the whole archive, cut off after some of it reached the appliance.
    const url = new URL(`${app.url}/api/v1/driver-packs/${id}/archive?offset=0`);
    const cookie = (tech as any).cookie as string;
    const req = http.request(url, { method: 'PUT', headers: { cookie, 'x-csrf-token': tech.csrf!, 'content-type': 'application/octet-stream', 'content-length': pack.length } });
    const failed = new Promise((resolve) => req.on('error', resolve).on('response', resolve));
    const half = Math.floor(pack.length / 2);
    for (let at = 0; at < half; at += 64 * 1024) await new Promise<void>((resolve) => req.write(pack.subarray(at, Math.min(half, at + 64 * 1024)), () => resolve()));
    let held = 0;
    while (held === 0) held = (await viewer.get(`/api/v1/driver-packs/${id}`)).body.receivedBytes;
    req.destroy();
    await failed;

    const status = await viewer.request('HEAD', `/api/v1/driver-packs/${id}`);
    expect(status.status).toBe(200);
    const offset = Number(status.headers.get('upload-offset'));
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThanOrEqual(half);
    // Past the bytes held: refused, with where to resume.
    const ahead = await put(id, pack.subarray(half + 10), half + 10);
    expect(ahead.status).toBe(409);
    expect(ahead.body).toMatchObject({ code: 'upload_offset_mismatch', detail: expect.stringMatching(/holds \d+ bytes .*send the bytes from offset \d+/) });
    // The rest, named by Content-Range: the last byte in, the pack is checked and published.
    const rest = await tech.request('PUT', `/api/v1/driver-packs/${id}/archive`, pack.subarray(offset), {
      contentType: 'application/octet-stream',
      headers: { 'content-range': `bytes ${offset}-${pack.length - 1}/${pack.length}` },
    });
    expect(rest.status, JSON.stringify(rest.body)).toBe(200);
    expect(rest.body).toMatchObject({ state: 'ready', receivedBytes: pack.length, files: 3, unpackedBytes: sys.length + Buffer.byteLength('[Version]\r\nClass=Net\r\n[Version]\r\n'), error: null });
    const root = path.join(app.dataDir, 'drivers', 'packs', String(id));
    expect(sha(fs.readFileSync(path.join(root, 'archive')))).toBe(sha(pack));
    expect(fs.readFileSync(path.join(root, 'files', 'net', 'e1d.sys')).equals(sys)).toBe(true);
    expect(fs.readdirSync(path.join(app.dataDir, 'drivers', 'packs'))).toEqual([String(id)]);
    expect(fs.readdirSync(path.join(app.dataDir, 'drivers', 'uploads'))).toEqual([]);
    expect((await viewer.get('/api/v1/driver-packs')).body.map((p: any) => [p.name, p.state])).toEqual([['optiplex-70', 'ready']]);
  }, 60_000);

  it('drops an archive whose SHA-256 is not the declared one, and the pack waits for it from byte 0', async () => {
    const made = await create('wrong-hash', pack, { sha256: sha(Buffer.from('another file')) });
    const r = await put(made.body.id, pack);
    expect(r.status).toBe(422);
    expect(r.body).toMatchObject({ code: 'driver_pack_hash_mismatch', detail: expect.stringMatching(/it was dropped.*upload it again from byte 0/) });
    expect((await viewer.get(`/api/v1/driver-packs/${made.body.id}`)).body).toMatchObject({ state: 'uploading', receivedBytes: 0 });
  });

  it('refuses an archive with a name outside its folder, one without .inf, and one that is not a tar: the pack is damaged and nothing is published', async () => {
    const cases: Array<[string, Buffer, string]> = [
      ['escape', makeTar(dir, 'escape.tgz', { 'net/e1d.inf': 'x' }, ['--transform', 's,^,../../,']), 'driver_pack_unsafe_path'],
      ['no-inf', makeTar(dir, 'noinf.tgz', { 'setup.exe': 'MZ', 'readme.txt': 'x' }), 'driver_pack_no_inf'],
      ['zip', Buffer.concat([Buffer.from('PK\x03\x04'), randomBytes(4000)]), 'driver_pack_not_tar'],
    ];
    for (const [name, archive, code] of cases) {
      const made = await create(name, archive);
      const r = await put(made.body.id, archive);
      expect(r.status, name).toBe(422);
      expect(r.body.code, name).toBe(code);
      expect((await viewer.get(`/api/v1/driver-packs/${made.body.id}`)).body, name).toMatchObject({ state: 'damaged', error: r.body.detail });
      expect(fs.existsSync(path.join(app.dataDir, 'drivers', 'packs', String(made.body.id))), name).toBe(false);
    }
    expect(fs.readdirSync(path.join(app.dataDir, 'drivers'))).toEqual(['packs', 'uploads']);
    expect(fs.existsSync(path.join(app.dataDir, 'net'))).toBe(false);
    expect(fs.readdirSync(path.join(app.dataDir, 'drivers', 'packs')).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('says which pack a PC gets, or why none', async () => {
    const host = await tech.post('/api/v1/hosts', { name: 'B204-PC01', mac: '02:5e:15:00:01:01' });
    const m = await viewer.get(`/api/v1/hosts/${host.body.id}/driver-pack`);
    expect(m.status).toBe(200);
    expect(m.body).toMatchObject({ pack: null, code: 'no_facts', reason: { fr: expect.stringContaining("n'a pas encore indiqué") } });
  });
});

describe.skipIf(process.getuid?.() !== 0)('driver packs on a full disk (a 1 MiB tmpfs under the data directory)', () => {
  let app: TestApp;
  let tech: ApiClient;
  let mnt = '';

  beforeAll(async () => {
    app = await startTestApp('sqlite');
    const admin = new ApiClient(app.url);
    await admin.login('admin', TEST_ADMIN_PASSWORD);
    tech = await admin.userClient('tech', 'technician');
    mnt = path.join(app.dataDir, 'drivers');
    fs.mkdirSync(mnt, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
  }, 60_000);
  afterAll(async () => {
    if (mnt) execFileSync('umount', [mnt]);
    await app?.stop();
  });

  it('answers 507 with what to do, keeps the bytes held before the piece, and publishes nothing', async () => {
    const archive = randomBytes(2 * 1024 * 1024);
    const made = await tech.post('/api/v1/driver-packs', { name: 'big', vendor: 'HP', model: '*', sizeBytes: archive.length, sha256: sha(archive) });
    const first = await tech.request('PUT', `/api/v1/driver-packs/${made.body.id}/archive?offset=0`, archive.subarray(0, 300_000), { contentType: 'application/octet-stream' });
    expect(first.body).toMatchObject({ state: 'uploading', receivedBytes: 300_000 });
    const r = await tech.request('PUT', `/api/v1/driver-packs/${made.body.id}/archive?offset=300000`, archive.subarray(300_000), { contentType: 'application/octet-stream' });
    expect(r.status).toBe(507);
    expect(r.body).toMatchObject({ code: 'insufficient_storage', detail: expect.stringMatching(/disk is full .*Free some space.*resume the upload/) });
    expect((await tech.get(`/api/v1/driver-packs/${made.body.id}`)).body).toMatchObject({ state: 'uploading', receivedBytes: 300_000 });
    expect(fs.existsSync(path.join(mnt, 'packs'))).toBe(false);
  }, 60_000);
});
