// The agent's persisted state (issue 16 item 5): which install is under way and what each package
// version gave, in one JSON file. It is written before anything that may restart the PC (an installer
// may exit 1641 after starting the restart itself, or the power may go), with a temporary name, fsync
// and rename, so that after a restart the file is the old state or the new one, never half of one.
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ExitOutcome } from '../software/package.js';

export interface InstallRecord {
  outcome: ExitOutcome;
  code: number | null;
  installed: boolean;
  reason: string;
  at: string;
}

export interface AgentState {
  version: 1;
  /** The install started and not yet recorded: after a restart, it was interrupted (or restarted the PC itself). */
  current: { key: string; startedAt: string; attempt: number } | null;
  /** The last result per package version (`id@version`). */
  done: Record<string, InstallRecord>;
  /** An install asked for a restart (3010) that has not happened yet. */
  rebootPending: boolean;
}

export const emptyState = (): AgentState => ({ version: 1, current: null, done: {}, rebootPending: false });
export const packageKey = (p: { id: string; version: string }) => `${p.id}@${p.version}`;

/** Writes the state atomically and durably: temporary file, fsync, rename over, fsync of the folder. */
export async function saveState(path: string, state: AgentState): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(state, null, 2) + '\n', 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await syncDir(dirname(path));
}

/** The rename itself is made durable by syncing the folder (Linux); Windows cannot open a folder this way and NTFS journals the rename. */
async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Reads the state: none yet is the empty state; a file that is not a state is kept aside (`.bad`) and the agent starts over, since detection tells what is installed anyway. */
export async function loadState(path: string): Promise<{ state: AgentState; problem: string | null }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { state: emptyState(), problem: null };
    throw e;
  }
  const problem = stateProblem(text);
  if (problem === null) return { state: JSON.parse(text) as AgentState, problem: null };
  await writeFile(`${path}.bad`, text);
  return { state: emptyState(), problem };
}

function stateProblem(text: string): string | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return 'the state file is not JSON';
  }
  if (typeof v !== 'object' || v === null) return 'the state file is not an object';
  const s = v as Partial<AgentState>;
  if (s.version !== 1) return `the state file has version ${String(s.version)}, not 1`;
  if (typeof s.rebootPending !== 'boolean' || typeof s.done !== 'object' || s.done === null || Array.isArray(s.done)) return 'the state file lacks done or rebootPending';
  const c = s.current;
  if (c !== null && (typeof c !== 'object' || typeof c.key !== 'string' || typeof c.attempt !== 'number' || typeof c.startedAt !== 'string')) return 'the state file has a bad current install';
  return null;
}

export type ResumeStep = { action: 'nothing' } | { action: 'record'; key: string; record: InstallRecord } | { action: 'retry'; key: string; attempt: number };

/**
 * What to do at start about an install the state says was under way: installed per detection, it is
 * recorded a success (the installer restarted the PC, 1641, or the agent stopped after it finished);
 * not installed, it is tried again, up to `maxAttempts`, then recorded a failure.
 */
export function resumeStep(state: AgentState, detected: { installed: boolean; reason: string } | null, maxAttempts: number, now: Date): ResumeStep {
  const c = state.current;
  if (c === null) return { action: 'nothing' };
  const at = now.toISOString();
  if (detected?.installed) return { action: 'record', key: c.key, record: { outcome: 'success', code: null, installed: true, reason: `installed before the restart: ${detected.reason}`, at } };
  if (c.attempt < maxAttempts) return { action: 'retry', key: c.key, attempt: c.attempt + 1 };
  const why = detected ? detected.reason : 'the package is no longer assigned';
  return { action: 'record', key: c.key, record: { outcome: 'failure', code: null, installed: false, reason: `interrupted ${c.attempt} times (restart or stop during the install): ${why}`, at } };
}
