// The checks of every restore: each file read back and compared by SHA-256 with what was written,
// fsck of each filesystem; for a failed restore, the windows of the disk that differ from the image;
// and how many windows of an image repeat another's content.
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { allChunks, maskWindow, windowsOf, type Extent, type Manifest } from '../../../services/imaging/format.js';
import { fsckDisk, readDiskFiles, sha256 } from '../../support/disks.js';
import { round } from './common.js';
import { LAYOUT, type Hashes } from './disk.js';

export interface Check {
  ok: boolean;
  files: number;
  mismatched: string[];
  missing: string[];
  extra: string[];
  fsck: Record<number, boolean>;
  /** Output of the fsck runs that failed (trimmed). */
  fsckFailures: Record<number, string>;
  /** partclone.ntfs does not copy NTFS's backup boot sector (the partition's last sector): ntfsfix then says "alternate boot sector... BAD". */
  ntfsBackupBootSectorBad: boolean;
  sec: number;
}

/** ntfsfix's verdict when everything is fine except the backup boot sector (a known partclone.ntfs limitation; chkdsk rewrites it). */
export const onlyBackupBootBad = (out: string) => /Checking the alternate boot sector\.\.\. BAD/.test(out) && /Processing of \$MFT and \$MFTMirr completed successfully/.test(out);

/**
 * Reads back every file and runs fsck. With `tolerateNtfsBackupBoot` (the reference pipeline), a bad
 * NTFS backup boot sector is recorded but does not fail the check.
 */
export async function checkDisk(disk: string, expected: Hashes, tolerateNtfsBackupBoot = false): Promise<Check> {
  const t0 = performance.now();
  const got = await readDiskFiles(disk, LAYOUT);
  const mismatched: string[] = [];
  const missing: string[] = [];
  const extra: string[] = [];
  let files = 0;
  for (const p of LAYOUT.filter((x) => x.fs !== 'none')) {
    const want = expected[p.number] ?? {};
    const have = got[p.number] ?? {};
    for (const [rel, h] of Object.entries(want)) {
      files++;
      if (!(rel in have)) missing.push(`${p.number}:${rel}`);
      else if (have[rel] !== h) mismatched.push(`${p.number}:${rel}`);
    }
    for (const rel of Object.keys(have)) if (!(rel in want)) extra.push(`${p.number}:${rel}`);
  }
  const fsckResult = await fsckDisk(disk, LAYOUT);
  const fsck = Object.fromEntries(Object.entries(fsckResult).map(([n, r]) => [n, r.ok]));
  const fsckFailures = Object.fromEntries(Object.entries(fsckResult).filter(([, r]) => !r.ok).map(([n, r]) => [n, r.output.trim().slice(-600)]));
  const ntfs = LAYOUT.find((p) => p.fs === 'ntfs')!.number;
  const ntfsBackupBootSectorBad = !fsckResult[ntfs]!.ok && onlyBackupBootBad(fsckResult[ntfs]!.output);
  const fsckOk = Object.entries(fsck).every(([n, v]) => v || (tolerateNtfsBackupBoot && Number(n) === ntfs && ntfsBackupBootSectorBad));
  const ok = !mismatched.length && !missing.length && !extra.length && fsckOk;
  return { ok, files, mismatched: mismatched.slice(0, 20), missing: missing.slice(0, 20), extra: extra.slice(0, 20), fsck, fsckFailures, ntfsBackupBootSectorBad, sec: round((performance.now() - t0) / 1000, 1) };
}

export const checkText = (c: Check) =>
  c.ok
    ? `ok (${c.files} files hash-equal, ${c.ntfsBackupBootSectorBad ? 'fsck clean except the NTFS backup boot sector, which partclone.ntfs does not copy' : 'fsck clean'})`
    : `FAILED: ${c.mismatched.length} differ, ${c.missing.length} missing, ${c.extra.length} extra, fsck ${JSON.stringify(c.fsck)}${c.mismatched.length ? ` (e.g. ${c.mismatched[0]})` : ''}`;

export interface BadWindow {
  where: string;
  offset: number;
  hash: string;
  /** Windows of the image with this same content (a restore fetches it once and writes it to each). */
  sameHashWindows: number;
}

export interface RestoreFailure {
  label: string;
  error: string;
  badWindows: BadWindow[];
  badWindowCount: number;
  retry: { ok: boolean; sec: number; fetchedChunks: number | null; error: string | null };
}

export function regionsOf(m: Manifest) {
  return [
    { where: 'boot area', start: 0, used: m.bootArea.write as Extent[], limit: m.bootArea.length, chunks: m.bootArea.chunks },
    ...m.partitions.map((p) => ({ where: `partition ${p.number}`, start: p.startBytes, used: p.used as Extent[], limit: p.sizeBytes, chunks: p.chunks })),
  ];
}

/** The windows of `disk` whose masked content does not hash to the image's chunk (what a failed restore left wrong). */
export async function badWindows(disk: string, m: Manifest): Promise<BadWindow[]> {
  const counts = new Map<string, number>();
  for (const c of allChunks(m)) counts.set(c.hash, (counts.get(c.hash) ?? 0) + 1);
  const out: BadWindow[] = [];
  const fh = await fs.promises.open(disk, 'r');
  try {
    const buf = Buffer.alloc(m.chunkSize);
    for (const r of regionsOf(m)) {
      const ws = windowsOf(r.used, m.chunkSize, r.limit);
      for (let i = 0; i < ws.length; i++) {
        const w = ws[i]!;
        const b = buf.subarray(0, w.length);
        b.fill(0);
        await fh.read(b, 0, w.length, r.start + w.offset);
        const c = r.chunks[i]!;
        if (sha256(maskWindow(b, w.used)) !== c.hash) out.push({ where: r.where, offset: w.offset, hash: c.hash.slice(0, 16), sameHashWindows: counts.get(c.hash) ?? 0 });
      }
    }
  } finally {
    await fh.close();
  }
  return out;
}

/** Windows whose content repeats an earlier window of the same image: all zero (inside the used extents), or other. */
export function duplicateWindows(m: Manifest): { windows: number; distinct: number; repeatedZero: number; repeatedOther: number } {
  const zero = new Set<string>();
  const seen = new Set<string>();
  let repeatedZero = 0;
  let repeatedOther = 0;
  const chunks = allChunks(m);
  for (const len of new Set(chunks.map((c) => c.length))) zero.add(sha256(Buffer.alloc(len)));
  for (const c of chunks) {
    if (seen.has(c.hash)) {
      if (zero.has(c.hash)) repeatedZero++;
      else repeatedOther++;
    }
    seen.add(c.hash);
  }
  return { windows: chunks.length, distinct: seen.size, repeatedZero, repeatedOther };
}
