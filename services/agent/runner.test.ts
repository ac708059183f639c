// Real child processes (sh and node on Linux): the runner's exit codes, timeout and waiting. Linux
// exit statuses are 8 bits, so 3010, 1641 and 1618 cannot come from a real process here: their
// meaning is tested in exit.test.ts, and a package's extra code (194) stands for them below.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { linuxProcesses } from './processes.js';
import { runCommand, runInstall } from './runner.js';

const dir = mkdtempSync(join(tmpdir(), 'roomcast-agent-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const tag = Math.random().toString(36).slice(2, 8);
/** A copy of sleep under a per-run image name, as an installer's worker process (sldIM.exe). */
const worker = (n: string) => {
  const name = `w${tag}${n}.exe`;
  copyFileSync('/bin/sleep', join(dir, name));
  return name;
};
const gone = (pid: number) => {
  if (!existsSync(`/proc/${pid}`)) return true;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
};
const pkg = (command: string, extra: Array<{ code: number; outcome: 'retry' | 'success' }> = []) => ({
  install: { command, timeoutMinutes: 1, waitForProcesses: [] },
  properties: [{ name: 'LEVEL', type: 'string' as const, secret: false, required: false, label: { fr: 'n', en: 'n' }, default: '7' }],
  exitCodes: extra.map((e) => ({ ...e, meaning: { en: 'licence server busy', fr: 'serveur occupé' } })),
});

describe('runner with real processes', () => {
  it('a node script exiting 0 is a success; its output is kept; property values are filled in', async () => {
    const r = await runInstall(pkg(`node -e "console.log('level', process.argv[1]); process.exit(0)" {{LEVEL}}`), {}, dir, linuxProcesses);
    expect(r).toMatchObject({ outcome: 'success', code: 0, reboot: 'none' });
    expect(r.outputTail).toContain('level 7');
    const given = await runInstall(pkg('echo level {{LEVEL}}'), { LEVEL: 'x9' }, dir, linuxProcesses);
    expect(given.outputTail).toContain('level x9');
  });

  it('a script exiting 1603 & 255 = 67 is a failure naming the code; an extra code (194) takes the package’s meaning', async () => {
    const fail = await runInstall(pkg('exit 67'), {}, dir, linuxProcesses);
    expect(fail).toMatchObject({ outcome: 'failure', code: 67 });
    expect(fail.meaning.en).toContain('67');
    const retry = await runInstall(pkg('node -e "process.exit(194)"', [{ code: 194, outcome: 'retry' }]), {}, dir, linuxProcesses);
    expect(retry).toMatchObject({ outcome: 'retry', code: 194, retryLater: true, meaning: { en: 'licence server busy' } });
  });

  it('runs in the folder holding the files', async () => {
    const r = await runCommand({ command: 'pwd', cwd: dir, timeoutMs: 5000, waitFor: [] }, linuxProcesses);
    expect(r.outputTail.trim()).toBe(dir);
  });

  it('a command that cannot start is a failure with its exit code from the shell (127)', async () => {
    const r = await runInstall(pkg('./no-such-installer.exe /quiet'), {}, dir, linuxProcesses);
    expect(r).toMatchObject({ outcome: 'failure', code: 127 });
  });

  it('a hanging installer is killed with its whole process tree at the timeout', async () => {
    const w = worker('h');
    const pidFile = join(dir, 'hang.pid');
    const started = Date.now();
    const r = await runCommand({ command: `./${w} 60 & echo $! > ${pidFile}; sleep 60; echo never`, cwd: dir, timeoutMs: 800, waitFor: [] }, linuxProcesses);
    expect(r.end).toEqual({ kind: 'timeout', minutes: 0 });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.outputTail).not.toContain('never');
    const child = Number(readFileSync(pidFile, 'utf8'));
    await expect.poll(() => gone(child), { timeout: 3000 }).toBe(true);
    expect(await linuxProcesses.find(w)).toEqual([]);
  });

  it('a launcher that exits at once: the runner waits until the named process ends', async () => {
    const w = worker('s');
    const r = await runCommand({ command: `(./${w} 2 &) ; exit 0`, cwd: dir, timeoutMs: 20_000, waitFor: [w], pollMs: 100 }, linuxProcesses);
    expect(r.end).toEqual({ kind: 'exited', code: 0 });
    expect(r.elapsedMs).toBeGreaterThanOrEqual(1800);
    expect(await linuxProcesses.find(w)).toEqual([]);
  });

  it('without waitForProcesses the runner returns as soon as the launcher exits', async () => {
    const w = worker('n');
    const r = await runCommand({ command: `(./${w} 3 &) ; exit 0`, cwd: dir, timeoutMs: 20_000, waitFor: [], pollMs: 100 }, linuxProcesses);
    expect(r.end).toEqual({ kind: 'exited', code: 0 });
    expect(r.elapsedMs).toBeLessThan(1500);
    const pids = await linuxProcesses.find(w);
    expect(pids).toHaveLength(1);
    for (const p of pids) await linuxProcesses.killTree(p);
  });

  it('a named process still working at the timeout is killed, and the run is a timeout', async () => {
    const w = worker('t');
    const r = await runCommand({ command: `(./${w} 60 &) ; exit 0`, cwd: dir, timeoutMs: 1000, waitFor: [w], pollMs: 100 }, linuxProcesses);
    expect(r.end.kind).toBe('timeout');
    await expect.poll(() => linuxProcesses.find(w), { timeout: 3000 }).toEqual([]);
  });
});
