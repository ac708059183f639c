// Live refetches for the schedules and runs lists of a room page (the room's socket.io subscription is
// useRoomLive's): a schedule.changed event refetches the room's schedules, a run.changed one the runs
// lists, the rooms page's newest runs and the PCs' last results.
import { useQueryClient } from '@tanstack/react-query';
import { useEffect } from 'react';
import { liveSocket } from './live.js';
import { runKeys } from './runs-queries.js';

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
