// Issue 15 item 3, the driver pack of the PC's model: a pack uploaded to the api (a tar.gz of .inf
// drivers), matched to the PC by the DMI vendor and model of its boot hello, is copied by the imaging
// client into the restored Windows (Drivers/roomcast/<id>-<name>, which the answer file names), and
// read back from the restored NTFS. A PC whose model no pack fits gets none, and its report says why.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANSWER_FILE_DRIVER_PATH, DRIVERS_ROOT } from '../../services/imaging/driver-pack.js';
import { buildHive } from '../support/hive.js';
import { buildDisk, missingDiskTools, missingTools, withPartitionDir, type PartSpec } from '../support/disks.js';
import { ImagingPc } from '../support/imaging-pc.js';

const missing = missingTools({ hivexsh: 'libhivex-bin' });
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const LAYOUT: PartSpec[] = [
  { number: 1, name: 'EFI system partition', fs: 'vfat', startMiB: 1, sizeMiB: 33 },
  { number: 2, name: 'Basic data partition', fs: 'ntfs', startMiB: 34, sizeMiB: 64 },
];
const DISK_MIB = 100;

describe.skipIf(missing.length > 0 || missingDiskTools().length > 0 || process.getuid?.() !== 0)('a restore copies the driver pack of the PC\'s model into its Windows', () => {
  const pc = new ImagingPc('02:5e:15:00:00:09', DISK_MIB * 1024 * 1024);
  const sys = randomBytes(1_500_000);
  const inf = Buffer.from('[Version]\r\nSignature="$WINDOWS NT$"\r\nClass=Net\r\n');
  let packId = 0;

  beforeAll(async () => {
    await pc.start('Windows 11 B204 drivers');
    const hive = pc.file('SYSTEM');
    buildHive(hive, { Select: { Current: { dword: 1 } }, 'ControlSet001\\Control\\ComputerName\\ComputerName': { ComputerName: 'MASTER' } });
    await buildDisk(pc.file('master.img'), DISK_MIB, LAYOUT, {
      1: { 'EFI/Microsoft/Boot/BCD': Buffer.alloc(4096, 1) },
      2: { 'Windows/System32/config/SYSTEM': fs.readFileSync(hive), 'Windows/System32/ntoskrnl.exe': randomBytes(500_000) },
    });
    expect((await pc.capture(pc.file('master.img'))).ok, pc.lastLog()).toBe(true);
    // The pack: made with GNU tar from a folder of drivers, uploaded in two pieces.
    const src = pc.file('pack');
    fs.mkdirSync(path.join(src, 'Net', 'Intel'), { recursive: true });
    fs.writeFileSync(path.join(src, 'Net', 'Intel', 'e1d.inf'), inf);
    fs.writeFileSync(path.join(src, 'Net', 'Intel', 'e1d.sys'), sys);
    execFileSync('tar', ['-czf', pc.file('pack.tgz'), '-C', src, '.']);
    const archive = fs.readFileSync(pc.file('pack.tgz'));
    // ImagingPc's hello reports Dell Inc. / OptiPlex 7090 (test/support/facts.ts).
    const made = await pc.tech.post('/api/v1/driver-packs', { name: 'OptiPlex 70x0', vendor: 'DELL INC.', model: 'optiplex 70*', sizeBytes: archive.length, sha256: sha(archive) });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    packId = made.body.id;
    const half = Math.floor(archive.length / 2);
    for (const [from, to] of [[0, half], [half, archive.length]] as const) {
      const r = await pc.tech.request('PUT', `/api/v1/driver-packs/${packId}/archive?offset=${from}`, archive.subarray(from, to), { contentType: 'application/octet-stream' });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    }
    expect((await pc.tech.get(`/api/v1/driver-packs/${packId}`)).body.state).toBe('ready');
  }, 180_000);
  afterAll(() => pc.stop());

  it('puts the matched pack\'s files in Drivers/roomcast/<pack> on the Windows partition, readable from the mounted NTFS', async () => {
    const disk = pc.blank('pc09.img', DISK_MIB);
    const r = await pc.restore(disk);
    expect(r.ok, pc.lastLog()).toBe(true);
    const folder = `${packId}-OptiPlex_70x0`;
    expect(r.task.result.details.drivers).toMatchObject({
      pack: { id: packId, name: 'OptiPlex 70x0' },
      partition: 2,
      path: `${DRIVERS_ROOT.join('/')}/${folder}`,
      files: 2,
      bytes: sys.length + inf.length,
      reason: 'driver pack "OptiPlex 70x0" (DELL INC. / optiplex 70*) for Dell Inc. OptiPlex 7090',
    });
    expect(ANSWER_FILE_DRIVER_PATH).toBe('%SystemDrive%\\Drivers\\roomcast');
    const got = await withPartitionDir(disk, LAYOUT[1]!, async (dir) => ({
      inf: fs.readFileSync(path.join(dir, 'Drivers/roomcast', folder, 'Net/Intel/e1d.inf')),
      sys: sha(fs.readFileSync(path.join(dir, 'Drivers/roomcast', folder, 'Net/Intel/e1d.sys'))),
      entries: fs.readdirSync(path.join(dir, 'Drivers/roomcast')),
      name: fs.existsSync(path.join(dir, 'Windows/System32/config/SYSTEM')),
    }), true);
    expect(got).toEqual({ inf, sys: sha(sys), entries: [folder], name: true });
    expect(pc.log.join('\n')).toMatch(/driver pack "OptiPlex 70x0" \(2 files, \d+ bytes\) copied to Drivers\/roomcast\//);
  }, 180_000);

  it('copies nothing when no pack fits the model, and the report says why in English and French', async () => {
    expect((await pc.tech.patch(`/api/v1/driver-packs/${packId}`, { model: 'Latitude*' })).status).toBe(200);
    const m = await pc.tech.get(`/api/v1/hosts/${pc.hostId}/driver-pack`);
    expect(m.body).toMatchObject({ pack: null, code: 'no_pack' });
    const disk = pc.blank('pc09b.img', DISK_MIB);
    const r = await pc.restore(disk);
    expect(r.ok, pc.lastLog()).toBe(true);
    expect(r.task.result.details.drivers).toEqual({
      skipped: 'no_pack',
      reason: 'no driver pack matches Dell Inc. OptiPlex 7090: add one for this vendor and model',
      reasonFr: 'aucun pack de pilotes ne correspond à Dell Inc. OptiPlex 7090 : ajoutez-en un pour ce fabricant et ce modèle',
    });
    expect(await withPartitionDir(disk, LAYOUT[1]!, async (dir) => fs.existsSync(path.join(dir, 'Drivers')), true)).toBe(false);
  }, 180_000);
});
