// How live events and fetches share the query cache without one undoing the other:
// - a fetch that was already in flight when a socket.io patch landed must not put the older state back:
//   the run and the report are merged PC by PC on arrival, and a PC keeps the cached (live) copy when
//   that copy is newer (run: updatedAt; report: its timeline's last instant);
// - refetches asked for by a burst of events are coalesced: at most one in flight and one queued per key.
// No React here (query-core's types only): the Node tests load this module.
import type { QueryClient, QueryKey } from '@tanstack/query-core';
import type { Run, Schemas } from './client.js';

export type RunReport = Schemas['RunReport'];
type RunPcView = Run['pcs'][number];
type ReportPc = RunReport['pcs'][number];
type RoomLastRun = Schemas['RoomLastRun'];

const countByState = (pcs: ReadonlyArray<{ state: string }>) => {
  const counts: Record<string, number> = {};
  for (const pc of pcs) counts[pc.state] = (counts[pc.state] ?? 0) + 1;
  return counts;
};

/** The fetched run, except the PCs whose cached copy is newer (a live patch the fetch did not see yet). */
export function mergeRun(cached: Run | undefined, fresh: Run): Run {
  if (!cached || cached.id !== fresh.id) return fresh;
  const mine = new Map(cached.pcs.map((pc) => [pc.id, pc]));
  let changed = false;
  const pcs = fresh.pcs.map((pc) => {
    const live = mine.get(pc.id);
    if (!live) return pc;
    if (live.updatedAt > pc.updatedAt) {
      changed = true;
      return { ...pc, state: live.state, reason: live.reason, updatedAt: live.updatedAt, bytesDone: Math.max(pc.bytesDone, live.bytesDone), bytesTotal: live.bytesTotal || pc.bytesTotal };
    }
    // Same state change: progress only grows within it.
    if (live.updatedAt === pc.updatedAt && live.state === pc.state && live.bytesDone > pc.bytesDone) {
      changed = true;
      return { ...pc, bytesDone: live.bytesDone, bytesTotal: live.bytesTotal || pc.bytesTotal };
    }
    return pc;
  });
  return changed ? { ...fresh, pcs, counts: countByState(pcs) } : fresh;
}

const lastAt = (pc: ReportPc) => pc.timeline.reduce((m, e) => (e.at > m ? e.at : m), '');

/** The fetched report, except the PCs whose cached copy saw a later state change (their Windows steps still from the fetch). */
export function mergeReport(cached: RunReport | undefined, fresh: RunReport): RunReport {
  if (!cached || cached.run.id !== fresh.run.id) return fresh;
  const mine = new Map(cached.pcs.map((pc) => [pc.id, pc]));
  let changed = false;
  const pcs = fresh.pcs.map((pc) => {
    const live = mine.get(pc.id);
    if (!live || lastAt(live) <= lastAt(pc)) return pc;
    changed = true;
    // What its Windows got comes only with a fetch: the fetched words, with the live state.
    return { ...live, windows: pc.windows ?? live.windows };
  });
  return changed ? { ...fresh, pcs } : fresh;
}

/** Applies `patch` to one PC of the cached run; false when the run is not cached or lacks that PC. */
export function patchRunPc(qc: QueryClient, key: QueryKey, runPcId: number, patch: (pc: RunPcView) => RunPcView): boolean {
  let found = false;
  qc.setQueryData<Run>(key, (old) => {
    if (!old) return old;
    const pcs = old.pcs.map((pc) => {
      if (pc.id !== runPcId) return pc;
      found = true;
      return patch(pc);
    });
    return found ? { ...old, pcs, counts: countByState(pcs) } : old;
  });
  return found;
}

/** A PC's new state in the cached report (its reason in words comes with the next fetch). */
export function patchReportPc(qc: QueryClient, key: QueryKey, runPcId: number, state: ReportPc['state'], at: string, code: string, text: string): boolean {
  let found = false;
  qc.setQueryData<RunReport>(key, (old) => {
    if (!old) return old;
    const pcs = old.pcs.map((pc) => {
      if (pc.id !== runPcId) return pc;
      found = true;
      return { ...pc, state, timeline: [...pc.timeline, { at, state, code, text }] };
    });
    return found ? { ...old, pcs } : old;
  });
  return found;
}

/** Moves one PC from `previous` to `state` in the counts of a room's newest run (the rooms page). */
export function patchRoomCounts(list: RoomLastRun[] | undefined, runId: number, previous: string, state: string): RoomLastRun[] | undefined {
  if (!list || previous === state) return list;
  let found = false;
  const next = list.map((l) => {
    if (l.run.id !== runId) return l;
    found = true;
    const counts = { ...l.counts, [state]: (l.counts[state] ?? 0) + 1 };
    if ((counts[previous] ?? 0) > 0) counts[previous] = counts[previous]! - 1;
    if (counts[previous] === 0) delete counts[previous];
    return { ...l, counts };
  });
  return found ? next : list;
}

/** Refetches one query now, or once more after the fetch in flight: at most one in flight and one queued. */
export function coalescer(refetch: (key: QueryKey) => Promise<unknown>): (key: QueryKey) => Promise<void> {
  const busy = new Map<string, { queued: boolean; done: Promise<void> }>();
  return (key) => {
    const id = JSON.stringify(key);
    const now = busy.get(id);
    if (now) {
      now.queued = true;
      return now.done;
    }
    const slot = { queued: false, done: Promise.resolve() };
    busy.set(id, slot);
    slot.done = (async () => {
      try {
        do {
          slot.queued = false;
          await refetch(key).catch(() => {});
        } while (slot.queued);
      } finally {
        busy.delete(id);
      }
    })();
    return slot.done;
  };
}

const perClient = new WeakMap<QueryClient, (key: QueryKey) => Promise<void>>();

/** The coalesced refetch of one exact query key of this client (invalidated: refetched when shown). */
export function refetchSoon(qc: QueryClient, key: QueryKey): Promise<void> {
  let f = perClient.get(qc);
  if (!f) perClient.set(qc, (f = coalescer((k) => qc.invalidateQueries({ queryKey: k, exact: true }))));
  return f(key);
}
