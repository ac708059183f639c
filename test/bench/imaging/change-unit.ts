// Which change unit pays for a differential restore (issue 11, deliverable 4): on the bench's disk,
// how many bytes a 5 % file change touches at 4 MiB / 1 MiB / 256 KiB / 64 KiB windows, and what
// each unit costs in store size (zstd -3 per unit) and requests.
//
//   npx tsx test/bench/imaging/change-unit.ts            (root; the bench's tools; ~3 minutes)
//   BENCH_IMAGING_SCALE=0.2 npx tsx test/bench/imaging/change-unit.ts
//
// Every 64 KiB window holding used data is hashed (masked as a capture does) before and after the
// bench's version-2 change; a larger unit changed when any 64 KiB window inside it changed (or
// appeared, or went). Prints a table; writes nothing to results/.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { maskWindow, windowsOf, type Extent } from '../../../services/imaging/format.js';
import { readFully } from '../../../services/imaging/client/engine.js';
import { readLayout } from '../../../services/imaging/client/layout.js';
import { probe, usedExtents, withLoop } from '../../../services/imaging/client/partition.js';
import { describeDisk } from '../../../services/imaging/client/disk.js';
import { attach, buildDisk, detach, schoolFiles } from '../../support/disks.js';
import { execFileP, mb } from './common.js';
import { DISK_MIB, LAYOUT, pickChanges, planFiles, writePlanned, type Hashes } from './disk.js';

const BASE = 64 * 1024;
const UNITS = [4 << 20, 1 << 20, 256 << 10, 64 << 10];

/** Absolute offset of every used 64 KiB window -> [hash, used bytes]. */
async function scan(file: string): Promise<Map<number, [string, number]>> {
  const out = new Map<number, [string, number]>();
  const loop = await attach(file);
  try {
    const disk = await describeDisk(loop);
    const layout = await readLayout(loop, disk.sizeBytes);
    const fh = await fs.promises.open(loop, 'r');
    try {
      for (const p of layout.partitions) {
        const used = await withLoop(loop, p.startBytes, p.sizeBytes, async (l) => usedExtents(l, (await probe(l)).filesystem, p.sizeBytes));
        const buf = Buffer.alloc(BASE);
        for (const w of windowsOf(used as Extent[], BASE, p.sizeBytes)) {
          const b = maskWindow(await readFully(fh, buf.subarray(0, w.length), p.startBytes + w.offset), w.used);
          out.set(p.startBytes + w.offset, [createHash('sha256').update(b).digest('hex'), w.used.reduce((s, [, n]) => s + n, 0)]);
        }
      }
    } finally {
      await fh.close();
    }
  } finally {
    await detach(loop);
  }
  return out;
}

/** zstd -3 of `sample` cut into frames of `unit` bytes (one file each, one zstd process). */
async function compressedAt(sample: Buffer, unit: number, dir: string): Promise<number> {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (let o = 0; o < sample.length; o += unit) fs.writeFileSync(path.join(dir, String(o)), sample.subarray(o, o + unit));
  await execFileP('zstd', ['-q', '-3', '--rm', '-r', dir]);
  return fs.readdirSync(dir).reduce((s, f) => s + fs.statSync(path.join(dir, f)).size, 0);
}

async function main(): Promise<void> {
  const scale = Number(process.env.BENCH_IMAGING_SCALE ?? 1);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-change-unit-'));
  const disk = path.join(tmp, 'master.img');
  try {
    const plan = planFiles(scale);
    await buildDisk(disk, DISK_MIB, LAYOUT, { 1: schoolFiles('bench')[1]! });
    const hashes: Hashes = {};
    await writePlanned(disk, plan, '', hashes);
    await execFileP('sync', []);
    const v1 = await scan(disk);
    const used1 = [...v1.values()].reduce((s, [, u]) => s + u, 0);
    const changes = pickChanges(plan, used1 * 0.05);
    await writePlanned(disk, changes, '-v2', hashes);
    await execFileP('sync', []);
    const v2 = await scan(disk);
    const changedFiles = changes.reduce((s, f) => s + f.size, 0);
    console.log(`used ${mb(used1)} MB; version 2 rewrote ${changes.length} files, ${mb(changedFiles)} MB (${((changedFiles / used1) * 100).toFixed(1)} %)`);

    // A sample for compression: every 16th 4 MiB unit's used data, masked (what the store holds).
    const loop = await attach(disk);
    const parts: Buffer[] = [];
    try {
      const fh = await fs.promises.open(loop, 'r');
      const starts = [...v2.keys()].filter((o) => o % (4 << 20) === 0);
      for (const o of starts.filter((_, i) => i % 16 === 0)) {
        const b = await readFully(fh, Buffer.alloc(4 << 20), o);
        for (let s = 0; s < b.length; s += BASE) if (!v2.has(o + s)) b.fill(0, s, s + BASE);
        parts.push(b);
      }
      await fh.close();
    } finally {
      await detach(loop);
    }
    const sample = Buffer.concat(parts);

    console.log('| unit | windows (v2) | changed windows | bytes in changed windows, MB | ÷ used | sample zstd -3, % of raw |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
    for (const unit of UNITS) {
      const group = (m: Map<number, [string, number]>) => {
        const g = new Map<number, string[]>();
        for (const [o, [h]] of [...m.entries()].sort((a, b) => a[0] - b[0])) {
          const k = Math.floor(o / unit);
          (g.get(k) ?? g.set(k, []).get(k)!).push(`${o}:${h}`);
        }
        return g;
      };
      const g1 = group(v1);
      const g2 = group(v2);
      let changed = 0;
      let bytes = 0;
      for (const [k, list] of g2) {
        if (g1.get(k)?.join() === list.join()) continue;
        changed++;
        bytes += list.length * BASE;
      }
      const z = await compressedAt(sample, unit, path.join(tmp, 'z'));
      console.log(`| ${unit >> 10} KiB | ${g2.size} | ${changed} | ${mb(bytes)} | ${(bytes / used1).toFixed(3)} | ${((z / sample.length) * 100).toFixed(1)} |`);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
