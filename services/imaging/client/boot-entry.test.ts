// The UEFI boot entry step (boot-entry.ts): efibootmgr's output read by the pure parser (text captured
// from a lab run: an OVMF PC of test/lab/imaging.test.ts, before and after the step), the BootOrder
// rule, and the search for Windows' boot manager on real FAT32 EFI system partitions made with
// sgdisk, mkfs.vfat and mtools. The NVRAM itself is written in the QEMU lab (test/lab/imaging.test.ts).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDisk, missingDiskTools, type PartSpec } from '../../../test/support/disks.js';
import { ESP_TYPE, findWindowsEsp, isNetworkEntry, orderWith, parseBootEntries, putBack, pointsAt, writeBootEntry } from './boot-entry.js';

const exec = promisify(execFile);

// `efibootmgr -v` in the boot client of test/lab/imaging.test.ts's OVMF PC after its restore, before the step
// (from the task's details.bootEntry.efibootmgrBefore, lab run of 2026-12-07; efibootmgr 17, OVMF of Debian 12).
const BEFORE = [
  'BootCurrent: 0001',
  'Timeout: 0 seconds',
  'BootOrder: 0001,0002,0003,0004,0000,0005',
  'Boot0000* UiApp\tFvVol(7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1)/FvFile(462caa21-7614-4503-836e-8ab6f4662331)',
  'Boot0001* UEFI PXEv4 (MAC:5254007C1002)\tPciRoot(0x0)/Pci(0x1,0x0)/MAC(5254007c1002,1)/IPv4(0.0.0.00.0.0.0,0,0)N.....YM....R,Y.',
  'Boot0002* UEFI PXEv6 (MAC:5254007C1002)\tPciRoot(0x0)/Pci(0x1,0x0)/MAC(5254007c1002,1)/IPv6([::]:<->[::]:,0,0)N.....YM....R,Y.',
  'Boot0003* UEFI HTTPv4 (MAC:5254007C1002)\tPciRoot(0x0)/Pci(0x1,0x0)/MAC(5254007c1002,1)/IPv4(0.0.0.00.0.0.0,0,0)/Uri()N.....YM....R,Y.',
  'Boot0004* UEFI HTTPv6 (MAC:5254007C1002)\tPciRoot(0x0)/Pci(0x1,0x0)/MAC(5254007c1002,1)/IPv6([::]:<->[::]:,0,0)/Uri()N.....YM....R,Y.',
  'Boot0005* EFI Internal Shell\tFvVol(7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1)/FvFile(7c04a583-9e3e-4f1c-ad65-e05268d0b4d1)',
  '',
].join('\n');
// The same PC after the step (details.bootEntry.efibootmgr: the output of `efibootmgr -v -o ...`), and its ESP's partition GUID.
const AFTER = [
  'BootCurrent: 0001',
  'Timeout: 0 seconds',
  'BootOrder: 0001,0002,0003,0004,0006,0000,0005',
  'Boot0000* UiApp\tFvVol(7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1)/FvFile(462caa21-7614-4503-836e-8ab6f4662331)',
  'Boot0001* UEFI PXEv4 (MAC:5254007C1002)\tPciRoot(0x0)/Pci(0x1,0x0)/MAC(5254007c1002,1)/IPv4(0.0.0.00.0.0.0,0,0)N.....YM....R,Y.',
  'Boot0002* UEFI PXEv6 (MAC:5254007C1002)\tPciRoot(0x0)/Pci(0x1,0x0)/MAC(5254007c1002,1)/IPv6([::]:<->[::]:,0,0)N.....YM....R,Y.',
  'Boot0003* UEFI HTTPv4 (MAC:5254007C1002)\tPciRoot(0x0)/Pci(0x1,0x0)/MAC(5254007c1002,1)/IPv4(0.0.0.00.0.0.0,0,0)/Uri()N.....YM....R,Y.',
  'Boot0004* UEFI HTTPv6 (MAC:5254007C1002)\tPciRoot(0x0)/Pci(0x1,0x0)/MAC(5254007c1002,1)/IPv6([::]:<->[::]:,0,0)/Uri()N.....YM....R,Y.',
  'Boot0005* EFI Internal Shell\tFvVol(7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1)/FvFile(7c04a583-9e3e-4f1c-ad65-e05268d0b4d1)',
  'Boot0006* Windows Boot Manager\tHD(1,GPT,24250ed1-abdd-4278-b87f-cee309eabac6,0x800,0x20000)/File(\\EFI\\Microsoft\\Boot\\bootmgfw.efi)',
  '',
].join('\n');
const ESP_UUID = '24250ed1-abdd-4278-b87f-cee309eabac6';

describe('parseBootEntries (efibootmgr -v of an OVMF PC)', () => {
  it('reads BootCurrent, BootOrder and every entry with its label and device path', () => {
    const b = parseBootEntries(BEFORE);
    expect(b.current).toMatch(/^[0-9A-F]{4}$/);
    expect(b.order.length).toBeGreaterThan(1);
    for (const n of b.order) expect(b.entries.map((e) => e.num)).toContain(n);
    const pxe = b.entries.find((e) => /PXEv4/.test(e.label))!;
    expect(pxe.path).toMatch(/MAC\(/);
    expect(isNetworkEntry(pxe)).toBe(true);
    expect(b.order[0]).toBe(pxe.num);
    expect(b.entries.filter(isNetworkEntry).map((e) => e.num)).not.toContain(b.entries.find((e) => /Shell|UiApp/.test(e.label))?.num);
    expect(b.entries.some((e) => pointsAt(e, 1, ESP_UUID))).toBe(false);
  });

  it('finds the Windows Boot Manager entry the step made, on the ESP (File() and GUID without regard to case), second in the order', () => {
    const a = parseBootEntries(AFTER);
    const wbm = a.entries.filter((e) => e.label === 'Windows Boot Manager');
    expect(wbm).toHaveLength(1);
    expect(pointsAt(wbm[0]!, 1, ESP_UUID.toUpperCase())).toBe(true);
    expect(pointsAt({ ...wbm[0]!, path: wbm[0]!.path.replace('bootmgfw.efi', 'BOOTMGFW.EFI') }, 1, ESP_UUID)).toBe(true);
    expect(pointsAt(wbm[0]!, 2, ESP_UUID)).toBe(false);
    expect(pointsAt(wbm[0]!, 1, '00000000-0000-0000-0000-000000000000')).toBe(false);
    expect(pointsAt(wbm[0]!, 1, ESP_UUID, '\\EFI\\Boot\\bootx64.efi')).toBe(false);
    expect(isNetworkEntry(a.entries.find((e) => e.num === a.order[0])!)).toBe(true);
    // After the four network entries (PXE and HTTP boot, IPv4 and IPv6), before the others.
    expect(a.order).toEqual(['0001', '0002', '0003', '0004', '0006', '0000', '0005']);
    expect(a.entries.filter(isNetworkEntry).map((e) => e.num)).toEqual(['0001', '0002', '0003', '0004']);
    expect(orderWith(parseBootEntries(BEFORE).order, '0006', a.entries)).toEqual(a.order);
    expect([...a.order].sort()).toEqual([...parseBootEntries(BEFORE).order, wbm[0]!.num].sort());
  });

  it('reads the two-space separator of other efibootmgr versions, and a list without -v', () => {
    const b = parseBootEntries('BootOrder: 0002,0001\nBoot0001* Windows Boot Manager  HD(1,GPT,aa,0x800,0x1)/File(\\EFI\\x)\nBoot0002  UEFI PXEv4 (MAC:525400000001)\n');
    expect(b.order).toEqual(['0002', '0001']);
    expect(b.entries).toEqual([
      { num: '0001', active: true, label: 'Windows Boot Manager', path: 'HD(1,GPT,aa,0x800,0x1)/File(\\EFI\\x)' },
      { num: '0002', active: false, label: 'UEFI PXEv4 (MAC:525400000001)', path: '' },
    ]);
    expect(isNetworkEntry(b.entries[1]!)).toBe(true);
  });
});

describe('orderWith', () => {
  const e = (num: string, label: string, p = '') => ({ num, active: true, label, path: p });
  const entries = [e('0001', 'UEFI PXEv4 (MAC:52)', 'PciRoot(0x0)/Pci(0x2,0x0)/MAC(52,1)/IPv4(0.0.0.0)'), e('0002', 'UEFI HTTPv4', 'PciRoot(0x0)/Pci(0x2,0x0)/MAC(52,1)/IPv4(0.0.0.0)/Uri()'), e('0003', 'UEFI Misc Device', 'PciRoot(0x0)/Pci(0x3,0x0)'), e('0004', 'EFI Internal Shell', 'FvVol(x)/FvFile(y)'), e('0005', 'Windows Boot Manager', 'HD(1,GPT,u)/File(\\EFI\\Microsoft\\Boot\\bootmgfw.efi)')];

  it('keeps the network entries first, puts the new entry after them, then the rest as it was', () => {
    expect(orderWith(['0001', '0002', '0003', '0004'], '0005', entries)).toEqual(['0001', '0002', '0005', '0003', '0004']);
  });

  it('never leaves a network entry out, even one that was not first', () => {
    expect(orderWith(['0003', '0001', '0004'], '0005', entries)).toEqual(['0001', '0005', '0003', '0004']);
    expect(orderWith([], '0005', entries)).toEqual(['0005']);
  });

  it('puts an existing Windows entry back after the network entries when the order lost it, and leaves an order that holds it as it is', () => {
    expect(putBack({ current: null, order: ['0003', '0001', '0004'], entries }, '0005')).toEqual(['0001', '0005', '0003', '0004']);
    expect(putBack({ current: null, order: ['0005', '0001', '0003'], entries }, '0005')).toBeNull();
  });
});

describe.skipIf(missingDiskTools().length > 0)('findWindowsEsp on real FAT32 EFI system partitions (mtools)', () => {
  let dir: string;
  const layout: PartSpec[] = [
    { number: 1, name: 'EFI system partition', fs: 'vfat', startMiB: 1, sizeMiB: 40 },
    { number: 2, name: 'data', fs: 'ext4', startMiB: 41, sizeMiB: 8 },
  ];
  const partitionsOf = async (disk: string) => {
    const t = JSON.parse((await exec('sfdisk', ['--json', disk])).stdout).partitiontable as { sectorsize?: number; partitions: Array<{ node: string; start: number; type: string; uuid: string }> };
    return t.partitions.map((p) => ({ number: Number(/(\d+)$/.exec(p.node)![1]), type: p.type, uuid: p.uuid, startBytes: p.start * (t.sectorsize ?? 512) }));
  };

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-bootentry-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('finds bootmgfw.efi whatever the case of its path, and names the partition and its GUID', async () => {
    const disk = path.join(dir, 'win.img');
    await buildDisk(disk, 50, layout, { 1: { 'EFI/MICROSOFT/BOOT/BOOTMGFW.EFI': Buffer.from('MZ not really'), 'EFI/Boot/bootx64.efi': Buffer.from('MZ') } });
    const parts = await partitionsOf(disk);
    expect(parts[0]!.type).toBe(ESP_TYPE);
    expect(await findWindowsEsp(disk, parts)).toEqual(parts[0]);
  });

  it('says why when the ESP has no Windows boot manager, or the image has no ESP; a BIOS PC is skipped before any of it', async () => {
    const disk = path.join(dir, 'linux.img');
    await buildDisk(disk, 50, layout, { 1: { 'EFI/debian/grubx64.efi': Buffer.from('MZ'), 'EFI/Microsoft/readme.txt': Buffer.from('x') } });
    const parts = await partitionsOf(disk);
    expect(await findWindowsEsp(disk, parts)).toBe('no EFI system partition of the image (partition 1) holds EFI/Microsoft/Boot/bootmgfw.efi');
    expect(await findWindowsEsp(disk, parts.slice(1))).toBe('the image has no GPT EFI system partition');
    // A partition typed as an ESP that is not FAT (here the ext4 one): said, not taken for one without Windows.
    expect(await findWindowsEsp(disk, [{ ...parts[1]!, type: ESP_TYPE }])).toMatch(/^no EFI system partition of the image \(partition 2\) holds EFI\/Microsoft\/Boot\/bootmgfw\.efi: partition 2 cannot be read as FAT \(.*non DOS media/);
    const lines: string[] = [];
    expect(await writeBootEntry(disk, parts, (l) => lines.push(l), path.join(dir, 'no-efi'))).toEqual({ state: 'skipped', reason: 'the PC was not started by UEFI firmware' });
    expect(lines).toEqual(['roomcast: no UEFI boot entry written: the PC was not started by UEFI firmware']);
    // A UEFI PC (a directory stands for /sys/firmware/efi) with a Linux image: skipped before efibootmgr runs.
    fs.mkdirSync(path.join(dir, 'efi'));
    expect(await writeBootEntry(disk, parts, () => {}, path.join(dir, 'efi'))).toMatchObject({ state: 'skipped', reason: expect.stringMatching(/bootmgfw\.efi/) });
  });
});
