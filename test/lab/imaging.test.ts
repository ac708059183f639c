// Capture and restore on real PXE firmware, in the namespace lab of ops/lab/lab.sh (see boot.test.ts
// for the lab itself): a known PC with a virtual "school PC" disk (test/support/disks.ts: GPT, ESP
// FAT32, MSR, NTFS, ext4, known files) network-boots through roomcast's proxyDHCP with a capture
// task, and the imaging client (imaging.img, iPXE's second initrd) uploads the disk into an image;
// the disk is then replaced by a blank one, the PC boots again with a restore task, and the restored
// disk has the same partition table, boot code and files, and clean filesystems.
//   BIOS: iPXE option ROM (e1000), the disks on q35's AHCI controller (SATA); Windows was left
//         hibernated (a hiberfil.sys with a "hibr" header), which the capture removes through ntfs-3g
//   UEFI: OVMF's own PXE (romfile= empty) and snponly.efi, the disks on virtio-blk; restored onto a
//         larger blank disk. The PC's NVRAM (its OVMF_VARS copy, kept from boot to boot) has no Windows
//         Boot Manager entry; after the restore it has one for the ESP's bootmgfw.efi, made by the client
//         with efibootmgr, and BootOrder still starts with the network (boot-entry.ts)
// Each PC also has a second, blank disk ahead of the school disk in the kernel's order: smaller at
// the capture (the client takes the largest internal disk), larger at the restore, where the disk's
// serial is pinned on the host (the client takes that one). It must stay blank.
// Each PC's disk has files of its own (schoolFiles(seed)), so each capture uploads its chunks.
// QEMU under TCG, one PC at a time; timings and bytes are printed. `npm run test:lab`; needs root,
// the packages labPrereqs() names and the disk tools of test/support/disks.ts.
import type { ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/client.js';
import { SCHOOL_DISK_MIB, buildSchoolDisk, expectedHashes, fsckDisk, missingDiskTools, readDiskFiles, schoolFiles } from '../support/disks.js';
import { ROOT_DIR, bootClient, buildClient, clientLines, clientPrereqs, pxeArgs, type BootResult, type ClientBuild, type Firmware } from './client-vm.js';
import { Lab, labPrereqs, logTime } from './lab.js';
import { isNetworkEntry, parseBootEntries, pointsAt } from '../../services/imaging/client/boot-entry.js';

const run = promisify(execFile);
const missing = [...clientPrereqs(), ...labPrereqs(), ...missingDiskTools()];

const MIB = 1024 * 1024;
/**
 * The PCs' disks: the school disk (640 MiB of partitions) on a 1.25 GiB drive, since the client
 * never images a disk under 1 GiB (services/imaging/client/disk.ts).
 */
const DISK_MIB = 1280;
/** Guest RAM: the initramfs (~150 MB unpacked with imaging.img) lives in it, plus Node. */
const MEMORY_MIB = 1536;
/**
 * A capture or a restore, QEMU start to power off: measured 58-107 s (capture) and 65-101 s (restore) under TCG on 2 busy cores
 * (ops/lab/README.md); about three times that.
 */
const IMAGING_LIMIT_MS = 6 * 60_000;
/** The boot, plus building the school disk and reading it back (~15 s). */
const TEST_MS = IMAGING_LIMIT_MS + 2 * 60_000;
/** Serial consoles and roomcast's log of the last run (boot.test.ts keeps its own in test-results/lab/). */
const ARTIFACTS = path.join(ROOT_DIR, 'test-results/lab/imaging');

interface Pc {
  firmware: Firmware;
  mac: string;
  name: string;
  serial: string;
  /** How the disks are attached. */
  bus: 'ahci' | 'virtio';
  /** Size of the blank disk the restore writes to. */
  blankMiB: number;
  /** Windows left hibernated: a hiberfil.sys the capture must remove. */
  hibernated: boolean;
}

const PCS: Pc[] = [
  { firmware: 'bios', mac: '52:54:00:7c:10:01', name: 'LAB-IMG-BIOS', serial: 'RCLAB-BIOS-0001', bus: 'ahci', blankMiB: DISK_MIB, hibernated: true },
  { firmware: 'uefi', mac: '52:54:00:7c:10:02', name: 'LAB-IMG-UEFI', serial: 'RCLAB-UEFI-0002', bus: 'virtio', blankMiB: DISK_MIB + 256, hibernated: false },
];
/** The kernel's names for disks on each bus (which of the two is which is the serial's business). */
const DEV = { ahci: 'sd[a-z]', virtio: 'vd[a-z]' };
/** The second disk: smaller than the school disk at the capture, larger at the restore. */
const DECOY_MIB = { capture: 1100, restore: 2048 };
/** What ntfs-3g takes for a hibernated Windows: a hiberfil.sys of 4 KiB or more starting with "hibr". */
const HIBERFILE = Buffer.concat([Buffer.from('hibr'), Buffer.alloc(64 * 1024 - 4, 0x11)]);

if (missing.length) console.warn(`lab imaging: cannot run, missing ${missing.join(', ')}`);

describe('imaging lab prerequisites', () => {
  it('has what the lab needs (root, QEMU, OVMF, iPXE ROMs, dnsmasq, the disk tools)', () => {
    expect(missing, 'apt-get install qemu-system-x86 ipxe-qemu ovmf dnsmasq tcpdump busybox-static linux-image-amd64 dmidecode cpio kmod redis-server curl ipxe partclone ntfs-3g fdisk gdisk dosfstools mtools zstd efibootmgr').toEqual([]);
  });
});

describe.skipIf(missing.length > 0)('capture and restore through a real PXE boot (namespace lab)', () => {
  let dir: string;
  let build: ClientBuild;
  let lab: Lab;
  let tech: ApiClient;
  const children: ChildProcess[] = [];
  const timings: string[] = [];
  let tapIndex = 0;

  const file = (name: string) => path.join(dir, name);
  const tail = (s: string, n = 6000) => s.slice(-n);
  const debug = (b: BootResult, mac: string) =>
    `serial:\n${tail(b.serial)}\nroomcast:\n${lab
      .roomcast()
      .filter((l) => logTime(l) >= b.startedAt && l.url !== '/api/health' && !/\/chunks\//.test(String(l.url ?? '')))
      .map((l) => JSON.stringify(l))
      .join('\n')
      .slice(-6000)}\n(${mac})`;

  /** The decoy first (sda or vda), then the PC's disk. */
  function diskArgs(pc: Pc, disk: string, decoy: string): string[] {
    const args: string[] = [];
    for (const [i, f, serial] of [[0, decoy, `${pc.serial}-X`], [1, disk, pc.serial]] as const) {
      args.push('-drive', `file=${f},if=none,id=d${i},format=raw`);
      args.push('-device', pc.bus === 'ahci' ? `ide-hd,drive=d${i},bus=ide.${i},serial=${serial}` : `virtio-blk-pci,drive=d${i},serial=${serial}`);
    }
    return args;
  }

  interface Run extends BootResult {
    label: string;
    helloSec: number | null;
    lines: string;
  }

  /** One network boot of `pc` with `disk` and `decoy` attached, until it powers off (or the time limit). */
  async function boot(label: string, pc: Pc, disk: string, decoy: string): Promise<Run> {
    const tap = lab.taps[tapIndex++ % lab.taps.length]!;
    const serialLog = path.join(ARTIFACTS, `${label}.serial.log`);
    const r = await bootClient({
      build, children, netns: lab.ns.lan, serialLog, limitMs: IMAGING_LIMIT_MS, memoryMiB: MEMORY_MIB,
      // UEFI: the PC keeps its own EFI variables from one boot to the next, as a real one does.
      args: [...pxeArgs(pc.firmware, { dir, tap, mac: pc.mac, keepVars: true }), ...diskArgs(pc, disk, decoy)],
    });
    const hello = lab.roomcast().find((l) => l.url === '/api/v1/boot/hello' && l.user === `machine:${pc.mac}` && logTime(l) >= r.startedAt);
    return { ...r, label, helloSec: hello ? (logTime(hello) - r.startedAt) / 1000 : null, lines: clientLines(r.serial).join('\n') };
  }

  /**
   * A GET, tried again on a network error. After a boot this process's keep-alive connection has
   * been idle for a minute or more, about the api's keepAliveTimeout (65 s): fetch may reuse it just
   * as the api closes it ("other side closed", seen once). A GET is safe to repeat.
   */
  async function get(url: string): Promise<any> {
    for (let attempt = 1; ; attempt++) {
      try {
        return (await tech.get(url)).body;
      } catch (err) {
        if (attempt >= 3 || !(err instanceof TypeError)) throw err;
      }
    }
  }
  const tasksOf = async (hostId: number) => (await get(`/api/v1/tasks?hostId=${hostId}`)) as Array<Record<string, any>>;
  const imageOf = async (imageId: number) => (await get(`/api/v1/images/${imageId}`)) as { versions: Array<Record<string, any>> };
  const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  /** QEMU start → the task's finishedAt. */
  const untilDone = (b: Run, task: Record<string, any>) => (task.finishedAt ? Date.parse(task.finishedAt as string) - b.startedAt : NaN);

  function blank(name: string, mib: number): string {
    fs.rmSync(file(name), { force: true });
    fs.writeFileSync(file(name), '');
    fs.truncateSync(file(name), mib * MIB);
    return file(name);
  }

  /** `sfdisk --dump` without what belongs to the device (its name, last-lba). */
  async function tableOf(disk: string): Promise<string> {
    const { stdout } = await run('sfdisk', ['--dump', disk]);
    return stdout.replace(/^(device|last-lba):.*$/gm, '').replace(/^\S+ :/gm, '');
  }
  /** true when every byte of the file is zero. */
  function allZero(f: string): boolean {
    const fd = fs.openSync(f, 'r');
    try {
      const buf = Buffer.alloc(8 * MIB);
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, null);
        if (n === 0) return true;
        for (let i = 0; i < n; i++) if (buf[i] !== 0) return false;
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  const bootCode = (disk: string) => {
    const fd = fs.openSync(disk, 'r');
    try {
      const b = Buffer.alloc(440);
      fs.readSync(fd, b, 0, 440, 0);
      return b;
    } finally {
      fs.closeSync(fd);
    }
  };

  beforeAll(async () => {
    fs.rmSync(ARTIFACTS, { recursive: true, force: true });
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    build = await buildClient({ imaging: true });
    lab = await Lab.up({ clientDir: build.dir });
    // The PCs' disks live in the lab's run directory: whoever tears the lab down (afterAll, the
    // watchdog, a later `lab.sh clean`) removes them with it.
    dir = fs.mkdtempSync(path.join(lab.runDir, 'disks-'));
    console.log(
      `lab imaging: ${lab.id} up (${lab.runDir}), api ${lab.apiUrl}; boot client ${build.built ? 'built' : 'cached'} in ${build.dir} ` +
        `(imaging.img ${mb(fs.statSync(build.imaging!).size)}, node ${String(build.imagingInfo!.node)})`,
    );
    const admin = new ApiClient(lab.apiUrl);
    expect((await admin.login('admin', lab.adminPassword)).status).toBe(200);
    tech = await admin.userClient('tech', 'technician');
  }, 400_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    try {
      if (lab) fs.copyFileSync(path.join(lab.runDir, 'roomcast.log'), path.join(ARTIFACTS, 'roomcast.log'));
    } catch {
      // the lab did not get that far
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    await lab?.down();
    if (timings.length) console.log(`lab imaging: times (TCG)\n  ${timings.join('\n  ')}`);
  }, 180_000);

  for (const pc of PCS) {
    const F = pc.firmware.toUpperCase();
    const files = schoolFiles(`lab-${pc.firmware}`);
    const state: { hostId?: number; imageId?: number; original?: string; disk?: string; captured?: boolean } = {};

    it(`${F} PC (disk on ${pc.bus}): PXE boot with a capture task, the disk goes into a new image version`, async () => {
      // The school disk, on a drive larger than its partitions (the backup GPT moved to the end).
      expect(SCHOOL_DISK_MIB).toBeLessThan(DISK_MIB);
      const started = Date.now();
      state.original = file(`${pc.firmware}-original.img`);
      await buildSchoolDisk(state.original, pc.hibernated ? { ...files, 3: { ...files[3], 'hiberfil.sys': HIBERFILE } } : files);
      fs.truncateSync(state.original, DISK_MIB * MIB);
      await run('sgdisk', ['-e', state.original]);
      state.disk = file(`${pc.firmware}-pc.img`);
      await run('cp', ['--sparse=always', state.original, state.disk]);
      const diskMs = Date.now() - started;

      const host = await tech.post('/api/v1/hosts', { name: pc.name, mac: pc.mac });
      expect(host.status, JSON.stringify(host.body)).toBe(201);
      state.hostId = host.body.id as number;
      const image = await tech.post('/api/v1/images', { name: `Lab ${F}`, description: `lab ${lab.id}, ${pc.firmware} PC` });
      expect(image.status, JSON.stringify(image.body)).toBe(201);
      state.imageId = image.body.id as number;
      const created = await tech.post('/api/v1/tasks', { hostIds: [state.hostId], kind: 'capture', imageId: state.imageId });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const taskId = created.body.tasks[0].id as number;

      const decoy = blank(`${pc.firmware}-decoy.img`, DECOY_MIB.capture);

      const b = await boot(`${pc.firmware}-capture`, pc, state.disk, decoy);
      expect(b.timedOut, `no power off within ${IMAGING_LIMIT_MS / 1000} s; ${debug(b, pc.mac)}`).toBe(false);
      expect(b.code, debug(b, pc.mac)).toBe(0);
      expect(b.lines, debug(b, pc.mac)).toContain('roomcast: hello ok, action=capture');
      // The largest internal disk (its serial read from sysfs: the boot client has no udev for lsblk).
      expect(b.lines, debug(b, pc.mac)).toMatch(new RegExp(`roomcast: target disk /dev/${DEV[pc.bus]}: .* serial ${pc.serial}, 1\\.3 GiB`));
      const task = (await tasksOf(state.hostId)).find((t) => t.id === taskId)!;
      expect(task, debug(b, pc.mac)).toMatchObject({ state: 'done', error: null });
      const version = (await imageOf(state.imageId)).versions.find((v) => v.number === 1);
      expect(version, JSON.stringify(await imageOf(state.imageId))).toMatchObject({ state: 'ready', restorable: true, sourceHostId: state.hostId });
      expect(task.result?.details?.hiberfileRemoved).toEqual(pc.hibernated ? [3] : []);
      if (pc.hibernated) expect(b.lines).toContain('roomcast: partition 3: removed hiberfil.sys');
      // The capture changed nothing else: same table, and the other disk is still blank.
      expect(await tableOf(state.disk)).toBe(await tableOf(state.original));
      expect(allZero(decoy), 'the smaller disk was written to').toBe(true);
      fs.rmSync(decoy);
      state.captured = true;

      const d = task.result?.details ?? {};
      const line =
        `${F} capture: QEMU start → hello ${b.helloSec?.toFixed(1) ?? '–'} s, → task done ${sec(untilDone(b, task))}, QEMU ran ${sec(b.ms)}; ` +
        `used ${mb(version!.usedBytes as number)}, ${String(d.uploadedChunks)}/${String(d.chunks)} chunks uploaded (${mb(Number(d.uploadedBytes))} zstd), stored ${mb(version!.storedBytes as number)}; school disk built in ${sec(diskMs)}`;
      timings.push(line);
      console.log(`lab imaging: ${line}`);
    }, TEST_MS);

    it(`${F} PC: the disk is wiped, PXE boot with a restore task, the partitions match the original`, async () => {
      expect(state.captured, 'the capture above did not succeed').toBe(true);
      // A new, blank disk in place of the old one, its serial pinned on the host; a larger blank disk next to it.
      fs.rmSync(state.disk!, { force: true });
      state.disk = blank(`${pc.firmware}-pc-blank.img`, pc.blankMiB);
      const decoy = blank(`${pc.firmware}-decoy.img`, DECOY_MIB.restore);
      const pinned = await tech.patch(`/api/v1/hosts/${state.hostId}`, { diskSerial: pc.serial });
      expect(pinned.status, JSON.stringify(pinned.body)).toBe(200);
      const created = await tech.post('/api/v1/tasks', { hostIds: [state.hostId], kind: 'restore', imageId: state.imageId, version: 1 });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const taskId = created.body.tasks[0].id as number;

      // The PC's NVRAM (OVMF_VARS, kept from the capture's boot) holds no Windows Boot Manager entry yet.
      const vars = path.join(dir, `OVMF_VARS-${pc.mac.replace(/:/g, '')}.fd`);
      const WBM = Buffer.from('Windows Boot Manager', 'utf16le');
      if (pc.firmware === 'uefi') expect(fs.readFileSync(vars).includes(WBM), 'the NVRAM had a Windows Boot Manager entry before the restore').toBe(false);

      const b = await boot(`${pc.firmware}-restore`, pc, state.disk, decoy);
      expect(b.timedOut, `no power off within ${IMAGING_LIMIT_MS / 1000} s; ${debug(b, pc.mac)}`).toBe(false);
      expect(b.code, debug(b, pc.mac)).toBe(0);
      expect(b.lines, debug(b, pc.mac)).toContain('roomcast: hello ok, action=restore');
      expect(b.lines, debug(b, pc.mac)).toMatch(new RegExp(`roomcast: target disk /dev/${DEV[pc.bus]}: .* serial ${pc.serial},`));
      expect(allZero(decoy), 'the larger, unpinned disk was written to').toBe(true);
      fs.rmSync(decoy);
      const task = (await tasksOf(state.hostId!)).find((t) => t.id === taskId)!;
      expect(task, debug(b, pc.mac)).toMatchObject({ state: 'done', error: null });
      const d = task.result?.details ?? {};
      // Every chunk fetched, but those a blank disk already holds (all zeros: the MSR, empty guard areas).
      expect(d).toMatchObject({ tableChanged: true, verifiedChunks: d.chunks });
      expect(d.fetchedChunks + d.skippedChunks).toBe(d.chunks);
      expect(d.fetchedChunks).toBeGreaterThan(d.chunks / 2);

      // Same table (but for the device's own last LBA), same boot code, same files, clean filesystems.
      expect(fs.statSync(state.disk).size).toBe(pc.blankMiB * MIB);
      expect(await tableOf(state.disk)).toBe(await tableOf(state.original!));
      expect(bootCode(state.disk).equals(bootCode(state.original!))).toBe(true);
      expect(await readDiskFiles(state.disk)).toEqual(expectedHashes(files));
      const fsck = await fsckDisk(state.disk);
      for (const [n, r] of Object.entries(fsck)) expect(r.ok, `partition ${n}: ${r.output}`).toBe(true);

      // The firmware's boot entry (boot-entry.ts), read from the client's `efibootmgr -v` after the step.
      if (pc.firmware === 'bios') expect(d.bootEntry).toEqual({ state: 'skipped', reason: 'the PC was not started by UEFI firmware' });
      else {
        console.log(`lab imaging: UEFI NVRAM before the step:\n${String(d.bootEntry.efibootmgrBefore)}\nafter it:\n${String(d.bootEntry.efibootmgr)}`);
        expect(d.bootEntry, debug(b, pc.mac)).toMatchObject({ state: 'created', partition: 1 });
        const esp = JSON.parse((await run('sfdisk', ['--json', state.original!])).stdout).partitiontable.partitions[0] as { type: string; uuid: string };
        // Before the step (the client's own `efibootmgr -v`): no entry for bootmgfw.efi, the network first.
        const was = parseBootEntries(String(d.bootEntry.efibootmgrBefore));
        expect(was.entries.filter((e) => e.label === 'Windows Boot Manager' || pointsAt(e, 1, esp.uuid)), String(d.bootEntry.efibootmgrBefore)).toEqual([]);
        expect(isNetworkEntry(was.entries.find((e) => e.num === was.order[0])!), String(d.bootEntry.efibootmgrBefore)).toBe(true);
        const nv = parseBootEntries(String(d.bootEntry.efibootmgr));
        const wbm = nv.entries.filter((e) => e.label === 'Windows Boot Manager');
        expect(wbm.map((e) => e.num), String(d.bootEntry.efibootmgr)).toEqual([d.bootEntry.entry]);
        expect(pointsAt(wbm[0]!, 1, esp.uuid), wbm[0]!.path).toBe(true);
        expect(nv.order).toEqual(d.bootEntry.bootOrder);
        expect(isNetworkEntry(nv.entries.find((e) => e.num === nv.order[0])!), String(d.bootEntry.efibootmgr)).toBe(true);
        expect(nv.order).toContain(wbm[0]!.num);
        // Nothing left the order: the old entries and the new one.
        expect([...nv.order].sort()).toEqual([...was.order, wbm[0]!.num].sort());
        // Written to the PC's flash (QEMU wrote the pflash file back before it exited).
        expect(fs.readFileSync(vars).includes(WBM), 'the Windows Boot Manager entry is not in the NVRAM').toBe(true);
      }

      const line =
        `${F} restore: QEMU start → hello ${b.helloSec?.toFixed(1) ?? '–'} s, → task done ${sec(untilDone(b, task))}, QEMU ran ${sec(b.ms)}; ` +
        `${String(d.fetchedChunks)}/${String(d.chunks)} chunks fetched (${mb(Number(d.fetchedBytes))} zstd, ${String(d.skippedChunks)} already on the blank disk), ${mb(Number(d.writtenBytes))} written, ${String(d.verifiedChunks)} verified`;
      timings.push(line);
      console.log(`lab imaging: ${line}`);
    }, TEST_MS);
  }
});
