// images/secureboot/fetch.sh: the Secure Boot chain (Microsoft-signed shim, Debian-signed network
// GRUB) from Debian's packages, checked against images/secureboot/SHA256SUMS, and the grub.cfg that
// sends GRUB to the api. The packages are downloaded for real (apt-get download), never installed.
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT_DIR = path.resolve(import.meta.dirname, '../..');
const FETCH = path.join(ROOT_DIR, 'images/secureboot/fetch.sh');
const SUMS = path.join(ROOT_DIR, 'images/secureboot/SHA256SUMS');

const tmpDirs: string[] = [];
function tmp(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

function recordedSums(): Map<string, string> {
  const text = fs.readFileSync(SUMS, 'utf8');
  return new Map(text.split('\n').filter((l) => /^[0-9a-f]{64} {2}\S+$/.test(l)).map((l) => [l.slice(66), l.slice(0, 64)] as [string, string]));
}

/** A .deb with `files` (path inside the package → content), named like Debian's. */
function makeDeb(pkgName: string, files: Record<string, Buffer>): string {
  const d = tmp('rc-sb-deb-');
  const pkg = path.join(d, 'pkg');
  fs.mkdirSync(path.join(pkg, 'DEBIAN'), { recursive: true });
  fs.writeFileSync(path.join(pkg, 'DEBIAN/control'), `Package: ${pkgName}\nVersion: 0.test\nArchitecture: amd64\nMaintainer: test <test@example.org>\nDescription: test\n`);
  for (const [rel, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(pkg, rel)), { recursive: true });
    fs.writeFileSync(path.join(pkg, rel), data);
  }
  const out = path.join(d, `${pkgName}_0.test_amd64.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', '-b', pkg, out], { stdio: 'ignore' });
  return out;
}

const SHIM = 'usr/lib/shim/shimx64.efi.signed';
const GRUB = 'usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed';

describe('images/secureboot/fetch.sh', () => {
  it('pins the two signed binaries and the package versions they come from', () => {
    expect([...recordedSums().keys()].sort()).toEqual(['grubx64.efi', 'shimx64.efi']);
    const text = fs.readFileSync(SUMS, 'utf8');
    expect(text).toMatch(/^# package: shim-signed=\S+$/m);
    // GRUB from trixie (2.12: proxyDHCP offer and http), shim from the host's suite.
    expect(text).toMatch(/^# package: grub-efi-amd64-signed=\S+ trixie$/m);
  });

  it('downloads Debian\'s packages, places shimx64.efi, grubx64.efi and grub/grub.cfg, all checked', async () => {
    const dest = path.join(tmp('rc-sb-dest-'), 'tftp');
    const r = await run('bash', [FETCH, dest], { env: { ...process.env, ROOMCAST_BOOT_HTTP_PORT: '8088' }, timeout: 120_000 });
    expect(r.stdout).toContain('sha256 checked');
    expect(fs.readdirSync(dest).sort()).toEqual(['grub', 'grubx64.efi', 'shimx64.efi']);
    for (const [name, sum] of recordedSums()) {
      expect(sha256(fs.readFileSync(path.join(dest, name))), name).toBe(sum);
      expect(fs.lstatSync(path.join(dest, name)).isFile()).toBe(true);
    }
    // Signed by Microsoft (shim) and Debian (GRUB): the certificates' names are in the binaries.
    expect(fs.readFileSync(path.join(dest, 'shimx64.efi')).includes('Microsoft Corporation UEFI CA 2011')).toBe(true);
    expect(fs.readFileSync(path.join(dest, 'grubx64.efi')).includes('Debian Secure Boot CA')).toBe(true);
    // The network GRUB's embedded configuration runs its memdisk's grub.cfg (squashfs in 2.12),
    // which reads $prefix/grub.cfg, prefix /grub.
    expect(fs.readFileSync(path.join(dest, 'grubx64.efi')).includes('normal (memdisk)/grub.cfg')).toBe(true);
    // trixie's GRUB 2.12: takes its server from the proxyDHCP offer, and can fetch over HTTP.
    expect(fs.readFileSync(path.join(dest, 'grubx64.efi')).includes('setting values from proxy offer')).toBe(true);
    expect(fs.readFileSync(path.join(dest, 'grubx64.efi')).includes('UefiHttpBoot/1.0')).toBe(true);
    // trixie came through a private apt state: the host's package lists know nothing of it.
    expect(fs.readdirSync('/var/lib/apt/lists').filter((f) => f.includes('_trixie'))).toEqual([]);
    const cfg = fs.readFileSync(path.join(dest, 'grub/grub.cfg'), 'utf8');
    expect(cfg).toContain('source "(http,${roomcast_server}:8088)/boot/grub/${net_default_mac}"');
    expect(cfg).not.toContain('@HTTP_PORT@');
  }, 150_000);

  it('refuses a mismatch, naming the file and both hashes, and writes nothing', async () => {
    const wrong = Buffer.from('not the real grubnetx64.efi.signed\n');
    const shim = makeDeb('shim-signed', { [SHIM]: Buffer.from('not the real shim\n') });
    const grub = makeDeb('grub-efi-amd64-signed', { [GRUB]: wrong });
    const dest = path.join(tmp('rc-sb-dest-'), 'tftp');
    const err = (await run('bash', [FETCH, dest], { env: { ...process.env, SHIM_DEB: shim, GRUB_DEB: grub } }).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(err.code).toBe(1);
    expect(err.stderr).toContain('checksum mismatch for shimx64.efi');
    expect(err.stderr).toContain(`expected sha256 ${recordedSums().get('shimx64.efi')}`);
    expect(err.stderr).toContain(`got ${sha256(Buffer.from('not the real shim\n'))}`);
    expect(fs.existsSync(dest)).toBe(false);
  });

  it('says which binary a package lacks, refuses a bad port, and needs a destination', async () => {
    const shim = makeDeb('shim-signed', { 'usr/share/doc/shim-signed/README': Buffer.from('x') });
    const grub = makeDeb('grub-efi-amd64-signed', { [GRUB]: Buffer.from('x') });
    const dest = path.join(tmp('rc-sb-dest-'), 'tftp');
    const err = (await run('bash', [FETCH, dest], { env: { ...process.env, SHIM_DEB: shim, GRUB_DEB: grub } }).catch((e: unknown) => e)) as { stderr: string };
    expect(err.stderr).toContain(`shimx64.efi is not in shim-signed_0.test_amd64.deb (looked for ${SHIM})`);
    const port = (await run('bash', [FETCH, dest], { env: { ...process.env, ROOMCAST_BOOT_HTTP_PORT: '80;reboot' } }).catch((e: unknown) => e)) as { stderr: string };
    expect(port.stderr).toContain('not a TCP port for the api: 80;reboot');
    const usage = (await run('bash', [FETCH]).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(usage.code).toBe(1);
    expect(usage.stderr).toContain('usage: bash images/secureboot/fetch.sh DEST_DIR');
    expect(fs.existsSync(dest)).toBe(false);
  });
});
