// Issue 15, the PC's name: the imaging client writes the inventory's name into the restored Windows'
// offline SYSTEM hive, in every ControlSet, with Debian's hivexsh. The hives are made by the test from
// a readable description (test/support/hive.ts), never committed as binaries; they are read back with
// hivexsh. The last test runs the whole way: a capture of a school disk whose NTFS holds Windows, a
// restore task for a PC of the inventory, and the name read back from the restored disk.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dirty, editHive, parseLsval, stringValue, subkeys, values, type HiveValue } from '../../services/imaging/client/hive.js';
import { findCaseless, nameSystemHive } from '../../services/imaging/client/identity.js';
import { buildHive, regValue, type HiveDescription } from '../support/hive.js';
import { buildDisk, missingDiskTools, missingTools, mixedContent, readDiskFiles, expectedHashes, withPartitionDir, type DiskFiles, type PartSpec } from '../support/disks.js';
import { ImagingPc } from '../support/imaging-pc.js';

const missing = missingTools({ hivexsh: 'libhivex-bin' });
const sha = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');
const TCPIP = (cs: string) => `${cs}\\Services\\Tcpip\\Parameters`;

/** A Windows 11 SYSTEM hive as a master leaves it, the parts this step reads and writes. */
export function masterSystemHive(name = 'MASTER-B204'): HiveDescription {
  const tcpip = {
    Hostname: name.toLowerCase(),
    'NV Hostname': name.toLowerCase(),
    Domain: '',
    'NV Domain': '',
    DataBasePath: { expand: '%SystemRoot%\\System32\\drivers\\etc' },
    ICSDomain: 'mshome.net',
    SyncDomainWithMembership: { dword: 1 },
    UseDomainNameDevolution: { dword: 1 },
    SearchList: 'lycee.local',
    DhcpDomainSearchList: { binary: '0c6c79636565056c6f63616c00' },
    Commentaire: 'Salle "B204" \\ postes élèves\nligne 2',
  };
  return {
    Select: { Current: { dword: 1 }, Default: { dword: 1 }, LastKnownGood: { dword: 2 }, Failed: { dword: 0 } },
    'ControlSet001\\Control\\ComputerName\\ComputerName': { '@': 'mnmsrvc', ComputerName: name },
    'ControlSet001\\Control\\Nls\\Language': { Default: '040c', InstallLanguage: '040c' },
    'ControlSet001\\Control\\Session Manager\\Power': { HiberbootEnabled: { dword: 0 } },
    [TCPIP('ControlSet001')]: tcpip,
    'ControlSet001\\Services\\Tcpip\\Parameters\\Interfaces': { Hint: { multi: ['a', 'b'] } },
    // An older control set: no Tcpip parameters yet (the step makes them).
    'ControlSet002\\Control\\ComputerName\\ComputerName': { ComputerName: name },
    'ControlSet002\\Services\\Dhcp': { Start: { dword: 2 } },
    'Setup': { SystemSetupInProgress: { dword: 0 }, OOBEInProgress: { dword: 0 } },
  };
}

describe.skipIf(missing.length > 0)('the PC\'s name in an offline Windows registry (hivexsh)', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-hive-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const fresh = (name: string, description = masterSystemHive()) => {
    const f = path.join(dir, name);
    buildHive(f, description);
    return f;
  };

  it('reads back every value type as it was written: strings with quotes, backslashes, accents and line breaks, DWORDs, multi-strings, binary', async () => {
    const hive = fresh('types');
    const got = await values(hive, TCPIP('ControlSet001').split('\\'));
    const want = Object.entries(masterSystemHive()[TCPIP('ControlSet001')]!).map(([n, v]) => regValue(n, v));
    expect(got).toEqual(want);
    expect(await values(hive, ['ControlSet003'])).toBeNull();
    expect(await subkeys(hive, [])).toEqual(['ControlSet001', 'ControlSet002', 'Select', 'Setup']);
    expect(() => parseLsval('"A"=weird:1\n')).toThrow(/cannot read \(unknown value format/);
  });

  it('names every ControlSet, upper case for NetBIOS, keeps every other value byte for byte, and makes the keys that were missing', async () => {
    const hive = fresh('name');
    const before = (await values(hive, TCPIP('ControlSet001').split('\\')))!;
    const report = await nameSystemHive(hive, 'B204-pc07');
    expect(report.controlSets).toEqual([
      { name: 'ControlSet001', before: 'MASTER-B204' },
      { name: 'ControlSet002', before: 'MASTER-B204' },
    ]);
    expect(report.made).toEqual([
      'ControlSet001\\Control\\ComputerName\\ActiveComputerName',
      'ControlSet002\\Control\\ComputerName\\ActiveComputerName',
      'ControlSet002\\Services\\Tcpip',
      'ControlSet002\\Services\\Tcpip\\Parameters',
    ]);
    for (const cs of ['ControlSet001', 'ControlSet002']) {
      expect(await stringValue(hive, [cs, 'Control', 'ComputerName', 'ComputerName'], 'ComputerName'), cs).toBe('B204-PC07');
      expect(await stringValue(hive, [cs, 'Control', 'ComputerName', 'ActiveComputerName'], 'ComputerName'), cs).toBe('B204-PC07');
      expect(await stringValue(hive, TCPIP(cs).split('\\'), 'Hostname'), cs).toBe('B204-pc07');
      expect(await stringValue(hive, TCPIP(cs).split('\\'), 'NV Hostname'), cs).toBe('B204-pc07');
    }
    const after = (await values(hive, TCPIP('ControlSet001').split('\\')))!;
    const others = (vs: HiveValue[]) => vs.filter((v) => !['Hostname', 'NV Hostname'].includes(v.name)).sort((a, b) => a.name.localeCompare(b.name));
    expect(others(after)).toEqual(others(before));
    expect(after.find((v) => v.name === 'Hostname')).toEqual(regValue('Hostname', 'B204-pc07'));
    // The default value of ComputerName\ComputerName, the other keys: as they were.
    expect(await stringValue(hive, ['ControlSet001', 'Control', 'ComputerName', 'ComputerName'], '@')).toBe('mnmsrvc');
    expect(await values(hive, ['ControlSet001', 'Control', 'Session Manager', 'Power'])).toEqual([regValue('HiberbootEnabled', { dword: 0 })]); // a key name with a space
    expect(await values(hive, ['Select'])).toEqual(Object.entries(masterSystemHive().Select!).map(([n, v]) => regValue(n, v)));
    expect(await dirty(hive)).toBe(false);
    // hivex still opens it whole (hivexml walks every key and value).
    const xml = path.join(dir, 'name.xml');
    execFileSync('sh', ['-c', 'hivexml "$1" > "$2"', 'sh', hive, xml]); // hivexml writes to /dev/stdout, which must be a file here
    expect(fs.readFileSync(xml, 'utf8')).toContain('B204-PC07');
    fs.rmSync(xml);
    expect(fs.readdirSync(dir).filter((f) => f.includes('roomcast'))).toEqual([]);
  });

  it('refuses a hive left with changes in its transaction logs, and a name Windows would refuse, without touching the hive', async () => {
    const hive = fresh('dirty');
    const fd = fs.openSync(hive, 'r+');
    fs.writeSync(fd, Buffer.from([7, 0, 0, 0]), 0, 4, 8); // secondary sequence number ≠ primary
    fs.closeSync(fd);
    const was = sha(hive);
    await expect(nameSystemHive(hive, 'B204-PC07')).rejects.toMatchObject({ code: 'identity_hive_dirty', message: expect.stringMatching(/not shut down cleanly.*shut it down normally, and capture it again/) });
    const clean = fresh('clean');
    const cleanWas = sha(clean);
    await expect(nameSystemHive(clean, 'B204 PC07')).rejects.toMatchObject({ code: 'identity_bad_name' });
    await expect(nameSystemHive(clean, '1234')).rejects.toMatchObject({ code: 'identity_bad_name' });
    expect([sha(hive), sha(clean)]).toEqual([was, cleanWas]);
    const noSets = fresh('nosets', { Select: { Current: { dword: 1 } } });
    await expect(nameSystemHive(noSets, 'B204-PC07')).rejects.toMatchObject({ code: 'identity_no_control_set' });
    const notHive = path.join(dir, 'not-a-hive');
    fs.writeFileSync(notHive, 'MZ not a hive');
    await expect(nameSystemHive(notHive, 'B204-PC07')).rejects.toMatchObject({ code: 'hive_unreadable' });
  });

  it('leaves the hive as it was when hivexsh fails half-way (the edit goes to a temporary file first)', async () => {
    const hive = fresh('halfway');
    const was = sha(hive);
    // A key name hivexsh cannot reach is refused before anything runs; a value name with a line break
    // is refused while the script is made: either way, nothing is committed.
    await expect(editHive(hive, [{ key: ['ControlSet001', 'back\\slash'], strings: { A: 'b' } }])).rejects.toMatchObject({ code: 'hive_unwritable' });
    await expect(editHive(hive, [{ key: ['ControlSet001', ' padded'], strings: { A: 'b' } }])).rejects.toMatchObject({ code: 'hive_unwritable' });
    await expect(editHive(hive, [{ key: ['ControlSet001'], strings: { 'two\nlines': 'b' } }])).rejects.toMatchObject({ code: 'hive_unwritable' });
    expect(sha(hive)).toBe(was);
  });

  it('finds how deep a key exists in one read, also when its path repeats a name or an earlier edit of the session made part of it', async () => {
    const hive = fresh('depth');
    const made = await editHive(hive, [
      // 'Services' twice: hivexsh names the missing one, which cannot tell which of the two it was.
      { key: ['ControlSet002', 'Services', 'Dhcp', 'Services', 'X'], strings: { A: 'a' } },
      // Its parent was made by the edit above, in the same session (not yet in the hive).
      { key: ['ControlSet002', 'Services', 'Dhcp', 'Services'], strings: { B: 'b' } },
      // A whole key that exists: its values are read and kept.
      { key: ['ControlSet002', 'Services', 'Dhcp'], strings: { C: 'c' } },
    ]);
    expect(made).toEqual(['ControlSet002\\Services\\Dhcp\\Services', 'ControlSet002\\Services\\Dhcp\\Services\\X']);
    expect(await stringValue(hive, ['ControlSet002', 'Services', 'Dhcp', 'Services', 'X'], 'A')).toBe('a');
    expect(await stringValue(hive, ['ControlSet002', 'Services', 'Dhcp', 'Services'], 'B')).toBe('b');
    expect((await values(hive, ['ControlSet002', 'Services', 'Dhcp']))!.map((v) => v.name)).toEqual(['Start', 'C']);
  });

  it('finds Windows/System32/config/SYSTEM whatever the case of its names', async () => {
    const root = path.join(dir, 'tree');
    fs.mkdirSync(path.join(root, 'WINDOWS', 'system32', 'Config'), { recursive: true });
    fs.writeFileSync(path.join(root, 'WINDOWS', 'system32', 'Config', 'SYSTEM'), '');
    expect(await findCaseless(root, ['Windows', 'System32', 'config', 'SYSTEM'])).toBe(path.join(root, 'WINDOWS', 'system32', 'Config', 'SYSTEM'));
    expect(await findCaseless(root, ['Windows', 'System32', 'config', 'SOFTWARE'])).toBeNull();
  });
});

/** A small Windows disk: an ESP and an NTFS partition holding Windows, its SYSTEM hive among its files. */
const WINDOWS_LAYOUT: PartSpec[] = [
  { number: 1, name: 'EFI system partition', fs: 'vfat', startMiB: 1, sizeMiB: 33 },
  { number: 2, name: 'Basic data partition', fs: 'ntfs', startMiB: 34, sizeMiB: 64 },
];
const DISK_MIB = 100;

describe.skipIf(missing.length > 0 || missingDiskTools().length > 0 || process.getuid?.() !== 0)('a restore names the PC in its Windows (capture, restore, the name read back from the disk)', () => {
  const pc = new ImagingPc('02:5e:15:00:00:07', DISK_MIB * 1024 * 1024);
  let files: DiskFiles;

  beforeAll(async () => {
    await pc.start('Windows 11 B204');
    const hive = pc.file('SYSTEM');
    buildHive(hive, masterSystemHive());
    files = {
      1: { 'EFI/Microsoft/Boot/BCD': mixedContent('bcd', 32_768) },
      2: { 'Windows/System32/config/SYSTEM': fs.readFileSync(hive), 'Windows/System32/ntoskrnl.exe': mixedContent('ntos', 3_000_000), 'Users/Public/Desktop/Lisez-moi.txt': Buffer.from('Bonjour\r\n') },
    };
    await buildDisk(pc.file('master.img'), DISK_MIB, WINDOWS_LAYOUT, files);
    const cap = await pc.capture(pc.file('master.img'));
    expect(cap.ok, pc.lastLog()).toBe(true);
  }, 120_000);
  afterAll(() => pc.stop());

  const names = (disk: string) =>
    withPartitionDir(disk, WINDOWS_LAYOUT[1]!, async (dir) => {
      const hive = path.join(dir, 'Windows/System32/config/SYSTEM');
      const out: Record<string, string | null> = {};
      for (const cs of ['ControlSet001', 'ControlSet002']) {
        out[`${cs} ComputerName`] = await stringValue(hive, [cs, 'Control', 'ComputerName', 'ComputerName'], 'ComputerName');
        out[`${cs} Hostname`] = await stringValue(hive, TCPIP(cs).split('\\'), 'Hostname');
      }
      return out;
    }, true);

  it("writes the inventory's name as it is when the PC fetches its task (renamed after the task was made), and nothing else changes", async () => {
    const disk = pc.blank('pc07.img', DISK_MIB);
    const { taskId, token } = await pc.bootForTask({ kind: 'restore', imageId: pc.imageId });
    const renamed = await pc.tech.patch(`/api/v1/hosts/${pc.hostId}`, { name: 'B204-PC07' });
    expect(renamed.status, JSON.stringify(renamed.body)).toBe(200);
    expect(await pc.runOn(disk, token), pc.lastLog()).toBe(true);
    const task = await pc.task(taskId);
    expect(task.result.details.identity).toMatchObject({
      computerName: 'B204-PC07',
      partition: 2,
      hive: 'Windows/System32/config/SYSTEM',
      controlSets: [
        { name: 'ControlSet001', before: 'MASTER-B204' },
        { name: 'ControlSet002', before: 'MASTER-B204' },
      ],
    });
    expect(pc.log.join('\n')).toMatch(/Windows on partition 2 is named B204-PC07 \(ControlSet001, ControlSet002; was MASTER-B204\)/);
    expect(await names(disk)).toEqual({
      'ControlSet001 ComputerName': 'B204-PC07',
      'ControlSet001 Hostname': 'B204-PC07',
      'ControlSet002 ComputerName': 'B204-PC07',
      'ControlSet002 Hostname': 'B204-PC07',
    });
    // Every other file as captured.
    const got = await readDiskFiles(disk, WINDOWS_LAYOUT);
    const want = expectedHashes(files);
    delete got[2]!['Windows/System32/config/SYSTEM'];
    delete want[2]!['Windows/System32/config/SYSTEM'];
    expect(got).toEqual(want);
  }, 120_000);

  it('names it again on the next restore over the same disk (the nightly case, differential)', async () => {
    const disk = pc.file('pc07.img');
    expect((await pc.tech.patch(`/api/v1/hosts/${pc.hostId}`, { name: 'B204-PC08' })).status).toBe(200);
    const r = await pc.restore(disk);
    expect(r.ok, pc.lastLog()).toBe(true);
    expect(r.task.result.details.identity.controlSets).toEqual([
      { name: 'ControlSet001', before: 'MASTER-B204' },
      { name: 'ControlSet002', before: 'MASTER-B204' },
    ]);
    expect(Object.values(await names(disk))).toEqual(['B204-PC08', 'B204-PC08', 'B204-PC08', 'B204-PC08']);
  }, 120_000);
});
