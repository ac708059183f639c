// The tar reader the api and the imaging client unpack driver packs with, on archives made by GNU tar.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packFolder, readTar, safeEntryName, type TarEntry } from './driver-pack.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-tar-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function entries(file: string, pieceSize = 1000): Promise<Array<TarEntry & { data?: string }>> {
  const out: Array<TarEntry & { data?: string }> = [];
  const bytes = fs.readFileSync(file);
  async function* pieces() {
    for (let i = 0; i < bytes.length; i += pieceSize) yield bytes.subarray(i, i + pieceSize);
  }
  await readTar(pieces(), async (e, data) => {
    const parts: Buffer[] = [];
    for await (const p of data) parts.push(p);
    out.push(e.type === 'file' ? { ...e, data: Buffer.concat(parts).toString('latin1') } : e);
  });
  return out;
}

describe('the driver pack tar reader', () => {
  it('reads plain and gzip archives of GNU tar, long names and all, in pieces of any size', async () => {
    const src = path.join(dir, 'src');
    const long = `${'a'.repeat(120)}/${'b'.repeat(90)}.inf`;
    fs.mkdirSync(path.join(src, 'net', path.dirname(long)), { recursive: true });
    fs.writeFileSync(path.join(src, 'net', 'e1d.inf'), '[Version]\r\nSignature="$WINDOWS NT$"\r\n');
    fs.writeFileSync(path.join(src, 'net', 'e1d.sys'), Buffer.alloc(70_000, 7));
    fs.writeFileSync(path.join(src, 'net', long), 'x');
    execFileSync('tar', ['-cf', path.join(dir, 'p.tar'), '-C', src, '.']);
    execFileSync('tar', ['-czf', path.join(dir, 'p.tgz'), '-C', src, 'net']);
    for (const [file, size] of [['p.tar', 1000], ['p.tar', 1], ['p.tgz', 333]] as const) {
      const got = await entries(path.join(dir, file), size);
      const files = got.filter((e) => e.type === 'file').sort((a, b) => a.name.localeCompare(b.name));
      expect(files.map((e) => [e.name, e.size])).toEqual([
        [`net/${long}`, 1],
        ['net/e1d.inf', 37],
        ['net/e1d.sys', 70_000],
      ]);
      expect(files[2]!.data).toBe(Buffer.alloc(70_000, 7).toString('latin1'));
    }
  });

  it('refuses names outside the folder, links, and what is not a tar', async () => {
    const src = path.join(dir, 'bad');
    fs.mkdirSync(src, { recursive: true });
    fs.writeFileSync(path.join(src, 'x.inf'), 'x');
    execFileSync('tar', ['-cf', path.join(dir, 'dotdot.tar'), '-C', src, '--transform', 's,^,../,', 'x.inf']);
    await expect(entries(path.join(dir, 'dotdot.tar'))).rejects.toMatchObject({ code: 'tar_unsafe_path' });
    execFileSync('tar', ['-cPf', path.join(dir, 'abs.tar'), path.join(src, 'x.inf')]);
    await expect(entries(path.join(dir, 'abs.tar'))).rejects.toMatchObject({ code: 'tar_unsafe_path' });
    fs.symlinkSync('/etc/passwd', path.join(src, 'link'));
    execFileSync('tar', ['-cf', path.join(dir, 'link.tar'), '-C', src, 'link']);
    await expect(entries(path.join(dir, 'link.tar'))).rejects.toMatchObject({ code: 'tar_bad_entry', message: /symbolic link/ });
    fs.writeFileSync(path.join(dir, 'zip.zip'), Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(2000, 1)]));
    await expect(entries(path.join(dir, 'zip.zip'))).rejects.toMatchObject({ code: 'tar_damaged', message: /not a tar archive/ });
    const cut = fs.readFileSync(path.join(dir, 'p.tar')).subarray(0, 3000);
    fs.writeFileSync(path.join(dir, 'cut.tar'), cut);
    await expect(entries(path.join(dir, 'cut.tar'))).rejects.toMatchObject({ code: 'tar_damaged', message: /cut short/ });
    const gz = fs.readFileSync(path.join(dir, 'p.tgz'));
    fs.writeFileSync(path.join(dir, 'bad.tgz'), Buffer.concat([gz.subarray(0, 20), Buffer.alloc(200, 0xff)]));
    await expect(entries(path.join(dir, 'bad.tgz'))).rejects.toMatchObject({ code: 'tar_damaged' });
    for (const n of ['C:/x.inf', 'a\\..\\b', 'a/../../b', 'x:y']) expect(() => safeEntryName(n), n).toThrow();
    expect(safeEntryName('./a//b/')).toBe('a/b');
    expect(packFolder(7, 'Dell OptiPlex 7090 (Win11)')).toBe('7-Dell_OptiPlex_7090_Win11');
  });
});
