// The TFTP server inside the boot role (services/boot/role.ts, wired by services/main.ts), and
// images/ipxe/fetch.sh, which puts the iPXE binaries in the TFTP directory.
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { IPXE_BINARIES, startBootRole } from '../../services/boot/role.js';
import { buildAck, buildRequest } from '../../services/boot/tftp/packets.js';
import { TftpServer } from '../../services/boot/tftp/server.js';
import { loadConfig } from '../../services/core/config.js';
import { createLogger } from '../../services/core/logger.js';
import { start } from '../../services/main.js';

const run = promisify(execFile);
const ROOT_DIR = path.resolve(import.meta.dirname, '../..');
const FETCH = path.join(ROOT_DIR, 'images/ipxe/fetch.sh');

const tmpDirs: string[] = [];
function tmp(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger(
    'info',
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    }),
  );
  return { log, lines };
}

/** Gets a whole file with plain RFC 1350, or the ERROR / silence it got instead. */
async function get(port: number, file: string): Promise<Buffer | { error: number } | 'no answer'> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const chunks: Buffer[] = [];
  try {
    return await new Promise((resolve) => {
      let timer = setTimeout(() => resolve('no answer'), 1500);
      s.on('message', (m, r) => {
        clearTimeout(timer);
        timer = setTimeout(() => resolve('no answer'), 1500);
        if (m.readUInt16BE(0) === 5) return resolve({ error: m.readUInt16BE(2) });
        const block = m.readUInt16BE(2);
        if (block !== chunks.length + 1) return;
        chunks.push(m.subarray(4));
        s.send(buildAck(block), r.port, r.address, () => {
          if (m.length - 4 < 512) resolve(Buffer.concat(chunks));
        });
      });
      s.send(buildRequest(1, file), port, '127.0.0.1');
    });
  } finally {
    s.close();
  }
}

const sha256 = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');

function recordedSums(): Map<string, string> {
  const text = fs.readFileSync(path.join(ROOT_DIR, 'images/ipxe/SHA256SUMS'), 'utf8');
  return new Map(text.split('\n').filter((l) => /^[0-9a-f]{64} {2}\S+$/.test(l)).map((l) => [l.slice(66), l.slice(0, 64)] as [string, string]));
}

/** A .deb laid out like Debian's ipxe package: usr/lib/ipxe/*, ipxe.efi as a symlink to /boot. */
function makeDeb(files: Partial<Record<(typeof IPXE_BINARIES)[number], Buffer>>): string {
  const d = tmp('rc-ipxe-deb-');
  const pkg = path.join(d, 'pkg');
  fs.mkdirSync(path.join(pkg, 'DEBIAN'), { recursive: true });
  fs.mkdirSync(path.join(pkg, 'usr/lib/ipxe'), { recursive: true });
  fs.mkdirSync(path.join(pkg, 'boot'));
  fs.writeFileSync(path.join(pkg, 'DEBIAN/control'), 'Package: ipxe\nVersion: 0.test\nArchitecture: all\nMaintainer: test <test@example.org>\nDescription: test\n');
  for (const [name, data] of Object.entries(files)) {
    if (name === 'ipxe.efi') {
      fs.writeFileSync(path.join(pkg, 'boot/ipxe.efi'), data);
      fs.symlinkSync('/boot/ipxe.efi', path.join(pkg, 'usr/lib/ipxe/ipxe.efi'));
    } else fs.writeFileSync(path.join(pkg, 'usr/lib/ipxe', name), data);
  }
  execFileSync('dpkg-deb', ['--root-owner-group', '-b', pkg, path.join(d, 'ipxe.deb')], { stdio: 'ignore' });
  return path.join(d, 'ipxe.deb');
}

describe('images/ipxe/fetch.sh', () => {
  it('records checksums for exactly the three binaries, from a pinned Debian version', () => {
    expect([...recordedSums().keys()].sort()).toEqual([...IPXE_BINARIES].sort());
    expect(fs.readFileSync(path.join(ROOT_DIR, 'images/ipxe/SHA256SUMS'), 'utf8')).toMatch(/^# package: ipxe=1\.0\.0\+git-20190125\.36a4c85-5\.1$/m);
  });

  it('places the binaries from the package, following its /boot symlink, when they match', async () => {
    // Debian's ipxe package, installed on the test machine, holds the very files SHA256SUMS names.
    const installed = { 'undionly.kpxe': '/usr/lib/ipxe/undionly.kpxe', 'ipxe.efi': '/boot/ipxe.efi', 'snponly.efi': '/usr/lib/ipxe/snponly.efi' };
    const absent = Object.values(installed).filter((f) => !fs.existsSync(f));
    expect(absent, 'this test needs Debian\'s ipxe package installed (apt-get install ipxe)').toEqual([]);
    const deb = makeDeb(Object.fromEntries(Object.entries(installed).map(([k, f]) => [k, fs.readFileSync(f)])));
    const dest = path.join(tmp('rc-ipxe-dest-'), 'tftp');
    const r = await run('bash', [FETCH, dest], { env: { ...process.env, IPXE_DEB: deb } });
    expect(r.stdout).toContain('sha256 checked');
    expect(fs.readdirSync(dest).sort()).toEqual([...IPXE_BINARIES].sort());
    for (const [name, sum] of recordedSums()) {
      expect(sha256(path.join(dest, name)), name).toBe(sum);
      expect(fs.lstatSync(path.join(dest, name)).isFile()).toBe(true);
    }
  });

  it('refuses a mismatch, naming the file and both hashes, and writes nothing', async () => {
    const good = fs.existsSync('/usr/lib/ipxe/undionly.kpxe') ? fs.readFileSync('/usr/lib/ipxe/undionly.kpxe') : Buffer.from('x');
    const wrong = Buffer.from('not the real snponly.efi\n');
    const deb = makeDeb({ 'undionly.kpxe': good, 'ipxe.efi': fs.existsSync('/boot/ipxe.efi') ? fs.readFileSync('/boot/ipxe.efi') : good, 'snponly.efi': wrong });
    const dest = path.join(tmp('rc-ipxe-dest-'), 'tftp');
    const err = (await run('bash', [FETCH, dest], { env: { ...process.env, IPXE_DEB: deb } }).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(err.code).toBe(1);
    expect(err.stderr).toContain('checksum mismatch for snponly.efi');
    expect(err.stderr).toContain(`expected sha256 ${recordedSums().get('snponly.efi')}`);
    expect(err.stderr).toContain(`got ${createHash('sha256').update(wrong).digest('hex')}`);
    expect(fs.existsSync(dest)).toBe(false);
  });

  it('says which binary the package lacks, and needs a destination', async () => {
    const deb = makeDeb({ 'undionly.kpxe': Buffer.from('x') });
    const dest = path.join(tmp('rc-ipxe-dest-'), 'tftp');
    const err = (await run('bash', [FETCH, dest], { env: { ...process.env, IPXE_DEB: deb } }).catch((e: unknown) => e)) as { stderr: string };
    expect(err.stderr).toMatch(/checksum mismatch for undionly\.kpxe|ipxe\.efi is not in/);
    const usage = (await run('bash', [FETCH]).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(usage.code).toBe(1);
    expect(usage.stderr).toContain('usage: bash images/ipxe/fetch.sh DEST_DIR');
  });
});

describe('the boot role', () => {
  it('serves the TFTP directory, warns about missing iPXE binaries, and stops', async () => {
    const root = tmp('rc-boot-tftp-');
    fs.writeFileSync(path.join(root, 'undionly.kpxe'), 'pretend BIOS iPXE');
    const { log, lines } = capture();
    const role = await startBootRole({ apiUrl: 'http://127.0.0.1:9', tftp: { root, host: '127.0.0.1', port: 0 }, log });
    try {
      const warn = lines.find((l) => l.level === 40 && String(l.msg).includes('iPXE binaries missing'));
      expect(warn?.missing).toEqual(['ipxe.efi', 'snponly.efi']);
      expect(String(warn?.msg)).toContain(`bash images/ipxe/fetch.sh ${root}`);
      expect(String(await get(role.tftpPort, 'undionly.kpxe'))).toBe('pretend BIOS iPXE');
    } finally {
      await role.stop();
    }
    expect(await get(role.tftpPort, 'undionly.kpxe')).toBe('no answer');
  });

  it('does not warn when the three binaries are there', async () => {
    const root = tmp('rc-boot-tftp-');
    for (const f of IPXE_BINARIES) fs.writeFileSync(path.join(root, f), f);
    const { log, lines } = capture();
    const role = await startBootRole({ apiUrl: 'http://127.0.0.1:9', tftp: { root, host: '127.0.0.1', port: 0 }, log });
    await role.stop();
    expect(lines.filter((l) => String(l.msg).includes('missing'))).toEqual([]);
  });

  it('is started by main.ts with config.tftp (ROOMCAST_TFTP_*)', async () => {
    const dataDir = tmp('rc-boot-data-');
    fs.mkdirSync(path.join(dataDir, 'tftp'));
    fs.writeFileSync(path.join(dataDir, 'tftp', 'snponly.efi'), 'pretend UEFI iPXE');
    const config = loadConfig({ ROOMCAST_ROLES: 'boot', ROOMCAST_DATA_DIR: dataDir, ROOMCAST_TFTP_HOST: '127.0.0.1', ROOMCAST_TFTP_PORT: '0', ROOMCAST_API_URL: 'http://127.0.0.1:9' });
    const { log, lines } = capture();
    const app = await start(config, log);
    try {
      const listening = lines.find((l) => String(l.msg).startsWith('tftp listening on 127.0.0.1:'));
      expect(listening?.root).toBe(path.join(dataDir, 'tftp'));
      expect(String(await get(listening!.port as number, 'snponly.efi'))).toBe('pretend UEFI iPXE');
    } finally {
      await app.stop();
    }
  });

  it('fails to start with a message saying why when the port cannot be bound', async () => {
    const first = new TftpServer({ root: os.tmpdir(), host: '127.0.0.1', port: 0, log: capture().log });
    const { port } = await first.start();
    try {
      const { log } = capture();
      await expect(startBootRole({ apiUrl: 'http://127.0.0.1:9', tftp: { root: os.tmpdir(), host: '127.0.0.1', port }, log })).rejects.toThrow(
        /already in use/,
      );
    } finally {
      await first.stop();
    }
    // Port 69 without root or CAP_NET_BIND_SERVICE: as an unprivileged user (setpriv when we are root).
    if (Number(fs.readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8')) <= 69) return;
    const script = `
      import { TftpServer } from ${JSON.stringify(path.join(ROOT_DIR, 'services/boot/tftp/server.js'))};
      import { createLogger } from ${JSON.stringify(path.join(ROOT_DIR, 'services/core/logger.js'))};
      await new TftpServer({ root: '/tmp', host: '127.0.0.1', port: 69, log: createLogger('silent') }).start().then(() => console.log('bound'), (e) => console.log(e.message));
      process.exit(0);`;
    const node = [process.execPath, '--import', 'tsx', '--input-type=module', '-e', script];
    const asRoot = process.getuid?.() === 0;
    const r = await run(asRoot ? 'setpriv' : node[0]!, asRoot ? ['--reuid=65534', '--regid=65534', '--clear-groups', ...node] : node.slice(1), {
      cwd: ROOT_DIR,
      env: { PATH: process.env.PATH ?? '', HOME: os.tmpdir() },
    });
    expect(r.stdout).toContain('cannot listen for TFTP on UDP 127.0.0.1:69: permission denied');
    expect(r.stdout).toContain('CAP_NET_BIND_SERVICE');
  });
});
