// Shared by the files of the imaging benchmark (index.ts): paths, number formatting, child processes
// timed with GNU time, the CPU and memory of a process, and small probes (Redis reachable, du).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const name = 'imaging';

export const execFileP = promisify(execFile);
export const ROOT_DIR = fileURLToPath(new URL('../../../', import.meta.url));
export const MIB = 1024 * 1024;

export const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;
export const mb = (bytes: number) => round(bytes / 1e6, 1);
/** MB, or null (shown as –) when a failed run reported no figure. */
export const mbOf = (bytes: number | undefined) => (bytes === undefined ? null : mb(bytes));
export const perSec = (bytes: number, sec: number) => (sec > 0 ? round(bytes / 1e6 / sec, 1) : null);
export const div = (a: number | null, b: number | null, digits = 2) => (a === null || b === null || b === 0 ? null : round(a / b, digits));
export const load = () => os.loadavg().map((l) => round(l, 2));

// ---- processes, timing ------------------------------------------------------------------------

export interface Timed {
  sec: number;
  /** user + system CPU seconds of the command and its children (GNU time), null without /usr/bin/time. */
  cpuSec: number | null;
  /** Of which user CPU seconds (the rest is the kernel's work for it: reads, writes, copies). */
  userSec: number | null;
  maxRssMb: number | null;
  stdout: string;
  stderr: string;
}

export const HAVE_TIME = fs.existsSync('/usr/bin/time');

/** Runs a bash script (pipefail) under GNU time; rejects with its stderr tail when it fails. */
export async function timedScript(script: string, children: Set<ChildProcess>): Promise<Timed> {
  const argv = HAVE_TIME ? ['/usr/bin/time', '-f', 'RCTIME %e %U %S %M', 'bash', '-o', 'pipefail', '-c', script] : ['bash', '-o', 'pipefail', '-c', script];
  return timedSpawn(argv, children);
}

export function timedSpawn(argv: string[], children: Set<ChildProcess>, onLine?: (line: string) => void): Promise<Timed> {
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
      const userSec = m ? round(Number(m[2])) : null;
      const maxRssMb = m ? Math.round(Number(m[4]) / 1024) : null;
      if (code !== 0) {
        const tail = stderr.replace(/\r/g, '\n').split('\n').filter((l) => l.trim()).slice(-8).join('\n');
        reject(Object.assign(new Error(`${argv.slice(HAVE_TIME && argv[0] === '/usr/bin/time' ? 3 : 0).join(' ').slice(0, 300)} failed (${signal ?? `exit ${code}`}):\n${tail}\n${stdout.slice(-2000)}`), { code }));
        return;
      }
      resolve({ sec: round(sec, 3), cpuSec, userSec, maxRssMb, stdout, stderr });
    });
  });
}

export const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** CPU seconds of a process and of its reaped children (the api's zstd programs), from /proc/<pid>/stat (USER_HZ = 100). */
export function cpuOf(pid: number): number {
  const c = cpuSplitOf(pid);
  return c.user + c.system;
}

/** CPU seconds of a process and its waited-for children, user and system apart. */
export function cpuSplitOf(pid: number): { user: number; system: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: (Number(f[11]) + Number(f[13])) / 100, system: (Number(f[12]) + Number(f[14])) / 100 };
}

/** Peak resident memory of a process so far (VmHWM), MB. */
export function peakRssMb(pid: number): number | null {
  const m = /VmHWM:\s*(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : null;
}

export function reachable(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect({ host: u.hostname, port: Number(u.port || 6379) }, () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
    s.setTimeout(2000, () => (s.destroy(), resolve(false)));
  });
}

export async function duBytes(dir: string): Promise<DirSize> {
  const apparent = Number((await execFileP('du', ['-sb', dir])).stdout.split('\t')[0]);
  const allocated = Number((await execFileP('du', ['-sk', dir])).stdout.split('\t')[0]) * 1024;
  let files = 0;
  for (const sub of fs.readdirSync(dir)) files += fs.readdirSync(path.join(dir, sub)).length;
  return { apparent, allocated, files };
}

/** What du says of a directory, and the files in its subdirectories (the image store's chunks). */
export interface DirSize {
  apparent: number;
  allocated: number;
  files: number;
}
