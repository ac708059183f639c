// installWithState with real processes and real files; detection reads real files through a small
// local adapter (C:\ is the test's folder; the registry is empty): the Windows one is Windows-only.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DetectionAdapter } from './detect.js';
import { installWithState, resumeAfterRestart } from './install.js';
import { linuxProcesses } from './processes.js';
import { loadState, saveState, emptyState } from './state.js';

const dir = mkdtempSync(join(tmpdir(), 'roomcast-agent-install-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const local: DetectionAdapter = {
  keyExists: async () => false,
  subkeyValues: async () => [],
  readValue: async () => null,
  fileVersion: async (p) => {
    const f = join(dir, p.replace(/^C:\\/, ''));
    return existsSync(f) ? readFileSync(f, 'utf8').trim() : null;
  },
};
const pkg = (id: string, command: string) => ({
  id,
  version: '1.0',
  install: { command, timeoutMinutes: 1, waitForProcesses: [] },
  properties: [],
  exitCodes: [],
  detection: { type: 'file_version' as const, path: `C:\\${id}.marker`, minVersion: '1.0' },
});
const deps = (name: string) => ({ adapter: local, table: linuxProcesses, statePath: join(dir, `${name}.json`) });

describe('install with the agent state (real processes and files)', () => {
  it('saves the install under way before the command runs, then the result (exit 0 then detected)', async () => {
    const d = deps('s1');
    const r = await installWithState(pkg('tool', `cp s1.json seen.json && echo 1.2 > tool.marker`), {}, dir, d);
    const seen = JSON.parse(readFileSync(join(dir, 'seen.json'), 'utf8'));
    expect(seen.current).toMatchObject({ key: 'tool@1.0', attempt: 1 });
    expect(r).toMatchObject({ ran: true, reboot: 'none', record: { outcome: 'success', code: 0, installed: true } });
    const { state } = await loadState(d.statePath);
    expect(state.current).toBeNull();
    expect(state.done['tool@1.0']).toMatchObject({ outcome: 'success', installed: true });
  });

  it('a code meaning “reboot needed” (194 here: Linux exit statuses are 8 bits, 3010 is Windows’) sets rebootPending', async () => {
    const d = deps('s5');
    const p = { ...pkg('rb', 'echo 1.0 > rb.marker; exit 194'), exitCodes: [{ code: 194, outcome: 'reboot_required' as const, meaning: { en: 'restart needed', fr: 'redémarrage nécessaire' } }] };
    const r = await installWithState(p, {}, dir, d);
    expect(r).toMatchObject({ reboot: 'needed', record: { outcome: 'reboot_required', code: 194, installed: true } });
    expect((await loadState(d.statePath)).state.rebootPending).toBe(true);
  });

  it('already installed: the command does not run', async () => {
    const r = await installWithState(pkg('tool', 'echo ran > ran.txt'), {}, dir, deps('s2'));
    expect(r).toMatchObject({ ran: false, record: { outcome: 'success', reason: expect.stringContaining('already installed') } });
    expect(existsSync(join(dir, 'ran.txt'))).toBe(false);
  });

  it('exit 0 but detection does not find it: a failure that says why', async () => {
    const r = await installWithState(pkg('ghost', 'echo 0.9 > ghost.marker'), {}, dir, deps('s3'));
    expect(r.record).toMatchObject({ outcome: 'failure', code: 0, installed: false });
    expect(r.record.reason).toContain('detection does not find it');
  });

  it('after a restart during an install: recorded when detection finds it, else tried again', async () => {
    const d = deps('s4');
    await saveState(d.statePath, { ...emptyState(), current: { key: 'tool@1.0', startedAt: new Date().toISOString(), attempt: 1 } });
    const rules = (key: string) => (key.startsWith('tool@') ? pkg('tool', '').detection : key.startsWith('other@') ? pkg('other', '').detection : undefined);
    expect(await resumeAfterRestart(rules, d)).toMatchObject({ action: 'record', key: 'tool@1.0', record: { outcome: 'success' } });
    expect((await loadState(d.statePath)).state.current).toBeNull();
    await saveState(d.statePath, { ...emptyState(), current: { key: 'other@1.0', startedAt: new Date().toISOString(), attempt: 1 } });
    expect(await resumeAfterRestart(rules, d)).toEqual({ action: 'retry', key: 'other@1.0', attempt: 2 });
    await saveState(d.statePath, { ...emptyState(), current: { key: 'gone@1.0', startedAt: new Date().toISOString(), attempt: 1 } });
    expect(await resumeAfterRestart(rules, d)).toMatchObject({ action: 'record', record: { outcome: 'failure', reason: expect.stringContaining('no longer assigned') } });
  });
});
