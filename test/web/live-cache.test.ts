// The query cache shared by live events and fetches (web/src/api/live-cache.ts): a fetch that was in
// flight when a live patch landed does not put the older state back; a burst of refetch requests makes
// one fetch in flight and one queued, never one per event; the rooms page's counts move with a PC.
import { QueryClient } from '@tanstack/query-core';
import { describe, expect, it } from 'vitest';
import type { Run } from '../../web/src/api/client.js';
import { coalescer, mergeReport, mergeRun, patchReportPc, patchRoomCounts, patchRunPc, type RunReport } from '../../web/src/api/live-cache.js';

const pc = (id: number, state: string, updatedAt: string, bytesDone = 0) => ({ id, hostId: id, hostName: `PC-${id}`, mac: '', state, wakeAttempts: 0, taskId: null, reason: null, deadlineAt: null, bytesDone, bytesTotal: 100, startedAt: null, endedAt: null, updatedAt });
const run = (pcs: ReturnType<typeof pc>[]) => ({ id: 7, pcs, counts: {} }) as unknown as Run;

describe('live cache', () => {
  it('keeps a live patch that is newer than the fetch in flight, and takes the fetch where it is newer', async () => {
    const qc = new QueryClient();
    const key = ['run', 7];
    qc.setQueryData(key, run([pc(1, 'queued', '2026-12-07T01:00:00.000Z'), pc(2, 'queued', '2026-12-07T01:00:00.000Z')]));
    // A fetch starts (the server still says restoring / queued)...
    const fresh = run([pc(1, 'restoring', '2026-12-07T01:00:05.000Z', 10), pc(2, 'waking', '2026-12-07T01:00:09.000Z')]);
    // ...meanwhile PC 1 is done, live.
    patchRunPc(qc, key, 1, (p) => ({ ...p, state: 'done', updatedAt: '2026-12-07T01:00:08.000Z', bytesDone: 100 }));
    const merged = mergeRun(qc.getQueryData<Run>(key), fresh);
    expect(merged.pcs.map((p) => p.state)).toEqual(['done', 'waking']);
    expect(merged.pcs[0]!.bytesDone).toBe(100);
    expect(merged.counts).toEqual({ done: 1, waking: 1 });
    // Nothing newer in the cache: the fetch as it is.
    expect(mergeRun(run([pc(1, 'queued', '2026-12-07T00:00:00.000Z')]), fresh)).toBe(fresh);
  });

  it('keeps a live state change in the report over an older fetch', () => {
    const qc = new QueryClient();
    const key = ['run', 7, 'report'];
    const rpc = (id: number, state: string, at: string) => ({ id, hostName: `PC-${id}`, mac: '', state, needsAPerson: false, reason: null, startedAt: null, endedAt: null, durationSeconds: null, bytesMoved: 0, timeline: [{ at, state, code: '', text: '' }] });
    const report = (pcs: ReturnType<typeof rpc>[]) => ({ run: { id: 7 }, totals: {}, pcs }) as unknown as RunReport;
    qc.setQueryData(key, report([rpc(1, 'waking', '2026-12-07T01:00:00.000Z')]));
    expect(patchReportPc(qc, key, 1, 'restoring', '2026-12-07T01:00:10.000Z', '', '')).toBe(true);
    const older = report([rpc(1, 'booted', '2026-12-07T01:00:05.000Z')]);
    expect(mergeReport(qc.getQueryData<RunReport>(key), older).pcs[0]!.state).toBe('restoring');
    // What the PC's Windows got comes with the fetch only: kept beside the newer live state.
    const windows = { name: { code: 'name_written', fr: 'nommé', en: 'named' }, answerFile: null, drivers: null, bootEntry: null };
    const booted = Object.assign(rpc(1, 'booted', '2026-12-07T01:00:05.000Z'), { windows });
    const withWindows = report([booted]);
    expect(mergeReport(qc.getQueryData<RunReport>(key), withWindows).pcs[0]).toMatchObject({ state: 'restoring', windows });
    const newer = report([rpc(1, 'verifying', '2026-12-07T01:00:20.000Z')]);
    expect(mergeReport(qc.getQueryData<RunReport>(key), newer)).toBe(newer);
  });

  it('coalesces refetches: one in flight and one queued, whatever the number of events', async () => {
    let calls = 0;
    let release: () => void = () => {};
    const refetch = coalescer(() => {
      calls++;
      return new Promise<void>((r) => (release = r));
    });
    const done = Array.from({ length: 30 }, () => refetch(['run', 7, 'report']));
    expect(calls).toBe(1);
    release();
    await new Promise((r) => setTimeout(r, 0));
    expect(calls).toBe(2);
    release();
    await Promise.all(done);
    expect(calls).toBe(2);
    // Another key has its own slot.
    void refetch(['run', 8, 'report']);
    expect(calls).toBe(3);
    release();
  });

  it("moves a PC between states in the counts of a room's newest run", () => {
    const list = [{ roomId: 1, run: { id: 7, state: 'running', image: 'W', version: 1, createdAt: '', endedAt: null }, counts: { queued: 2 } }];
    expect(patchRoomCounts(list as never, 7, 'queued', 'waking')![0]!.counts).toEqual({ queued: 1, waking: 1 });
    expect(patchRoomCounts(list as never, 8, 'queued', 'waking')).toBe(list);
  });
});
