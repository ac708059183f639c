// The boot client (images/client) for real: build.sh assembles the kernel and initramfs from the
// Debian packages on this machine, QEMU boots them under TCG with user-mode networking (slirp:
// DHCP, and 10.0.2.2 reaches this host's loopback), and a small HTTP server in this test stands for
// the api's POST /api/v1/boot/hello. Checks the request (headers, JSON facts against what QEMU was
// told: SMBIOS strings, disk serials and sizes, NIC MAC), and that the guest then does what the
// api said: QEMU exits by itself because the guest powered off (or rebooted, with -no-reboot).
// Skipped only when qemu-system-x86_64 or a kernel in /boot is missing. Root is not needed.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OVMF_CODE, OVMF_VARS, bootClient, buildClient, clientLines, clientPrereqs, type ClientBuild } from '../lab/client-vm.js';

const missing = clientPrereqs();
if (missing.length) console.warn(`client: skipped, missing ${missing.join(', ')}`);
const haveOvmf = fs.existsSync(OVMF_CODE) && fs.existsSync(OVMF_VARS);
if (!missing.length && !haveOvmf) console.warn('client: UEFI boot skipped, no OVMF (apt-get install ovmf)');

const TOKEN = 'TESTTOKEN.abc-123_x';
const MIB = 1024 * 1024;
// Generous bounds: a boot takes 10-15 s here; the limit only catches a guest that never powers off.
const BOOT_LIMIT_MS = 150_000;

interface Hello {
  at: number;
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  raw: string;
  body: unknown;
}
type Answer = { status: number; type?: string; body: string };

let dir: string;
let build: ClientBuild;
let server: http.Server;
let port: number;
const children: ChildProcess[] = [];
let received: Hello[] = [];
let answer: (n: number) => Answer = () => ({ status: 200, body: '{"action":"poweroff"}' });

/** The kernel command line the api's iPXE script gives (plus test-only extras). */
function cmdline(extra = ''): string {
  return `roomcast.api=http://10.0.2.2:${port} roomcast.token=${TOKEN} roomcast.mode=task console=tty0 console=ttyS0,115200n8 quiet ${extra}`.trim();
}

function disk(name: string, sizeMiB: number): string {
  const f = path.join(dir, `${name}.img`);
  fs.writeFileSync(f, '');
  fs.truncateSync(f, sizeMiB * MIB);
  return f;
}

describe.skipIf(missing.length > 0)('boot client in QEMU (TCG)', () => {
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-client-'));
    build = await buildClient();
    const files = (build.info.files ?? {}) as Record<string, { size: number }>;
    console.log(
      `client: ${build.built ? `built in ${(build.buildMs / 1000).toFixed(1)} s` : 'cached'} (${build.dir}): ` +
        `vmlinuz ${((files.vmlinuz?.size ?? 0) / MIB).toFixed(1)} MiB, initrd.img ${((files['initrd.img']?.size ?? 0) / MIB).toFixed(1)} MiB`,
    );
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        let body: unknown = null;
        try {
          body = JSON.parse(raw);
        } catch {
          // recorded as null: the assertions say so
        }
        received.push({ at: Date.now(), method: req.method ?? '', url: req.url ?? '', headers: req.headers, raw, body });
        const a = answer(received.length);
        // Answer later, as the api does after its database work: a client that half-closes the
        // connection after sending would lose this answer (Node ends such connections).
        setTimeout(() => {
          res.writeHead(a.status, { 'content-type': a.type ?? 'application/json' });
          res.end(a.body);
        }, 300);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  }, 330_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    if (server) await new Promise((r) => server.close(r));
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('posts its hardware facts (BIOS, e1000, virtio + SATA + NVMe disks), retries a 503, then powers off', async () => {
    received = [];
    // The api is briefly unavailable: the client must retry.
    answer = (n) => (n === 1 ? { status: 503, type: 'application/problem+json', body: '{"title":"Service Unavailable","status":503}' } : { status: 200, body: '{"action":"poweroff"}' });
    const serialLog = path.join(dir, 'bios.log');
    const r = await bootClient({
      build,
      children,
      serialLog,
      limitMs: BOOT_LIMIT_MS,
      append: cmdline(),
      args: [
        '-netdev', 'user,id=n0', '-device', 'e1000,netdev=n0,mac=52:54:00:12:34:56',
        '-drive', `file=${disk('virtio', 64)},if=none,id=d0,format=raw`, '-device', 'virtio-blk-pci,drive=d0,serial=RCTEST123',
        '-drive', `file=${disk('sata', 32)},if=none,id=d1,format=raw`, '-device', 'ide-hd,drive=d1,bus=ide.0,serial=RCSATA456,model=RC SATA DISK',
        '-drive', `file=${disk('nvme', 16)},if=none,id=d2,format=raw`, '-device', 'nvme,drive=d2,serial=RCNVME789',
        '-smbios', 'type=0,vendor=Dell Inc.,version=A29,date=06/28/2018',
        '-smbios', 'type=1,manufacturer=Dell Inc.,product=OptiPlex 7010,serial=ABC123',
        // JSON escaping (quote, backslash) and an SMBIOS placeholder that must become "".
        '-smbios', 'type=2,manufacturer=Acme "Boards" \\ Inc,product=To Be Filled By O.E.M.,serial=BB-42',
        '-uuid', '4C4C4544-0031-3510-8051-B4C04F4E3132',
      ],
    });
    const lines = clientLines(r.serial).join('\n');
    expect(r.timedOut, `the guest did not power off within ${BOOT_LIMIT_MS / 1000} s:\n${lines}\n${r.stderr}`).toBe(false);
    expect(r.code, `QEMU exit status (stderr: ${r.stderr})`).toBe(0);
    expect(received.length, lines).toBe(2);
    const [first, hello] = received as [Hello, Hello];
    console.log(`client: BIOS boot: QEMU start to first POST ${((first.at - r.startedAt) / 1000).toFixed(1)} s, to power off ${(r.ms / 1000).toFixed(1)} s`);

    expect(hello.method).toBe('POST');
    expect(hello.url).toBe('/api/v1/boot/hello');
    expect(hello.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(hello.headers['content-type']).toBe('application/json');
    expect(Number(hello.headers['content-length'])).toBe(Buffer.byteLength(hello.raw));
    expect(hello.body, `not JSON: ${hello.raw}`).not.toBeNull();
    expect(first.raw).toBe(hello.raw);

    const b = hello.body as Record<string, unknown> & {
      system: Record<string, string>;
      baseboard: Record<string, string>;
      bios: Record<string, string>;
      cpu: { model: string; cores: number; threads: number };
      memoryBytes: number;
      disks: Array<Record<string, unknown>>;
      nics: Array<Record<string, unknown>>;
    };
    expect(Object.keys(b).sort()).toEqual(['baseboard', 'bios', 'cpu', 'disks', 'firmware', 'mac', 'memoryBytes', 'nics', 'system']);
    expect(b.mac).toBe('52:54:00:12:34:56');
    expect(b.firmware).toBe('bios');
    expect(b.system).toEqual({ vendor: 'Dell Inc.', model: 'OptiPlex 7010', serial: 'ABC123', uuid: '4c4c4544-0031-3510-8051-b4c04f4e3132' });
    expect(b.baseboard).toEqual({ vendor: 'Acme "Boards" \\ Inc', model: '', serial: 'BB-42' });
    expect(b.bios).toEqual({ vendor: 'Dell Inc.', version: 'A29', date: '06/28/2018' });
    expect(b.cpu.model).not.toBe('');
    expect(b.cpu).toMatchObject({ cores: 2, threads: 2 });
    // -m 512: the SMBIOS memory devices say 512 MiB (MemTotal, the fallback, is a little less).
    expect(b.memoryBytes).toBeGreaterThan(480 * MIB);
    expect(b.memoryBytes).toBeLessThanOrEqual(512 * MIB);

    const byName = Object.fromEntries(b.disks.map((d) => [d.name, d]));
    expect(Object.keys(byName).sort()).toEqual(['nvme0n1', 'sda', 'vda']);
    expect(byName.vda).toEqual({ name: 'vda', model: '', serial: 'RCTEST123', sizeBytes: 64 * MIB, rotational: expect.any(Boolean), transport: 'virtio' });
    expect(byName.sda).toEqual({ name: 'sda', model: 'RC SATA DISK', serial: 'RCSATA456', sizeBytes: 32 * MIB, rotational: expect.any(Boolean), transport: 'sata' });
    expect(byName.nvme0n1).toEqual({ name: 'nvme0n1', model: 'QEMU NVMe Ctrl', serial: 'RCNVME789', sizeBytes: 16 * MIB, rotational: false, transport: 'nvme' });
    expect(b.nics).toEqual([{ name: 'eth0', mac: '52:54:00:12:34:56', speedMbps: 1000, driver: 'e1000' }]);

    expect(lines).toContain('roomcast: hello: HTTP 503, retrying');
    expect(lines).toContain('roomcast: hello ok, action=poweroff');
    expect(r.serial).toContain('reboot: Power down');
  }, BOOT_LIMIT_MS + 30_000);

  it('shows the problem detail of a 401 on the console and powers off', async () => {
    received = [];
    const detail = 'Jeton expiré ou invalide : redémarrez la tâche depuis la console roomcast';
    answer = () => ({
      status: 401,
      type: 'application/problem+json',
      body: JSON.stringify({ type: 'about:blank', title: 'Unauthorized', status: 401, detail }),
    });
    const r = await bootClient({
      build,
      children,
      serialLog: path.join(dir, 'refused.log'),
      limitMs: BOOT_LIMIT_MS,
      // faildelay: the pause that lets a person read the error before the PC switches off (15 s).
      append: cmdline('roomcast.faildelay=1'),
      args: ['-netdev', 'user,id=n0', '-device', 'e1000,netdev=n0,mac=52:54:00:12:34:57'],
    });
    const lines = clientLines(r.serial).join('\n');
    expect(r.timedOut, `the guest did not power off within ${BOOT_LIMIT_MS / 1000} s:\n${lines}`).toBe(false);
    expect(r.code).toBe(0);
    expect(received.length, lines).toBe(1);
    expect((received[0]!.body as { mac: string }).mac).toBe('52:54:00:12:34:57');
    expect(lines).toContain(`roomcast: hello refused by the api (HTTP 401): ${detail}`);
    expect(lines).toContain('roomcast: powering off');
    expect(lines).not.toContain('hello ok');
    expect(r.serial).toContain('reboot: Power down');
  }, BOOT_LIMIT_MS + 30_000);

  it('reports the MAC of the NIC that got the DHCP lease, not the first NIC; an unknown action means poweroff', async () => {
    received = [];
    answer = () => ({ status: 200, body: '{"action":"dance"}' });
    const r = await bootClient({
      build,
      children,
      serialLog: path.join(dir, 'two-nics.log'),
      limitMs: BOOT_LIMIT_MS,
      append: cmdline(),
      args: [
        // eth0 (virtio_net loads first) sits on a hub with no DHCP server; eth1 has slirp's.
        '-netdev', 'hubport,id=n1,hubid=5', '-device', 'virtio-net-pci,netdev=n1,mac=52:54:00:00:00:01',
        '-netdev', 'user,id=n0', '-device', 'e1000,netdev=n0,mac=52:54:00:00:00:02',
      ],
    });
    const lines = clientLines(r.serial).join('\n');
    expect(r.timedOut, `the guest did not power off within ${BOOT_LIMIT_MS / 1000} s:\n${lines}`).toBe(false);
    expect(received.length, lines).toBe(1);
    const b = received[0]!.body as { mac: string; nics: Array<{ name: string; mac: string; driver: string }> };
    expect(b.mac).toBe('52:54:00:00:00:02');
    expect(b.nics.map((n) => [n.name, n.mac, n.driver])).toEqual([
      ['eth0', '52:54:00:00:00:01', 'virtio_net'],
      ['eth1', '52:54:00:00:00:02', 'e1000'],
    ]);
    expect(lines).toContain('roomcast: network: eth1 has 10.0.2.15/24');
    expect(lines).toContain("roomcast: hello: unknown action 'dance'; doing poweroff");
    expect(lines).toContain('roomcast: hello ok, action=poweroff');
    expect(r.serial).toContain('reboot: Power down');
  }, BOOT_LIMIT_MS + 30_000);

  it.skipIf(!haveOvmf)('boots under UEFI (OVMF) with a virtio NIC, reports firmware uefi, and reboots when told', async () => {
    received = [];
    answer = () => ({ status: 200, body: '{"action":"reboot"}' });
    const vars = path.join(dir, 'OVMF_VARS.fd');
    fs.copyFileSync(OVMF_VARS, vars);
    const r = await bootClient({
      build,
      children,
      serialLog: path.join(dir, 'uefi.log'),
      limitMs: BOOT_LIMIT_MS,
      append: cmdline(),
      args: [
        '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`,
        '-drive', `if=pflash,format=raw,unit=1,file=${vars}`,
        '-netdev', 'user,id=n0', '-device', 'virtio-net-pci,netdev=n0,mac=52:54:00:AB:CD:EF',
      ],
    });
    const lines = clientLines(r.serial).join('\n');
    expect(r.timedOut, `the guest did not reboot within ${BOOT_LIMIT_MS / 1000} s:\n${lines}`).toBe(false);
    expect(r.code).toBe(0);
    expect(received.length, lines).toBe(1);
    const b = received[0]!.body as { mac: string; firmware: string; nics: Array<Record<string, unknown>> };
    console.log(`client: UEFI boot: QEMU start to POST ${((received[0]!.at - r.startedAt) / 1000).toFixed(1)} s`);
    expect(b.firmware).toBe('uefi');
    expect(b.mac).toBe('52:54:00:ab:cd:ef');
    expect(b.nics).toEqual([{ name: 'eth0', mac: '52:54:00:ab:cd:ef', speedMbps: expect.toSatisfy((v: unknown) => v === null || typeof v === 'number'), driver: 'virtio_net' }]);
    expect(lines).toContain('roomcast: hello ok, action=reboot');
    expect(r.serial).toContain('reboot: Restarting system');
  }, BOOT_LIMIT_MS + 30_000);
});
