// A "school PC" disk for imaging tests, built on a file with the real tools: GPT with an EFI system
// partition (FAT32), a Microsoft reserved partition (no filesystem), Windows (NTFS, written through
// ntfs-3g) and a data partition (ext4), filled with known files. The host kernel scans no partition
// tables (shared/notes/lab-recipe.md), so every partition is reached through a loop device at its
// offset; FAT is read and written with mtools, NTFS with ntfs-3g (FUSE), ext4 by mounting.
import { execFile, execFileSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { maskWindow, windowsOf, type Extent, type Manifest } from '../../services/imaging/format.js';

const exec = promisify(execFile);
const MIB = 1024 * 1024;

export const DISK_TOOLS = {
  sgdisk: 'gdisk',
  sfdisk: 'fdisk',
  'mkfs.vfat': 'dosfstools',
  'fsck.vfat': 'dosfstools',
  mcopy: 'mtools',
  'mkfs.ntfs': 'ntfs-3g',
  'ntfs-3g': 'ntfs-3g',
  ntfsfix: 'ntfs-3g',
  'mkfs.ext4': 'e2fsprogs',
  'partclone.ntfs': 'partclone',
  zstd: 'zstd',
  losetup: 'mount',
} as const;

/** Of `tools` (program → its Debian package), those missing on this machine, as "program (package)". */
export function missingTools(tools: Record<string, string>): string[] {
  return Object.entries(tools)
    .filter(([bin]) => {
      try {
        execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
        return false;
      } catch {
        return true;
      }
    })
    .map(([bin, pkg]) => `${bin} (${pkg})`);
}

/** Tools (with their Debian package) missing on this machine; empty when disk tests can run. */
export const missingDiskTools = (): string[] => missingTools(DISK_TOOLS);

export const run = async (cmd: string, args: string[]) => (await exec(cmd, args, { maxBuffer: 64 << 20 })).stdout;

export interface PartSpec {
  number: number;
  name: string;
  fs: 'vfat' | 'none' | 'ntfs' | 'ext4';
  startMiB: number;
  sizeMiB: number;
}

/** 640 MiB: ESP 64, MSR 16, Windows 320, data the rest. */
export const SCHOOL_LAYOUT: PartSpec[] = [
  { number: 1, name: 'EFI system partition', fs: 'vfat', startMiB: 1, sizeMiB: 64 },
  { number: 2, name: 'Microsoft reserved partition', fs: 'none', startMiB: 65, sizeMiB: 16 },
  { number: 3, name: 'Basic data partition', fs: 'ntfs', startMiB: 81, sizeMiB: 320 },
  { number: 4, name: 'donnees', fs: 'ext4', startMiB: 401, sizeMiB: 238 },
];
export const SCHOOL_DISK_MIB = 640;

/** 64 MiB: NTFS 32, ext4 30. Small, so that a room of PCs restoring it at once on 2 cores stays quick (the multicast tests). */
export const SMALL_LAYOUT: PartSpec[] = [
  { number: 1, name: 'Basic data partition', fs: 'ntfs', startMiB: 1, sizeMiB: 32 },
  { number: 2, name: 'donnees', fs: 'ext4', startMiB: 33, sizeMiB: 30 },
];
export const SMALL_DISK_MIB = 64;
const TYPE = { vfat: 'ef00', none: '0c01', ntfs: '0700', ext4: '8300' } as const;

/** Deterministic pseudo-random bytes (SHA-256 in counter mode): same seed, same content. */
export function pseudoRandom(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let off = 0, i = 0; off < size; i++) {
    const block = createHash('sha256').update(`${seed}:${i}`).digest();
    off += block.copy(out, off);
  }
  return out;
}

/** Content that compresses like real programs: runs of text and of random bytes. */
export function mixedContent(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  const text = Buffer.from(`roomcast ${seed} `.repeat(64));
  const rnd = pseudoRandom(seed, Math.ceil(size / 2) + 8192);
  for (let off = 0, r = 0, i = 0; off < size; i++) {
    const src = i % 2 ? text : rnd.subarray(r, r + 8192);
    if (i % 2 === 0) r += 8192;
    off += src.copy(out, off, 0, Math.min(src.length, size - off));
  }
  return out;
}

/** Files per partition number: relative path → content. */
export type DiskFiles = Record<number, Record<string, Buffer>>;

/** The files a fresh school disk gets (a few MB each; big ones to span chunks). */
export function schoolFiles(seed = 'v1'): DiskFiles {
  return {
    1: {
      'EFI/Boot/bootx64.efi': pseudoRandom(`${seed}-bootx64`, 900_000),
      'EFI/Microsoft/Boot/bootmgfw.efi': pseudoRandom(`${seed}-bootmgfw`, 1_500_000),
      'EFI/Microsoft/Boot/BCD': mixedContent(`${seed}-bcd`, 32_768),
    },
    3: {
      'Windows/System32/ntoskrnl.exe': mixedContent(`${seed}-ntos`, 11_000_000),
      'Windows/System32/drivers/e1000.sys': pseudoRandom(`${seed}-e1000`, 400_000),
      'Program Files/MATLAB/R2025b/bin/matlab.exe': mixedContent(`${seed}-matlab`, 24_000_000),
      'Program Files/GeoGebra/geogebra.exe': pseudoRandom(`${seed}-geogebra`, 6_000_000),
      'Users/eleve/Documents/TP physique.txt': Buffer.from('Mesure de g avec un pendule simple.\r\n'.repeat(500)),
      'Users/Public/Desktop/Lisez-moi élèves.txt': Buffer.from('Ne pas éteindre les PC pendant la nuit.\r\n'),
    },
    4: {
      'logiciels/LabVIEW/setup.bin': pseudoRandom(`${seed}-labview`, 18_000_000),
      'logiciels/ArchiWizard/aw.msi': mixedContent(`${seed}-aw`, 9_000_000),
      'notes.txt': Buffer.from(`disk ${seed}\n`),
    },
  };
}

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export async function attach(file: string, offset = 0, size?: number): Promise<string> {
  const args = ['--find', '--show', '--offset', String(offset)];
  if (size !== undefined) args.push('--sizelimit', String(size));
  return (await run('losetup', [...args, file])).trim();
}

export async function detach(loop: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await run('losetup', ['--detach', loop]);
      return;
    } catch (err) {
      if (i > 30) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function withPart<T>(disk: string, p: PartSpec, fn: (loop: string) => Promise<T>): Promise<T> {
  const loop = await attach(disk, p.startMiB * MIB, p.sizeMiB * MIB);
  try {
    return await fn(loop);
  } finally {
    await detach(loop);
  }
}

async function withMount<T>(cmd: string[], loop: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-mnt-'));
  await run(cmd[0]!, [...cmd.slice(1), loop, dir]);
  try {
    return await fn(dir);
  } finally {
    await unmount(dir);
  }
}

async function unmount(dir: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await run('umount', [dir]);
      break;
    } catch (err) {
      if (i > 30) throw err;
      await new Promise((r) => setTimeout(r, 200)); // FUSE may still be busy for a moment
    }
  }
  fs.rmdirSync(dir);
}

const mountCmd = (p: PartSpec, ro: boolean): string[] =>
  p.fs === 'ntfs' ? ['ntfs-3g', '-o', ro ? 'ro' : 'rw'] : ['mount', '-t', 'ext4', '-o', ro ? 'ro' : 'rw'];

function writeTree(dir: string, files: Record<string, Buffer>): void {
  for (const [rel, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), data);
  }
}

/** Writes (adds or replaces) files on a partition of the disk. */
export async function writeFiles(disk: string, p: PartSpec, files: Record<string, Buffer>): Promise<void> {
  await withPart(disk, p, async (loop) => {
    if (p.fs === 'vfat') {
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-fat-'));
      try {
        writeTree(tmp, files);
        for (const rel of Object.keys(files)) {
          const parts = rel.split('/');
          for (let i = 1; i < parts.length; i++) await exec('mmd', ['-D', 's', '-i', loop, `::/${parts.slice(0, i).join('/')}`]).catch(() => {});
          await run('mcopy', ['-o', '-i', loop, path.join(tmp, rel), `::/${rel}`]);
        }
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
      }
    } else if (p.fs === 'ntfs' || p.fs === 'ext4') {
      await withMount(mountCmd(p, false), loop, async (dir) => writeTree(dir, files));
    }
  });
}

/** Builds the school disk on `file` (created or overwritten), with `files` on it. */
export async function buildSchoolDisk(file: string, files: DiskFiles = schoolFiles()): Promise<void> {
  await buildDisk(file, SCHOOL_DISK_MIB, SCHOOL_LAYOUT, files);
}

/**
 * Builds a GPT disk of `sizeMiB` on `file` (created or overwritten, sparse) with the partitions of
 * `layout` (same rules as SCHOOL_LAYOUT: vfat, none, ntfs, ext4), boot code in the protective MBR,
 * and `files` on them.
 */
export async function buildDisk(file: string, sizeMiB: number, layout: PartSpec[], files: DiskFiles = {}): Promise<void> {
  fs.rmSync(file, { force: true });
  fs.writeFileSync(file, '');
  fs.truncateSync(file, sizeMiB * MIB);
  const args = ['--clear'];
  for (const p of layout) args.push(`-n${p.number}:${p.startMiB * 2048}:${(p.startMiB + p.sizeMiB) * 2048 - 1}`, `-t${p.number}:${TYPE[p.fs]}`, `-c${p.number}:${p.name}`);
  await run('sgdisk', [...args, file]);
  // Boot code in the protective MBR, as GRUB or a Windows MBR would leave it.
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, pseudoRandom('mbr-boot-code', 440), 0, 440, 0);
  fs.closeSync(fd);
  for (const p of layout) {
    await withPart(file, p, async (loop) => {
      if (p.fs === 'vfat') await run('mkfs.vfat', ['-F', '32', '-n', 'ESP', loop]);
      if (p.fs === 'ntfs') await run('mkfs.ntfs', ['-Q', '-F', '-L', 'Windows', loop]);
      if (p.fs === 'ext4') await run('mkfs.ext4', ['-q', '-F', '-L', 'donnees', '-b', '4096', loop]);
    });
    if (files[p.number]) await writeFiles(file, p, files[p.number]!);
  }
}

function hashTree(dir: string, base = dir, out: Record<string, string> = {}): Record<string, string> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name === 'lost+found' || e.name === 'System Volume Information') continue;
      hashTree(p, base, out);
    } else if (e.isFile()) out[path.relative(base, p)] = sha256(fs.readFileSync(p));
  }
  return out;
}

/** Every file of every partition with a filesystem: partition number → relative path → sha256. */
export async function readDiskFiles(disk: string, layout: PartSpec[] = SCHOOL_LAYOUT): Promise<Record<number, Record<string, string>>> {
  const out: Record<number, Record<string, string>> = {};
  for (const p of layout) {
    if (p.fs === 'none') continue;
    out[p.number] = await withPart(disk, p, async (loop) => {
      if (p.fs === 'vfat') {
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-fat-'));
        try {
          await run('mcopy', ['-s', '-n', '-i', loop, '::/*', tmp]);
          return hashTree(tmp);
        } finally {
          fs.rmSync(tmp, { recursive: true, force: true });
        }
      }
      return withMount(mountCmd(p, true), loop, async (dir) => hashTree(dir));
    });
  }
  return out;
}

/** Hashes of `files` as readDiskFiles reports them. */
export function expectedHashes(files: DiskFiles): Record<number, Record<string, string>> {
  return Object.fromEntries(Object.entries(files).map(([n, fl]) => [n, Object.fromEntries(Object.entries(fl).map(([rel, b]) => [rel, sha256(b)]))]));
}

/** Filesystem checks in read-only mode; each entry is the tool's verdict (exit 0 = clean). */
export async function fsckDisk(disk: string, layout: PartSpec[] = SCHOOL_LAYOUT): Promise<Record<number, { ok: boolean; output: string }>> {
  const out: Record<number, { ok: boolean; output: string }> = {};
  for (const p of layout) {
    if (p.fs === 'none') continue;
    const cmd = p.fs === 'vfat' ? ['fsck.vfat', '-n'] : p.fs === 'ntfs' ? ['ntfsfix', '--no-action'] : ['e2fsck', '-fn'];
    out[p.number] = await withPart(disk, p, async (loop) => {
      try {
        const { stdout, stderr } = await exec(cmd[0]!, [...cmd.slice(1), loop]);
        return { ok: true, output: stdout + stderr };
      } catch (err) {
        const e = err as { stdout?: string; stderr?: string; message: string };
        return { ok: false, output: `${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}` };
      }
    });
  }
  return out;
}

// ---- larger disks (benchmarks) ---------------------------------------------------------------

/**
 * Mounts an NTFS (ntfs-3g) or ext4 partition of `disk` and runs `fn` on its directory; unmounted and
 * detached afterwards, also on failure. For writing or reading many large files without holding
 * them all in memory (writeFiles takes them as buffers).
 */
export async function withPartitionDir<T>(disk: string, p: PartSpec, fn: (dir: string) => Promise<T>, readOnly = false): Promise<T> {
  if (p.fs !== 'ntfs' && p.fs !== 'ext4') throw new Error(`withPartitionDir: partition ${p.number} is ${p.fs}; only ntfs and ext4 are mounted`);
  return withPart(disk, p, (loop) => withMount(mountCmd(p, readOnly), loop, fn));
}

/**
 * Deterministic pseudo-random bytes at the speed of AES (GB/s): the AES-256-CTR keystream keyed by
 * SHA-256(seed). Same seed, same bytes; different seeds never share content (so nothing dedups by
 * accident). pseudoRandom is the slow reference for small files.
 */
export function fastRandom(seed: string, size: number): Buffer {
  const key = createHash('sha256').update(`fastRandom:${seed}`).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}

/**
 * What a file holds, for realistic compression:
 * - random: media, archives, installers, Office documents (zip): incompressible;
 * - binary: programs and libraries: 16 KiB blocks of random bytes (25 %), of 4-bit symbols (30 %,
 *   like code and tables), of text-like 3-bit symbols (25 %) and of zeros (20 %); zstd -3 leaves
 *   about 60 % of it;
 * - text: logs, manifests, documents in plain text: 3-bit symbols, about 45 % after zstd -3.
 */
export type ContentKind = 'random' | 'binary' | 'text';

const BLOCK = 16 * 1024;

/** Deterministic content of a kind (see ContentKind), generated at hundreds of MB/s. */
export function realisticContent(seed: string, size: number, kind: ContentKind): Buffer {
  let buf = fastRandom(`${kind}:${seed}`, size);
  if (kind === 'random') return buf;
  if (buf.byteOffset % 4) buf = Buffer.from(buf); // word access needs an aligned view
  const whole = Math.floor(size / 4) * 4;
  const words = new Uint32Array(buf.buffer, buf.byteOffset, whole / 4);
  // Block kinds come from a separate stream, so they do not correlate with the block's bytes.
  const choice = fastRandom(`${kind}:${seed}:blocks`, Math.ceil(size / BLOCK));
  for (let b = 0; b * BLOCK < size; b++) {
    const r = kind === 'text' ? 200 : choice[b]!;
    const from = (b * BLOCK) / 4;
    const to = Math.min(((b + 1) * BLOCK) / 4, words.length);
    if (r < 64) continue; // random
    if (r < 141) for (let i = from; i < to; i++) words[i] = (words[i]! & 0x0f0f0f0f) | 0x40404040; // 4-bit symbols
    else if (r < 205) for (let i = from; i < to; i++) words[i] = (words[i]! & 0x07070707) + 0x61616161; // 'a'..'h'
    else words.fill(0, from, to);
  }
  // The tail bytes past the last whole word stay random.
  return buf;
}

/** Windows of `m` whose masked bytes on `file` do not hash to their chunk. */
export function windowsDiffering(file: string, m: Manifest): string[] {
  const fd = fs.openSync(file, 'r');
  const bad: string[] = [];
  try {
    const check = (where: string, base: number, ext: Extent[], limit: number, hashes: string[]) => {
      windowsOf(ext, m.chunkSize, limit).forEach((w, i) => {
        const b = Buffer.alloc(w.length);
        fs.readSync(fd, b, 0, w.length, base + w.offset);
        if (createHash('sha256').update(maskWindow(b, w.used)).digest('hex') !== hashes[i]) bad.push(`${where} @${w.offset}`);
      });
    };
    for (const p of m.partitions) check(`partition ${p.number}`, p.startBytes, p.used as Extent[], p.sizeBytes, p.chunks.map((c) => c.hash));
  } finally {
    fs.closeSync(fd);
  }
  return bad;
}
