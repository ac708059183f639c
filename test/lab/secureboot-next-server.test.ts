// The signed chain on firmware that enforces Secure Boot (OVMF secboot, Microsoft's keys), where the
// Region's DHCP names roomcast as next-server (LAB_REGION_NEXT_SERVER=1 in ops/lab/lab.sh): shim →
// Debian's signed GRUB, which reads grub/grub.cfg from roomcast's TFTP (images/secureboot/fetch.sh
// put it at the path GRUB looks for, prefix /grub) and runs it.
// The fallback for firmware that does not keep roomcast's 4011 answer as its proxy offer: with the
// Region naming roomcast as next-server, GRUB finds roomcast from the Region's ACK instead. Since
// images/secureboot takes GRUB 2.12 from Debian 13 (proxy offer + http), the normal path needs no
// Region setting and goes on to the client's hello: test/lab/secureboot.test.ts.
// `npx vitest run -c vitest.lab.config.ts test/lab/secureboot-next-server.test.ts`; needs root.
import type { ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/client.js';
import { ROOT_DIR, bootClient, buildClient, clientPrereqs, type ClientBuild } from './client-vm.js';
import { Lab, labPrereqs, logTime } from './lab.js';

const run = promisify(execFile);
const OVMF_SECBOOT_CODE = '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd';
const OVMF_MS_VARS = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd';
const missing = [...clientPrereqs(), ...labPrereqs(), ...[OVMF_SECBOOT_CODE, OVMF_MS_VARS].filter((f) => !fs.existsSync(f))];
const BOOT_LIMIT_MS = 120_000;
const MAC = '52:54:00:5b:00:11';
const ARTIFACTS = path.join(ROOT_DIR, 'test-results/lab/secureboot-next-server');

describe.skipIf(missing.length > 0)('Secure Boot: shim → GRUB → the client, with the Region naming roomcast as next-server (namespace lab)', () => {
  let dir: string;
  let build: ClientBuild;
  let lab: Lab;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-lab-sbns-'));
    fs.rmSync(ARTIFACTS, { recursive: true, force: true });
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    build = await buildClient();
    process.env.LAB_REGION_NEXT_SERVER = '1';
    try {
      lab = await Lab.up({ clientDir: build.dir, roomcastEnv: { ROOMCAST_SECURE_BOOT: 'on' } });
    } finally {
      delete process.env.LAB_REGION_NEXT_SERVER;
    }
    await run('bash', [path.join(ROOT_DIR, 'images/secureboot/fetch.sh'), lab.tftpDir], { env: { ...process.env, ROOMCAST_BOOT_HTTP_PORT: '8080' }, timeout: 120_000 });
    const admin = new ApiClient(lab.apiUrl);
    expect((await admin.login('admin', lab.adminPassword)).status).toBe(200); // the api is up
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

  it('GRUB, started by shim under Secure Boot, reads and runs roomcast\'s grub/grub.cfg from TFTP', async () => {
    const vars = path.join(dir, 'vars.fd');
    fs.copyFileSync(OVMF_MS_VARS, vars);
    const serialLog = path.join(ARTIFACTS, 'signed-chain.serial.log');
    const pending = bootClient({
      build, children, netns: lab.ns.lan, serialLog, limitMs: BOOT_LIMIT_MS,
      args: [
        '-machine', 'smm=on', '-global', 'driver=cfi.pflash01,property=secure,value=on',
        '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_SECBOOT_CODE}`, '-drive', `if=pflash,format=raw,unit=1,file=${vars}`,
        '-netdev', `tap,id=n0,ifname=${lab.taps[0]},script=no,downscript=no`, '-device', `virtio-net-pci,netdev=n0,mac=${MAC},romfile=,bootindex=1`,
      ],
    });
    const child = children.at(-1)!;
    const started = Date.now();
    // Stop once grub.cfg has run its first line (then GRUB falls back to the firmware, which waits in its menu).
    while (child.exitCode === null && child.signalCode === null && Date.now() - started < BOOT_LIMIT_MS) {
      await new Promise((r) => setTimeout(r, 500));
      if (fs.existsSync(serialLog) && fs.readFileSync(serialLog, 'utf8').includes('roomcast: asking')) {
        await new Promise((r) => setTimeout(r, 1500));
        child.kill('SIGKILL');
      }
    }
    const b = await pending;
    const log = lab.roomcast().filter((l) => logTime(l) >= b.startedAt && l.url !== '/api/health');
    const debug = `serial:\n${b.serial.slice(-5000)}\nroomcast:\n${log.map((l) => JSON.stringify(l)).join('\n').slice(-6000)}`;
    expect(b.serial, debug).toContain('NBP filename is shimx64.efi');
    // shim started GRUB (2.12 prints no "Welcome to GRUB!"; grub.cfg's echo below proves it runs).
    expect(b.serial, debug).toContain('Fetching Netboot Image grubx64.efi');
    expect(log.map((l) => String(l.msg)).join('\n'), debug).toMatch(/tftp: sent grub\/grub\.cfg/);
    expect(b.serial, debug).toContain(`roomcast: asking http://${lab.roomcastIp}:8080 what ${MAC} does`);
    console.log(`lab: Secure Boot chain: QEMU start → grub.cfg running ${(b.ms / 1000).toFixed(1)} s`);
  }, BOOT_LIMIT_MS + 60_000);
});
