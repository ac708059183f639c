// Micro-measures of what one uploaded chunk costs the api besides the network: decompressing it for
// the hash check (a zstd process per chunk under Node 20, one zstd process for all, node:zlib under
// Node 22) and writing it durably.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { MIB, ROOT_DIR, execFileP, mb, round, sh, timedScript } from './common.js';

export interface ChunkCosts {
  chunks: number;
  compressedMb: number;
  rawMb: number;
  /** services/imaging/zstd.ts in a fresh Node 20 process (one `zstd -d` process per chunk, as the api on upload), one at a time. */
  perChunkSpawnSec: number;
  /** RSS of that process, MB. */
  spawnerRssMb: number;
  /** The same, once that process holds `ballastMb` more memory: fork() copies its page tables. */
  perChunkSpawnBigSec: number;
  spawnerBigRssMb: number;
  /** The same frames through one `zstd -d` process. */
  oneProcessSec: number;
  /** The same frames with node:zlib's zstdDecompressSync under Node 22 (null without it); a v3 block container frame by frame (node:zlib stops after the first frame). */
  nodeZlibSec: number | null;
  spawnOverheadMsPerChunk: number;
  /** Writing the frames as the store does (tmp, fsync, rename, fsync dir) and without the fsyncs. */
  durableWriteSec: number;
  plainWriteSec: number;
}

export const BALLAST_MB = 768;

/**
 * What one uploaded chunk costs the api besides the network, measured on 40 stored frames with data
 * (evenly spread over the store): decompressing it for the hash check (per-chunk zstd process under
 * Node 20, one zstd process for all, node:zlib under Node 22) and writing it durably.
 */
export async function measureChunkCosts(chunksDir: string, tmp: string, node22: string | null, children: Set<ChildProcess>): Promise<ChunkCosts | null> {
  const files: Array<{ f: string; size: number }> = [];
  for (const sub of fs.readdirSync(chunksDir).sort()) {
    for (const f of fs.readdirSync(path.join(chunksDir, sub)).sort()) {
      const size = fs.statSync(path.join(chunksDir, sub, f)).size;
      if (size > 256 * 1024) files.push({ f: path.join(chunksDir, sub, f), size }); // not the zero or nearly empty windows
    }
  }
  if (files.length < 8) return null;
  const n = Math.min(40, files.length);
  const pick = Array.from({ length: n }, (_, i) => files[Math.floor((i * files.length) / n)]!);
  const frames = pick.map((p) => fs.readFileSync(p.f));
  const cat = path.join(tmp, 'frames.zst');
  fs.writeFileSync(cat, Buffer.concat(frames));
  const sizes = JSON.stringify(frames.map((f) => f.length));

  const spawner = path.join(tmp, 'spawn-test.mjs');
  fs.writeFileSync(
    spawner,
    [
      `import fs from 'node:fs';`,
      `import { zstdDecompress } from ${JSON.stringify(path.join(ROOT_DIR, 'services/imaging/zstd.ts'))};`,
      `const b = fs.readFileSync(${JSON.stringify(cat)}); const sizes = ${sizes};`,
      `const frames = []; let o = 0; for (const s of sizes) { frames.push(b.subarray(o, o + s)); o += s; }`,
      `const pass = async () => { let raw = 0; const t = performance.now(); for (const f of frames) raw += (await zstdDecompress(f, 64 << 20)).length; return { sec: (performance.now() - t) / 1000, raw, rss: process.memoryUsage().rss }; };`,
      `await pass();`,
      `const small = await pass();`,
      `const ballast = []; for (let i = 0; i < ${BALLAST_MB / 64}; i++) ballast.push(Buffer.alloc(64 << 20, 1));`,
      `const big = await pass();`,
      `process.stdout.write(JSON.stringify({ small, big, kept: ballast.length }) + '\\n');`,
    ].join('\n'),
  );
  const spawned = JSON.parse((await execFileP(process.execPath, ['--import', 'tsx', spawner], { cwd: ROOT_DIR, maxBuffer: 1 << 20 })).stdout.trim().split('\n').at(-1)!) as {
    small: { sec: number; raw: number; rss: number };
    big: { sec: number; raw: number; rss: number };
  };
  const one = await timedScript(`zstd -q -dc ${sh(cat)} > /dev/null`, children);
  let nodeZlibSec: number | null = null;
  if (node22) {
    const script = `const fs=require('fs'),zlib=require('zlib');const b=fs.readFileSync(${JSON.stringify(cat)});const sizes=${sizes};let o=0;const t=performance.now();for(const s of sizes){const c=b.subarray(o,o+s);o+=s;if((c.readUInt32LE(0)&0xfffffff0)===0x184d2a50){const n=8+c.readUInt32LE(4);let p=n;for(let q=16;q<n;q+=4){const l=c.readUInt32LE(q);zlib.zstdDecompressSync(c.subarray(p,p+l));p+=l}}else zlib.zstdDecompressSync(c)}console.log((performance.now()-t)/1000)`;
    nodeZlibSec = Number((await execFileP(node22, ['-e', script])).stdout.trim());
  }
  const wdir = path.join(tmp, 'write-test');
  fs.mkdirSync(wdir, { recursive: true });
  const write = async (durable: boolean) => {
    const t0 = performance.now();
    for (let i = 0; i < frames.length; i++) {
      const tmpName = path.join(wdir, `.t${i}`);
      const fh = await fs.promises.open(tmpName, 'wx');
      await fh.writeFile(frames[i]!);
      if (durable) await fh.sync();
      await fh.close();
      await fs.promises.rename(tmpName, path.join(wdir, `c${i}${durable ? 'd' : 'p'}`));
      if (durable) {
        const d = await fs.promises.open(wdir, 'r');
        await d.sync();
        await d.close();
      }
    }
    return (performance.now() - t0) / 1000;
  };
  const plainWriteSec = await write(false);
  const durableWriteSec = await write(true);
  fs.rmSync(wdir, { recursive: true, force: true });
  fs.rmSync(cat, { force: true });
  return {
    chunks: frames.length,
    compressedMb: mb(frames.reduce((s, f) => s + f.length, 0)),
    rawMb: mb(spawned.small.raw),
    perChunkSpawnSec: round(spawned.small.sec, 3),
    spawnerRssMb: Math.round(spawned.small.rss / MIB),
    perChunkSpawnBigSec: round(spawned.big.sec, 3),
    spawnerBigRssMb: Math.round(spawned.big.rss / MIB),
    oneProcessSec: one.sec,
    nodeZlibSec: nodeZlibSec === null ? null : round(nodeZlibSec, 3),
    spawnOverheadMsPerChunk: round(((spawned.small.sec - one.sec) / frames.length) * 1000, 1),
    durableWriteSec: round(durableWriteSec, 3),
    plainWriteSec: round(plainWriteSec, 3),
  };
}
