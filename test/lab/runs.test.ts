// A room run on real PXE firmware, with nothing started by hand (issue 12, deliverable 7): a room of
// two powered-off QEMU PCs (one BIOS with the iPXE option ROM, one UEFI with OVMF's own PXE), each
// with a blank disk, is restored by a run started from the api. roomcast's worker sends the magic
// packets onto the lab LAN (ROOMCAST_WOL_INTERFACES=lan0); the lab's power controller (power.ts, in
// a peer namespace) hears them and switches the PCs on; their firmware finds nothing to boot on the
// blank disk and falls through to PXE: proxyDHCP, TFTP, the iPXE script, the client, the restore,
// the verification, the power off. The run reports both PCs done with their timelines in order, both
// QEMUs have exited (powered off), and the restored disks equal the image's source disk (same
// partition table, boot code and files, clean filesystems: imaging.test.ts's comparison).
// Then issue 11's proof: a second run whose restores meet a damaged chunk leaves both disks without
// boot signature or GPT, and at their next start both PCs network-boot again.
// The image is captured beforehand from this host, by the real imaging client on a loop device
// against the lab's api (test/support/imaging-pc.ts's way), which takes seconds instead of a QEMU boot.
import type { ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpImagingApi } from '../../services/imaging/client/api.js';
import { DEFAULT_BLOCK_SIZE, allChunks, parseBlockIndex, type Manifest } from '../../services/imaging/format.js';
import { magicPacket } from '../../services/jobs/wol.js';
import { runTask } from '../../services/imaging/client/main.js';
import { ApiClient } from '../support/client.js';
import { SCHOOL_DISK_MIB, attach, buildSchoolDisk, detach, expectedHashes, fsckDisk, missingDiskTools, readDiskFiles, schoolFiles } from '../support/disks.js';
import { helloFacts } from '../support/facts.js';
import { ROOT_DIR, buildClient, clientPrereqs, type ClientBuild } from './client-vm.js';
import { Lab, labPrereqs, logTime, type LogLine } from './lab.js';
import { PowerController, type Machine } from './power.js';

const run = promisify(execFile);
const missing = [...clientPrereqs(), ...labPrereqs(), ...missingDiskTools()];
const MIB = 1024 * 1024;
/** The school disk (640 MiB of partitions) on a 1.25 GiB drive: the client never images a disk under 1 GiB. */
const DISK_MIB = 1280;
/** Guest RAM: the initramfs with imaging.img lives in it, plus Node (imaging.test.ts's figure). */
const MEMORY_MIB = 1536;
/** The whole run, both PCs at once under TCG on 2 busy cores (a restore alone: 65-101 s). */
const RUN_LIMIT_MS = 12 * 60_000;
const ARTIFACTS = path.join(ROOT_DIR, 'test-results/lab/runs');
const MASTER_MAC = '52:54:00:7c:20:00';
const PCS = [
  { name: 'B204-BIOS', mac: '52:54:00:7c:20:01', firmware: 'bios', bus: 'ahci', serial: 'RCLAB-RUN-BIOS' },
  { name: 'B204-UEFI', mac: '52:54:00:7c:20:02', firmware: 'uefi', bus: 'virtio', serial: 'RCLAB-RUN-UEFI' },
] as const;
/** The states a restored PC goes through, in order. */
const PATH = ['queued', 'waking', 'booted', 'restoring', 'verifying', 'done'];

if (missing.length) console.warn(`lab runs: cannot run, missing ${missing.join(', ')}`);

/** `sfdisk --dump` without what belongs to the device (its name, last-lba). */
async function tableOf(disk: string): Promise<string> {
  const { stdout } = await run('sfdisk', ['--dump', disk]);
  return stdout.replace(/^(device|last-lba):.*$/gm, '').replace(/^\S+ :/gm, '');
}
function bootCode(disk: string): Buffer {
  const fd = fs.openSync(disk, 'r');
  try {
    const b = Buffer.alloc(440);
    fs.readSync(fd, b, 0, 440, 0);
    return b;
  } finally {
    fs.closeSync(fd);
  }
}

/** roomcast's proxyDHCP gave `mac`'s PXE/iPXE request the URL of its iPXE script (after `since`): the PC network-booted. */
const scriptOffer = (l: LogLine, mac: string, since: number) => l.module === 'proxydhcp' && l.mac === mac && l.answer === 'ipxe-script' && logTime(l) >= since;

describe('room run lab prerequisites', () => {
  it('has what the lab needs (root, QEMU, OVMF, iPXE ROMs, dnsmasq, the disk tools)', () => {
    expect(missing, 'apt-get install qemu-system-x86 ipxe-qemu ovmf dnsmasq tcpdump busybox-static linux-image-amd64 dmidecode cpio kmod redis-server curl ipxe partclone ntfs-3g fdisk gdisk dosfstools mtools zstd').toEqual([]);
  });
});

describe.skipIf(missing.length > 0)('a room run wakes, restores and powers off two PXE PCs (namespace lab)', () => {
  let dir: string;
  let build: ClientBuild;
  let lab: Lab;
  let tech: ApiClient;
  let power: PowerController | undefined;
  const children: ChildProcess[] = [];
  const files = schoolFiles('lab-run');
  let original = '';
  let imageId = 0;
  let roomId = 0;
  let firstRunDone = false;
  const machines: Machine[] = [];

  const file = (name: string) => path.join(dir, name);
  async function get(url: string): Promise<any> {
    for (let attempt = 1; ; attempt++) {
      try {
        return (await tech.get(url)).body;
      } catch (err) {
        if (attempt >= 3 || !(err instanceof TypeError)) throw err;
      }
    }
  }

  beforeAll(async () => {
    fs.rmSync(ARTIFACTS, { recursive: true, force: true });
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    build = await buildClient({ imaging: true });
    // One peer namespace for the power controller: its addresses receive the LAN's directed broadcast (10.99.0.255).
    lab = await Lab.up({ clientDir: build.dir, peers: 1, roomcastEnv: { ROOMCAST_WOL_INTERFACES: 'lan0' } });
    dir = fs.mkdtempSync(path.join(lab.runDir, 'disks-'));
    console.log(`lab runs: ${lab.id} up (${lab.runDir}), api ${lab.apiUrl}; boot client ${build.built ? 'built' : 'cached'} in ${build.dir}`);
    const admin = new ApiClient(lab.apiUrl);
    expect((await admin.login('admin', lab.adminPassword)).status).toBe(200);
    tech = await admin.userClient('tech', 'technician');
  }, 600_000);

  afterAll(async () => {
    await power?.stop();
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    try {
      if (lab) fs.copyFileSync(path.join(lab.runDir, 'roomcast.log'), path.join(ARTIFACTS, 'roomcast.log'));
    } catch {
      // the lab did not get that far
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    await lab?.down();
  }, 180_000);

  it('captures the master image from this host (the imaging client on a loop device, against the lab api)', async () => {
    const t0 = Date.now();
    original = file('master.img');
    await buildSchoolDisk(original, files);
    expect(SCHOOL_DISK_MIB).toBeLessThan(DISK_MIB);
    fs.truncateSync(original, DISK_MIB * MIB);
    await run('sgdisk', ['-e', original]);
    const host = await tech.post('/api/v1/hosts', { name: 'MASTER', mac: MASTER_MAC });
    expect(host.status, JSON.stringify(host.body)).toBe(201);
    const image = await tech.post('/api/v1/images', { name: 'B204 master', description: `lab ${lab.id}` });
    expect(image.status, JSON.stringify(image.body)).toBe(201);
    imageId = image.body.id as number;
    const created = await tech.post('/api/v1/tasks', { hostIds: [host.body.id], kind: 'capture', imageId });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    // What a PC does: the iPXE script (boot token), hello (task token), then the client.
    const script = await fetch(`${lab.apiUrl}/boot/ipxe?mac=${MASTER_MAC}&arch=7`).then((r) => r.text());
    const bootToken = /roomcast\.token=(\S+)/.exec(script)?.[1];
    expect(bootToken, script).toBeTruthy();
    const facts = helloFacts({ mac: MASTER_MAC, serial: 'MASTER', uuid: '4c4c4544-0000-1010-8000-0000000000ab', cpu: { model: 'Intel(R) Core(TM) i5-10500', cores: 6, threads: 12 }, disk: { model: 'TEST DISK', serial: 'MASTER-DISK', sizeBytes: DISK_MIB * MIB } });
    const hello = await fetch(`${lab.apiUrl}/api/v1/boot/hello`, { method: 'POST', headers: { authorization: `Bearer ${bootToken}`, 'content-type': 'application/json' }, body: JSON.stringify(facts) });
    const answer = (await hello.json()) as { token?: string };
    expect(hello.status, JSON.stringify(answer)).toBe(200);
    const log: string[] = [];
    const loop = await attach(original);
    let ok: boolean;
    try {
      ok = await runTask(new HttpImagingApi({ base: lab.apiUrl, token: answer.token ?? bootToken!, attempts: 3, log: (l) => log.push(l) }), loop, (l) => log.push(l));
    } finally {
      await detach(loop);
    }
    expect(ok, log.slice(-15).join('\n')).toBe(true);
    const versions = ((await get(`/api/v1/images/${imageId}`)) as { versions: Array<Record<string, any>> }).versions;
    expect(versions.find((v) => v.number === 1), JSON.stringify(versions)).toMatchObject({ state: 'ready', restorable: true });
    console.log(`lab runs: master image captured in ${((Date.now() - t0) / 1000).toFixed(1)} s (disk built and captured)`);
  }, 300_000);

  it('a run started from the api wakes both powered-off PCs, restores them through PXE, verifies, powers them off; disks equal the image', async () => {
    expect(imageId, 'the capture above did not succeed').toBeGreaterThan(0);
    const room = await tech.post('/api/v1/rooms', { name: 'B204' });
    expect(room.status, JSON.stringify(room.body)).toBe(201);
    roomId = room.body.id as number;
    const disks: Record<string, string> = {};
    for (const [i, pc] of PCS.entries()) {
      const h = await tech.post('/api/v1/hosts', { name: pc.name, mac: pc.mac, roomId: room.body.id });
      expect(h.status, JSON.stringify(h.body)).toBe(201);
      // A blank disk: nothing to boot, so the firmware goes on to the network.
      disks[pc.mac] = file(`${pc.firmware}-blank.img`);
      fs.writeFileSync(disks[pc.mac]!, '');
      fs.truncateSync(disks[pc.mac]!, DISK_MIB * MIB);
      machines.push({ mac: pc.mac, firmware: pc.firmware, dir, tap: lab.taps[i]!, disk: { file: disks[pc.mac]!, bus: pc.bus, serial: pc.serial }, serialLog: path.join(ARTIFACTS, `${pc.firmware}.serial.log`), memoryMiB: MEMORY_MIB });
    }
    power = await PowerController.start(lab.peers[0]!.ns, { lanNs: lab.ns.lan, machines }, dir);
    expect(power.started(), 'nothing runs before the run').toEqual([]);

    const t0 = Date.now();
    const started = await tech.post('/api/v1/runs', { roomId: room.body.id, imageId, steps: ['wake', 'restore', 'verify', 'poweroff'], maxParallel: 2, wakeTimeoutMinutes: 5, wakeAttempts: 2 });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const runId = started.body.id as number;

    let view: Record<string, any> = started.body;
    const end = t0 + RUN_LIMIT_MS;
    while (view.state === 'running' && Date.now() < end) {
      await sleep(3000);
      view = await get(`/api/v1/runs/${runId}`);
    }
    // The PCs power off at the end of their restore: QEMU exits.
    while (PCS.some((p) => power!.isOn(p.mac)) && Date.now() < end) await sleep(1000);
    const runMs = Date.now() - t0;
    const report = await get(`/api/v1/runs/${runId}/report`);
    fs.writeFileSync(path.join(ARTIFACTS, 'report.json'), JSON.stringify({ view, report, power: power.events }, null, 2));
    const why = () => `run ${JSON.stringify(view.pcs?.map((p: any) => [p.hostName, p.state, p.reason]))}; power ${JSON.stringify(power!.events)}; stderr ${power!.stderr.join('').slice(-2000)}; see ${ARTIFACTS}`;
    expect(view.state, why()).toBe('done');

    for (const pc of PCS) {
      // Woken by the run only: one power-on each, by a magic packet, and the PC is off again (QEMU exited by itself).
      expect(power.started(pc.mac).length, why()).toBe(1);
      const packets = power.events.filter((e) => e.event === 'packet' && e.mac === pc.mac);
      expect(packets[0], why()).toMatchObject({ action: 'start', from: lab.roomcastIp });
      expect(power.exited(pc.mac), why()).toMatchObject([{ code: 0, signal: null }]);
      const r = (report.pcs as Array<Record<string, any>>).find((p) => p.mac === pc.mac)!;
      expect(r, why()).toMatchObject({ state: 'done', needsAPerson: false, reason: { code: 'done' } });
      // Queued at the run's creation (its answer), then one timeline entry per change, in order.
      expect((started.body.pcs as Array<Record<string, any>>).find((p) => p.mac === pc.mac)).toMatchObject({ state: 'queued' });
      const states = (r.timeline as Array<{ state: string }>).map((e) => e.state).filter((s, i, a) => i === 0 || a[i - 1] !== s);
      expect(states, JSON.stringify(r.timeline)).toEqual(PATH.slice(1));
      // Through the real firmware: after its power-on, its PXE request got the script's URL from roomcast's proxyDHCP, and the client said hello.
      const on = power.started(pc.mac)[0]!.at;
      expect(lab.roomcast().some((l) => scriptOffer(l, pc.mac, on)), `no iPXE script offered to ${pc.mac}`).toBe(true);
      expect(lab.roomcast().some((l) => l.url === '/api/v1/boot/hello' && l.user === `machine:${pc.mac}` && logTime(l) >= on), `no hello from ${pc.mac}`).toBe(true);

      // The restored disk equals the image's source: table, boot code, files, clean filesystems.
      const disk = disks[pc.mac]!;
      expect(await tableOf(disk)).toBe(await tableOf(original));
      expect(bootCode(disk).equals(bootCode(original))).toBe(true);
      expect(await readDiskFiles(disk)).toEqual(expectedHashes(files));
      const fsck = await fsckDisk(disk);
      for (const [n, f] of Object.entries(fsck)) expect(f.ok, `${pc.name} partition ${n}: ${f.output}`).toBe(true);
      const ex = power.exited(pc.mac)[0]!;
      console.log(`lab runs: ${pc.name} (${pc.firmware}): magic packet → power on ${((on - t0) / 1000).toFixed(1)} s after the run started, powered off at ${((ex.at - t0) / 1000).toFixed(1)} s; ${(Number(r.bytesMoved) / 1e6).toFixed(1)} MB moved`);
    }
    console.log(`lab runs: run ${runId} done in ${(runMs / 1000).toFixed(1)} s (start to both PCs off), report totals ${JSON.stringify(report.totals)}`);
    firstRunDone = true;
  }, RUN_LIMIT_MS + 120_000);

  // Issue 11's proof on real firmware: a restore stopped by a damaged chunk leaves a disk that
  // neither BIOS nor UEFI starts (no boot signature, no GPT), so the PC network-boots again.
  it('a run whose restores meet a damaged chunk leaves disks with which both PCs network-boot again at their next start', async () => {
    expect(firstRunDone, 'the run above did not succeed').toBe(true);
    // Blank disks again (a restored disk would boot its own garbage boot code), and one NTFS chunk damaged in the store.
    for (const m of machines) {
      fs.writeFileSync(m.disk.file, '');
      fs.truncateSync(m.disk.file, DISK_MIB * MIB);
    }
    const v1 = ((await get(`/api/v1/images/${imageId}`)) as { versions: Array<Record<string, any>> }).versions.find((v) => v.number === 1)!;
    const manifest = JSON.parse(fs.readFileSync(path.join(lab.runDir, 'data/images/manifests', `${String(v1.id)}.json`), 'utf8')) as Manifest;
    const counts = new Map<string, number>();
    for (const c of allChunks(manifest)) counts.set(c.hash, (counts.get(c.hash) ?? 0) + 1);
    const ntfs = manifest.partitions.find((p) => p.filesystem === 'ntfs')!;
    const victim = ntfs.chunks.filter((c) => counts.get(c.hash) === 1 && c.offset > 0).at(-1)!;
    const chunkFile = path.join(lab.runDir, 'data/images/chunks', victim.hash.slice(0, 2), `${victim.hash}.zst`);
    const frame = fs.readFileSync(chunkFile);
    // The middle of its largest block frame: file data a blank disk lacks, so the restore must fetch it.
    const blocks = parseBlockIndex(frame, DEFAULT_BLOCK_SIZE) ?? [[0, frame.length]];
    const [a, b] = blocks.reduce((x, y) => (y[1] - y[0] > x[1] - x[0] ? y : x));
    const at = Math.floor((a + b) / 2);
    frame[at] = frame[at]! ^ 0x01;
    fs.writeFileSync(chunkFile, frame);

    const t0 = Date.now();
    const started = await tech.post('/api/v1/runs', { roomId, imageId, steps: ['wake', 'restore', 'verify', 'poweroff'], maxParallel: 2, wakeTimeoutMinutes: 5, wakeAttempts: 2 });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const runId = started.body.id as number;
    let view: Record<string, any> = started.body;
    const end = t0 + RUN_LIMIT_MS;
    while (view.state === 'running' && Date.now() < end) {
      await sleep(3000);
      view = await get(`/api/v1/runs/${runId}`);
    }
    // The client stops and the PC goes off (or reboots: QEMU exits either way, -no-reboot).
    while (PCS.some((p) => power!.isOn(p.mac)) && Date.now() < end) await sleep(1000);
    const why = () => `run ${JSON.stringify(view.pcs?.map((p: any) => [p.hostName, p.state, p.reason]))}; power ${JSON.stringify(power!.events.slice(-8))}; see ${ARTIFACTS}`;
    fs.writeFileSync(path.join(ARTIFACTS, 'report-damaged.json'), JSON.stringify({ view, power: power!.events }, null, 2));
    expect(view.state, why()).not.toBe('running');
    for (const pc of PCS) {
      const p = (view.pcs as Array<Record<string, any>>).find((x) => x.mac === pc.mac)!;
      expect(p.state, why()).toBe('failed');
      expect(power!.isOn(pc.mac), why()).toBe(false);
      // What firmware looks for: a boot signature in LBA 0, a GPT header at LBA 1 or on the last sector.
      const disk = machines.find((m) => m.mac === pc.mac)!.disk.file;
      const fd = fs.openSync(disk, 'r');
      const sector = (lba: number) => {
        const s = Buffer.alloc(512);
        fs.readSync(fd, s, 0, 512, lba < 0 ? fs.fstatSync(fd).size + lba * 512 : lba * 512);
        return s;
      };
      const view0 = { bootSignature: sector(0).readUInt16LE(510) === 0xaa55, primaryGpt: sector(1).toString('latin1', 0, 8) === 'EFI PART', backupGpt: sector(-1).toString('latin1', 0, 8) === 'EFI PART' };
      fs.closeSync(fd);
      expect(view0, `${pc.name}: ${JSON.stringify(p.reason)}`).toEqual({ bootSignature: false, primaryGpt: false, backupGpt: false });
    }
    const failedMs = Date.now() - t0;

    // The power button, by hand: a magic packet from another machine of the LAN (the Region's namespace).
    const press = Date.now();
    const before = Object.fromEntries(PCS.map((pc) => [pc.mac, power!.started(pc.mac).length]));
    for (const pc of PCS) {
      const hex = magicPacket(pc.mac).toString('hex');
      const js = `const s=require('dgram').createSocket('udp4');s.bind(()=>{s.setBroadcast(true);s.send(Buffer.from('${hex}','hex'),9,'10.99.0.255',()=>s.close())})`;
      await lab.exec(lab.ns.dhcp, [process.execPath, '-e', js]);
    }
    for (const pc of PCS) {
      const fetched = await lab.waitForLog((l) => scriptOffer(l, pc.mac, press), 5 * 60_000);
      expect(power!.started(pc.mac).length, why()).toBe(before[pc.mac]! + 1);
      expect(fetched, `${pc.name} did not network-boot again; ${why()}`).toBeTruthy();
      console.log(`lab runs: ${pc.name} (${pc.firmware}) after the stopped restore: network boot (iPXE script offered by proxyDHCP) ${((logTime(fetched!) - press) / 1000).toFixed(1)} s after the power button`);
    }
    console.log(`lab runs: damaged run ${runId}: both PCs failed and off in ${(failedMs / 1000).toFixed(1)} s; reasons ${JSON.stringify((view.pcs as Array<Record<string, any>>).map((p) => p.reason?.code))}`);
  }, RUN_LIMIT_MS + 8 * 60_000);
});
