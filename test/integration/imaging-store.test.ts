// The image store and the capture/restore API through the real server, on SQLite and PostgreSQL, with
// the real Redis. A fake boot client built here makes small manifests by hand (random data windows,
// masked and compressed with zstd like the real client), says hello with the task's boot token and
// talks to /api/v1/client/* with the 24-hour task token from the hello answer.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../services/core/db/index.js';
import { DEFAULT_CHUNK_SIZE, type Manifest } from '../../services/imaging/format.js';
import { ImageStore } from '../../services/imaging/store.js';
import { ApiClient } from '../support/client.js';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';
import { DIALECTS } from '../support/env.js';
import { hardwareFacts } from '../support/facts.js';
import { buildImage, SMALL_CHUNK, type Built } from '../support/images.js';

const CS = SMALL_CHUNK;
const MIB = 1024 * 1024;
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

const distinct = (m: Manifest) => [...new Set([...m.bootArea.chunks, ...m.partitions.flatMap((p) => p.chunks)].map((c) => c.hash))].sort();

const facts = (mac: string) => hardwareFacts(mac);

const TSX = path.resolve('node_modules/.bin/tsx');
const CLI = path.resolve('services/imaging/cli.ts');

function runCli(app: TestApp, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      TSX,
      [CLI, ...args],
      { env: { ...process.env, ROOMCAST_DATA_DIR: app.dataDir, ROOMCAST_DATABASE_URL: app.databaseUrl, ROOMCAST_LOG_LEVEL: 'silent' }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

function openAppDb(app: TestApp): Database {
  return openDatabase(app.databaseUrl.startsWith('sqlite:') ? { kind: 'sqlite', file: app.databaseUrl.slice('sqlite:'.length) } : { kind: 'postgres', url: app.databaseUrl });
}

/** The machine side of one task: network boot (iPXE script), hello, then the 24-hour task token. */
class FakeClient {
  api: ApiClient;
  constructor(
    readonly base: string,
    token: string,
  ) {
    this.api = Object.assign(new ApiClient(base), { token });
  }

  static async boot(base: string, mac: string, expectAction: 'capture' | 'restore'): Promise<FakeClient> {
    const script = (await new ApiClient(base).get(`/boot/ipxe?mac=${mac}&arch=7`)).body as string;
    const bootToken = /roomcast\.token=(\S+)/.exec(script)?.[1];
    expect(bootToken, script).toBeDefined();
    const hello = await Object.assign(new ApiClient(base), { token: bootToken }).post('/api/v1/boot/hello', facts(mac));
    expect(hello.status, JSON.stringify(hello.body)).toBe(200);
    expect(hello.body).toMatchObject({ action: expectAction, taskState: 'running', token: expect.any(String) });
    return new FakeClient(base, hello.body.token);
  }

  capture(m: Manifest) {
    return this.api.request('POST', '/api/v1/client/capture', JSON.stringify(m), { contentType: 'application/json' });
  }
  put(hash: string, frame: Buffer) {
    return this.api.request('PUT', `/api/v1/client/chunks/${hash}`, frame, { contentType: 'application/octet-stream' });
  }
  async upload(built: Built, hashes: string[]) {
    for (const h of hashes) {
      const r = await this.put(h, built.frames.get(h)!);
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
  }
  commit() {
    return this.api.post('/api/v1/client/capture/commit', {});
  }
  result(ok: boolean, reason?: string) {
    return this.api.post('/api/v1/client/result', { ok, ...(reason ? { reason } : {}) });
  }
  async getRaw(pathname: string, headers: Record<string, string> = {}) {
    const res = await fetch(this.base + pathname, { headers: { authorization: `Bearer ${this.api.token}`, ...headers } });
    return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
  }
}

describe.each(DIALECTS)('image store and imaging API on %s', (dialect) => {
  let app: TestApp;
  let admin: ApiClient;
  let tech: ApiClient;
  let store: string;
  let hostA: number;
  let hostB: number;
  let hostC: number;
  let image: { id: number; name: string };
  let built1: Built;
  const MAC_A = '02:00:00:00:0a:01';
  const MAC_B = '02:00:00:00:0b:01';
  const MAC_C = '02:00:00:00:0c:01';

  const chunkFile = (hash: string) => path.join(store, 'chunks', hash.slice(0, 2), `${hash}.zst`);
  const newTask = async (body: Record<string, unknown>) => {
    const r = await tech.post('/api/v1/tasks', body);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body.tasks[0] as { id: number; state: string; params: Record<string, unknown> | null };
  };
  const getImage = async (id: number) => (await tech.get(`/api/v1/images/${id}`)).body;
  /** The whole capture of `built` on a PC, through to the ok result; returns the version. */
  const captureAll = async (mac: string, hostId: number, imageId: number, built: Built, notes?: string) => {
    await newTask({ kind: 'capture', hostIds: [hostId], imageId, notes });
    const client = await FakeClient.boot(app.url, mac, 'capture');
    const reg = await client.capture(built.manifest);
    expect(reg.status, JSON.stringify(reg.body)).toBe(200);
    await client.upload(built, reg.body.missing);
    const commit = await client.commit();
    expect(commit.status, JSON.stringify(commit.body)).toBe(200);
    expect((await client.result(true)).body.state).toBe('done');
    return { versionId: reg.body.versionId as number, number: reg.body.number as number, missing: reg.body.missing as string[] };
  };

  beforeAll(async () => {
    app = await startTestApp(dialect);
    store = path.join(app.dataDir, 'images');
    admin = new ApiClient(app.url);
    await admin.login('admin', TEST_ADMIN_PASSWORD);
    tech = await admin.userClient('tech', 'technician');
    hostA = (await tech.post('/api/v1/hosts', { name: 'B204-REF', mac: MAC_A, diskSerial: ' Z3TABCDE ' })).body.id;
    hostB = (await tech.post('/api/v1/hosts', { name: 'B204-PC02', mac: MAC_B })).body.id;
    hostC = (await tech.post('/api/v1/hosts', { name: 'B204-PC03', mac: MAC_C })).body.id;
    built1 = await buildImage(['a', 'b', 'c', 'a', 'zero', 'd', 'e']);
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('creates images with plain names, and lists them', async () => {
    const created = await tech.post('/api/v1/images', { name: 'Windows 11 B204', description: 'salle de sciences' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ name: 'Windows 11 B204', description: 'salle de sciences', latestReady: null, versions: [] });
    image = { id: created.body.id, name: created.body.name };
    expect((await tech.post('/api/v1/images', { name: 'windows 11 b204' })).body.code).toBe('duplicate_image');
    for (const bad of ['', 'a/b', 'x'.repeat(65), '12345', 'tab\there']) {
      const r = await tech.post('/api/v1/images', { name: bad });
      expect(r.status, bad).toBe(400);
      expect(r.body.code).toBe('bad_image_name');
    }
    expect((await tech.post('/api/v1/images', { name: 'Élèves_2024-v1.0' })).status).toBe(201);
    const viewer = await admin.userClient('prof', 'viewer');
    expect((await viewer.get('/api/v1/images')).body.map((i: { name: string }) => i.name).sort()).toEqual(['Windows 11 B204', 'Élèves_2024-v1.0']);
    expect((await viewer.post('/api/v1/images', { name: 'nope' })).status).toBe(403);
    expect((await tech.get(`/api/v1/hosts/${hostA}`)).body.diskSerial).toBe('Z3TABCDE');
  });

  it('refuses capture and restore tasks that cannot work', async () => {
    expect((await tech.post('/api/v1/tasks', { kind: 'capture', hostIds: [hostA, hostB], imageId: image.id })).body.code).toBe('one_host_per_capture');
    expect((await tech.post('/api/v1/tasks', { kind: 'capture', hostIds: [hostA], imageId: 99999 })).body.code).toBe('unknown_image');
    const noImage = await tech.post('/api/v1/tasks', { kind: 'capture', hostIds: [hostA] });
    expect(noImage.status).toBe(400);
    const noReady = await tech.post('/api/v1/tasks', { kind: 'restore', hostIds: [hostB], imageId: image.id });
    expect(noReady.status).toBe(409);
    expect(noReady.body.code).toBe('no_ready_version');
  });

  it('captures: every chunk missing at first, bad uploads refused and not kept, commit only when complete', async () => {
    const task = await newTask({ kind: 'capture', hostIds: [hostA], imageId: image.id, notes: 'première capture' });
    expect(task.params).toEqual({ imageId: image.id, image: image.name, notes: 'première capture' });
    const client = await FakeClient.boot(app.url, MAC_A, 'capture');
    const payload = JSON.parse(Buffer.from(client.api.token!.split('.')[0]!, 'base64url').toString());
    expect(payload.exp - Date.now() / 1000).toBeGreaterThan(23.9 * 3600);

    const info = await client.api.get('/api/v1/client/task');
    expect(info.body).toEqual({ taskId: task.id, kind: 'capture', image, version: null, chunkSize: DEFAULT_CHUNK_SIZE, diskSerial: 'Z3TABCDE', notes: 'première capture', endAction: 'poweroff', computerName: null });

    // Routes of the other kind, and a manifest that is not sound.
    expect((await client.api.get('/api/v1/client/manifest')).body.code).toBe('wrong_task_kind');
    const broken = structuredClone(built1.manifest);
    broken.partitions[0]!.used = [[0, 10 * CS * 1000]];
    const bad = await client.capture(broken);
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('bad_manifest');
    expect((await client.api.request('POST', '/api/v1/client/capture', '{"format":', { contentType: 'application/json' })).body.code).toBe('bad_json');
    expect((await client.put(distinct(built1.manifest)[0]!, Buffer.from('x'))).body.code).toBe('no_capture');

    const hashes = distinct(built1.manifest);
    expect(hashes.length).toBe(7); // boot area + 6 different windows ('a' twice)
    const reg = await client.capture(built1.manifest);
    expect(reg.status, JSON.stringify(reg.body)).toBe(200);
    expect(reg.body).toMatchObject({ number: 1, missingBytes: expect.any(Number) });
    expect([...reg.body.missing].sort()).toEqual(hashes);
    // The client restarted: the same version again.
    const again = await client.capture(built1.manifest);
    expect(again.body).toMatchObject({ versionId: reg.body.versionId, number: 1 });

    // A capturing version is listed, never restorable.
    const listed = await getImage(image.id);
    expect(listed.versions).toMatchObject([{ number: 1, state: 'capturing', restorable: false, notes: 'première capture', sourceHost: 'B204-REF', createdBy: 'tech' }]);
    expect((await tech.post('/api/v1/tasks', { kind: 'restore', hostIds: [hostB], imageId: image.id })).body.code).toBe('no_ready_version');
    expect((await tech.post('/api/v1/tasks', { kind: 'restore', hostIds: [hostB], imageId: image.id, version: 1 })).body.code).toBe('version_not_ready');

    const early = await client.commit();
    expect(early.status).toBe(409);
    expect(early.body.code).toBe('chunks_missing');
    expect([...early.body.errors].sort()).toEqual(hashes);

    // Wrong bytes under a hash, garbage, and a hash the manifest does not list: refused, nothing kept.
    const [h0, h1] = hashes as [string, string];
    const mismatch = await client.put(h0, built1.frames.get(h1)!);
    expect(mismatch.status).toBe(422);
    expect(mismatch.body.code).toBe('hash_mismatch');
    const garbage = await client.put(h0, randomBytes(1000));
    expect(garbage.status).toBe(422);
    expect(garbage.body.code).toBe('bad_chunk');
    const stranger = await client.put(sha256('not in the manifest'), built1.frames.get(h1)!);
    expect(stranger.status).toBe(409);
    expect(stranger.body.code).toBe('chunk_not_expected');
    const huge = await client.put(h0, randomBytes(CS + 65 * 1024));
    expect(huge.status).toBe(413);
    expect(fs.existsSync(chunkFile(h0))).toBe(false);
    expect(fs.readdirSync(path.join(store, 'tmp'))).toEqual([]);

    // All but one, then commit: refused with the one missing.
    await client.upload(built1, hashes.slice(1));
    expect((await client.put(h1, built1.frames.get(h1)!)).status).toBe(200); // already there
    const partial = await client.commit();
    expect(partial.status).toBe(409);
    expect(partial.body).toMatchObject({ code: 'chunks_missing', errors: [h0] });
    await client.upload(built1, [h0]);

    const progress = { phase: 'upload', bytesDone: 5 * CS, bytesTotal: 7 * CS, chunksDone: 5, chunksTotal: 7, rateBytesPerSecond: 1e6, etaSeconds: 1, message: 'envoi' };
    expect((await client.api.post('/api/v1/client/progress', progress)).status).toBe(204);
    expect((await tech.get(`/api/v1/tasks?hostId=${hostA}`)).body[0].result.progress).toMatchObject(progress);

    const commit = await client.commit();
    expect(commit.status, JSON.stringify(commit.body)).toBe(200);
    expect(commit.body).toMatchObject({ versionId: reg.body.versionId, number: 1, state: 'ready', chunkCount: 7 });
    expect((await client.commit()).body).toEqual(commit.body); // idempotent

    // The published manifest: written in full, with the sizes of the frames the store holds.
    const file = path.join(store, 'manifests', `${reg.body.versionId}.json`);
    const bytes = fs.readFileSync(file);
    expect(sha256(bytes)).toBe(commit.body.manifestSha256);
    const published = JSON.parse(bytes.toString()) as Manifest;
    expect(published.partitions[0]!.chunks.every((c) => c.storedSize === built1.frames.get(c.hash)!.length)).toBe(true);
    expect(fs.existsSync(path.join(store, 'manifests', `${reg.body.versionId}.pending.json`))).toBe(false);

    const result = await client.result(true);
    expect(result.body).toEqual({ taskId: task.id, state: 'done', error: null });
    const done = (await tech.get(`/api/v1/tasks?hostId=${hostA}`)).body[0];
    expect(done).toMatchObject({ state: 'done', result: { ok: true, version: { number: 1 }, progress: { phase: 'upload' } } });
    expect((await client.api.get('/api/v1/client/task')).body.code).toBe('task_not_running');

    const v1 = (await getImage(image.id)).versions[0];
    expect(v1).toMatchObject({ number: 1, state: 'ready', restorable: true, chunkCount: 7, usedBytes: 7 * CS - 4096 + 446 + 8192, diskBytes: 64 * MIB });
    expect(v1.storedBytes).toBe([...built1.frames.values()].reduce((s, f) => s + f.length, 0));
    const audit = (await admin.get('/api/v1/audit?action=image.version.publish')).body;
    expect(audit[0]).toMatchObject({ actor: `machine:${MAC_A}`, details: { version: 1 } });
  });

  it('captures the same disk again without uploading a chunk', async () => {
    const v = await captureAll(MAC_A, hostA, image.id, built1, 'sans changement');
    expect(v.number).toBe(2);
    expect(v.missing).toEqual([]);
    const img = await getImage(image.id);
    expect(img.latestReady).toBe(2);
    expect(img.versions.map((x: { number: number; state: string }) => [x.number, x.state])).toEqual([[2, 'ready'], [1, 'ready']]);
  });

  it('restores: task, manifest, chunks with Range; other PCs, other kinds and register tokens are refused', async () => {
    const task = await newTask({ kind: 'restore', hostIds: [hostB], imageId: image.id });
    const img = await getImage(image.id);
    const v2 = img.versions[0];
    expect(task.params).toEqual({ imageId: image.id, image: image.name, versionId: v2.id, version: 2, endAction: 'poweroff' });
    const client = await FakeClient.boot(app.url, MAC_B, 'restore');
    expect((await client.api.get('/api/v1/client/task')).body).toEqual({ taskId: task.id, kind: 'restore', image, version: { id: v2.id, number: 2 }, chunkSize: CS, diskSerial: null, notes: 'sans changement', endAction: 'poweroff', multicast: null, computerName: 'B204-PC02' });

    const manifest = await client.getRaw('/api/v1/client/manifest');
    expect(manifest.status).toBe(200);
    expect(manifest.headers.get('content-type')).toContain('application/json');
    expect(manifest.headers.get('x-manifest-sha256')).toBe(v2.manifestSha256);
    expect(sha256(manifest.body)).toBe(v2.manifestSha256);
    const m = JSON.parse(manifest.body.toString()) as Manifest;
    expect(distinct(m)).toEqual(distinct(built1.manifest));

    const hash = m.partitions[0]!.chunks[0]!.hash;
    const frame = built1.frames.get(hash)!;
    const full = await client.getRaw(`/api/v1/client/chunks/${hash}`);
    expect(full.status).toBe(200);
    expect(full.headers.get('content-type')).toBe('application/zstd');
    expect(full.headers.get('accept-ranges')).toBe('bytes');
    expect(full.body.equals(frame)).toBe(true);
    const tail = await client.getRaw(`/api/v1/client/chunks/${hash}`, { range: 'bytes=10-' });
    expect(tail.status).toBe(206);
    expect(tail.headers.get('content-range')).toBe(`bytes 10-${frame.length - 1}/${frame.length}`);
    expect(tail.body.equals(frame.subarray(10))).toBe(true);
    const head = await client.getRaw(`/api/v1/client/chunks/${hash}`, { range: 'bytes=0-9' });
    expect(head.status).toBe(206);
    expect(head.body.equals(frame.subarray(0, 10))).toBe(true);
    const unknown = await client.api.get(`/api/v1/client/chunks/${sha256('elsewhere')}`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('chunk_not_found');
    expect((await client.api.get('/api/v1/client/chunks/not-a-hash')).status).toBe(400);

    // A restore task cannot upload; the reference PC's old token (its capture is done) gets nothing.
    expect((await client.put(hash, frame)).body.code).toBe('wrong_task_kind');
    expect((await client.capture(built1.manifest)).body.code).toBe('wrong_task_kind');
    expect((await client.commit()).body.code).toBe('wrong_task_kind');
    // The version is in use: it cannot be deleted meanwhile.
    const del = await tech.delete(`/api/v1/images/${image.id}/versions/2`);
    expect(del.status).toBe(409);
    expect(del.body.code).toBe('version_in_use');

    // An unknown PC during registration holds a register token: no task, nothing to read.
    expect((await tech.post('/api/v1/boot/registration', { minutes: 5 })).status).toBe(200);
    const script = (await new ApiClient(app.url).get('/boot/ipxe?mac=02:00:00:00:ff:01&arch=7')).body as string;
    const registerToken = /roomcast\.token=(\S+)/.exec(script)![1]!;
    const stranger = Object.assign(new ApiClient(app.url), { token: registerToken });
    const refused = await stranger.get(`/api/v1/client/chunks/${hash}`);
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('not_a_task_token');
    await tech.delete('/api/v1/boot/registration');

    // An inventory task's token (PC C) is not a capture or restore task.
    await newTask({ kind: 'inventory', hostIds: [hostC] });
    const cScript = (await new ApiClient(app.url).get(`/boot/ipxe?mac=${MAC_C}&arch=7`)).body as string;
    const cToken = /roomcast\.token=(\S+)/.exec(cScript)![1]!;
    const c = Object.assign(new ApiClient(app.url), { token: cToken });
    expect((await c.post('/api/v1/boot/hello', facts(MAC_C))).body).toMatchObject({ action: 'poweroff', taskState: 'done' });
    expect((await c.get(`/api/v1/client/chunks/${hash}`)).body.code).toBe('task_not_running');

    const failed = await client.result(false, 'the disk Z3TABCDE is smaller than the image needs (64 MiB); put a larger disk in or pick another image');
    expect(failed.body).toMatchObject({ state: 'failed', error: expect.stringContaining('smaller than the image needs') });
    expect((await tech.get(`/api/v1/tasks?hostId=${hostB}`)).body[0]).toMatchObject({ state: 'failed', error: expect.stringContaining('larger disk') });
    expect((await client.api.get(`/api/v1/client/chunks/${hash}`)).body).toMatchObject({ code: 'task_failed', detail: expect.stringContaining('larger disk') });
  });

  it('cancelling a capture fails its version and leaves the previous one ready and untouched', async () => {
    const before = await getImage(image.id);
    const manifestFile = path.join(store, 'manifests', `${before.versions[0].id}.json`);
    const manifestBefore = fs.readFileSync(manifestFile);
    const task = await newTask({ kind: 'capture', hostIds: [hostA], imageId: image.id });
    const client = await FakeClient.boot(app.url, MAC_A, 'capture');
    const changed = await buildImage(['a', 'b', 'c', 'a', 'zero', 'new-1', 'new-2']);
    const reg = await client.capture(changed.manifest);
    expect(reg.body.number).toBe(3);
    expect(reg.body.missing).toHaveLength(2);
    await client.upload(changed, reg.body.missing.slice(0, 1));
    const cancelled = await tech.post(`/api/v1/tasks/${task.id}/cancel`);
    expect(cancelled.body.state).toBe('cancelled');

    const after = await getImage(image.id);
    expect(after.latestReady).toBe(2);
    expect(after.versions[0]).toMatchObject({ number: 3, state: 'failed', restorable: false, error: expect.stringContaining('cancelled by tech') });
    expect(after.versions.slice(1)).toEqual(before.versions);
    expect(fs.readFileSync(manifestFile).equals(manifestBefore)).toBe(true);
    expect((await client.put(reg.body.missing[1], changed.frames.get(reg.body.missing[1])!)).body.code).toBe('task_not_running');
    expect((await client.commit()).body.code).toBe('task_not_running');
    const restore = await newTask({ kind: 'restore', hostIds: [hostC], imageId: image.id });
    expect(restore.params).toMatchObject({ version: 2 });
    await tech.post(`/api/v1/tasks/${restore.id}/cancel`);
  });

  it('fails a capture the client reports ok without a commit, and one it reports failed', async () => {
    await newTask({ kind: 'capture', hostIds: [hostA], imageId: image.id });
    let client = await FakeClient.boot(app.url, MAC_A, 'capture');
    await client.capture(built1.manifest);
    const r = await client.result(true);
    expect(r.body).toMatchObject({ state: 'failed', error: expect.stringContaining('capture not committed') });
    expect((await getImage(image.id)).versions[0]).toMatchObject({ number: 4, state: 'failed' });

    await newTask({ kind: 'capture', hostIds: [hostA], imageId: image.id });
    client = await FakeClient.boot(app.url, MAC_A, 'capture');
    await client.capture(built1.manifest);
    const f = await client.result(false, 'BitLocker is on for C: (partition 3); turn it off in Windows, then capture again');
    expect(f.body.error).toContain('BitLocker');
    expect((await getImage(image.id)).versions[0]).toMatchObject({ number: 5, state: 'failed', error: expect.stringContaining('BitLocker') });
    expect((await getImage(image.id)).latestReady).toBe(2);
  });

  it('accepts a manifest larger than the 1 MB JSON limit', async () => {
    const big = (await tech.post('/api/v1/images', { name: 'Big' })).body;
    const n = 12000;
    const built = await buildImage(['x']);
    const p = built.manifest.partitions[0]!;
    p.sizeBytes = n * CS;
    p.used = [[0, n * CS]];
    p.usedBytes = n * CS;
    p.chunks = Array.from({ length: n }, (_, i) => ({ offset: i * CS, length: CS, hash: sha256(`big-${i}`) }));
    built.manifest.disk.minSizeBytes = MIB + n * CS + MIB;
    built.manifest.disk.sizeBytes = built.manifest.disk.minSizeBytes;
    const body = JSON.stringify(built.manifest);
    expect(body.length).toBeGreaterThan(1024 * 1024);
    const task = await newTask({ kind: 'capture', hostIds: [hostC], imageId: big.id });
    const client = await FakeClient.boot(app.url, MAC_C, 'capture');
    const reg = await client.capture(built.manifest);
    expect(reg.status, JSON.stringify(reg.body).slice(0, 300)).toBe(200);
    expect(reg.body.missing.filter((h: string) => h !== built.manifest.bootArea.chunks[0]!.hash)).toHaveLength(n);
    await tech.post(`/api/v1/tasks/${task.id}/cancel`);
  });

  it('verify reports a corrupted or missing chunk file (API and command, exit 1), marks the versions damaged, and passes once the chunk is captured again', async () => {
    const hash = distinct(built1.manifest)[2]!;
    const file = chunkFile(hash);
    const original = fs.readFileSync(file);
    const good = await tech.post(`/api/v1/images/${image.id}/versions/2/verify`);
    expect(good.body).toEqual({ ok: true, checked: 7, bad: [] });

    const corrupt = Buffer.from(original);
    corrupt[corrupt.length >> 1] = corrupt[corrupt.length >> 1]! ^ 0xff;
    fs.writeFileSync(file, corrupt);
    const cli = await runCli(app, ['verify', image.name, '2']);
    expect(cli.code, cli.stderr).toBe(1);
    expect(cli.stdout).toContain(`bad chunk ${hash}: corrupt`);
    expect(cli.stdout).toContain('it is now marked damaged and will not be restored');
    expect(cli.stdout.split('\n').filter((l) => l.startsWith('bad chunk'))).toHaveLength(1);
    // Both versions hold the chunk: both are damaged; the store forgot the corrupt copy.
    const states = async () => Object.fromEntries((await getImage(image.id)).versions.map((v: { number: number; state: string }) => [v.number, v.state]));
    expect(await states()).toMatchObject({ 1: 'damaged', 2: 'damaged' });
    expect(fs.existsSync(file)).toBe(false);
    const r = await tech.post(`/api/v1/images/${image.id}/versions/2/verify`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ok: false, checked: 7, bad: [{ hash, reason: 'missing' }] });

    // A capture of the same data uploads it again; a verify then makes each version ready.
    const again = await captureAll(MAC_A, hostA, image.id, built1);
    expect(again.missing).toEqual([hash]);
    expect(fs.readFileSync(file).equals(original)).toBe(true);
    const byName = await runCli(app, ['verify', image.name, '2']);
    expect(byName.code, byName.stderr).toBe(0);
    expect(byName.stdout).toContain('version 2: all 7 chunks present and intact');
    expect((await tech.post(`/api/v1/images/${image.id}/versions/1/verify`)).body.ok).toBe(true);
    expect((await tech.delete(`/api/v1/images/${image.id}/versions/${again.number}`)).status).toBe(204);
    expect(await states()).toMatchObject({ 1: 'ready', 2: 'ready' });
    const byId = await runCli(app, ['verify', String(image.id)]);
    expect(byId.code, byId.stderr).toBe(0);
    expect((await runCli(app, ['verify', 'no such image'])).code).toBe(2);
    expect((await tech.post(`/api/v1/images/${image.id}/versions/3/verify`)).body.code).toBe('version_not_ready');
  });

  it('garbage collection removes chunks of deleted and failed versions, keeps shared ones and young files', async () => {
    const gcImage = (await tech.post('/api/v1/images', { name: 'GC' })).body;
    const g1 = await buildImage(['shared-1', 'shared-2', 'only-g1-1', 'only-g1-2'], 'gc-boot');
    const g2 = await buildImage(['shared-1', 'shared-2', 'only-g2-1'], 'gc-boot');
    await captureAll(MAC_A, hostA, gcImage.id, g1);
    const v2 = await captureAll(MAC_A, hostA, gcImage.id, g2);
    const only1 = distinct(g1.manifest).filter((h) => !distinct(g2.manifest).includes(h));
    expect(only1).toHaveLength(2);
    expect(v2.missing).toHaveLength(1);

    // Stale leftovers of a crash, and young files an upload may still own.
    const old = new Date(Date.now() - 2 * 3600_000);
    const tmpOld = path.join(store, 'tmp', 'leftover.old');
    const tmpNew = path.join(store, 'tmp', 'leftover.new');
    fs.writeFileSync(tmpOld, 'x'.repeat(100));
    fs.utimesSync(tmpOld, old, old);
    fs.writeFileSync(tmpNew, 'x');
    const orphan = sha256('orphan');
    fs.mkdirSync(path.dirname(chunkFile(orphan)), { recursive: true });
    fs.writeFileSync(chunkFile(orphan), 'orphan frame');
    fs.utimesSync(chunkFile(orphan), old, old);
    const youngOrphan = sha256('young orphan');
    fs.mkdirSync(path.dirname(chunkFile(youngOrphan)), { recursive: true });
    fs.writeFileSync(chunkFile(youngOrphan), 'young');

    expect((await tech.post('/api/v1/images/gc')).status).toBe(403);
    expect((await tech.delete(`/api/v1/images/${gcImage.id}/versions/1`)).status).toBe(204);
    const gc = await admin.post('/api/v1/images/gc');
    expect(gc.status).toBe(200);
    // g1's own two chunks, and the one upload of the cancelled capture of the first image.
    expect(gc.body.removedChunks).toBe(3);
    expect(gc.body).toMatchObject({ orphanFiles: 1, tmpFiles: 1 });
    expect(gc.body.freedBytes).toBeGreaterThan(0);
    for (const h of only1) expect(fs.existsSync(chunkFile(h))).toBe(false);
    for (const h of distinct(g2.manifest)) expect(fs.existsSync(chunkFile(h))).toBe(true);
    for (const h of distinct(built1.manifest)) expect(fs.existsSync(chunkFile(h))).toBe(true);
    expect(fs.existsSync(chunkFile(orphan))).toBe(false);
    expect(fs.existsSync(chunkFile(youngOrphan))).toBe(true);
    expect(fs.existsSync(tmpOld)).toBe(false);
    expect(fs.existsSync(tmpNew)).toBe(true);
    expect((await tech.post(`/api/v1/images/${gcImage.id}/versions/2/verify`)).body.ok).toBe(true);
    expect((await tech.post(`/api/v1/images/${image.id}/versions/2/verify`)).body.ok).toBe(true);
    // Nothing more to collect; the command says the same.
    expect((await admin.post('/api/v1/images/gc')).body.removedChunks).toBe(0);
    const cli = await runCli(app, ['gc']);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/^removed 0 chunk\(s\)/);
    fs.rmSync(chunkFile(youngOrphan));
    fs.rmSync(tmpNew);
  });

  it('never collects a chunk a concurrent capture registration was told exists', async () => {
    const raceImage = (await tech.post('/api/v1/images', { name: 'Race' })).body;
    const keys = Array.from({ length: 24 }, (_, i) => `race-${i}`);
    const built = await buildImage(keys, 'race-boot');
    let current = await captureAll(MAC_A, hostA, raceImage.id, built);
    const database = openAppDb(app);
    try {
      for (let i = 0; i < 6; i++) {
        // The previous version goes: all its chunks become collectable, and a new capture of the same disk races the GC.
        expect((await tech.delete(`/api/v1/images/${raceImage.id}/versions/${current.number}`)).status).toBe(204);
        await newTask({ kind: 'capture', hostIds: [hostA], imageId: raceImage.id });
        const client = await FakeClient.boot(app.url, MAC_A, 'capture');
        const [gc, reg] = await Promise.all([admin.post('/api/v1/images/gc'), client.capture(built.manifest)]);
        expect(gc.status).toBe(200);
        expect(reg.status).toBe(200);
        const told = distinct(built.manifest).filter((h) => !reg.body.missing.includes(h));
        const rows = await database.db.selectFrom('chunks').select('hash').where('hash', 'in', distinct(built.manifest)).execute();
        for (const h of told) {
          expect(fs.existsSync(chunkFile(h)), `iteration ${i}: ${h} was said to exist`).toBe(true);
          expect(rows.some((r) => r.hash === h)).toBe(true);
        }
        expect(gc.body.removedChunks + told.length).toBe(distinct(built.manifest).length);
        await client.upload(built, reg.body.missing);
        const commit = await client.commit();
        expect(commit.status, JSON.stringify(commit.body)).toBe(200);
        await client.result(true);
        current = { versionId: reg.body.versionId, number: reg.body.number, missing: reg.body.missing };
        expect((await tech.post(`/api/v1/images/${raceImage.id}/versions/${current.number}/verify`)).body.ok).toBe(true);
      }
    } finally {
      await database.close();
    }
  });

  it('changes version notes, and deletes versions (not one being captured)', async () => {
    const patched = await tech.patch(`/api/v1/images/${image.id}/versions/2`, { notes: 'mise à jour de juin' });
    expect(patched.body).toMatchObject({ number: 2, notes: 'mise à jour de juin' });
    const task = await newTask({ kind: 'capture', hostIds: [hostA], imageId: image.id });
    const client = await FakeClient.boot(app.url, MAC_A, 'capture');
    const reg = await client.capture(built1.manifest);
    const del = await tech.delete(`/api/v1/images/${image.id}/versions/${reg.body.number}`);
    expect(del.body.code).toBe('version_capturing');
    await tech.post(`/api/v1/tasks/${task.id}/cancel`);
    expect((await tech.delete(`/api/v1/images/${image.id}/versions/1`)).status).toBe(204);
    expect((await tech.delete(`/api/v1/images/${image.id}/versions/1`)).status).toBe(204);
    expect((await tech.delete(`/api/v1/images/${image.id}/versions/99`)).status).toBe(404);
    const img = await getImage(image.id);
    expect(img.versions.find((v: { number: number }) => v.number === 1).state).toBe('deleted');
    expect(img.latestReady).toBe(2);
  });
});

// A store on a tiny filesystem: a capture is refused up front, with the numbers, and nothing is recorded.
const mountable = process.getuid?.() === 0;
if (!mountable) console.warn('imaging-store: free-space test skipped (needs root to mount a small tmpfs)');

describe.skipIf(!mountable).each(DIALECTS)('free space on a small filesystem (%s)', (dialect) => {
  let app: TestApp;
  let mount: string;
  let tech: ApiClient;

  beforeAll(async () => {
    mount = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-tiny-'));
    await new Promise<void>((resolve, reject) =>
      execFile('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mount], (err) => (err ? reject(err) : resolve())),
    );
    app = await startTestApp(dialect, { ROOMCAST_IMAGES_DIR: path.join(mount, 'images') });
    const admin = new ApiClient(app.url);
    await admin.login('admin', TEST_ADMIN_PASSWORD);
    tech = await admin.userClient('tech', 'technician');
  });
  afterAll(async () => {
    await app?.stop();
    if (mount) {
      await new Promise<void>((resolve) => execFile('umount', [mount], () => resolve()));
      fs.rmSync(mount, { recursive: true, force: true });
    }
  });

  it('refuses a capture with 507 insufficient_storage and records no version', async () => {
    const host = (await tech.post('/api/v1/hosts', { name: 'TINY-PC', mac: '02:00:00:00:0d:01' })).body;
    const image = (await tech.post('/api/v1/images', { name: 'Tiny' })).body;
    await tech.post('/api/v1/tasks', { kind: 'capture', hostIds: [host.id], imageId: image.id });
    const client = await FakeClient.boot(app.url, '02:00:00:00:0d:01', 'capture');
    const built = await buildImage(Array.from({ length: 32 }, (_, i) => `tiny-${i}`));
    const r = await client.capture(built.manifest);
    expect(r.status).toBe(507);
    expect(r.body.code).toBe('insufficient_storage');
    expect(r.body.detail).toMatch(/needs about 1\.\d\d GiB free .* and 0\.0\d GiB are free/);
    expect((await tech.get(`/api/v1/images/${image.id}`)).body.versions).toEqual([]);

    // The rule with the margin as an option: 60 % of the new data must fit.
    const store = new ImageStore(null as never, null as never, path.join(mount, 'images'), { reserveBytes: 0 });
    await expect(store.checkSpace(4 * MIB)).resolves.toMatchObject({ needBytes: Math.ceil(4 * MIB * 0.6) });
    await expect(store.checkSpace(64 * MIB)).rejects.toMatchObject({ status: 507, code: 'insufficient_storage' });
  });
});
