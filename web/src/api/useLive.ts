// Live updates for the pages: subscribe to a room or a run over socket.io, patch the cached run (and the
// run page's report) with each PC's new state and progress (no refetch per event), refetch what an event
// says changed (coalesced: one fetch in flight and one queued at most), and refetch everything once the
// server accepted the subscription (after each reconnection too), so that nothing missed stays stale.
// The subscription's status tells the page whether to say it is live.
import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import type { PcState } from './client.js';
import type { RunPcChanged, RunPcProgressed } from './events.js';
import { patchReportPc, patchRunPc, refetchSoon } from './live-cache.js';
import { liveSocket, subscribe, type LiveStatus } from './live.js';
import { keys } from './queries.js';
import { FINAL_STATES } from '../states.js';

export interface Eta {
  etaSeconds: number | null;
  phase: string;
}

const isFinal = (state: string) => (FINAL_STATES as readonly string[]).includes(state);

/** Whether the socket.io connection is up. */
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

/** Follows a school room: its PCs' states and progress, its runs, its hosts. Returns the ETAs by run PC and the subscription's status. */
export function useRoomLive(roomId: number): { etas: Map<number, Eta>; status: LiveStatus } {
  const qc = useQueryClient();
  const [etas, setEtas] = useState<Map<number, Eta>>(() => new Map());
  const [status, setStatus] = useState<LiveStatus>('pending');
  useEffect(() => {
    const sock = liveSocket();
    const refetchAll = () => {
      void qc.invalidateQueries({ queryKey: ['room', roomId] });
      void qc.invalidateQueries({ queryKey: keys.hosts(roomId) });
      void qc.invalidateQueries({ queryKey: ['run'] });
    };
    const onPc = (p: RunPcChanged) => {
      if (p.roomId !== roomId) return;
      const found = patchRunPc(qc, keys.run(p.runId), p.runPcId, (pc) => ({ ...pc, state: p.state as PcState, reason: p.reasonCode ? { code: p.reasonCode, text: p.reasonText } : pc.reason, updatedAt: p.at }));
      if (!found) void refetchSoon(qc, keys.latestRun(roomId));
      // A PC that ended: its reason in words and the run's end come with the report.
      if (isFinal(p.state)) void refetchSoon(qc, keys.report(p.runId));
    };
    const onProgress = (p: RunPcProgressed) => {
      if (p.roomId !== roomId) return;
      patchRunPc(qc, keys.run(p.runId), p.runPcId, (pc) => ({ ...pc, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal }));
      setEtas((m) => new Map(m).set(p.runPcId, { etaSeconds: p.etaSeconds, phase: p.phase }));
    };
    const onRun = (p: { runId: number; roomId: number | null }) => {
      if (p.roomId !== roomId) return;
      void refetchSoon(qc, keys.latestRun(roomId));
      void refetchSoon(qc, keys.run(p.runId));
      void refetchSoon(qc, keys.report(p.runId));
    };
    const onHost = (p: { hostId: number; roomId: number | null }) => {
      if (p.roomId !== roomId) return;
      void refetchSoon(qc, keys.hosts(roomId));
      void refetchSoon(qc, keys.host(p.hostId));
    };
    const onRoom = (p: { roomId: number }) => {
      if (p.roomId === roomId) void qc.invalidateQueries({ queryKey: keys.room(roomId), exact: true });
    };
    sock.on('run:pc', onPc);
    sock.on('run:progress', onProgress);
    sock.on('run:update', onRun);
    sock.on('host:update', onHost);
    sock.on('room:update', onRoom);
    // Once subscribed (and after each reconnection), read the state again: an event sent before the
    // subscription took effect is then not missed.
    const unsubscribe = subscribe({ room: roomId }, refetchAll, setStatus);
    return () => {
      unsubscribe();
      sock.off('run:pc', onPc);
      sock.off('run:progress', onProgress);
      sock.off('run:update', onRun);
      sock.off('host:update', onHost);
      sock.off('room:update', onRoom);
    };
  }, [qc, roomId]);
  return { etas, status };
}

/**
 * Follows one run (its page): each PC's new state is patched into the cached run and report; a PC that
 * ended (its reason in words) or the run's own change refetches the report, coalesced.
 */
export function useRunLive(runId: number): LiveStatus {
  const qc = useQueryClient();
  const [status, setStatus] = useState<LiveStatus>('pending');
  useEffect(() => {
    const sock = liveSocket();
    const onPc = (p: RunPcChanged) => {
      if (p.runId !== runId) return;
      patchRunPc(qc, keys.run(runId), p.runPcId, (pc) => ({ ...pc, state: p.state as PcState, reason: p.reasonCode ? { code: p.reasonCode, text: p.reasonText } : pc.reason, updatedAt: p.at }));
      const patched = patchReportPc(qc, keys.report(runId), p.runPcId, p.state as PcState, p.at, p.reasonCode, p.reasonText);
      if (!patched || isFinal(p.state)) void refetchSoon(qc, keys.report(runId));
    };
    const onRun = (p: { runId: number }) => {
      if (p.runId !== runId) return;
      void refetchSoon(qc, keys.run(runId));
      void refetchSoon(qc, keys.report(runId));
    };
    sock.on('run:pc', onPc);
    sock.on('run:update', onRun);
    const unsubscribe = subscribe({ run: runId }, () => void qc.invalidateQueries({ queryKey: keys.run(runId) }), setStatus);
    return () => {
      unsubscribe();
      sock.off('run:pc', onPc);
      sock.off('run:update', onRun);
    };
  }, [qc, runId]);
  return status;
}
