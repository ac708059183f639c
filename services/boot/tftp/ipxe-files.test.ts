// The iPXE pins /api/health checks the TFTP root against: the same as images/ipxe/SHA256SUMS (which
// fetch.sh checks downloads against), and each file said present and pinned, missing, or another file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { IPXE_BINARIES } from '../role.js';
import { IPXE_FILES, IPXE_PINS, ipxeStatus } from './ipxe-files.js';

const SUMS = path.resolve(import.meta.dirname, '../../../images/ipxe/SHA256SUMS');
// Debian's ipxe package, when installed, holds the very files the pins name.
const INSTALLED = { 'undionly.kpxe': '/usr/lib/ipxe/undionly.kpxe', 'ipxe.efi': '/boot/ipxe.efi', 'snponly.efi': '/usr/lib/ipxe/snponly.efi' };
const haveIpxe = Object.values(INSTALLED).every((f) => fs.existsSync(f));

describe('iPXE binaries in the TFTP root', () => {
  it('pins the checksums of images/ipxe/SHA256SUMS, for the binaries the boot role serves', () => {
    const lines = fs.readFileSync(SUMS, 'utf8').split('\n').filter((l) => /^[0-9a-f]{64} {2}\S+$/.test(l));
    expect(Object.fromEntries(lines.map((l) => [l.slice(66), l.slice(0, 64)]))).toEqual(IPXE_PINS);
    expect([...IPXE_FILES].sort()).toEqual([...IPXE_BINARIES].sort());
  });

  it('says which are missing and which are not the pinned file', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-ipxe-health-'));
    const empty = await ipxeStatus(root);
    expect(empty.status).toBe('incomplete');
    expect(empty.files.map((f) => f.state)).toEqual(['missing', 'missing', 'missing']);
    expect(empty.detail).toContain('images/ipxe/fetch.sh');
    fs.writeFileSync(path.join(root, 'undionly.kpxe'), 'not iPXE');
    const wrong = await ipxeStatus(root);
    expect(wrong.files.find((f) => f.name === 'undionly.kpxe')!.state).toBe('mismatch');
    expect(wrong.detail).toMatch(/undionly\.kpxe not the pinned file/);
  });

  it.runIf(haveIpxe)("says complete when the TFTP root holds Debian's pinned files", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-ipxe-health-'));
    for (const [name, from] of Object.entries(INSTALLED)) fs.copyFileSync(from, path.join(root, name));
    expect(await ipxeStatus(root)).toEqual({ status: 'complete', root, files: IPXE_FILES.map((name) => ({ name, state: 'ok' })) });
  });
});
