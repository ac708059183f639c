// Issue 15, guards and facts: a capture reads the Windows it holds from its offline SOFTWARE and SYSTEM
// hives (edition, build, generalized or not), records it with the version, refuses a Windows whose Fast
// Startup is on before anything changes on the disk, and a run of a non-generalized Windows onto several
// PCs is stopped until acknowledged. The hives are made by the test with hivexsh from readable
// descriptions (test/support/hive.ts); the capture is the real client on a loop device against the real
// api (SQLite, Redis).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hiveFacts } from '../../services/imaging/client/windows-facts.js';
import { buildHive, GENERALIZED_SETUP, softwareHive, type HiveDescription, type WindowsVersion } from '../support/hive.js';
import { buildDisk, missingDiskTools, missingTools, mixedContent, type PartSpec } from '../support/disks.js';
import { ImagingPc } from '../support/imaging-pc.js';

const missing = missingTools({ hivexsh: 'libhivex-bin' });
const sha = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');

const LAYOUT: PartSpec[] = [
  { number: 1, name: 'EFI system partition', fs: 'vfat', startMiB: 1, sizeMiB: 33 },
  { number: 2, name: 'Basic data partition', fs: 'ntfs', startMiB: 34, sizeMiB: 64 },
];
const DISK_MIB = 100;

/** A master's SYSTEM hive: generalized by sysprep unless `setup` says otherwise; Fast Startup as told. */
function systemHive(o: { fastStartup?: boolean; setup?: HiveDescription[string] } = {}): HiveDescription {
  const d: HiveDescription = {
    Select: { Current: { dword: 1 }, Default: { dword: 1 }, LastKnownGood: { dword: 2 }, Failed: { dword: 0 } },
    'ControlSet001\\Control\\ComputerName\\ComputerName': { ComputerName: 'MASTER-B205' },
    'ControlSet002\\Control\\ComputerName\\ComputerName': { ComputerName: 'MASTER-B205' },
  };
  d['ControlSet001\\Control\\Session Manager\\Power'] = { HiberbootEnabled: { dword: o.fastStartup ? 1 : 0 } };
  // The control set Select\Current does not name keeps Fast Startup on: only the current one counts.
  d['ControlSet002\\Control\\Session Manager\\Power'] = { HiberbootEnabled: { dword: 1 } };
  d.Setup = o.setup ?? GENERALIZED_SETUP;
  return d;
}

describe.skipIf(missing.length > 0 || missingDiskTools().length > 0 || process.getuid?.() !== 0)('Windows facts at capture, Fast Startup refused, the run warned (real client, api, SQLite)', () => {
  const pc = new ImagingPc('02:5e:15:00:00:15', DISK_MIB * 1024 * 1024);

  beforeAll(() => pc.start('Windows 11 B205'), 60_000);
  afterAll(() => pc.stop());

  /** A master disk whose NTFS holds Windows with these hives (no SOFTWARE when `software` is null). */
  async function master(name: string, system: HiveDescription, software: WindowsVersion | null): Promise<string> {
    buildHive(pc.file(`${name}.SYSTEM`), system);
    const files: Record<string, Buffer> = { 'Windows/System32/config/SYSTEM': fs.readFileSync(pc.file(`${name}.SYSTEM`)), 'Windows/System32/ntoskrnl.exe': mixedContent(name, 1_000_000) };
    if (software) {
      buildHive(pc.file(`${name}.SOFTWARE`), softwareHive(software));
      files['Windows/System32/config/SOFTWARE'] = fs.readFileSync(pc.file(`${name}.SOFTWARE`));
    }
    await buildDisk(pc.file(`${name}.img`), DISK_MIB, LAYOUT, { 1: { 'EFI/Microsoft/Boot/BCD': mixedContent('bcd', 16_384) }, 2: files });
    return pc.file(`${name}.img`);
  }

  const newest = async () => (await pc.versions()).reduce((a, b) => (a.number > b.number ? a : b));

  it('records a generalized Windows 11 Education: its edition, version, build and sysprep state', async () => {
    const cap = await pc.capture(await master('generalized', systemHive(), {}));
    expect(cap.ok, pc.lastLog()).toBe(true);
    expect((await newest()).windows).toEqual([
      { partition: 2, productName: 'Windows 10 Education', editionId: 'Education', displayVersion: '23H2', build: '22631.4460', imageState: 'IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE', generalized: 'yes', reason: 'generalized' },
    ]);
    expect((await pc.task(cap.taskId)).result.details.windows).toHaveLength(1);
  }, 180_000);

  it('refuses a Windows whose Fast Startup is on, says how to turn it off, publishes nothing and leaves the disk as it was', async () => {
    const disk = await master('fast', systemHive({ fastStartup: true }), {});
    const before = sha(disk);
    const versions = (await pc.versions()).length;
    const cap = await pc.capture(disk);
    expect(cap.ok).toBe(false);
    const t = await pc.task(cap.taskId);
    expect(t.state).toBe('failed');
    expect(t.error).toMatch(/démarrage rapide.*powercfg \/h off.*Fast Startup is on \(partition 2\).*powercfg \/h off/s);
    expect((await pc.versions()).length).toBe(versions);
    expect(sha(disk)).toBe(before);
  }, 180_000);

  it('stops a run of a non-generalized Windows onto two PCs until acknowledged; one PC and the estimate as an RN expects', async () => {
    const cap = await pc.capture(await master('in-use', systemHive({ setup: { SystemSetupInProgress: { dword: 0 }, SetupType: { dword: 0 }, CmdLine: '' } }), { imageState: 'IMAGE_STATE_COMPLETE', productName: 'Windows 10 Pro', editionId: 'Professional', displayVersion: undefined, releaseId: '2009', build: '19045', ubr: undefined }));
    expect(cap.ok, pc.lastLog()).toBe(true);
    const v = await newest();
    expect(v.windows).toEqual([{ partition: 2, productName: 'Windows 10 Pro', editionId: 'Professional', displayVersion: '2009', build: '19045', imageState: 'IMAGE_STATE_COMPLETE', generalized: 'no', reason: 'not_generalized' }]);

    const other = await pc.tech.post('/api/v1/hosts', { name: 'B205-PC02', mac: '02:5e:15:00:01:02' });
    expect(other.status, JSON.stringify(other.body)).toBe(201);
    const body = { hostIds: [pc.hostId, other.body.id], imageId: pc.imageId, version: v.number, steps: ['restore', 'verify'] };
    const refused = await pc.tech.post('/api/v1/runs', body);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'image_not_generalized', detail: expect.stringMatching(/not generalized.*acknowledge: true/) });
    expect(refused.body.errors[0]).toMatchObject({ code: 'image_not_generalized', reason: 'not_generalized', pcs: 2, text: { fr: expect.stringMatching(/pas été généralisé/) } });
    expect((await pc.tech.get('/api/v1/runs')).body).toEqual([]);

    const estimate = await pc.tech.get(`/api/v1/runs/estimate?image=${pc.imageId}&version=${v.number}&pcs=2`);
    expect(estimate.body.warnings.map((w: { code: string }) => w.code)).toEqual(['image_not_generalized']);
    expect((await pc.tech.get(`/api/v1/runs/estimate?image=${pc.imageId}&version=${v.number}&pcs=1`)).body.warnings).toEqual([]);

    const started = await pc.tech.post('/api/v1/runs', { ...body, acknowledge: true });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    expect(started.body.warnings).toMatchObject([{ code: 'image_not_generalized', pcs: 2 }]);
    expect(started.body.options).not.toHaveProperty('acknowledge');
    await pc.tech.post(`/api/v1/runs/${started.body.id}/cancel`);
    await expect.poll(async () => (await pc.tech.get(`/api/v1/runs/${started.body.id}`)).body.state, { timeout: 60_000 }).not.toBe('running');

    // One PC takes back its own identity: no warning, no refusal.
    const one = await pc.tech.post('/api/v1/runs', { ...body, hostIds: [pc.hostId] });
    expect(one.status, JSON.stringify(one.body)).toBe(201);
    expect(one.body).not.toHaveProperty('warnings');
    await pc.tech.post(`/api/v1/runs/${one.body.id}/cancel`);
  }, 240_000);

  it('records unknown with the reason for a missing SOFTWARE hive or a dirty one, and no facts for a disk without Windows', async () => {
    const cap = await pc.capture(await master('no-software', systemHive(), null));
    expect(cap.ok, pc.lastLog()).toBe(true);
    expect((await newest()).windows).toMatchObject([{ partition: 2, generalized: 'unknown', reason: 'hive_unreadable', productName: null }]);

    // A hive whose sequence numbers differ (changes left in its logs): read as unknown, never a crash.
    buildHive(pc.file('dirty.SOFTWARE'), softwareHive());
    buildHive(pc.file('dirty.SYSTEM'), systemHive());
    const fd = fs.openSync(pc.file('dirty.SOFTWARE'), 'r+');
    fs.writeSync(fd, Buffer.from([7, 0, 0, 0]), 0, 4, 4);
    fs.closeSync(fd);
    expect(await hiveFacts(2, pc.file('dirty.SYSTEM'), pc.file('dirty.SOFTWARE'))).toMatchObject({ generalized: 'unknown', reason: 'hive_dirty' });
    expect(await hiveFacts(2, pc.file('dirty.SYSTEM'), pc.file('generalized.SOFTWARE'))).toMatchObject({ generalized: 'yes', build: '22631.4460' });

    await buildDisk(pc.file('plain.img'), DISK_MIB, LAYOUT, { 2: { 'Users/notes.txt': Buffer.from('pas de Windows ici') } });
    const plain = await pc.capture(pc.file('plain.img'));
    expect(plain.ok, pc.lastLog()).toBe(true);
    expect((await newest()).windows).toEqual([]);
  }, 240_000);
});
