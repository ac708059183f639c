// The Secure Boot chain on firmware that enforces it, in the namespace lab of ops/lab/lab.sh: QEMU
// with OVMF's Secure Boot build and Microsoft's keys enrolled (as a new PC ships), booting through
// roomcast's proxyDHCP (ROOMCAST_SECURE_BOOT=auto) and TFTP:
//   1. a known PC with an inventory task that never reported Secure Boot is handed shimx64.efi
//      (Microsoft-signed), which loads grubx64.efi (Debian 13's signed network GRUB 2.12) from
//      roomcast's TFTP; GRUB takes roomcast's address from the proxyDHCP offer (the Region's ACK
//      names no boot file), reads grub/grub.cfg by TFTP and the api's /boot/grub/<mac> over HTTP,
//      loads the Debian-signed client kernel and initrd, and the client says hello with
//      secureBoot: true, runs the task and powers off;
//   2. a PC whose last hello said Secure Boot is off gets unsigned iPXE, which this firmware refuses
//      ("Access Denied"): proof that enforcement is on.
// Debian 12's signed GRUB (2.06) could not do step 1 behind a proxyDHCP: it took its server from
// the Region's ACK only (see secureboot-next-server.test.ts and notes on rhboot/grub2#87).
// QEMU under TCG, one PC at a time. `npx vitest run -c vitest.lab.config.ts test/lab/secureboot.test.ts`; needs root.
import type { ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/client.js';
import { hardwareFacts } from '../support/facts.js';
import { ROOT_DIR, bootClient, buildClient, clientLines, clientPrereqs, type BootResult, type ClientBuild } from './client-vm.js';
import { Lab, labPrereqs, logTime } from './lab.js';

const run = promisify(execFile);
const OVMF_SECBOOT_CODE = '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd';
const OVMF_MS_VARS = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd';
const missing = [...clientPrereqs(), ...labPrereqs(), ...[OVMF_SECBOOT_CODE, OVMF_MS_VARS].filter((f) => !fs.existsSync(f))];
const BOOT_LIMIT_MS = 240_000;
const MAC = { signed: '52:54:00:5b:00:01', unsigned: '52:54:00:5b:00:02' };
const ARTIFACTS = path.join(ROOT_DIR, 'test-results/lab/secureboot');

describe.skipIf(missing.length > 0)('Secure Boot: the signed chain through roomcast on enforcing firmware (namespace lab)', () => {
  let dir: string;
  let build: ClientBuild;
  let lab: Lab;
  let tech: ApiClient;
  const children: ChildProcess[] = [];
  let tapIndex = 0;

  /** An OVMF Secure Boot PC with Microsoft's keys, on a fresh copy of its variables, until QEMU exits or stopWhen matches. */
  async function boot(label: string, mac: string, stopWhen?: RegExp): Promise<BootResult & { lines: string; helloSec: number | null }> {
    const tap = lab.taps[tapIndex++ % lab.taps.length]!;
    const serialLog = path.join(ARTIFACTS, `${label}.serial.log`);
    const vars = path.join(dir, `vars-${mac.replace(/:/g, '')}.fd`);
    fs.copyFileSync(OVMF_MS_VARS, vars);
    const pending = bootClient({
      build, children, netns: lab.ns.lan, serialLog, limitMs: BOOT_LIMIT_MS,
      args: [
        '-machine', 'smm=on', '-global', 'driver=cfi.pflash01,property=secure,value=on',
        '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_SECBOOT_CODE}`, '-drive', `if=pflash,format=raw,unit=1,file=${vars}`,
        '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`, '-device', `virtio-net-pci,netdev=n0,mac=${mac},romfile=,bootindex=1`,
      ],
    });
    const child = children.at(-1)!;
    let done = false;
    const watcher = (async () => {
      while (stopWhen && !done) {
        await sleep(500);
        const serial = fs.existsSync(serialLog) ? fs.readFileSync(serialLog, 'utf8') : '';
        if (stopWhen.test(serial) && !done) {
          await sleep(1500);
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
    console.log(`lab: ${label}: QEMU start → hello ${helloSec === null ? '–' : `${helloSec.toFixed(1)} s`}, QEMU ran ${(r.ms / 1000).toFixed(1)} s`);
    return { ...r, helloSec, lines: clientLines(r.serial).join('\n') };
  }
  const debug = (r: BootResult) =>
    `serial:\n${r.serial.slice(-5000)}\nroomcast:\n${lab
      .roomcast()
      .filter((l) => logTime(l) >= r.startedAt && l.url !== '/api/health')
      .map((l) => JSON.stringify(l))
      .join('\n')
      .slice(-6000)}`;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-lab-sb-'));
    fs.rmSync(ARTIFACTS, { recursive: true, force: true });
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    build = await buildClient();
    lab = await Lab.up({ clientDir: build.dir, roomcastEnv: { ROOMCAST_SECURE_BOOT: 'auto' } });
    // The signed chain next to the iPXE binaries lab.sh put there (the api listens on 8080 in the lab).
    await run('bash', [path.join(ROOT_DIR, 'images/secureboot/fetch.sh'), lab.tftpDir], { env: { ...process.env, ROOMCAST_BOOT_HTTP_PORT: '8080' }, timeout: 120_000 });
    console.log(`lab: ${lab.id} up (${lab.runDir}), api ${lab.apiUrl}; boot client ${build.built ? 'built' : 'cached'} in ${build.dir}`);
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
    await lab?.down();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 180_000);

  it('a known PC with Secure Boot on: shim, Debian 13\'s signed GRUB, the api\'s GRUB configuration, the client says hello with secureBoot: true', async () => {
    const mac = MAC.signed;
    const host = await tech.post('/api/v1/hosts', { name: 'LAB-SB01', mac });
    expect(host.status, JSON.stringify(host.body)).toBe(201);
    const created = await tech.post('/api/v1/tasks', { hostIds: [host.body.id], kind: 'inventory' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const taskId = created.body.tasks[0].id as number;

    // Until the client powers off after its task (or the limit); GRUB's "booting from disk" ends it early.
    const b = await boot('secureboot-signed', mac, /booting from disk/);
    expect(b.serial, debug(b)).toContain('NBP filename is shimx64.efi');
    const replies = lab.roomcast().filter((l) => l.mac === mac && l.file === 'shimx64.efi' && logTime(l) >= b.startedAt);
    expect(replies.length, debug(b)).toBeGreaterThanOrEqual(1);
    expect(String(replies[0]!.why)).toContain('never reported');
    const sent = lab.roomcast().filter((l) => l.module === 'tftp' && l.outcome === 'complete' && logTime(l) >= b.startedAt).map((l) => String(l.msg)).join('\n');
    expect(sent, debug(b)).toMatch(/tftp: sent shimx64\.efi/);
    expect(sent, debug(b)).toMatch(/tftp: sent grubx64\.efi/);
    // shim verified GRUB against Debian's certificate and started it.
    expect(b.serial, debug(b)).toContain('Fetching Netboot Image grubx64.efi');
    expect(b.serial).not.toContain('Access Denied');
    // GRUB 2.12 found roomcast from the proxy offer: grub/grub.cfg by TFTP, then the api over HTTP.
    expect(sent, debug(b)).toMatch(/tftp: sent grub\/grub\.cfg/);
    expect(b.serial, debug(b)).toContain(`roomcast: asking http://${lab.roomcastIp}:8080 what ${mac} does`);
    expect(lab.roomcast().some((l) => l.url === `/boot/grub/${mac}` && logTime(l) >= b.startedAt), debug(b)).toBe(true);
    expect(b.serial, debug(b)).toContain(`roomcast: starting the roomcast client (task) for ${mac}`);
    // The Debian-signed kernel (checked by GRUB through shim; booted `quiet`) started the client, which said hello.
    expect(b.lines, debug(b)).toContain('roomcast: hello ok');
    expect(b.helloSec).not.toBeNull();
    const after = (await tech.get(`/api/v1/hosts/${host.body.id}`)).body;
    // The client read the SecureBoot EFI variable: on, as the firmware enforces it (test 2).
    expect(after.hardware?.secureBoot, JSON.stringify(after.hardware)).toBe(true);
    expect(b.timedOut, debug(b)).toBe(false);
    // The task ran (the client reports it once the inventory is sent) — given time to finish.
    for (let i = 0; i < 60; i++) {
      const tasks = (await tech.get(`/api/v1/tasks?hostId=${host.body.id}`)).body as Array<Record<string, unknown>>;
      if (tasks.find((t) => t.id === taskId)?.state === 'done') break;
      await sleep(1000);
    }
    expect((await tech.get(`/api/v1/tasks?hostId=${host.body.id}`)).body).toMatchObject([{ id: taskId, state: 'done' }]);
  }, BOOT_LIMIT_MS + 60_000);

  it('the same firmware refuses unsigned iPXE ("Access Denied"): a PC that reported Secure Boot off is handed snponly.efi', async () => {
    const mac = MAC.unsigned;
    // Its last hello said Secure Boot off (as a registration: the window, a token from the script, the hello).
    expect((await tech.post('/api/v1/boot/registration', { minutes: 5 })).status).toBe(200);
    const anon = new ApiClient(lab.apiUrl);
    const token = /roomcast\.token=(\S+)/.exec((await anon.get(`/boot/ipxe?mac=${mac}&arch=7`)).body as string)![1]!;
    const hello = await Object.assign(new ApiClient(lab.apiUrl), { token }).post('/api/v1/boot/hello', { ...hardwareFacts(mac), secureBoot: false });
    expect(hello.status, JSON.stringify(hello.body)).toBe(200);
    expect((await tech.delete('/api/v1/boot/registration')).status).toBe(200);
    await sleep(1000); // the policy snapshot follows the registration within a second

    const b = await boot('secureboot-unsigned-ipxe', mac, /Access Denied/);
    expect(b.serial, debug(b)).toContain('NBP filename is snponly.efi');
    expect(b.serial, debug(b)).toMatch(/failed to load Boot\d+ "UEFI PXEv4[^"]*" .*: Access Denied/);
    expect(String(lab.roomcast().find((l) => l.mac === mac && l.file === 'snponly.efi' && logTime(l) >= b.startedAt)?.why)).toContain('reported Secure Boot off');
    expect(b.lines).not.toContain('hello ok');
  }, BOOT_LIMIT_MS + 60_000);
});
