// Server state of the schedules, runs and report pages (TanStack Query): schedules of a room, the runs
// list, every room's newest run in one request, a cron said back in words, a run's estimate. A room's
// schedules live under ['room', id] so that the room's live reconnection refetches them too.
import { useQuery } from '@tanstack/react-query';
import { api, call, type Schemas } from './client.js';

export type Schedule = Schemas['Schedule'];
export type RoomLastRun = Schemas['RoomLastRun'];
export type PcLastResult = Schemas['PcLastResult'];
export type RunEstimate = Schemas['RunEstimate'];
export type RunState = Schemas['RunSummary']['state'];

export const runKeys = {
  schedules: (roomId: number) => ['room', roomId, 'schedules'] as const,
  runs: (state: string) => ['runs', state] as const,
  latestByRoom: ['runs', 'latest-by-room'] as const,
  latestByPc: (roomId: number) => ['room', roomId, 'latest-by-pc'] as const,
  cronWords: (cron: string, tz: string) => ['cron-words', cron, tz] as const,
  estimate: (imageId: number, version: number | null, pcs: number) => ['estimate', imageId, version, pcs] as const,
};

export const useRoomSchedules = (roomId: number) =>
  useQuery({ queryKey: runKeys.schedules(roomId), queryFn: () => call(api.GET('/api/v1/schedules', { params: { query: { room: String(roomId) } } })) });

export const useRuns = (state: RunState | '') =>
  useQuery({ queryKey: runKeys.runs(state), queryFn: () => call(api.GET('/api/v1/runs', { params: { query: { limit: '100', ...(state ? { state } : {}) } } })) });

/** Every room's newest run with its counts: one request for the whole rooms page. */
export const useLatestByRoom = () => useQuery({ queryKey: runKeys.latestByRoom, queryFn: () => call(api.GET('/api/v1/runs/latest-by-room')) });

/** Each PC of the room with its newest run result (for PCs the room's newest run did not include). */
export const useLatestByPc = (roomId: number) =>
  useQuery({ queryKey: runKeys.latestByPc(roomId), queryFn: () => call(api.GET('/api/v1/runs/latest-by-pc', { params: { query: { room: String(roomId) } } })) });

export const useCronWords = (cron: string, timeZone: string, enabled: boolean) =>
  useQuery({
    queryKey: runKeys.cronWords(cron, timeZone),
    enabled: enabled && cron.trim() !== '',
    retry: false,
    queryFn: () => call(api.GET('/api/v1/schedules/words', { params: { query: { cron, timeZone } } })),
  });

export const useEstimate = (imageId: number | null, version: number | null, pcs: number) =>
  useQuery({
    queryKey: runKeys.estimate(imageId ?? 0, version, pcs),
    enabled: imageId !== null && pcs > 0,
    retry: false,
    queryFn: () =>
      call(api.GET('/api/v1/runs/estimate', { params: { query: { image: String(imageId), pcs: String(pcs), ...(version !== null ? { version: String(version) } : {}) } } })),
  });
