// Live refetches for the schedules and runs lists of a room page (the room's socket.io subscription is
// useRoomLive's): a schedule.changed event refetches the room's schedules, a run.changed one the runs
// lists, the rooms page's newest runs and the PCs' last results. And the rooms page: subscribed to
// every room (and the PCs of no room), its cards' counts follow each PC's state, their last result each
// run's change, their PC counts each PC's move.
import { useQueryClient } from '@tanstack/react-query';
import { useEffect } from 'react';
import type { RunPcChanged } from './events.js';
import { patchRoomCounts, refetchSoon } from './live-cache.js';
import { liveSocket, subscribe } from './live.js';
import { keys } from './queries.js';
import { runKeys, type RoomLastRun } from './runs-queries.js';

export function useRoomRunsLive(roomId: number): void {
  const qc = useQueryClient();
  useEffect(() => {
    const sock = liveSocket();
    const onSchedule = (p: { roomId: number }) => {
      if (p.roomId === roomId) void qc.invalidateQueries({ queryKey: runKeys.schedules(roomId) });
    };
    const onRun = (p: { roomId: number | null }) => {
      if (p.roomId !== roomId) return;
      void qc.invalidateQueries({ queryKey: ['runs'] });
      void qc.invalidateQueries({ queryKey: runKeys.latestByPc(roomId) });
    };
    sock.on('schedule:update', onSchedule);
    sock.on('run:update', onRun);
    return () => {
      sock.off('schedule:update', onSchedule);
      sock.off('run:update', onRun);
    };
  }, [qc, roomId]);
}

/** The rooms page: follows the rooms given (their ids) and the PCs of no room. */
export function useRoomsLive(roomIds: readonly number[]): void {
  const qc = useQueryClient();
  const ids = roomIds.join(',');
  useEffect(() => {
    const sock = liveSocket();
    const watched = new Set(ids ? ids.split(',').map(Number) : []);
    const mine = (roomId: number | null) => roomId !== null && watched.has(roomId);
    const lastRuns = () => void refetchSoon(qc, runKeys.latestByRoom);
    const rooms = () => void refetchSoon(qc, keys.rooms);
    const onPc = (p: RunPcChanged) => {
      if (!mine(p.roomId)) return;
      const before = qc.getQueryData<RoomLastRun[]>(runKeys.latestByRoom);
      const after = patchRoomCounts(before, p.runId, p.previous, p.state);
      if (after !== before) qc.setQueryData(runKeys.latestByRoom, after);
      // Not the newest run this page knows of (a new one): ask for the newest runs again.
      else if (!before?.some((l) => l.run.id === p.runId)) lastRuns();
    };
    const onRun = (p: { roomId: number | null }) => {
      if (mine(p.roomId)) lastRuns();
    };
    const onHost = () => rooms();
    const onRoom = (p: { roomId: number }) => {
      if (mine(p.roomId)) rooms();
    };
    sock.on('run:pc', onPc);
    sock.on('run:update', onRun);
    sock.on('host:update', onHost);
    sock.on('room:update', onRoom);
    // Once subscribed (and after each reconnection), read both lists again: nothing missed stays. The
    // answers of the rooms' subscriptions come together: one reading after the last of a burst.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const again = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        rooms();
        lastRuns();
      }, 50);
    };
    const offs = [...watched].map((room) => subscribe({ room }, again));
    offs.push(subscribe({ room: 'unassigned' }, again));
    return () => {
      clearTimeout(timer);
      for (const off of offs) off();
      sock.off('run:pc', onPc);
      sock.off('run:update', onRun);
      sock.off('host:update', onHost);
      sock.off('room:update', onRoom);
    };
  }, [qc, ids]);
}
