// The imaging client (services/imaging/client) against the real api and image store (SQLite, real
// Redis), on real disks: loop devices over a "school PC" disk image (GPT; ESP FAT32, MSR, NTFS
// written through ntfs-3g, ext4) built by test/support/disks.ts. The client gets its task token the
// way a PC does (the api's iPXE script, then hello), captures, restores onto a blank disk and over
// an older one, and the files, their hashes and fsck agree. Without QEMU: the lab does the same
// through a real PXE boot. Needs root (loop devices, mounts) and the tools of DISK_TOOLS.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentDigest, HttpImagingApi } from '../../services/imaging/client/api.js';
import { runTask } from '../../services/imaging/client/main.js';
import { allChunks, maskWindow, windowsOf, type Extent, type Manifest } from '../../services/imaging/format.js';
import { ApiClient } from '../support/client.js';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';
import { helloFacts } from '../support/facts.js';
import {
  SCHOOL_DISK_MIB,
  SCHOOL_LAYOUT,
  attach,
  buildSchoolDisk,
  detach,
  expectedHashes,
  fsckDisk,
  missingDiskTools,
  mixedContent,
  readDiskFiles,
  run,
  schoolFiles,
  sha256,
  type DiskFiles,
} from '../support/disks.js';

const ROOT_DIR = path.resolve(import.meta.dirname, '../..');
const isRoot = process.getuid?.() === 0;
const missing = missingDiskTools();
if (!isRoot) console.warn('imaging-client: skipped, loop devices and mounts need root');
else if (missing.length) console.warn(`imaging-client: skipped, missing ${missing.join(', ')}`);

const MIB = 1024 * 1024;
const MAC = '52:54:00:5c:00:01';
const FACTS = helloFacts({
  mac: MAC,
  serial: 'IMG0001',
  uuid: '4c4c4544-0000-1010-8000-000000000001',
  cpu: { model: 'Intel(R) Core(TM) i5-10500', cores: 6, threads: 12 },
  disk: { model: 'TEST DISK', serial: 'TD-1', sizeBytes: SCHOOL_DISK_MIB * MIB },
});

describe.skipIf(!isRoot || missing.length > 0)('imaging client on loop devices against the real api', () => {
  let dir: string;
  let app: TestApp;
  let tech: ApiClient;
  let hostId: number;
  let imageId: number;
  const loops: string[] = [];
  const log: string[] = [];
  const say = (line: string) => log.push(line);

  const file = (name: string) => path.join(dir, name);
  const blankDisk = (name: string, mib = SCHOOL_DISK_MIB + 32) => {
    fs.rmSync(file(name), { force: true });
    fs.writeFileSync(file(name), '');
    fs.truncateSync(file(name), mib * MIB);
    return file(name);
  };
  const loopOf = async (f: string) => {
    const l = await attach(f);
    loops.push(l);
    return l;
  };
  const release = async (l: string) => {
    await detach(l);
    loops.splice(loops.indexOf(l), 1);
  };

  /** Gives the PC a task and goes through what a PC does: iPXE script (token), then hello. */
  async function bootForTask(body: Record<string, unknown>): Promise<{ taskId: number; token: string; action: string }> {
    const created = await tech.post('/api/v1/tasks', { hostIds: [hostId], ...body });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const taskId = created.body.tasks[0].id as number;
    const script = await fetch(`${app.url}/boot/ipxe?mac=${MAC}&arch=7`).then((r) => r.text());
    const bootToken = /roomcast\.token=(\S+)/.exec(script)?.[1];
    expect(bootToken, script).toBeTruthy();
    const hello = await fetch(`${app.url}/api/v1/boot/hello`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bootToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(FACTS),
    });
    const answer = (await hello.json()) as { action: string; token?: string };
    expect(hello.status, JSON.stringify(answer)).toBe(200);
    return { taskId, token: answer.token ?? bootToken!, action: answer.action };
  }

  const apiFor = (token: string) => new HttpImagingApi({ base: app.url, token, attempts: 3, log: say });
  const task = async (id: number) => ((await tech.get(`/api/v1/tasks?hostId=${hostId}`)).body as Array<Record<string, any>>).find((t) => t.id === id)!;
  const image = async () => (await tech.get(`/api/v1/images/${imageId}`)).body as { versions: Array<Record<string, any>> };

  async function captureDisk(f: string): Promise<{ taskId: number; ok: boolean }> {
    const { taskId, token, action } = await bootForTask({ kind: 'capture', imageId });
    expect(action).toBe('capture');
    const l = await loopOf(f);
    try {
      return { taskId, ok: await runTask(apiFor(token), l, say) };
    } finally {
      await release(l);
    }
  }

  /** `ended`: what the client said the PC does next (the boot client's action after the task). */
  async function restoreDisk(f: string, version?: number, extra: { endAction?: 'poweroff' | 'reboot' } = {}): Promise<{ taskId: number; ok: boolean; result: Record<string, any>; ended: string | null }> {
    const { taskId, token, action } = await bootForTask({ kind: 'restore', imageId, ...(version ? { version } : {}), ...extra });
    expect(action).toBe('restore');
    const l = await loopOf(f);
    try {
      let ended: string | null = null;
      const ok = await runTask(apiFor(token), l, say, 4, (next) => (ended = next));
      return { taskId, ok, result: (await task(taskId)).result ?? {}, ended };
    } finally {
      await release(l);
    }
  }

  async function manifestOf(version: number): Promise<Manifest> {
    const v = (await image()).versions.find((x) => x.number === version)!;
    return JSON.parse(fs.readFileSync(path.join(app.dataDir, 'images', 'manifests', `${v.id}.json`), 'utf8')) as Manifest;
  }

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-imaging-'));
    app = await startTestApp('sqlite');
    const admin = new ApiClient(app.url);
    await admin.login('admin', TEST_ADMIN_PASSWORD);
    tech = await admin.userClient('tech', 'technician');
    const host = await tech.post('/api/v1/hosts', { name: 'B204-PC01', mac: MAC });
    expect(host.status, JSON.stringify(host.body)).toBe(201);
    hostId = host.body.id;
    const img = await tech.post('/api/v1/images', { name: 'Windows 11 B204', description: 'salle B204' });
    expect(img.status, JSON.stringify(img.body)).toBe(201);
    imageId = img.body.id;
    await buildSchoolDisk(file('master.img'));
  }, 180_000);

  afterAll(async () => {
    for (const l of [...loops]) await detach(l).catch(() => {});
    await app?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const files1 = schoolFiles('v1');
  let files3: DiskFiles;

  it('captures the master disk into version 1: every used chunk uploaded, the task done', async () => {
    const { taskId, ok } = await captureDisk(file('master.img'));
    expect(ok, log.slice(-10).join('\n')).toBe(true);
    expect(await task(taskId)).toMatchObject({ state: 'done', error: null });
    const v1 = (await image()).versions.find((v) => v.number === 1);
    expect(v1).toMatchObject({ state: 'ready' });
    const m = await manifestOf(1);
    expect(m.partitions.map((p) => p.filesystem)).toEqual(['vfat', 'raw', 'ntfs', 'ext4']);
    // Used data only: far less than the 640 MiB disk (the files are ~75 MB).
    const used = m.partitions.reduce((s, p) => s + p.usedBytes, 0);
    expect(used).toBeGreaterThan(75 * 1e6);
    expect(used).toBeLessThan(260 * MIB);
  }, 180_000);

  it('a second capture of the unchanged disk uploads no chunk', async () => {
    const { ok } = await captureDisk(file('master.img'));
    expect(ok, log.slice(-10).join('\n')).toBe(true);
    const uploaded = log.filter((l) => l.includes('capture done')).at(-1);
    expect(uploaded).toMatch(/version 2, 0 chunks uploaded/);
  }, 180_000);

  it('restores version 1 onto a blank, larger disk: same table, boot code, files, and clean fsck', async () => {
    const target = blankDisk('pc1.img');
    const { taskId, ok, result, ended } = await restoreDisk(target, 1, { endAction: 'reboot' });
    expect(ok, log.slice(-10).join('\n')).toBe(true);
    // The task said reboot (a room run that leaves the PCs on): the client tells the boot client so.
    expect(ended).toBe('reboot');
    expect(await task(taskId)).toMatchObject({ state: 'done' });
    expect(result).toMatchObject({ details: { verifiedChunks: expect.any(Number) } });
    // Each chunk counted once: fetched (the head's by the pre-flight) or already on the blank disk.
    expect(result.details.fetchedChunks + result.details.skippedChunks).toBe(result.details.chunks);
    const strip = (d: string) => d.replace(/^(device|last-lba):.*$/gm, '').replace(/^\S+ :/gm, '');
    expect(strip((await run('sfdisk', ['--dump', target])))).toBe(strip(await run('sfdisk', ['--dump', file('master.img')])));
    const head = (f: string) => fs.readFileSync(f).subarray(0, 440);
    expect(head(target).equals(head(file('master.img')))).toBe(true);
    expect(await readDiskFiles(target)).toEqual(expectedHashes(files1));
    const fsck = await fsckDisk(target);
    for (const [n, r] of Object.entries(fsck)) expect(r.ok, `partition ${n}: ${r.output}`).toBe(true);
  }, 180_000);

  it('after a few files change, a restore over the old disk moves only the changed chunks', async () => {
    const ntfs = SCHOOL_LAYOUT.find((p) => p.fs === 'ntfs')!;
    const ext4 = SCHOOL_LAYOUT.find((p) => p.fs === 'ext4')!;
    const { writeFiles } = await import('../support/disks.js');
    const changed3 = { 'Users/eleve/Documents/TP physique.txt': Buffer.from('Nouvelle version du TP.\r\n'.repeat(800)), 'Windows/System32/drivers/e1000.sys': mixedContent('e1000-v2', 400_000) };
    const changed4 = { 'notes.txt': Buffer.from('disk v3\n') };
    await writeFiles(file('master.img'), ntfs, changed3);
    await writeFiles(file('master.img'), ext4, changed4);
    files3 = { ...files1, 3: { ...files1[3], ...changed3 }, 4: { ...files1[4], ...changed4 } };
    const { ok } = await captureDisk(file('master.img'));
    expect(ok, log.slice(-10).join('\n')).toBe(true);
    const m1 = await manifestOf(1);
    const m3 = await manifestOf(3);
    // The windows whose content differs between the versions: what a differential restore must move.
    const at = (m: Manifest) => new Map(allChunks(m).map((c, i) => [`${i < m.bootArea.chunks.length ? 'boot' : ''}${c.offset}:${m.partitions.find((p) => p.chunks.includes(c))?.number ?? 0}`, c.hash]));
    const before = at(m1);
    const differing = new Set([...at(m3)].filter(([k, h]) => before.get(k) !== h).map(([, h]) => h));
    expect(differing.size).toBeGreaterThan(0);

    // What pc1 (holding version 1) lacks of version 3, window by window, read before the restore:
    // windows whose version-3 used bytes already match are not moved, even when their hash changed
    // (e.g. a window where a file was only freed, or newly used blocks that are zero on both).
    const lacking = new Set<string>();
    const fd = fs.openSync(file('pc1.img'), 'r');
    const regions = [{ start: 0, ext: m3.bootArea.write, limit: m3.bootArea.length, chunks: m3.bootArea.chunks }, ...m3.partitions.map((p) => ({ start: p.startBytes, ext: p.used, limit: p.sizeBytes, chunks: p.chunks }))];
    for (const r of regions) {
      windowsOf(r.ext as Extent[], m3.chunkSize, r.limit).forEach((w, i) => {
        const buf = Buffer.alloc(w.length);
        fs.readSync(fd, buf, 0, w.length, r.start + w.offset);
        if (sha256(maskWindow(buf, w.used)) !== r.chunks[i]!.hash) lacking.add(r.chunks[i]!.hash);
      });
    }
    fs.closeSync(fd);
    expect(lacking.size).toBeGreaterThan(0);
    expect(lacking.size).toBeLessThanOrEqual(differing.size);

    const { ok: restored, result } = await restoreDisk(file('pc1.img'), 3);
    expect(restored, log.slice(-10).join('\n')).toBe(true);
    expect(result.details.fetchedChunks).toBe(lacking.size);
    expect(result.details.fetchedChunks).toBeLessThan(allChunks(m3).length / 4);
    expect(result.details.tableChanged).toBe(false);
    expect(await readDiskFiles(file('pc1.img'))).toEqual(expectedHashes(files3));
  }, 240_000);

  it('a corrupted chunk in the store is detected and reported, never written', async () => {
    const m3 = await manifestOf(3);
    const ntfs = m3.partitions.find((p) => p.filesystem === 'ntfs')!;
    // A chunk with real data, not shared with another window (so the check is about this one).
    const counts = new Map<string, number>();
    for (const c of allChunks(m3)) counts.set(c.hash, (counts.get(c.hash) ?? 0) + 1);
    const victim = ntfs.chunks.filter((c) => counts.get(c.hash) === 1).at(-1)!;
    const chunkFile = path.join(app.dataDir, 'images', 'chunks', victim.hash.slice(0, 2), `${victim.hash}.zst`);
    const good = fs.readFileSync(chunkFile);
    const { zstdCompress } = await import('../../services/imaging/zstd.js');
    fs.writeFileSync(chunkFile, await zstdCompress(Buffer.alloc(victim.length, 0x5a))); // valid zstd, wrong content
    try {
      const target = blankDisk('pc2.img');
      const { taskId, ok, ended } = await restoreDisk(target, 3);
      expect(ok).toBe(false);
      expect(ended).toBe('poweroff');
      const t = await task(taskId);
      expect(t.state).toBe('failed');
      expect(t.error).toMatch(/damaged on the server.*the version is now marked damaged/);
      expect((await image()).versions.find((v) => v.number === 3)).toMatchObject({ state: 'damaged' });
      // The window of the bad chunk was not written: still zeros on the blank disk.
      const fd = fs.openSync(target, 'r');
      const back = Buffer.alloc(victim.length);
      fs.readSync(fd, back, 0, victim.length, ntfs.startBytes + victim.offset);
      fs.closeSync(fd);
      expect(back.every((b) => b === 0)).toBe(true);
    } finally {
      // The store forgot its corrupt copy: a capture of the same disk uploads it again, and a verify
      // makes version 3 restorable again (what the version's error tells a technician to do).
      expect(fs.existsSync(chunkFile)).toBe(false);
      const { ok } = await captureDisk(file('master.img'));
      expect(ok, log.slice(-10).join('\n')).toBe(true);
      expect(fs.readFileSync(chunkFile).equals(good)).toBe(true);
      expect((await tech.post(`/api/v1/images/${imageId}/versions/3/verify`, {})).body).toMatchObject({ ok: true });
      expect((await image()).versions.find((v) => v.number === 3)).toMatchObject({ state: 'ready' });
    }
  }, 240_000);

  it('a client killed mid-restore and started again finishes correctly', async () => {
    const target = blankDisk('pc3.img');
    const { taskId, token } = await bootForTask({ kind: 'restore', imageId, version: 3 });
    fs.writeFileSync(file('token'), token);
    const l = await loopOf(target);
    // The first run goes through a proxy that holds each chunk download 150 ms, so that it is still
    // restoring when it is killed, however fast the machine restores.
    const proxy = http.createServer((req, res) => {
      const forward = () => {
        const up = http.request(app.url + req.url, { method: req.method, headers: req.headers }, (r) => {
          res.writeHead(r.statusCode!, r.headers);
          r.pipe(res);
        });
        up.on('error', () => res.destroy());
        req.pipe(up);
      };
      if (req.url?.startsWith('/api/v1/client/chunks/')) setTimeout(forward, 150);
      else forward();
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const slow = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const args = ['--import', 'tsx', path.join(ROOT_DIR, 'services/imaging/client/main.ts'), 'run', '--api', slow, '--token-file', file('token'), '--disk', l, '--concurrency', '2'];
      const first = spawn(process.execPath, args, { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      first.stdout.on('data', (b: Buffer) => (out += b.toString()));
      first.stderr.on('data', (b: Buffer) => (out += b.toString()));
      // Kill it once some chunks are written but before the end.
      const deadline = Date.now() + 90_000;
      while (Date.now() < deadline) {
        const p = (await task(taskId)).result?.progress;
        if (p?.phase === 'restore' && p.chunksDone >= 4) break;
        if (first.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(first.exitCode, `the client ended before it could be killed:\n${out}`).toBe(null);
      first.kill('SIGKILL');
      await new Promise((r) => first.once('exit', r));
      expect((await task(taskId)).state).toBe('running');

      const ok = await runTask(apiFor(token), l, say);
      expect(ok, log.slice(-10).join('\n')).toBe(true);
      expect((await task(taskId)).state).toBe('done');
    } finally {
      proxy.closeAllConnections();
      proxy.close();
      await release(l);
    }
    expect(await readDiskFiles(target)).toEqual(expectedHashes(files3));
  }, 240_000);
  it('removes hiberfil.sys before capturing: no PC gets a hibernated session back', async () => {
    await run('cp', ['--sparse=always', file('master.img'), file('hib.img')]);
    const ntfs = SCHOOL_LAYOUT.find((p) => p.fs === 'ntfs')!;
    const { writeFiles, pseudoRandom } = await import('../support/disks.js');
    await writeFiles(file('hib.img'), ntfs, { 'hiberfil.sys': Buffer.concat([Buffer.from('HIBR'), pseudoRandom('hiberfil', 3_000_000)]) });
    const { ok } = await captureDisk(file('hib.img'));
    expect(ok, log.slice(-10).join('\n')).toBe(true);
    expect(log.some((l) => /partition 3: removed hiberfil\.sys/.test(l))).toBe(true);
    const newest = Math.max(...(await image()).versions.filter((v) => v.state === 'ready').map((v) => v.number as number));
    const target = blankDisk('pc4.img');
    const { ok: restored } = await restoreDisk(target, newest);
    expect(restored, log.slice(-10).join('\n')).toBe(true);
    const got = await readDiskFiles(target);
    expect(Object.keys(got[3]!)).not.toContain('hiberfil.sys');
    expect(got).toEqual(expectedHashes(files3));
    fs.rmSync(file('hib.img'), { force: true });
  }, 240_000);

  it('refuses to capture a BitLocker volume, says what to do, and publishes nothing', async () => {
    await run('cp', ['--sparse=always', file('master.img'), file('bitlocker.img')]);
    const ntfs = SCHOOL_LAYOUT.find((p) => p.fs === 'ntfs')!;
    const fd = fs.openSync(file('bitlocker.img'), 'r+');
    fs.writeSync(fd, Buffer.from('-FVE-FS-'), 0, 8, ntfs.startMiB * MIB + 3); // BitLocker's boot sector OEM id
    fs.closeSync(fd);
    const before = (await image()).versions.length;
    const { taskId, ok } = await captureDisk(file('bitlocker.img'));
    expect(ok).toBe(false);
    const t = await task(taskId);
    expect(t.state).toBe('failed');
    expect(t.error).toMatch(/partition 3 is encrypted with BitLocker.*manage-bde -off/);
    expect((await image()).versions.length).toBe(before);
    fs.rmSync(file('bitlocker.img'), { force: true });
  }, 120_000);

  it('reports a disk that changed under the capture (disk_changed): the store rejects a damaged upload, and the re-read shows the change', async () => {
    await run('cp', ['--sparse=always', file('master.img'), file('changing.img')]);
    // A new file, so that some window is new to the store and gets uploaded.
    const ntfs = SCHOOL_LAYOUT.find((p) => p.fs === 'ntfs')!;
    const { writeFiles, pseudoRandom } = await import('../support/disks.js');
    await writeFiles(file('changing.img'), ntfs, { 'changing.bin': pseudoRandom('changing', 3_000_000) });
    const { taskId, token, action } = await bootForTask({ kind: 'capture', imageId });
    expect(action).toBe('capture');
    const l = await loopOf(file('changing.img'));
    // A streaming capture reads each window once, so its hash and its upload always agree. Here every
    // first upload arrives damaged (one byte flipped, its Content-Digest right: the transfer check
    // passes, the store's content check rejects it), and once the manifest is sent something writes
    // into one of those windows: the commit finds them missing, the client reads them again, and the
    // changed one no longer has the hash of its manifest entry.
    const damaged = new Set<string>();
    class ChangingDisk extends HttpImagingApi {
      override async putChunk(hash: string, data: Buffer, digest?: string) {
        if (damaged.has(hash)) return super.putChunk(hash, data, digest);
        damaged.add(hash);
        const bad = Buffer.from(data);
        bad[bad.length - 9] = bad[bad.length - 9]! ^ 0xff;
        return super.putChunk(hash, bad, contentDigest(bad));
      }
      override async registerCapture(m: Manifest) {
        const answer = await super.registerCapture(m);
        const p = m.partitions.find((x) => x.chunks.some((c) => damaged.has(c.hash)))!;
        const c = p.chunks.find((x) => damaged.has(x.hash))!;
        const [uo, ul] = p.used.find(([o, n]) => o + n > c.offset && o < c.offset + c.length)!;
        const at = Math.max(uo, c.offset);
        const fd = fs.openSync(l, 'r+');
        fs.writeSync(fd, Buffer.alloc(Math.min(4096, uo + ul - at), 0xa5), 0, Math.min(4096, uo + ul - at), p.startBytes + at);
        fs.closeSync(fd);
        return answer;
      }
    }
    let ok: boolean;
    try {
      ok = await runTask(new ChangingDisk({ base: app.url, token, attempts: 3, log: say }), l, say);
    } finally {
      await release(l);
    }
    expect(ok).toBe(false);
    expect(log.some((x) => /the store lacks \d+ chunk\(s\) after the upload .*rejected when checked/.test(x)), log.slice(-10).join('\n')).toBe(true);
    const t = await task(taskId);
    expect(t.state).toBe('failed');
    expect(t.error).toMatch(/the disk changed during the capture/);
    expect(JSON.stringify(t.result)).toContain('disk_changed');
    expect((await image()).versions.find((v) => v.state === 'capturing')).toBeUndefined();
    fs.rmSync(file('changing.img'), { force: true });
  }, 180_000);
  it('writes every window of a repeated content over a non-blank disk', async () => {
    // A raw partition (no filesystem: every byte is used) whose first and last windows are equal,
    // restored over random bytes: the two windows share one chunk; both must be written (a window
    // whose content was already fetched and written elsewhere used to be left out).
    const img = await tech.post('/api/v1/images', { name: 'Repeated windows' });
    expect(img.status, JSON.stringify(img.body)).toBe(201);
    const saved = imageId;
    imageId = img.body.id;
    try {
      const { pseudoRandom } = await import('../support/disks.js');
      const src = blankDisk('repeat.img', 64);
      await run('sgdisk', ['-n1:2048:0', '-t1:8300', src]);
      const start = 1 * MIB;
      const windows = 15; // 60 MiB of the partition, 4 MiB each
      const a = pseudoRandom('window-A', 4 * MIB);
      const fd = fs.openSync(src, 'r+');
      for (let i = 0; i < windows; i++) fs.writeSync(fd, i === 0 || i === windows - 1 ? a : pseudoRandom(`window-${i}`, 4 * MIB), 0, 4 * MIB, start + i * 4 * MIB);
      fs.closeSync(fd);
      const { ok } = await captureDisk(src);
      expect(ok, log.slice(-10).join('\n')).toBe(true);

      const target = blankDisk('repeat-target.img', 64);
      fs.writeFileSync(target, pseudoRandom('garbage', 64 * MIB));
      const { ok: restored, result } = await restoreDisk(target);
      expect(restored, log.slice(-10).join('\n')).toBe(true);
      expect(result.details.skippedChunks).toBe(0);
      // One download for both windows: the second one reuses the content fetched for the first.
      expect(result.details.fetchedChunks).toBe(result.details.chunks - 1);
      const back = fs.readFileSync(target);
      const orig = fs.readFileSync(src);
      const partEnd = start + (64 * MIB - start - 33 * 512) - ((64 * MIB - start - 33 * 512) % 512);
      expect(back.subarray(start, partEnd).equals(orig.subarray(start, partEnd))).toBe(true);
    } finally {
      imageId = saved;
    }
  }, 120_000);
});
