// The reference pipeline (FOG/Clonezilla): per partition `partclone.<fs> -c | zstd -3 -T0` into a
// file (partclone.dd for the MSR), the table with sfdisk and the boot code with dd; back with
// sfdisk, dd and `zstd -dc | partclone.restore` onto loop devices of a blank disk, each partition
// flushed. Timed with GNU time (CPU seconds of the pipelines).
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { attach, detach, type PartSpec } from '../../support/disks.js';
import { MIB, round, sh, timedScript } from './common.js';
import { LAYOUT } from './disk.js';

export const PARTCLONE: Record<PartSpec['fs'], string> = { vfat: 'partclone.fat', none: 'partclone.dd', ntfs: 'partclone.ntfs', ext4: 'partclone.extfs' };

export interface RefPart {
  number: number;
  fs: PartSpec['fs'];
  file: string;
  bytes: number;
  sec: number;
  cpuSec: number | null;
  /** "Space in use" from partclone's log (null for partclone.dd). */
  usedBytes: number | null;
}

export interface RefCapture {
  sec: number;
  cpuSec: number | null;
  userSec: number | null;
  bytes: number;
  parts: RefPart[];
}

export function partcloneUsed(logFile: string): number | null {
  try {
    const text = fs.readFileSync(logFile, 'utf8');
    const used = /Space in use:.*=\s*(\d+) Blocks/.exec(text);
    const bs = /Block size:\s*(\d+) Byte/.exec(text);
    return used && bs ? Number(used[1]) * Number(bs[1]) : null;
  } catch {
    return null;
  }
}

export async function refCapture(disk: string, dir: string, children: Set<ChildProcess>, loops: Set<string>): Promise<RefCapture> {
  fs.mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  let cpu: number | null = 0;
  const table = await timedScript(`sfdisk --dump ${sh(disk)} > ${sh(path.join(dir, 'table.sfdisk'))} && dd if=${sh(disk)} of=${sh(path.join(dir, 'mbr.bin'))} bs=440 count=1 status=none`, children);
  cpu = table.cpuSec === null ? null : cpu + table.cpuSec;
  let user: number | null = table.userSec;
  const parts: RefPart[] = [];
  for (const p of LAYOUT) {
    const loop = await attach(disk, p.startMiB * MIB, p.sizeMiB * MIB);
    loops.add(loop);
    try {
      const file = path.join(dir, `part${p.number}.${p.fs}.zst`);
      const logFile = path.join(dir, `part${p.number}.log`);
      const clone = p.fs === 'none' ? `partclone.dd -s ${loop} -o - -L ${sh(logFile)}` : `${PARTCLONE[p.fs]} -c -s ${loop} -o - -L ${sh(logFile)}`;
      const t = await timedScript(`${clone} | zstd -q -3 -T0 > ${sh(file)}`, children);
      cpu = cpu === null || t.cpuSec === null ? null : cpu + t.cpuSec;
      user = user === null || t.userSec === null ? null : user + t.userSec;
      parts.push({ number: p.number, fs: p.fs, file, bytes: fs.statSync(file).size, sec: t.sec, cpuSec: t.cpuSec, usedBytes: p.fs === 'none' ? p.sizeMiB * MIB : partcloneUsed(logFile) });
    } finally {
      await detach(loop);
      loops.delete(loop);
    }
  }
  return { sec: round((performance.now() - t0) / 1000, 3), cpuSec: cpu === null ? null : round(cpu), userSec: user === null ? null : round(user), bytes: parts.reduce((s, p) => s + p.bytes, 0), parts };
}

export interface RefRestore {
  sec: number;
  cpuSec: number | null;
  userSec: number | null;
  parts: Array<{ number: number; sec: number }>;
}

export async function refRestore(dir: string, target: string, children: Set<ChildProcess>, loops: Set<string>): Promise<RefRestore> {
  const t0 = performance.now();
  const dump = fs
    .readFileSync(path.join(dir, 'table.sfdisk'), 'utf8')
    .split('\n')
    .filter((l) => !/^device:/.test(l))
    .join('\n');
  fs.writeFileSync(path.join(dir, 'table.portable'), dump);
  const table = await timedScript(
    `sfdisk --quiet --no-reread --no-tell-kernel ${sh(target)} < ${sh(path.join(dir, 'table.portable'))} && dd if=${sh(path.join(dir, 'mbr.bin'))} of=${sh(target)} bs=440 count=1 conv=notrunc status=none`,
    children,
  );
  let cpu: number | null = table.cpuSec;
  let user: number | null = table.userSec;
  const parts: Array<{ number: number; sec: number }> = [];
  for (const p of LAYOUT) {
    const loop = await attach(target, p.startMiB * MIB, p.sizeMiB * MIB);
    loops.add(loop);
    try {
      const file = path.join(dir, `part${p.number}.${p.fs}.zst`);
      const logFile = path.join(dir, `restore${p.number}.log`);
      const restore = p.fs === 'none' ? `partclone.dd -s - -o ${loop} -L ${sh(logFile)}` : `partclone.restore -s - -o ${loop} -L ${sh(logFile)}`;
      // Flushed like roomcast's restore (fsync of the disk): blockdev --flushbufs reaches the backing file.
      const t = await timedScript(`zstd -q -dc ${sh(file)} | ${restore} && blockdev --flushbufs ${loop}`, children);
      cpu = cpu === null || t.cpuSec === null ? null : cpu + t.cpuSec;
      user = user === null || t.userSec === null ? null : user + t.userSec;
      parts.push({ number: p.number, sec: t.sec });
    } finally {
      await detach(loop);
      loops.delete(loop);
    }
  }
  return { sec: round((performance.now() - t0) / 1000, 3), cpuSec: cpu === null ? null : round(cpu), userSec: user === null ? null : round(user), parts };
}
