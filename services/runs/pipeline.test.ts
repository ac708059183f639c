import { describe, expect, it } from 'vitest';
import { checkSteps, decidePc, DEFAULT_PIPELINE, PC_STATES, type PcEvent, type PcMemory, type PcState, type PipelineSettings } from './pipeline.js';

const S: PipelineSettings = { ...DEFAULT_PIPELINE, wakeTimeoutMs: 5 * 60_000, wakeAttempts: 3, silenceTimeoutMs: 10 * 60_000 };

/** Feeds events one after the other, as the edges would, and returns every decision's state. */
function walk(events: PcEvent[], settings = S, from: PcMemory = { state: 'queued', wakeAttempts: 0 }) {
  let m = from;
  const states: PcState[] = [];
  const decisions = [];
  for (const e of events) {
    const d = decidePc(m, e, settings);
    decisions.push(d);
    if (d.ok) {
      m = d.memory;
      states.push(d.to);
    }
  }
  return { memory: m, states, decisions };
}

describe('one PC through a run (pure pipeline)', () => {
  it('the whole way: task created before the first magic packet, then booted, restoring, verifying, done', () => {
    const { states, decisions, memory } = walk([
      { type: 'start', inUse: false },
      { type: 'script-fetched' },
      { type: 'task-running' },
      { type: 'task-progress', phase: 'restore' },
      { type: 'task-progress', phase: 'verify' },
      { type: 'task-progress', phase: 'table' },
      { type: 'task-done' },
    ]);
    expect(states).toEqual(['waking', 'booted', 'restoring', 'verifying', 'done']);
    const start = decisions[0]!;
    expect(start.ok && start.actions).toEqual([{ do: 'create-task', powerOff: true }, { do: 'wake', attempt: 1 }]);
    expect(start.ok && start.deadlineMs).toBe(S.wakeTimeoutMs);
    const done = decisions.at(-1)!;
    expect(done.ok && done.deadlineMs).toBeNull();
    expect(done.ok && done.reason.text).toMatch(/powers off/);
    expect(memory).toEqual({ state: 'done', wakeAttempts: 1 });
    // progress inside the same state is ignored, not an error
    expect(decisions[3]).toEqual({ ok: false, ignore: 'progress in the same state' });
  });

  it('wakes again on each deadline, then fails with a reason a person can act on', () => {
    const { states, decisions } = walk([{ type: 'start', inUse: false }, { type: 'deadline' }, { type: 'deadline' }, { type: 'deadline' }]);
    expect(states).toEqual(['waking', 'waking', 'waking', 'failed']);
    expect(decisions.slice(1, 3).map((d) => d.ok && d.actions)).toEqual([[{ do: 'wake', attempt: 2 }], [{ do: 'wake', attempt: 3 }]]);
    const failed = decisions[3]!;
    expect(failed.ok && failed.reason).toEqual({
      code: 'did_not_wake',
      params: { attempts: 3, minutes: 15 },
      text: 'did not wake after 3 Wake-on-LAN attempts over 15 min: check that the PC is plugged in and that Wake-on-LAN is on in its BIOS',
    });
    expect(failed.ok && failed.actions).toEqual([{ do: 'cancel-task' }]);
  });

  it('without the wake step: no magic packet, one deadline, then "did not network-boot"', () => {
    const settings = { ...S, steps: ['restore', 'verify'] as const };
    const { states, decisions } = walk([{ type: 'start', inUse: false }, { type: 'deadline' }], settings);
    expect(states).toEqual(['waking', 'failed']);
    expect(decisions[0]!.ok && decisions[0]!.actions).toEqual([{ do: 'create-task', powerOff: false }]);
    expect(decisions[1]!.ok && decisions[1]!.reason.code).toBe('did_not_boot');
    const done = walk([{ type: 'start', inUse: false }, { type: 'task-running' }, { type: 'task-done' }], settings).decisions.at(-1)!;
    expect(done.ok && done.reason.text).toMatch(/left on/);
  });

  it('a PC in use is skipped (never erased) when the run says so, restored otherwise', () => {
    const skipped = decidePc({ state: 'queued', wakeAttempts: 0 }, { type: 'start', inUse: true }, S);
    expect(skipped.ok && [skipped.to, skipped.actions, skipped.reason.code]).toEqual(['skipped', [], 'in_use']);
    const taken = decidePc({ state: 'queued', wakeAttempts: 0 }, { type: 'start', inUse: true }, { ...S, skipInUse: false });
    expect(taken.ok && taken.to).toBe('waking');
    // The probe's port is in the reason; a refused port means the PC is on all the same.
    const open = decidePc({ state: 'queued', wakeAttempts: 0 }, { type: 'start', inUse: true, port: 3389, answer: 'open' }, S);
    expect(open.ok && open.reason).toMatchObject({ code: 'in_use', params: { port: 3389, answer: 'open' }, text: expect.stringContaining('answers on the network (port 3389)') });
    const refused = decidePc({ state: 'queued', wakeAttempts: 0 }, { type: 'start', inUse: true, port: 445, answer: 'refused' }, S);
    expect(refused.ok && refused.reason.text).toContain('port 445 refused the connection, so the PC is on');
  });

  it("a client's failure keeps its own sentence and says what the disk is left like", () => {
    const base = { state: 'restoring', wakeAttempts: 1 } as const;
    const d = decidePc(base, { type: 'task-failed', code: 'disk_too_small', message: 'the disk sda (238 GB) is smaller than this image needs (256 GB); nothing was written', diskState: 'untouched' }, S);
    expect(d.ok && d.to).toBe('failed');
    expect(d.ok && d.reason.code).toBe('disk_too_small');
    expect(d.ok && d.reason.text).toMatch(/smaller than this image needs .*nothing was written\. The disk was not touched\.$/);
    const broken = decidePc(base, { type: 'task-failed', code: 'chunk_corrupt', message: 'chunk abc failed its hash twice', diskState: 'partial' }, S);
    expect(broken.ok && broken.reason.text).toMatch(/failed its hash twice\. The disk is not bootable .*network-boot at its next start/);
  });

  it('a booted PC that goes silent fails with where it stopped', () => {
    const d = decidePc({ state: 'booted', wakeAttempts: 1 }, { type: 'deadline' }, S);
    expect(d.ok && d.reason.code).toBe('silent');
    expect(d.ok && d.reason.text).toMatch(/after its network boot, before the restore started \(no word for 10 min\)/);
    expect(d.ok && d.actions).toEqual([{ do: 'cancel-task' }]);
  });

  it('a hello seen before the script fetch moves a waking PC straight to restoring', () => {
    expect(walk([{ type: 'start', inUse: false }, { type: 'task-running' }]).states).toEqual(['waking', 'restoring']);
  });

  it('cancel ends every open state, and cancels the task once one exists', () => {
    for (const state of PC_STATES.filter((s) => !['done', 'failed', 'skipped', 'cancelled'].includes(s))) {
      const d = decidePc({ state, wakeAttempts: 1 }, { type: 'cancel', why: 'person' }, S);
      expect(d.ok && d.to, state).toBe('cancelled');
      expect(d.ok && d.actions, state).toEqual(state === 'queued' ? [] : [{ do: 'cancel-task' }]);
    }
    const w = decidePc({ state: 'restoring', wakeAttempts: 1 }, { type: 'cancel', why: 'window-end' }, S);
    expect(w.ok && w.reason.code).toBe('window_ended');
  });

  it('final states ignore everything, and late or doubled events are ignored with a reason', () => {
    const events: PcEvent[] = [
      { type: 'start', inUse: false },
      { type: 'deadline' },
      { type: 'script-fetched' },
      { type: 'task-running' },
      { type: 'task-progress', phase: 'verify' },
      { type: 'task-done' },
      { type: 'task-failed', code: null, message: 'x', diskState: null },
      { type: 'task-cancelled' },
      { type: 'cancel', why: 'person' },
    ];
    for (const state of ['done', 'failed', 'skipped', 'cancelled'] as const)
      for (const e of events) expect(decidePc({ state, wakeAttempts: 1 }, e, S), `${state} ${e.type}`).toEqual({ ok: false, ignore: `the PC is already ${state}` });
    expect(decidePc({ state: 'queued', wakeAttempts: 0 }, { type: 'deadline' }, S).ok).toBe(false);
    expect(decidePc({ state: 'booted', wakeAttempts: 1 }, { type: 'start', inUse: false }, S).ok).toBe(false);
    expect(decidePc({ state: 'restoring', wakeAttempts: 1 }, { type: 'script-fetched' }, S).ok).toBe(false);
  });

  it('checks the steps of a run', () => {
    expect(checkSteps(['wake', 'restore', 'verify', 'poweroff'])).toBeNull();
    expect(checkSteps(['restore', 'verify'])).toBeNull();
    expect(checkSteps(['wake', 'restore'])).toMatch(/must include verify/);
    expect(checkSteps(['wake', 'restore', 'verify', 'dance'])).toMatch(/unknown step dance/);
    expect(checkSteps(['restore', 'wake', 'verify'])).toMatch(/keep their order/);
    expect(checkSteps(['wake', 'wake', 'restore', 'verify'])).toMatch(/twice/);
  });
});
