// The whole boot chain against the real roomcast server (SQLite), minus proxyDHCP: a QEMU PC
// network-boots with its NIC's iPXE ROM; QEMU's user-mode DHCP hands it the api's script URL (what
// roomcast's proxyDHCP gives iPXE); the api's script loads the boot client built by
// images/client/build.sh from the api over HTTP; the client posts its facts with the task's boot
// token; the api completes the inventory task and answers poweroff; the guest powers off.
// Skipped only when qemu-system-x86_64 or a kernel in /boot is missing (and, for this file, the
// iPXE ROM of QEMU's e1000: apt-get install ipxe-qemu). Needs the real Redis, as every app test.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/client.js';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';
import { bootClient, buildClient, clientLines, clientPrereqs, type ClientBuild } from '../lab/client-vm.js';

// QEMU's e1000 loads this iPXE ROM by default (ipxe-qemu, a dependency of qemu-system-x86).
const E1000_ROM = '/usr/lib/ipxe/qemu/efi-e1000.rom';
const missing = clientPrereqs();
if (!fs.existsSync(E1000_ROM)) missing.push(`${E1000_ROM} (apt-get install ipxe-qemu)`);
if (missing.length) console.warn(`client-api: skipped, missing ${missing.join(', ')}`);

const MAC = '52:54:00:12:34:60';
const MIB = 1024 * 1024;
const BOOT_LIMIT_MS = 180_000;

describe.skipIf(missing.length > 0)('boot client against the real api (iPXE ROM, HTTP boot, hello)', () => {
  let dir: string;
  let build: ClientBuild;
  let app: TestApp;
  let tech: ApiClient;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-client-api-'));
    build = await buildClient();
    app = await startTestApp('sqlite', { ROOMCAST_CLIENT_DIR: build.dir, ROOMCAST_BOOT_IP: '10.0.2.2' });
    const admin = new ApiClient(app.url);
    await admin.login('admin', TEST_ADMIN_PASSWORD);
    tech = await admin.userClient('tech', 'technician');
  }, 330_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await app?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs an inventory task: the PC reports its hardware, the task is done, the PC powers off', async () => {
    const host = await tech.post('/api/v1/hosts', { name: 'B204-PC07', mac: MAC.toUpperCase() });
    expect(host.status, JSON.stringify(host.body)).toBe(201);
    const created = await tech.post('/api/v1/tasks', { hostIds: [host.body.id], kind: 'inventory' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const taskId = created.body.tasks[0].id as number;

    // 10.0.2.2 is this host's loopback seen from QEMU's user-mode network: the api's address for the PC.
    const port = new URL(app.url).port;
    const scriptUrl = `http://10.0.2.2:${port}/boot/ipxe?mac=${MAC}&arch=0`;
    const sercon = path.join(dir, 'sercon');
    fs.writeFileSync(sercon, Buffer.from([0xf8, 0x03, 0, 0, 0, 0, 0, 0])); // SeaBIOS: copy the screen (iPXE) to ttyS0
    fs.writeFileSync(path.join(dir, 'disk.img'), '');
    fs.truncateSync(path.join(dir, 'disk.img'), 64 * MIB);
    const r = await bootClient({
      build,
      children,
      serialLog: path.join(dir, 'serial.log'),
      limitMs: BOOT_LIMIT_MS,
      args: [
        '-fw_cfg', `name=etc/sercon-port,file=${sercon}`,
        '-netdev', `user,id=n0,bootfile=${scriptUrl}`, '-device', `e1000,netdev=n0,mac=${MAC}`,
        '-drive', `file=${path.join(dir, 'disk.img')},if=none,id=d0,format=raw`, '-device', 'ide-hd,drive=d0,bus=ide.0,serial=WD-RC0001,model=WDC WD5000AAKX',
        '-smbios', 'type=1,manufacturer=Dell Inc.,product=OptiPlex 7010,serial=5XYZ123',
      ],
    });
    const lines = clientLines(r.serial).join('\n');
    expect(r.timedOut, `the PC did not power off within ${BOOT_LIMIT_MS / 1000} s; serial:\n${r.serial.slice(-4000)}`).toBe(false);
    expect(r.code).toBe(0);
    console.log(`client-api: PXE (iPXE ROM) to power off in ${(r.ms / 1000).toFixed(1)} s`);
    expect(lines).toContain('roomcast: hello ok, action=poweroff');
    expect(r.serial).toContain('reboot: Power down');

    const task = (await tech.get(`/api/v1/tasks?hostId=${host.body.id}`)).body as Array<Record<string, unknown>>;
    expect(task).toMatchObject([{ id: taskId, state: 'done' }]);
    const after = (await tech.get(`/api/v1/hosts/${host.body.id}`)).body;
    expect(after.serial).toBe('5XYZ123');
    expect(after.hardware).toMatchObject({
      firmware: 'bios',
      system: { vendor: 'Dell Inc.', model: 'OptiPlex 7010', serial: '5XYZ123' },
      memoryBytes: 512 * MIB,
      disks: [{ name: 'sda', model: 'WDC WD5000AAKX', serial: 'WD-RC0001', sizeBytes: 64 * MIB, transport: 'sata' }],
      nics: [{ mac: MAC, speedMbps: 1000, driver: 'e1000' }],
    });
  }, BOOT_LIMIT_MS + 30_000);
});
