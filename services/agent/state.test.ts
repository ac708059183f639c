import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { emptyState, loadState, resumeStep, saveState, type AgentState } from './state.js';

const dir = mkdtempSync(join(tmpdir(), 'roomcast-agent-state-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const now = new Date('2026-12-07T22:00:00Z');

describe('agent state file', () => {
  it('saves and loads back; no temporary file is left; none yet is the empty state', async () => {
    const path = join(dir, 'a.json');
    expect(await loadState(path)).toEqual({ state: emptyState(), problem: null });
    const s: AgentState = { version: 1, current: { key: 'x@1', startedAt: now.toISOString(), attempt: 1 }, done: {}, rebootPending: true };
    await saveState(path, s);
    await saveState(path, { ...s, current: null });
    expect((await loadState(path)).state).toEqual({ ...s, current: null });
    expect(readdirSync(dir).filter((f) => f.startsWith('a.json'))).toEqual(['a.json']);
  });

  it('a file that is not a state is kept aside and the agent starts from the empty state', async () => {
    const path = join(dir, 'b.json');
    writeFileSync(path, '{"version":1,"cur');
    expect(await loadState(path)).toEqual({ state: emptyState(), problem: 'the state file is not JSON' });
    expect(readFileSync(`${path}.bad`, 'utf8')).toBe('{"version":1,"cur');
    writeFileSync(path, JSON.stringify({ version: 2 }));
    expect((await loadState(path)).problem).toBe('the state file has version 2, not 1');
  });

  it('a save into a folder that does not exist fails and leaves nothing', async () => {
    await expect(saveState(join(dir, 'missing', 'c.json'), emptyState())).rejects.toThrow(/ENOENT/);
  });
});

describe('resume after a restart', () => {
  const under = (attempt: number): AgentState => ({ ...emptyState(), current: { key: 'sw@2025', startedAt: now.toISOString(), attempt } });
  it('nothing under way: nothing to do', () => {
    expect(resumeStep(emptyState(), null, 3, now)).toEqual({ action: 'nothing' });
  });
  it('installed per detection: recorded a success', () => {
    expect(resumeStep(under(1), { installed: true, reason: 'X is under …' }, 3, now)).toEqual({
      action: 'record',
      key: 'sw@2025',
      record: { outcome: 'success', code: null, installed: true, reason: 'installed before the restart: X is under …', at: now.toISOString() },
    });
  });
  it('not installed: tried again up to the limit, then a failure', () => {
    expect(resumeStep(under(1), { installed: false, reason: 'no' }, 3, now)).toEqual({ action: 'retry', key: 'sw@2025', attempt: 2 });
    const last = resumeStep(under(3), { installed: false, reason: 'no' }, 3, now);
    expect(last).toMatchObject({ action: 'record', record: { outcome: 'failure', installed: false } });
  });
});
