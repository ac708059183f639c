// The processes an install run watches and stops (issue 16 item 5): found by image name (an installer
// whose launcher exits early keeps working in a process such as sldIM.exe) and killed with their whole
// tree at the timeout. Windows uses tasklist and taskkill; Linux (the tests, and a Linux agent one day)
// reads /proc.
import { readdir, readFile } from 'node:fs/promises';
import type { Command, Exec } from './windows-adapter.js';

export interface ProcessTable {
  /** The pids of the running processes with this image name (case-insensitive, as Windows). */
  find(name: string): Promise<number[]>;
  /** Kills the process and every process it started, at once. */
  killTree(pid: number): Promise<void>;
}

// ── Linux: /proc ─────────────────────────────────────────────────────────────────────────────────
interface ProcEntry {
  pid: number;
  ppid: number;
  comm: string;
  state: string;
}

async function procEntries(): Promise<ProcEntry[]> {
  const out: ProcEntry[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // /proc/PID/stat: "pid (comm) state ppid …"; comm may hold spaces and parentheses.
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      const open = stat.indexOf('(');
      const close = stat.lastIndexOf(')');
      const [state, ppid] = stat.slice(close + 2).split(' ');
      out.push({ pid: Number(name), ppid: Number(ppid), comm: stat.slice(open + 1, close), state: state ?? '' });
    } catch {
      // The process ended while the table was read.
    }
  }
  return out;
}

/** Linux keeps the first 15 bytes of an image name (TASK_COMM_LEN). */
export const commOf = (name: string) => name.slice(0, 15).toLowerCase();

/** The pids of a process's descendants, from a table of (pid, ppid). */
export function descendants(table: ReadonlyArray<{ pid: number; ppid: number }>, root: number): number[] {
  const out: number[] = [];
  const queue = [root];
  while (queue.length) {
    const p = queue.shift()!;
    for (const e of table) {
      if (e.ppid !== p || out.includes(e.pid)) continue;
      out.push(e.pid);
      queue.push(e.pid);
    }
  }
  return out;
}

export const linuxProcesses: ProcessTable = {
  async find(name) {
    const want = commOf(name);
    // A zombie has ended: it waits only for its parent to read its status.
    return (await procEntries()).filter((e) => e.state !== 'Z' && e.comm.toLowerCase() === want).map((e) => e.pid);
  },
  async killTree(pid) {
    const table = await procEntries();
    for (const p of [pid, ...descendants(table, pid)]) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  },
};

// ── Windows: tasklist, taskkill ──────────────────────────────────────────────────────────────────
export const tasklistCommand = (name: string): Command => ({ file: 'tasklist.exe', args: ['/FI', `IMAGENAME eq ${name}`, '/FO', 'CSV', '/NH'] });
export const taskkillCommand = (pid: number): Command => ({ file: 'taskkill.exe', args: ['/PID', String(pid), '/T', '/F'] });

/** The pids in tasklist's CSV output ("INFO: No tasks are running…" when none). */
export function parseTasklist(stdout: string, name: string): number[] {
  const out: number[] = [];
  for (const line of stdout.split(/\r?\n/)) {
    const m = /^"([^"]*)","(\d+)"/.exec(line.trim());
    if (m && m[1]!.toLowerCase() === name.toLowerCase()) out.push(Number(m[2]));
  }
  return out;
}

export function windowsProcesses(exec: Exec): ProcessTable {
  return {
    async find(name) {
      const r = await exec(tasklistCommand(name));
      if (r.code !== 0) throw new Error(`tasklist failed (exit code ${r.code})`);
      return parseTasklist(r.stdout, name);
    },
    async killTree(pid) {
      // 128: the process is already gone.
      await exec(taskkillCommand(pid));
    },
  };
}

/** The table of the platform the agent runs on. */
export const platformProcesses = (exec: Exec): ProcessTable => (process.platform === 'win32' ? windowsProcesses(exec) : linuxProcesses);
