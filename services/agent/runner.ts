// Runs a package's silent install (issue 16 item 5): the command line with its property values filled
// in, run by the shell in the folder holding the files; then, when the package names processes to wait
// for (a launcher that exits at once, SolidWorks' sldIM.exe working on), until none of them runs. The
// whole of it is bounded by the package's timeout: at the timeout the launcher's process tree and the
// named processes are killed. The end is mapped to an outcome (exit.ts).
import { spawn } from 'node:child_process';
import type { PackageManifest, PropertyValue } from '../software/package.js';
import { fill } from '../software/recipe.js';
import { installOutcome, type InstallOutcome, type RunEnd } from './exit.js';
import type { ProcessTable } from './processes.js';

export interface RunSpec {
  /** The command line as the shell takes it (cmd.exe on Windows, sh elsewhere). */
  command: string;
  cwd: string;
  timeoutMs: number;
  /** Image names to wait for after the launcher exits. */
  waitFor: readonly string[];
  /** How often the named processes are looked for. */
  pollMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface RunResult {
  end: RunEnd;
  /** The last bytes the launcher wrote (stdout and stderr), for the report; secrets may be in the command, never here by us. */
  outputTail: string;
  elapsedMs: number;
}

const TAIL = 4096;

export async function runCommand(spec: RunSpec, table: ProcessTable): Promise<RunResult> {
  const started = Date.now();
  const deadline = started + spec.timeoutMs;
  const pollMs = spec.pollMs ?? 1000;
  let tail = '';
  const keep = (b: Buffer) => {
    tail = (tail + b.toString('utf8')).slice(-TAIL);
  };
  const result = (end: RunEnd): RunResult => ({ end, outputTail: tail, elapsedMs: Date.now() - started });
  const timeout = async (pid: number | undefined): Promise<RunResult> => {
    if (pid !== undefined) await table.killTree(pid);
    for (const name of spec.waitFor) for (const p of await table.find(name)) await table.killTree(p);
    return result({ kind: 'timeout', minutes: Math.round(spec.timeoutMs / 60_000) });
  };

  const child = spawn(spec.command, { cwd: spec.cwd, shell: true, windowsHide: true, stdio: ['ignore', 'pipe', 'pipe'], env: spec.env ?? process.env });
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  // 'exit', not 'close': a process left working may hold the pipes open long after the launcher ended.
  const ended = new Promise<RunEnd>((resolve) => {
    child.once('error', (e) => resolve({ kind: 'spawn_failed', message: e.message }));
    child.once('exit', (code, signal) => resolve(code !== null ? { kind: 'exited', code } : { kind: 'spawn_failed', message: `ended by ${signal}` }));
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), spec.timeoutMs);
  });
  const first = await Promise.race([ended, timedOut]);
  clearTimeout(timer);
  if (first === 'timeout') {
    const r = await timeout(child.pid);
    await ended;
    return r;
  }
  // Let go of pipes a working process still holds.
  child.stdout.destroy();
  child.stderr.destroy();
  if (first.kind !== 'exited') return result(first);
  for (;;) {
    const running = (await Promise.all(spec.waitFor.map((n) => table.find(n)))).flat();
    if (running.length === 0) return result(first);
    if (Date.now() >= deadline) return timeout(undefined);
    await new Promise((r) => setTimeout(r, Math.min(pollMs, Math.max(0, deadline - Date.now()))));
  }
}

/** Installs a package from the folder holding its files: fills the command, runs it, maps the end. */
export async function runInstall(
  pkg: Pick<PackageManifest, 'install' | 'properties' | 'exitCodes'>,
  values: Record<string, PropertyValue>,
  cwd: string,
  table: ProcessTable,
  opts: { pollMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<InstallOutcome & { outputTail: string; elapsedMs: number }> {
  const r = await runCommand({ command: fill(pkg, pkg.install.command, values), cwd, timeoutMs: pkg.install.timeoutMinutes * 60_000, waitFor: pkg.install.waitForProcesses, ...opts }, table);
  return { ...installOutcome(pkg, r.end), outputTail: r.outputTail, elapsedMs: r.elapsedMs };
}
