// Uploads with a Content-Digest (RFC 9530) through the real server, on SQLite and PostgreSQL, with the
// real Redis and the real zstd program (the tests' Node 20 has no zstd in node:zlib, so the intake
// runs the program; a wrapper named zstd first in PATH holds it when a test needs the check held).
// The transfer is checked at once (a wrong digest keeps nothing), the content in the background by
// the intake (services/imaging/intake.ts), and a version is never published before its chunks passed.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../services/imaging/format.js';
import { CHUNK_UPLOAD_MARGIN } from '../../services/imaging/store.js';
import { ApiClient } from '../support/client.js';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';
import { DIALECTS, REDIS_URL } from '../support/env.js';
import { hardwareFacts } from '../support/facts.js';
import { buildImage, type Built } from '../support/images.js';

const digestOf = (b: Buffer) => `sha-256=:${createHash('sha256').update(b).digest('base64')}:`;
const distinct = (m: Manifest) => [...new Set([...m.bootArea.chunks, ...m.partitions.flatMap((p) => p.chunks)].map((c) => c.hash))].sort();

/**
 * A directory holding a `zstd` that waits until `gate` exists, then runs the real one. A waiting one
 * whose directory is gone (the test removed it, maybe before it saw the gate) or that waited 2 minutes
 * gives up: one killed with its api is not left polling for ever.
 */
function heldZstd(): { dir: string; gate: string; open: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-zstd-'));
  const gate = path.join(dir, 'open');
  const wait = `n=0; while [ ! -e '${gate}' ]; do [ -d '${dir}' ] && [ $n -lt 2400 ] || exit 1; n=$((n+1)); sleep 0.05; done`;
  fs.writeFileSync(path.join(dir, 'zstd'), `#!/bin/sh\n${wait}\nexec /usr/bin/zstd "$@"\n`, { mode: 0o755 });
  return { dir, gate, open: () => fs.writeFileSync(gate, '') };
}

class Machine {
  api: ApiClient;
  constructor(base: string, token: string) {
    this.api = Object.assign(new ApiClient(base), { token });
  }
  static async boot(base: string, mac: string): Promise<Machine> {
    const script = (await new ApiClient(base).get(`/boot/ipxe?mac=${mac}&arch=7`)).body as string;
    const bootToken = /roomcast\.token=(\S+)/.exec(script)?.[1];
    const hello = await Object.assign(new ApiClient(base), { token: bootToken }).post('/api/v1/boot/hello', hardwareFacts(mac));
    expect(hello.status, JSON.stringify(hello.body)).toBe(200);
    return new Machine(base, hello.body.token);
  }
  capture(m: Manifest) {
    return this.api.request('POST', '/api/v1/client/capture', JSON.stringify(m), { contentType: 'application/json' });
  }
  put(hash: string, frame: Buffer, digest: string | null = digestOf(frame)) {
    return this.api.request('PUT', `/api/v1/client/chunks/${hash}`, frame, { contentType: 'application/octet-stream', headers: digest ? { 'content-digest': digest } : {} });
  }
  async uploadAll(built: Built, hashes: string[]) {
    for (const h of hashes) {
      const r = await this.put(h, built.frames.get(h)!);
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      expect(r.body).toEqual({ hash: h, stored: false, checking: true });
    }
  }
  commit() {
    return this.api.post('/api/v1/client/capture/commit', {});
  }
  /** A streaming capture's batch: the chunks of `m` whose hash is in `hashes`. */
  announce(m: Manifest, hashes: string[], chunkSize = m.chunkSize) {
    const all = [...m.bootArea.chunks, ...m.partitions.flatMap((p) => p.chunks)];
    return this.api.post('/api/v1/client/capture/chunks', { chunkSize, chunks: hashes.map((h) => ({ hash: h, length: all.find((c) => c.hash === h)!.length })) });
  }
}

describe.each(DIALECTS)('chunk uploads with a Content-Digest on %s', (dialect) => {
  let app: TestApp;
  let tech: ApiClient;
  let store: string;
  let hostId: number;
  let imageId: number;
  let built: Built;
  const MAC = '02:00:00:00:1d:01';
  const chunkFile = (hash: string) => path.join(store, 'chunks', hash.slice(0, 2), `${hash}.zst`);
  const versionState = async (number: number) => ((await tech.get(`/api/v1/images/${imageId}`)).body.versions as Array<{ number: number; state: string }>).find((v) => v.number === number)?.state;
  const startCapture = async () => {
    const task = await tech.post('/api/v1/tasks', { kind: 'capture', hostIds: [hostId], imageId });
    expect(task.status, JSON.stringify(task.body)).toBe(201);
    const m = await Machine.boot(app.url, MAC);
    const reg = await m.capture(built.manifest);
    expect(reg.status, JSON.stringify(reg.body)).toBe(200);
    return { m, reg: reg.body as { versionId: number; number: number; missing: string[] }, taskId: task.body.tasks[0].id as number };
  };
  const cancel = (taskId: number) => tech.post(`/api/v1/tasks/${taskId}/cancel`, {});

  let admin: ApiClient;
  beforeAll(async () => {
    app = await startTestApp(dialect);
    store = path.join(app.dataDir, 'images');
    admin = new ApiClient(app.url);
    await admin.login('admin', TEST_ADMIN_PASSWORD);
    tech = await admin.userClient('tech', 'technician');
    hostId = (await tech.post('/api/v1/hosts', { name: 'B205-REF', mac: MAC })).body.id;
    imageId = (await tech.post('/api/v1/images', { name: `intake ${dialect}` })).body.id;
    built = await buildImage(['a', 'b', 'c', 'zero']);
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('refuses a body that does not match its Content-Digest (in the background), a digest without sha-256, an empty, too large or mistyped body, and keeps nothing', async () => {
    const { m, reg, taskId } = await startCapture();
    const [h0, h1] = reg.missing as [string, string];
    // The transfer check runs with the content check, off the event loop: accepted, then rejected.
    const wrong = await m.put(h0, built.frames.get(h0)!, digestOf(built.frames.get(h1)!));
    expect(wrong.status).toBe(202);
    const md5 = await m.put(h0, built.frames.get(h0)!, 'md5=:HUXZLQLMuI/KZ5KDcJPcOA==:');
    expect(md5.status).toBe(400);
    expect(md5.body.code).toBe('bad_digest');
    // The body goes to its temporary file as it arrives: each refusal leaves none behind.
    const empty = await m.put(h0, Buffer.alloc(0));
    expect(empty.status).toBe(422);
    expect(empty.body.code).toBe('bad_chunk');
    const huge = Buffer.alloc(built.manifest.chunkSize + CHUNK_UPLOAD_MARGIN + 1, 7);
    const big = await m.put(h0, huge);
    expect(big.status).toBe(413);
    expect(big.body.code).toBe('chunk_too_large');
    const typed = await m.api.request('PUT', `/api/v1/client/chunks/${h0}`, built.frames.get(h0)!, { contentType: 'text/plain', headers: { 'content-digest': digestOf(built.frames.get(h0)!) } });
    expect(typed.status).toBe(415);
    expect(typed.body.code).toBe('unsupported_media_type');
    const commit = await m.commit();
    expect(commit.status).toBe(409);
    expect(commit.body.code).toBe('chunks_missing');
    expect(commit.body.errors).toContain(h0);
    const sent = createHash('sha256').update(built.frames.get(h0)!).digest('hex');
    const claimed = createHash('sha256').update(built.frames.get(h1)!).digest('hex');
    expect(commit.body.detail).toContain(`${h0}: the frame received hashes to ${sent}, not to the SHA-256 its Content-Digest gives (${claimed}): the transfer damaged it`);
    expect(fs.existsSync(chunkFile(h0))).toBe(false);
    expect(fs.readdirSync(path.join(store, 'tmp'))).toEqual([]);
    expect(await versionState(reg.number)).toBe('capturing');
    await cancel(taskId);
  });

  it('a frame whose content is not its hash passes the transfer check, is rejected by the intake, and the version is not published until the right frame comes', async () => {
    const { m, reg, taskId } = await startCapture();
    const hashes = distinct(built.manifest);
    const [h0, h1] = hashes as [string, string];
    const liar = built.frames.get(h1)!; // a valid frame, of other content
    expect((await m.put(h0, liar)).status).toBe(202);
    await m.uploadAll(built, hashes.slice(1));
    const refused = await m.commit();
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'chunks_missing', errors: [h0] });
    expect(refused.body.detail).toMatch(/rejected when checked/);
    expect(refused.body.detail).toContain(`${h0}: its decompressed bytes hash to ${h1}`);
    expect(fs.existsSync(chunkFile(h0))).toBe(false);
    for (const h of hashes.slice(1)) expect(fs.existsSync(chunkFile(h)), h).toBe(true);
    expect(await versionState(reg.number)).toBe('capturing');

    await m.uploadAll(built, [h0]);
    const commit = await m.commit();
    expect(commit.status, JSON.stringify(commit.body)).toBe(200);
    expect(commit.body).toMatchObject({ versionId: reg.versionId, state: 'ready', chunkCount: hashes.length });
    expect(fs.existsSync(chunkFile(h0))).toBe(true);
    expect(fs.readdirSync(path.join(store, 'tmp'))).toEqual([]);
    expect((await m.api.post('/api/v1/client/result', { ok: true })).body.state).toBe('done');
    expect(taskId).toBeGreaterThan(0);
  });

  it('the commit waits for the checks still running and publishes only checked chunks', async () => {
    // Another image, so that every chunk is new again.
    imageId = (await tech.post('/api/v1/images', { name: `intake held ${dialect}` })).body.id;
    built = await buildImage(['f', 'g', 'h']);
    const held = heldZstd();
    const savedPath = process.env.PATH;
    process.env.PATH = `${held.dir}:${savedPath}`;
    try {
      const { m, reg } = await startCapture();
      await m.uploadAll(built, reg.missing);
      // Acknowledged, not yet checked: not in the store, and the version not publishable.
      for (const h of reg.missing) expect(fs.existsSync(chunkFile(h)), h).toBe(false);
      const commit = m.commit();
      let settled = false;
      void commit.finally(() => (settled = true));
      const check = await m.api.get('/api/v1/client/task'); // one more round trip: the commit is waiting
      expect(check.status).toBe(200);
      expect(settled).toBe(false);
      expect(await versionState(reg.number)).toBe('capturing');
      held.open();
      const done = await commit;
      expect(done.status, JSON.stringify(done.body)).toBe(200);
      expect(done.body).toMatchObject({ state: 'ready', chunkCount: distinct(built.manifest).length });
      for (const h of reg.missing) expect(fs.existsSync(chunkFile(h)), h).toBe(true);
    } finally {
      process.env.PATH = savedPath;
      held.open();
      fs.rmSync(held.dir, { recursive: true, force: true });
    }
  });

  it('a streaming capture names its chunks in batches before its manifest: the GC keeps what the store said it has, the version is the same after a restart, the manifest ends it', async () => {
    const streamImage = (await tech.post('/api/v1/images', { name: `streaming ${dialect}` })).body.id as number;
    const keys = Array.from({ length: 12 }, (_, i) => `stream-${i}`);
    const b = await buildImage(keys, 'stream-boot');
    const hashes = distinct(b.manifest);
    const endRunning = async () => {
      const list = (await tech.get('/api/v1/tasks?kind=capture')).body as Array<{ id: number; state: string }>;
      for (const t of list.filter((x) => x.state === 'running' || x.state === 'queued')) await cancel(t.id);
    };
    await endRunning(); // an earlier test's capture, committed but never ended
    const captureTask = async () => {
      const t = await tech.post('/api/v1/tasks', { kind: 'capture', hostIds: [hostId], imageId: streamImage });
      expect(t.status, JSON.stringify(t.body)).toBe(201);
      return Machine.boot(app.url, MAC);
    };
    let number = 0;
    for (let round = 0; round < 3; round++) {
      const m = await captureTask();
      // The previous version goes (every chunk becomes collectable) while the new capture asks about them.
      if (number) expect((await tech.delete(`/api/v1/images/${streamImage}/versions/${number}`)).status).toBe(204);
      const [gc, first] = await Promise.all([admin.post('/api/v1/images/gc'), m.announce(b.manifest, hashes.slice(0, 8))]);
      expect(gc.status).toBe(200);
      expect(first.status, JSON.stringify(first.body)).toBe(200);
      const told = hashes.slice(0, 8).filter((h) => !first.body.missing.includes(h));
      for (const h of told) expect(fs.existsSync(chunkFile(h)), `round ${round}: ${h} was said to be in the store`).toBe(true);
      if (round === 0) expect(first.body.missing).toEqual(hashes.slice(0, 8));
      const v = ((await tech.get(`/api/v1/images/${streamImage}`)).body.versions as Array<{ number: number; state: string }>).find((x) => x.number === first.body.number);
      expect(v?.state).toBe('capturing');
      // A GC after the answer keeps them: they are in the capturing version's list.
      expect((await admin.post('/api/v1/images/gc')).status).toBe(200);
      for (const h of told) expect(fs.existsSync(chunkFile(h))).toBe(true);
      await m.uploadAll(b, first.body.missing);

      // The client restarts: its batches again, the same version; what it uploaded is not asked again.
      const again = await m.announce(b.manifest, hashes);
      expect(again.body).toMatchObject({ versionId: first.body.versionId, number: first.body.number });
      expect(again.body.missing.filter((h: string) => first.body.missing.includes(h) || told.includes(h))).toEqual([]);
      await m.uploadAll(b, again.body.missing);
      const reg = await m.capture(b.manifest);
      expect(reg.status, JSON.stringify(reg.body)).toBe(200);
      expect(reg.body.versionId).toBe(first.body.versionId);
      const commit = await m.commit();
      expect(commit.status, JSON.stringify(commit.body)).toBe(200);
      expect(commit.body).toMatchObject({ state: 'ready', chunkCount: hashes.length });
      expect((await m.api.post('/api/v1/client/result', { ok: true })).body.state).toBe('done');
      expect((await tech.post(`/api/v1/images/${streamImage}/versions/${commit.body.number}/verify`)).body.ok).toBe(true);
      number = commit.body.number;
    }
    // One capture audit per version (its manifest is its first: not a 'recapture').
    const audit = (await admin.get('/api/v1/audit?action=image.version.recapture')).body as Array<{ details: { versionId: number } }>;
    expect(audit.filter((a) => a.details.versionId >= number - 2)).toEqual([]);

    // Refusals: another chunk size once started, a window longer than the chunk size, no task token.
    const m = await captureTask();
    expect((await m.announce(b.manifest, hashes.slice(0, 2))).status).toBe(200);
    const size = await m.announce(b.manifest, hashes.slice(0, 2), b.manifest.chunkSize * 2);
    expect(size.status).toBe(409);
    expect(size.body.code).toBe('chunk_size_changed');
    const long = await m.api.post('/api/v1/client/capture/chunks', { chunkSize: 65536, chunks: [{ hash: hashes[0], length: 65537 }] });
    expect(long.status).toBe(400);
    expect(await new ApiClient(app.url).post('/api/v1/client/capture/chunks', { chunkSize: 65536, chunks: [{ hash: hashes[0], length: 1 }] }).then((r) => r.status)).toBe(401);
    // A fast capture announces a batch every few windows: more than the firmware routes' burst of 50
    // from one address, and never slowed down by a 429 (announcements share the chunk routes' rate).
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push(...(await Promise.all(Array.from({ length: 8 }, () => m.announce(b.manifest, hashes.slice(0, 2)).then((r) => r.status)))));
    expect(statuses.filter((st) => st !== 200)).toEqual([]);
    await endRunning();
  }, 120_000);
});

describe('an api killed while chunks are being checked', () => {
  it('loses nothing it stored: the commit after the restart asks again for the chunks that were only acknowledged', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-intake-kill-'));
    const env = {
      ROOMCAST_DATA_DIR: dataDir,
      ROOMCAST_DATABASE_URL: `sqlite:${path.join(dataDir, 'test.db')}`,
      ROOMCAST_REDIS_URL: REDIS_URL,
      ROOMCAST_REDIS_PREFIX: `rctk${process.pid}`,
    };
    const held = heldZstd();
    const script = path.join(dataDir, 'api.mjs');
    fs.writeFileSync(
      script,
      `import { startTestApp } from ${JSON.stringify(path.resolve('test/support/app.ts'))};\n` +
        `const app = await startTestApp('sqlite', ${JSON.stringify(env)});\n` +
        `process.stdout.write(app.url + '\\n');\n`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: path.resolve('.'), env: { ...process.env, PATH: `${held.dir}:${process.env.PATH}` }, stdio: ['ignore', 'pipe', 'inherit'] });
    let second: TestApp | undefined;
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (b: Buffer) => {
          out += b.toString();
          if (out.includes('\n')) resolve(out.split('\n')[0]!.trim());
        });
        child.once('exit', (code) => reject(new Error(`the api exited (${code})`)));
      });
      const admin = new ApiClient(url);
      await admin.login('admin', TEST_ADMIN_PASSWORD);
      const tech = await admin.userClient('tech', 'technician');
      const mac = '02:00:00:00:1e:01';
      const hostId = (await tech.post('/api/v1/hosts', { name: 'B206-REF', mac })).body.id;
      const imageId = (await tech.post('/api/v1/images', { name: 'killed' })).body.id;
      const built = await buildImage(['k', 'l', 'm']);
      expect((await tech.post('/api/v1/tasks', { kind: 'capture', hostIds: [hostId], imageId })).status).toBe(201);
      const m = await Machine.boot(url, mac);
      const reg = (await m.capture(built.manifest)).body as { number: number; missing: string[] };
      await m.uploadAll(built, reg.missing); // acknowledged (202), held in the intake's check
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));

      second = await startTestApp('sqlite', env);
      const again = new Machine(second.url, m.api.token!);
      const commit = await again.commit();
      expect(commit.status).toBe(409);
      expect(commit.body.code).toBe('chunks_missing');
      expect([...commit.body.errors].sort()).toEqual([...reg.missing].sort());
      await again.uploadAll(built, reg.missing);
      const done = await again.commit();
      expect(done.status, JSON.stringify(done.body)).toBe(200);
      expect(done.body).toMatchObject({ state: 'ready', chunkCount: reg.missing.length });
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      held.open();
      await second?.stop();
      fs.rmSync(held.dir, { recursive: true, force: true });
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
