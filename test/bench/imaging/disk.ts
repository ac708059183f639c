// The benchmark's disk: its layout (4.1 GiB GPT), the files written onto it (deterministic, ~2.2 GB
// at scale 1), the files rewritten for version 2, and the release of loop devices left behind.
import fs from 'node:fs';
import path from 'node:path';
import { detach, realisticContent, sha256, withPartitionDir, type ContentKind, type PartSpec } from '../../support/disks.js';
import { execFileP } from './common.js';

/** 4.1 GiB: ESP 100 MiB, MSR 16 MiB, Windows 2.5 GiB, data 1.5 GiB. */
export const LAYOUT: PartSpec[] = [
  { number: 1, name: 'EFI system partition', fs: 'vfat', startMiB: 1, sizeMiB: 100 },
  { number: 2, name: 'Microsoft reserved partition', fs: 'none', startMiB: 101, sizeMiB: 16 },
  { number: 3, name: 'Basic data partition', fs: 'ntfs', startMiB: 117, sizeMiB: 2560 },
  { number: 4, name: 'donnees', fs: 'ext4', startMiB: 2677, sizeMiB: 1536 },
];
export const DISK_MIB = 4216;

export interface PlannedFile {
  part: number;
  rel: string;
  size: number;
  kind: ContentKind;
  seed: string;
}

/** mulberry32: a small deterministic PRNG for sizes and choices. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The files of the NTFS (3) and ext4 (4) partitions: ~1.31 GB and ~0.9 GB at scale 1. Sizes are
 * log-uniform within each group, so there are many small files and a few large ones.
 */
export function planFiles(scale: number): PlannedFile[] {
  const r = prng(20261129);
  const out: PlannedFile[] = [];
  const group = (part: number, dir: string, ext: string, kind: ContentKind, min: number, max: number, totalBytes: number, perDir = 200) => {
    let sum = 0;
    for (let i = 0; sum < totalBytes * scale; i++) {
      const size = Math.round(min * (max / min) ** r());
      const rel = `${dir}/${String(Math.floor(i / perDir)).padStart(2, '0')}/f${String(i).padStart(5, '0')}.${ext}`;
      out.push({ part, rel, size, kind, seed: `${part}:${rel}` });
      sum += size;
    }
  };
  // Windows (NTFS)
  group(3, 'Windows/System32', 'dll', 'binary', 16 << 10, 24 << 20, 560e6);
  group(3, 'Program Files/Apps', 'exe', 'binary', 64 << 10, 40 << 20, 420e6);
  group(3, 'Windows/Installer', 'msi', 'random', 4 << 20, 48 << 20, 200e6);
  group(3, 'Windows/WinSxS/Manifests', 'manifest', 'text', 1 << 10, 16 << 10, 12e6, 500);
  group(3, 'Windows/Logs', 'log', 'text', 64 << 10, 8 << 20, 60e6);
  group(3, 'Users/eleve/Documents', 'docx', 'random', 16 << 10, 4 << 20, 60e6);
  // Data (ext4)
  group(4, 'logiciels/installeurs', 'bin', 'random', 8 << 20, 80 << 20, 380e6);
  group(4, 'logiciels/lib', 'so', 'binary', 32 << 10, 16 << 20, 300e6);
  group(4, 'partages/classes', 'odt', 'random', 32 << 10, 4 << 20, 150e6);
  group(4, 'partages/textes', 'txt', 'text', 4 << 10, 1 << 20, 50e6);
  group(4, 'config', 'conf', 'text', 200, 8 << 10, 4e6, 500);
  return out;
}

export type Hashes = Record<number, Record<string, string>>;

/** Writes `files` onto their partitions (one mount each), returns their hashes. */
export async function writePlanned(disk: string, files: PlannedFile[], suffix: string, hashes: Hashes): Promise<void> {
  for (const p of LAYOUT.filter((x) => x.fs === 'ntfs' || x.fs === 'ext4')) {
    const mine = files.filter((f) => f.part === p.number);
    if (!mine.length) continue;
    await withPartitionDir(disk, p, async (dir) => {
      for (const f of mine) {
        const data = realisticContent(f.seed + suffix, f.size, f.kind);
        const full = path.join(dir, f.rel);
        fs.mkdirSync(path.dirname(full), { recursive: true });
        fs.writeFileSync(full, data);
        (hashes[p.number] ??= {})[f.rel] = sha256(data);
      }
    });
  }
}

/** Files to rewrite for version 2: a seeded pick of whole files totalling `target` bytes (±2 %). */
export function pickChanges(files: PlannedFile[], target: number): PlannedFile[] {
  const r = prng(5);
  const order = files.map((f) => ({ f, k: r() })).sort((a, b) => a.k - b.k).map((x) => x.f);
  const out: PlannedFile[] = [];
  let sum = 0;
  for (const f of order) {
    if (sum >= target * 0.98) break;
    if (sum + f.size > target * 1.02) continue;
    out.push(f);
    sum += f.size;
  }
  return out;
}

// ---- loop devices ------------------------------------------------------------------------------

/**
 * Detaches every loop device backed by a file under `tmp` (and the loops the client made over those),
 * unmounting what is mounted from them first. Never touches anyone else's loop devices.
 */
export async function releaseDevices(tmp: string, log: (m: string) => void): Promise<void> {
  let list: Array<{ name: string; 'back-file': string | null }> = [];
  try {
    const { stdout } = await execFileP('losetup', ['--list', '--json', '--output', 'NAME,BACK-FILE']);
    list = stdout.trim() ? ((JSON.parse(stdout) as { loopdevices?: typeof list }).loopdevices ?? []) : [];
  } catch (err) {
    log(`imaging: cannot list loop devices: ${(err as Error).message}`);
    return;
  }
  const mine: string[] = [];
  for (let grew = true; grew; ) {
    grew = false;
    for (const l of list) {
      const back = (l['back-file'] ?? '').replace(/ \(deleted\)$/, '').trim();
      if (!mine.includes(l.name) && (back.startsWith(`${tmp}/`) || mine.includes(back))) {
        mine.push(l.name);
        grew = true;
      }
    }
  }
  if (!mine.length) return;
  const mounts = fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[0] && mine.includes(f[0]));
  for (const m of mounts) {
    const dir = m[1]!.replace(/\\040/g, ' ');
    await execFileP('umount', [dir]).then(
      () => fs.promises.rmdir(dir).catch(() => {}),
      (e: Error) => log(`imaging: umount ${dir}: ${e.message}`),
    );
  }
  for (const l of [...mine].reverse()) await detach(l).catch((e: Error) => log(`imaging: losetup -d ${l}: ${e.message}`));
  log(`imaging: released ${mine.length} loop device(s)${mounts.length ? ` and ${mounts.length} mount(s)` : ''} left behind`);
}
