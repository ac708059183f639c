// Issue 11, deliverable 2: a damaged image is never half-restored. Real api and store (SQLite, real
// Redis), the imaging client on loop devices, a small GPT disk (ESP FAT32 + NTFS) built with sgdisk:
// - verify finds a flipped byte: the version is damaged at once, an alert says what to do, a new
//   restore task for it is refused with the reason; a new capture of the same data and a verify make
//   it whole again;
// - a restore already running meets the damaged chunk: it stops, the server (checking its own copy)
//   marks the version damaged, and the disk, which held a complete table before, is left without
//   one (no boot signature, no GPT header): firmware skips it and the PC network-boots again;
// - a chunk missing from the store is found by the pre-flight, before anything is written;
// - a version found damaged while a restore of it runs fails its restore tasks at once: a pending one
//   never starts, the running client is refused at its next call, stops before the table is written
//   and leaves a disk firmware will not start.
// Needs root (loop devices, mounts) and the tools of DISK_TOOLS.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpImagingApi } from '../../services/imaging/client/api.js';
import { DEFAULT_BLOCK_SIZE, allChunks, parseBlockIndex, type Chunk, type Manifest } from '../../services/imaging/format.js';
import { buildDisk, missingDiskTools, pseudoRandom, run, type PartSpec } from '../support/disks.js';
import { ImagingPc } from '../support/imaging-pc.js';

const isRoot = process.getuid?.() === 0;
const missing = missingDiskTools();
const MIB = 1024 * 1024;
const DISK_MIB = 96;
const LAYOUT: PartSpec[] = [
  { number: 1, name: 'EFI system partition', fs: 'vfat', startMiB: 1, sizeMiB: 40 },
  { number: 2, name: 'Basic data partition', fs: 'ntfs', startMiB: 41, sizeMiB: 54 },
];
const FILES = {
  1: { 'EFI/Microsoft/Boot/bootmgfw.efi': pseudoRandom('bootmgfw', 1_500_000) },
  2: { 'Windows/System32/ntoskrnl.exe': pseudoRandom('ntos', 9_000_000), 'Windows/explorer.exe': pseudoRandom('explorer', 7_000_000) },
};
const digest = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');
const sector = (f: string, lba: number) => {
  const fd = fs.openSync(f, 'r');
  const b = Buffer.alloc(512);
  fs.readSync(fd, b, 0, 512, lba < 0 ? fs.fstatSync(fd).size + lba * 512 : lba * 512);
  fs.closeSync(fd);
  return b;
};
/** What firmware looks for: a boot signature in LBA 0, a GPT header at LBA 1 or on the last sector. */
const firmwareView = (f: string) => ({
  bootSignature: sector(f, 0).readUInt16LE(510) === 0xaa55,
  primaryGpt: sector(f, 1).toString('latin1', 0, 8) === 'EFI PART',
  backupGpt: sector(f, -1).toString('latin1', 0, 8) === 'EFI PART',
});

/** The last chunk of the NTFS partition that no other window shares (so a restore must fetch it). */
function ntfsVictim(m: Manifest): { chunk: Chunk; offset: number } {
  const counts = new Map<string, number>();
  for (const c of allChunks(m)) counts.set(c.hash, (counts.get(c.hash) ?? 0) + 1);
  const ntfs = m.partitions.find((p) => p.filesystem === 'ntfs')!;
  const chunk = ntfs.chunks.filter((c) => counts.get(c.hash) === 1 && c.offset > 0).at(-1)!;
  return { chunk, offset: ntfs.startBytes + chunk.offset };
}

describe.skipIf(!isRoot || missing.length > 0)('a damaged version is never half-restored', () => {
  const pc = new ImagingPc('52:54:00:5c:12:01', DISK_MIB * MIB);
  let master: string;

  beforeAll(async () => {
    await pc.start('Damaged');
    master = pc.file('master.img');
    await buildDisk(master, DISK_MIB, LAYOUT, FILES);
    expect((await pc.capture(master)).ok, pc.lastLog()).toBe(true);
  }, 180_000);

  afterAll(() => pc.stop());

  const flipByte = (file: string) => {
    const frame = fs.readFileSync(file);
    // In a block container (format v3), the middle of its largest block frame: a block of file data,
    // which a restore onto a disk lacking the window must fetch (a damaged frame it does not need,
    // e.g. of a zero block, leaves its restore right; verify finds it either way).
    const blocks = parseBlockIndex(frame, DEFAULT_BLOCK_SIZE) ?? [[0, frame.length]];
    const [a, b] = blocks.reduce((x, y) => (y[1] - y[0] > x[1] - x[0] ? y : x));
    const at = Math.floor((a + b) / 2);
    frame[at] = frame[at]! ^ 0x01;
    fs.writeFileSync(file, frame);
  };

  it('a restore refused before writing (a disk too small) says once that nothing was written, with diskState untouched', async () => {
    const small = pc.file('small.img');
    fs.writeFileSync(small, Buffer.alloc(48 * MIB, 0x5a));
    const before = digest(small);
    const { taskId, token } = await pc.bootForTask({ kind: 'restore', imageId: pc.imageId, version: 1 });
    expect(await pc.runOn(small, token)).toBe(false);
    const t = await pc.task(taskId);
    expect(t.state).toBe('failed');
    expect(t.error).toMatch(/is smaller than this image needs .*; nothing was written$/);
    expect(t.error.match(/nothing was written/g)).toHaveLength(1);
    expect(t.result.details).toMatchObject({ code: 'disk_too_small', diskState: 'untouched' });
    expect(digest(small)).toBe(before);
  }, 60_000);

  it('verify marks the version damaged at once; a restore task is refused with the reason; a new capture and verify make it whole', async () => {
    const { chunk } = ntfsVictim(await pc.manifest(1));
    flipByte(pc.chunkFile(chunk.hash));
    const verify = await pc.tech.post(`/api/v1/images/${pc.imageId}/versions/1/verify`, {});
    expect(verify.status).toBe(200);
    expect(verify.body).toMatchObject({ ok: false, bad: [{ hash: chunk.hash, reason: 'corrupt' }] });
    const v1 = (await pc.versions()).find((v) => v.number === 1)!;
    expect(v1).toMatchObject({ state: 'damaged', restorable: false });
    expect(v1.error).toMatch(/damaged: 1 of its chunks are missing or corrupt .*Restore another version, or capture the reference PC again/);
    const alerts = (await pc.tech.get('/api/v1/alerts')).body as Array<Record<string, any>>;
    expect(alerts.find((a) => a.kind === 'image.version.damaged')).toMatchObject({ severity: 'critical', message: v1.error, details: { version: 1 } });

    const refused = await pc.tech.post('/api/v1/tasks', { hostIds: [pc.hostId], kind: 'restore', imageId: pc.imageId, version: 1 });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'version_damaged', detail: expect.stringMatching(/version 1 of image "Damaged" is damaged .*cannot be restored; restore another version, or capture the reference PC again/) });
    const latest = await pc.tech.post('/api/v1/tasks', { hostIds: [pc.hostId], kind: 'restore', imageId: pc.imageId });
    expect(latest.body).toMatchObject({ code: 'no_ready_version' });

    // The corrupt chunk was forgotten by the store: a new capture of the same disk uploads it again,
    // and a verify then finds version 1 whole.
    expect(fs.existsSync(pc.chunkFile(chunk.hash))).toBe(false);
    expect((await pc.capture(master)).ok, pc.lastLog()).toBe(true);
    expect(pc.log.filter((l) => l.includes('capture done')).at(-1)).toMatch(/version 2, 1 chunks uploaded/);
    const again = await pc.tech.post(`/api/v1/images/${pc.imageId}/versions/1/verify`, {});
    expect(again.body).toMatchObject({ ok: true });
    expect((await pc.versions()).find((v) => v.number === 1)).toMatchObject({ state: 'ready', error: null });
  }, 240_000);

  it('a running restore that meets the damaged chunk stops and leaves a disk firmware will not start', async () => {
    // A PC whose disk is complete and bootable (a copy of the master), but lacks one window of version 2.
    const target = pc.file('pc.img');
    await run('cp', ['--sparse=always', master, target]);
    const { chunk, offset } = ntfsVictim(await pc.manifest(2));
    const fd = fs.openSync(target, 'r+');
    fs.writeSync(fd, Buffer.alloc(chunk.length), 0, chunk.length, offset);
    fs.closeSync(fd);
    expect(firmwareView(target)).toEqual({ bootSignature: true, primaryGpt: true, backupGpt: true });

    const { taskId, token } = await pc.bootForTask({ kind: 'restore', imageId: pc.imageId, version: 2 });
    flipByte(pc.chunkFile(chunk.hash)); // damaged after the task was accepted, as the restore runs
    expect(await pc.runOn(target, token)).toBe(false);

    const t = await pc.task(taskId);
    expect(t.state).toBe('failed');
    expect(t.error).toMatch(/chunk [0-9a-f]{12} of the image is damaged on the server .*the version is now marked damaged.* — the disk was left without a partition table: it will not start Windows and network-boots again at its next start/);
    expect(t.result.details).toMatchObject({ code: 'chunk_corrupt', chunk: chunk.hash, diskState: 'no_table' });
    expect((await pc.versions()).find((v) => v.number === 2)).toMatchObject({ state: 'damaged' });
    // No boot signature and no GPT: BIOS finds no boot sector, UEFI no EFI system partition (its
    // data is still there, so a restore run again fetches little).
    expect(firmwareView(target)).toEqual({ bootSignature: false, primaryGpt: false, backupGpt: false });
    await expect(run('sfdisk', ['--dump', target])).rejects.toThrow();
    expect((await run('sh', ['-c', `blkid -p -o value -s PTTYPE ${target} || true`])).trim()).toBe('');
    expect(sector(target, 1 * 2048).equals(sector(master, 1 * 2048)), 'the ESP itself was written').toBe(true);
    // At its next start the PC gets no imaging task from roomcast: the script falls through to a disk that does not start.
    const script = await fetch(`${pc.app.url}/boot/ipxe?mac=${pc.mac}&arch=7`).then((r) => r.text());
    expect(script).not.toMatch(/roomcast\.token=/);
  }, 240_000);

  it('a chunk missing from the store is found before anything is written', async () => {
    // Versions 1 and 2 share the chunk damaged above: a new capture brings it back as version 3.
    expect((await pc.capture(master)).ok, pc.lastLog()).toBe(true);
    const { chunk } = ntfsVictim(await pc.manifest(3));
    const target = pc.file('pc2.img');
    await run('cp', ['--sparse=always', master, target]);
    const before = digest(target);
    const { taskId, token } = await pc.bootForTask({ kind: 'restore', imageId: pc.imageId, version: 3 });
    fs.rmSync(pc.chunkFile(chunk.hash));
    expect(await pc.runOn(target, token)).toBe(false);
    const t = await pc.task(taskId);
    expect(t.error).toMatch(/1 of the \d+ chunks of this image version are missing from the server .*marked damaged.* — nothing was written to the disk: it starts as before/);
    expect(t.result.details).toMatchObject({ code: 'chunks_missing', diskState: 'untouched' });
    expect(digest(target)).toBe(before);
    expect((await pc.versions()).find((v) => v.number === 3)).toMatchObject({ state: 'damaged' });
  }, 120_000);

  it('a version found damaged while restores of it run: the pending one fails at once, the running one stops before the table', async () => {
    expect((await pc.capture(master)).ok, pc.lastLog()).toBe(true); // version 4, whole again
    const { chunk } = ntfsVictim(await pc.manifest(4));
    // A second PC waits for its restore of version 4.
    const other = await pc.tech.post('/api/v1/hosts', { name: 'PC-WAIT', mac: '52:54:00:5c:12:02' });
    const waiting = await pc.tech.post('/api/v1/tasks', { hostIds: [other.body.id], kind: 'restore', imageId: pc.imageId, version: 4 });
    expect(waiting.status, JSON.stringify(waiting.body)).toBe(201);
    const waitingId = waiting.body.tasks[0].id as number;

    // This PC's disk is a complete copy: the restore fetches only the head's chunk, in its pre-flight,
    // then makes no call but its progress reports until the check before the table. The version is
    // found damaged (a person's verify) right after that fetch.
    const target = pc.file('pc3.img');
    await run('cp', ['--sparse=always', master, target]);
    const { taskId, token } = await pc.bootForTask({ kind: 'restore', imageId: pc.imageId, version: 4 });
    let verified: Record<string, any> | null = null;
    const api = new (class extends HttpImagingApi {
      override async getChunk(hash: string): Promise<Buffer> {
        const data = await super.getChunk(hash);
        if (!verified) {
          flipByte(pc.chunkFile(chunk.hash));
          verified = (await pc.tech.post(`/api/v1/images/${pc.imageId}/versions/4/verify`, {})).body;
        }
        return data;
      }
    })({ base: pc.app.url, token, attempts: 3, log: (l) => pc.log.push(l) });
    expect(await pc.runOn(target, token, api)).toBe(false);
    expect(verified).toMatchObject({ ok: false, bad: [{ hash: chunk.hash }] });

    const t = await pc.task(taskId);
    expect(t.state).toBe('failed');
    expect(t.error).toMatch(/^stopped while it ran: version 4 of image "Damaged" is damaged.*Its PC stops at its next call to the server/);
    expect(t.result.details).toMatchObject({ code: 'version_damaged' });
    // The client was refused (409 task_failed), stopped, and could not report: the server's word stands.
    expect(pc.log.join('\n')).toMatch(/task failed: the api refused POST \/api\/v1\/client\/progress \(409\): task \d+ failed: stopped while it ran.* — the disk was left without a partition table/);
    expect(pc.log.join('\n')).toMatch(/could not report the failure to the api: .*\(409\)/);
    expect(firmwareView(target)).toEqual({ bootSignature: false, primaryGpt: false, backupGpt: false });
    expect(sector(target, 1 * 2048).equals(sector(master, 1 * 2048)), 'the data stays for the next restore').toBe(true);

    const w = (await pc.tech.get(`/api/v1/tasks?hostId=${other.body.id}`)).body.find((x: Record<string, any>) => x.id === waitingId);
    expect(w).toMatchObject({ state: 'failed', error: expect.stringMatching(/^stopped before it began, nothing was written to the disk: version 4/), result: { details: { diskState: 'untouched' } } });
  }, 240_000);
});
