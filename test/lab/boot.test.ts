// The whole network-boot chain on real PXE firmware, through roomcast's own proxyDHCP, in the
// namespace lab of ops/lab/lab.sh: QEMU PCs on a bridge with a Region-like dnsmasq (addresses
// only, no PXE option) and the real roomcast server (all roles, proxyDHCP on 67/4011, TFTP on 69,
// api on 8080), reached from this process over a per-lab veth /30.
//   1. BIOS PC (iPXE option ROM), known, inventory task: Region lease, roomcast's script URL, client, facts
//   2. UEFI PC (OVMF's own PXE, romfile= empty): snponly.efi over roomcast's TFTP, then the same
//   3. unknown PC, registration open: registers itself, unassigned, with facts
//   4. unknown PC, registration closed: roomcast stays silent (log and capture), nothing added
//   5. known PC, no task: the exit script boots its disk (a boot sector that prints and exits QEMU)
//   6. a plain DHCP client (udhcpc): lease from the Region, nothing from roomcast
// QEMU under TCG (the dev and CI machines' KVM does not run guests), one PC at a time.
// `npm run test:lab` (vitest.lab.config.ts); needs root and the packages labPrereqs() names.
// Serial consoles and the lab's logs of the last run stay in test-results/lab/.
import type { ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/client.js';
import { QEMU, ROOT_DIR, bootClient, buildClient, clientLines, clientPrereqs, pxeArgs, type BootResult, type ClientBuild } from './client-vm.js';
import { Lab, labPrereqs, logTime, type LogLine } from './lab.js';

const run = promisify(execFile);
const missing = [...clientPrereqs(), ...labPrereqs()];

const MIB = 1024 * 1024;
const BOOT_LIMIT_MS = 180_000;
const TEST_MS = BOOT_LIMIT_MS + 60_000;
const MAC = {
  bios: '52:54:00:7c:00:01',
  uefi: '52:54:00:7c:00:02',
  register: '52:54:00:7c:00:03',
  closed: '52:54:00:7c:00:04',
  disk: '52:54:00:7c:00:05',
  deadNic: '52:54:00:7c:00:13',
};
const DISK_MARKER = 'ROOMCAST-LAB-LOCAL-DISK-BOOTED';
/** Serial consoles, roomcast's and dnsmasq's logs of the last run, kept for reading after it. */
const ARTIFACTS = path.join(ROOT_DIR, 'test-results/lab');

/**
 * A 1 MiB raw disk whose boot sector prints DISK_MARKER on COM1 and exits QEMU through
 * isa-debug-exit (port 0xf4, value 0x31: QEMU exit status 0x31 * 2 + 1 = 99). Real mode, at 0:7C00:
 * cld; xor ax,ax; mov ds,ax; mov dx,0x3f8; mov si,0x7c1a; lodsb; test al,al; jz +3; out dx,al;
 * jmp -8; mov al,0x31; out 0xf4,al; hlt; jmp -3. The message follows at 0x1A.
 */
function bootDisk(file: string): void {
  const code = Buffer.from('FC31C08ED8BAF803BE1A7CAC84C07403EEEBF8B031E6F4F4EBFD', 'hex');
  const sector = Buffer.alloc(512);
  code.copy(sector, 0);
  Buffer.from(`${DISK_MARKER}\r\n\0`, 'ascii').copy(sector, 0x1a);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  fs.writeFileSync(file, Buffer.concat([sector, Buffer.alloc(MIB - 512)]));
}

interface Boot extends BootResult {
  helloSec: number | null;
  /** Killed by us once the serial console showed the awaited end (see stopWhen). */
  stopped: boolean;
  lines: string;
}

if (missing.length) console.warn(`lab: cannot run, missing ${missing.join(', ')}`);

describe('network-boot lab prerequisites', () => {
  it('has what the lab needs (root, QEMU, a kernel, OVMF, iPXE ROMs, dnsmasq, tcpdump, busybox, redis-server)', () => {
    expect(missing, 'apt-get install qemu-system-x86 ipxe-qemu ovmf dnsmasq tcpdump busybox-static linux-image-amd64 dmidecode cpio kmod redis-server curl ipxe').toEqual([]);
  });
});

describe.skipIf(missing.length > 0)('network boot through roomcast\'s proxyDHCP, on real PXE firmware (namespace lab)', () => {
  let dir: string;
  let build: ClientBuild;
  let lab: Lab;
  let tech: ApiClient;
  const children: ChildProcess[] = [];
  const timings: string[] = [];
  let tapIndex = 0;

  const scriptUrl = (mac: string, arch: number) => `http://${lab.roomcastIp}:8080/boot/ipxe?mac=${mac}&arch=${arch}`;
  const tail = (s: string, n = 4000) => s.slice(-n);
  /** What the Region-like dnsmasq ACKed to this MAC. */
  const regionAcks = (mac: string) => [...lab.dnsmasqLog().matchAll(new RegExp(`DHCPACK\\(lan0\\) (\\d+\\.\\d+\\.\\d+\\.\\d+) ${mac}`, 'g'))].map((m) => m[1]!);
  const proxyReplies = (mac: string, since: number) =>
    lab.roomcast().filter((l) => l.mac === mac && (l.kind === 'offer' || l.kind === 'ack') && typeof l.answer === 'string' && logTime(l) >= since);
  const debug = (b: Boot, mac: string) =>
    `serial:\n${tail(b.serial)}\nroomcast:\n${lab
      .roomcast()
      .filter((l) => logTime(l) >= b.startedAt && l.url !== '/api/health')
      .map((l) => JSON.stringify(l))
      .join('\n')
      .slice(-6000)}\ndnsmasq (${mac}): ${regionAcks(mac).join(', ')}`;

  /** One PC in the lab until QEMU exits, the time limit, or stopWhen(serial) holds (then it is killed). */
  async function boot(label: string, firmware: 'bios' | 'uefi', mac: string, extra: string[] = [], opts: { limitMs?: number; stopWhen?: RegExp; before?: string[] } = {}): Promise<Boot> {
    const tap = lab.taps[tapIndex++ % lab.taps.length]!;
    const serialLog = path.join(ARTIFACTS, `${label}.serial.log`);
    const pending = bootClient({
      build, children, netns: lab.ns.lan, serialLog, limitMs: opts.limitMs ?? BOOT_LIMIT_MS,
      // opts.before: devices that come first on the PCI bus (and so in the kernel's order).
      args: [...(opts.before ?? []), ...pxeArgs(firmware, { dir, tap, mac }), ...extra],
    });
    const child = children.at(-1)!;
    let stopped = false;
    let done = false;
    const watcher = (async () => {
      if (!opts.stopWhen) return;
      while (!done) {
        await sleep(500);
        let serial = '';
        try {
          serial = fs.readFileSync(serialLog, 'utf8');
        } catch {
          continue;
        }
        if (opts.stopWhen.test(serial) && !done) {
          await sleep(1500); // what the firmware prints right after
          stopped = true;
          child.kill('SIGKILL');
          return;
        }
      }
    })();
    const r = await pending;
    done = true;
    await watcher;
    const hello = lab.roomcast().find((l) => l.url === '/api/v1/boot/hello' && l.user === `machine:${mac}` && logTime(l) >= r.startedAt);
    const helloSec = hello ? (logTime(hello) - r.startedAt) / 1000 : null;
    const line = `${label}: QEMU start → hello ${helloSec === null ? '–' : `${helloSec.toFixed(1)} s`}, QEMU ran ${(r.ms / 1000).toFixed(1)} s${stopped ? ' (stopped by the test)' : ''}`;
    timings.push(line);
    console.log(`lab: ${line}`);
    return { ...r, helloSec, stopped, lines: clientLines(r.serial).join('\n') };
  }

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-lab-'));
    // This file's artifacts of the last run go; the folders of the other lab files (imaging/) stay.
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    for (const e of fs.readdirSync(ARTIFACTS, { withFileTypes: true })) if (!e.isDirectory()) fs.rmSync(path.join(ARTIFACTS, e.name), { force: true });
    build = await buildClient();
    lab = await Lab.up({ clientDir: build.dir });
    console.log(`lab: ${lab.id} up (${lab.runDir}), api ${lab.apiUrl}; boot client ${build.built ? 'built' : 'cached'} in ${build.dir}`);
    const admin = new ApiClient(lab.apiUrl);
    expect((await admin.login('admin', lab.adminPassword)).status).toBe(200);
    tech = await admin.userClient('tech', 'technician');
  }, 400_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const name of ['roomcast.log', 'dnsmasq.log']) {
      try {
        if (lab) fs.copyFileSync(path.join(lab.runDir, name), path.join(ARTIFACTS, name));
      } catch {
        // the lab did not get that far
      }
    }
    await lab?.down();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    if (timings.length) console.log(`lab: boot times (TCG)\n  ${timings.join('\n  ')}`);
  }, 180_000);

  it('BIOS PC (iPXE ROM), known, inventory task: Region lease, roomcast\'s script, client, facts on the host', async () => {
    const mac = MAC.bios;
    const host = await tech.post('/api/v1/hosts', { name: 'LAB-BIOS01', mac });
    expect(host.status, JSON.stringify(host.body)).toBe(201);
    const created = await tech.post('/api/v1/tasks', { hostIds: [host.body.id], kind: 'inventory' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const taskId = created.body.tasks[0].id as number;

    const b = await boot('bios-known', 'bios', mac);
    expect(b.timedOut, `no power off within ${BOOT_LIMIT_MS / 1000} s; ${debug(b, mac)}`).toBe(false);
    expect(b.code, debug(b, mac)).toBe(0);
    // The address came from the Region-like dnsmasq (it alone gives addresses) ...
    const leases = regionAcks(mac);
    expect(leases.length, debug(b, mac)).toBeGreaterThanOrEqual(1);
    expect(b.serial).toMatch(new RegExp(`net0: ${leases[0]!.replace(/\./g, '\\.')}/255\\.255\\.255\\.0 gw ${lab.regionIp.replace(/\./g, '\\.')}`));
    // ... the boot instructions from roomcast's proxyDHCP: iPXE (user class iPXE) gets the script URL.
    expect(b.serial).toContain(`Next server: ${lab.roomcastIp}`);
    expect(b.serial).toContain(`Filename: ${scriptUrl(mac, 0)}`);
    expect(proxyReplies(mac, b.startedAt).map((l) => [l.kind, l.answer, l.file, l.firmware])).toContainEqual(['offer', 'ipxe-script', scriptUrl(mac, 0), 'bios']);
    // The api's script started the client, which got its own lease from the Region and said hello.
    expect(b.lines).toContain(`roomcast: starting the roomcast client (task) for ${mac}`);
    expect(b.lines).toMatch(new RegExp(`roomcast: network: eth0 has (${leases.map((l) => l.replace(/\./g, '\\.')).join('|')})/24 via ${lab.regionIp.replace(/\./g, '\\.')} \\(DHCP server ${lab.regionIp.replace(/\./g, '\\.')}\\)`));
    expect(b.lines).toContain('roomcast: hello ok, action=poweroff');
    expect(b.helloSec).not.toBeNull();

    const tasks = (await tech.get(`/api/v1/tasks?hostId=${host.body.id}`)).body as Array<Record<string, unknown>>;
    expect(tasks).toMatchObject([{ id: taskId, state: 'done' }]);
    const after = (await tech.get(`/api/v1/hosts/${host.body.id}`)).body;
    expect(after.hardware?.firmware).toBe('bios');
    expect(after.hardware.nics).toContainEqual(expect.objectContaining({ mac, driver: 'e1000' }));
    expect(after.hardware.memoryBytes).toBe(512 * MIB);
    expect(after.lastSeenAt).not.toBeNull();
  }, TEST_MS);

  it('UEFI PC (OVMF\'s own PXE, no iPXE ROM): snponly.efi over roomcast\'s TFTP, then the script, the client and facts', async () => {
    const mac = MAC.uefi;
    const host = await tech.post('/api/v1/hosts', { name: 'LAB-UEFI01', mac });
    expect(host.status, JSON.stringify(host.body)).toBe(201);
    const created = await tech.post('/api/v1/tasks', { hostIds: [host.body.id], kind: 'inventory' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);

    const b = await boot('uefi-known', 'uefi', mac);
    expect(b.timedOut, `no power off within ${BOOT_LIMIT_MS / 1000} s; ${debug(b, mac)}`).toBe(false);
    expect(b.code, debug(b, mac)).toBe(0);
    expect(regionAcks(mac).length, debug(b, mac)).toBeGreaterThanOrEqual(1);
    // The firmware stage: OVMF's PXE took roomcast's boot file (arch 7, x64 UEFI) and fetched it by TFTP.
    expect(b.serial).toMatch(/Start PXE over IPv4/);
    expect(b.serial).toContain(`Server IP address is ${lab.roomcastIp}`);
    expect(b.serial).toContain('NBP filename is snponly.efi');
    const replies = proxyReplies(mac, b.startedAt);
    expect(replies.filter((l) => l.file === 'snponly.efi' && l.arch === 7).length, debug(b, mac)).toBeGreaterThanOrEqual(1);
    const tftp = lab.roomcast().filter((l) => l.module === 'tftp' && l.outcome === 'complete' && logTime(l) >= b.startedAt);
    expect(tftp.map((l) => l.msg).join('\n'), debug(b, mac)).toMatch(/tftp: sent snponly\.efi/);
    // The iPXE stage (snponly.efi): the script URL, then the client.
    expect(b.serial).toContain(`Filename: ${scriptUrl(mac, 7)}`);
    expect(replies.map((l) => [l.answer, l.file])).toContainEqual(['ipxe-script', scriptUrl(mac, 7)]);
    expect(b.lines).toContain('roomcast: hello ok, action=poweroff');

    const after = (await tech.get(`/api/v1/hosts/${host.body.id}`)).body;
    expect(after.hardware?.firmware).toBe('uefi');
    expect(after.hardware.nics).toContainEqual(expect.objectContaining({ mac, driver: 'virtio_net' }));
    const tasks = (await tech.get(`/api/v1/tasks?hostId=${host.body.id}`)).body as Array<Record<string, unknown>>;
    expect(tasks.map((t) => t.state)).toEqual(['done']);
  }, TEST_MS);

  it('unknown PC while registration is open: registers itself, unassigned, with its hardware facts (BOOTIF: the boot NIC first)', async () => {
    const mac = MAC.register;
    // A second NIC ahead of the boot NIC on the PCI bus (eth0), with a link but nothing on its wire
    // (a QEMU hub of its own) and no option ROM: without BOOTIF the client would try it first.
    const deadNic = ['-netdev', 'hubport,id=n1,hubid=1', '-device', `e1000,netdev=n1,mac=${MAC.deadNic},romfile=`];
    const open = await tech.post('/api/v1/boot/registration', { minutes: 15 });
    expect(open.status, JSON.stringify(open.body)).toBe(200);
    expect(open.body.open).toBe(true);
    expect(((await tech.get('/api/v1/hosts')).body as Array<{ mac: string }>).some((h) => h.mac === mac)).toBe(false);

    const b = await boot('bios-register', 'bios', mac, [], { before: deadNic });
    expect(b.timedOut, `no power off within ${BOOT_LIMIT_MS / 1000} s; ${debug(b, mac)}`).toBe(false);
    expect(b.serial).toContain(`Filename: ${scriptUrl(mac, 0)}`);
    expect(b.lines).toContain(`roomcast: starting the roomcast client (register) for ${mac}`);
    expect(b.lines).toContain('roomcast: hello ok, action=poweroff');
    // BOOTIF=01-<boot MAC> on the kernel line: the client asked DHCP on the boot NIC (eth1) first, and only there.
    expect(b.lines.split('\n').filter((l) => l.includes('network: DHCP on')), b.lines).toEqual([`roomcast: network: DHCP on eth1 (${mac}, e1000)`]);

    const unassigned = (await tech.get('/api/v1/hosts?room=unassigned')).body as Array<Record<string, any>>;
    const h = unassigned.find((x) => x.mac === mac);
    expect(h, JSON.stringify(unassigned)).toBeDefined();
    expect(h).toMatchObject({ name: 'PC-7C0003', roomId: null, room: null });
    expect(h!.hardware?.firmware).toBe('bios');
    expect(h!.hardware.nics).toEqual([expect.objectContaining({ name: 'eth0', mac: MAC.deadNic }), expect.objectContaining({ name: 'eth1', mac })]);
    expect(h!.hardware.system).toMatchObject({ model: expect.stringContaining('Q35') });
  }, TEST_MS);

  it('unknown PC while registration is closed: roomcast\'s proxyDHCP does not answer it, nothing is added', async () => {
    const mac = MAC.closed;
    const closed = await tech.delete('/api/v1/boot/registration');
    expect(closed.status, JSON.stringify(closed.body)).toBe(200);
    expect(closed.body.open).toBe(false);
    const before = (await tech.get('/api/v1/hosts')).body as Array<{ id: number; mac: string }>;

    const cap = await lab.capture('udp and (port 67 or port 68 or port 4011)');
    // iPXE gets its address and nothing to boot; SeaBIOS then has no other device. Stopped there.
    const b = await boot('bios-closed', 'bios', mac, [], { limitMs: 120_000, stopWhen: /No bootable device|No more network devices/ });
    await sleep(1000);
    await cap.stop();
    expect(b.timedOut, `iPXE did not give up within 120 s; ${debug(b, mac)}`).toBe(false);

    // The PC was on the LAN and got its address from the Region ...
    expect(regionAcks(mac).length, debug(b, mac)).toBeGreaterThanOrEqual(1);
    expect(b.serial).toMatch(/Configuring \(net0 52:54:00:7c:00:04\)/);
    // ... roomcast heard it, asked the api, and stayed silent.
    const silent = await lab.waitForLog((l) => l.mac === mac && typeof l.msg === 'string' && l.msg.includes('policy: not to be booted') && logTime(l) >= b.startedAt, 2000);
    expect(silent, debug(b, mac)).toBeDefined();
    expect(proxyReplies(mac, b.startedAt)).toEqual([]);
    const fromRoomcast = cap.lines.filter((l) => new RegExp(` ${lab.roomcastIp.replace(/\./g, '\\.')}\\.(67|4011) > `).test(l));
    const fromRegion = cap.lines.filter((l) => new RegExp(` ${lab.regionIp.replace(/\./g, '\\.')}\\.67 > `).test(l));
    expect(fromRegion.length, cap.lines.join('\n')).toBeGreaterThanOrEqual(2); // OFFER and ACK: the capture works
    expect(fromRoomcast, cap.lines.join('\n')).toEqual([]);
    expect(b.serial).not.toContain('Filename:');
    expect(b.lines).toBe('');

    const after = (await tech.get('/api/v1/hosts')).body as Array<{ id: number; mac: string }>;
    expect(after.map((h) => h.id).sort()).toEqual(before.map((h) => h.id).sort());
    expect(after.some((h) => h.mac === mac)).toBe(false);
  }, TEST_MS);

  it('known PC with no task: the api\'s exit script boots the local disk', async () => {
    const mac = MAC.disk;
    const disk = path.join(dir, 'disk.img');
    bootDisk(disk);
    const debugExit = ['-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04'];
    // The disk alone boots to the marker (so a failure below is the network path's).
    const direct = await run(QEMU, ['-accel', 'tcg', '-display', 'none', '-monitor', 'none', '-nodefaults', '-drive', `file=${disk},format=raw`, ...debugExit, '-serial', `file:${path.join(ARTIFACTS, 'disk-direct.serial.log')}`], { timeout: 60_000 }).then(
      () => 0,
      (e: { code?: number }) => e.code ?? -1,
    );
    expect(direct).toBe(99);
    expect(fs.readFileSync(path.join(ARTIFACTS, 'disk-direct.serial.log'), 'utf8')).toContain(DISK_MARKER);

    const host = await tech.post('/api/v1/hosts', { name: 'LAB-DISK01', mac });
    expect(host.status, JSON.stringify(host.body)).toBe(201);
    const b = await boot('bios-exit-to-disk', 'bios', mac, [
      '-drive', `file=${disk},if=none,id=d0,format=raw`, '-device', 'ide-hd,drive=d0,bus=ide.0,bootindex=2', ...debugExit,
    ]);
    expect(b.timedOut, debug(b, mac)).toBe(false);
    expect(b.code, debug(b, mac)).toBe(99);
    // The NIC booted first (bootindex 1): roomcast's script said there is nothing to do ...
    expect(b.serial).toContain(`Filename: ${scriptUrl(mac, 0)}`);
    expect(b.lines).toContain('roomcast: nothing to do for this PC, booting from disk');
    // ... and then the disk's boot sector ran.
    const exitAt = b.serial.indexOf('booting from disk');
    expect(b.serial.indexOf(DISK_MARKER), debug(b, mac)).toBeGreaterThan(exitAt);
    expect(b.lines).not.toContain('hello');
    expect((await tech.get(`/api/v1/tasks?hostId=${host.body.id}`)).body).toEqual([]);
  }, TEST_MS);

  it('a plain DHCP client (udhcpc) gets its lease from the Region and never an answer from roomcast', async () => {
    const { stdout: link } = await lab.exec(lab.ns.cli, ['ip', 'link', 'show', 'lan0']);
    const mac = /link\/ether ([0-9a-f:]{17})/.exec(link)![1]!;
    const script = path.join(dir, 'udhcpc.sh');
    fs.writeFileSync(script, '#!/bin/sh\necho "udhcpc $1 ip=$ip serverid=$serverid siaddr=$siaddr boot_file=$boot_file"\n', { mode: 0o755 });
    const started = Date.now() - 1000;
    const cap = await lab.capture('udp and (port 67 or port 68 or port 4011)');
    const { stdout: out } = await lab.exec(lab.ns.cli, ['busybox', 'udhcpc', '-q', '-n', '-f', '-i', 'lan0', '-t', '3', '-T', '2', '-s', script]);
    await sleep(1500); // a late proxy answer would come in this time
    await cap.stop();
    const lease = /udhcpc bound ip=(\d+\.\d+\.\d+\.\d+) serverid=([\d.]+) siaddr=(\S*) boot_file=(\S*)/.exec(out);
    expect(lease, out).not.toBeNull();
    expect(lease![2]).toBe(lab.regionIp);
    expect(lease![4]).toBe('');
    expect(regionAcks(mac)).toContain(lease![1]);
    const from = (ip: string) => cap.lines.filter((l) => new RegExp(` ${ip.replace(/\./g, '\\.')}\\.(67|4011) > `).test(l));
    expect(from(lab.regionIp).length, cap.lines.join('\n')).toBeGreaterThanOrEqual(2);
    expect(from(lab.roomcastIp), cap.lines.join('\n')).toEqual([]);
    // roomcast heard the client and chose not to answer: not a PXE client.
    const heard = (l: LogLine) => l.mac === mac && l.msg === 'proxyDHCP: ignored: not a PXE client' && logTime(l) >= started;
    expect(await lab.waitForLog(heard, 2000)).toBeDefined();
  }, 60_000);
});
