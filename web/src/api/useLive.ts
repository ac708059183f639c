// Live updates for the pages: subscribe to a room or a run over socket.io, patch the cached run with
// each PC's new state and progress (no refetch per event), refetch what an event says changed, and
// refetch everything on (re)connection so that nothing missed while offline stays stale.
import { useQueryClient, type QueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import type { PcState, Run } from './client.js';
import type { RunPcChanged, RunPcProgressed } from './events.js';
import { liveSocket, subscribe } from './live.js';
import { keys } from './queries.js';
import { FINAL_STATES } from '../states.js';

export interface Eta {
  etaSeconds: number | null;
  phase: string;
}

function patchPc(qc: QueryClient, runId: number, runPcId: number, patch: (pc: Run['pcs'][number]) => Run['pcs'][number]): boolean {
  let found = false;
  qc.setQueryData<Run>(keys.run(runId), (old) => {
    if (!old) return old;
    const pcs = old.pcs.map((pc) => {
      if (pc.id !== runPcId) return pc;
      found = true;
      return patch(pc);
    });
    const counts: Record<string, number> = {};
    for (const pc of pcs) counts[pc.state] = (counts[pc.state] ?? 0) + 1;
    return { ...old, pcs, counts };
  });
  return found;
}

/** Whether the live connection is up (shown next to the grid). */
export function useLiveConnected(): boolean {
  const [up, setUp] = useState(() => liveSocket().connected);
  useEffect(() => {
    const sock = liveSocket();
    const on = () => setUp(true);
    const off = () => setUp(false);
    sock.on('connect', on);
    sock.on('disconnect', off);
    sock.io.on('reconnect_attempt', off);
    setUp(sock.connected);
    return () => {
      sock.off('connect', on);
      sock.off('disconnect', off);
      sock.io.off('reconnect_attempt', off);
    };
  }, []);
  return up;
}

/** Follows a school room: its PCs' states and progress, its runs, its hosts. Returns the ETAs by run PC. */
export function useRoomLive(roomId: number): Map<number, Eta> {
  const qc = useQueryClient();
  const [etas, setEtas] = useState<Map<number, Eta>>(() => new Map());
  useEffect(() => {
    const sock = liveSocket();
    const refetchAll = () => {
      void qc.invalidateQueries({ queryKey: ['room', roomId] });
      void qc.invalidateQueries({ queryKey: keys.hosts(roomId) });
      void qc.invalidateQueries({ queryKey: ['run'] });
    };
    const onPc = (p: RunPcChanged) => {
      if (p.roomId !== roomId) return;
      const found = patchPc(qc, p.runId, p.runPcId, (pc) => ({ ...pc, state: p.state as PcState, reason: p.reasonCode ? { code: p.reasonCode, text: p.reasonText } : pc.reason, updatedAt: p.at }));
      if (!found) void qc.invalidateQueries({ queryKey: keys.latestRun(roomId) });
      if ((FINAL_STATES as readonly string[]).includes(p.state)) void qc.invalidateQueries({ queryKey: keys.run(p.runId) });
    };
    const onProgress = (p: RunPcProgressed) => {
      if (p.roomId !== roomId) return;
      patchPc(qc, p.runId, p.runPcId, (pc) => ({ ...pc, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal }));
      setEtas((m) => new Map(m).set(p.runPcId, { etaSeconds: p.etaSeconds, phase: p.phase }));
    };
    const onRun = (p: { runId: number; roomId: number | null }) => {
      if (p.roomId !== roomId) return;
      void qc.invalidateQueries({ queryKey: keys.latestRun(roomId) });
      void qc.invalidateQueries({ queryKey: keys.run(p.runId) });
    };
    const onHost = (p: { roomId: number | null }) => {
      if (p.roomId === roomId) void qc.invalidateQueries({ queryKey: keys.hosts(roomId) });
    };
    const onRoom = (p: { roomId: number }) => {
      if (p.roomId === roomId) void qc.invalidateQueries({ queryKey: keys.room(roomId) });
    };
    sock.on('run:pc', onPc);
    sock.on('run:progress', onProgress);
    sock.on('run:update', onRun);
    sock.on('host:update', onHost);
    sock.on('room:update', onRoom);
    // Once subscribed (and after each reconnection), read the state again: an event sent before the
    // subscription took effect is then not missed.
    const unsubscribe = subscribe({ room: roomId }, refetchAll);
    return () => {
      unsubscribe();
      sock.off('run:pc', onPc);
      sock.off('run:progress', onProgress);
      sock.off('run:update', onRun);
      sock.off('host:update', onHost);
      sock.off('room:update', onRoom);
    };
  }, [qc, roomId]);
  return etas;
}

/** Follows one run: refetches its report when any of its PCs or the run changes. */
export function useRunLive(runId: number, queryKey: readonly unknown[]): void {
  const qc = useQueryClient();
  useEffect(() => {
    const sock = liveSocket();
    const refetch = (p: { runId: number }) => {
      if (p.runId === runId) void qc.invalidateQueries({ queryKey });
    };
    sock.on('run:pc', refetch);
    sock.on('run:update', refetch);
    const unsubscribe = subscribe({ run: runId }, () => void qc.invalidateQueries({ queryKey }));
    return () => {
      unsubscribe();
      sock.off('run:pc', refetch);
      sock.off('run:update', refetch);
    };
    // queryKey is rebuilt each render; runId identifies it.
  }, [qc, runId]);
}
