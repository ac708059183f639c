// Server state for the pages (TanStack Query): one hook per resource, with stable query keys the live
// updates (./useLive.ts) patch or invalidate. Every query key of the app's PCs is here, under one
// ['hosts'] root: invalidating keys.allHosts reaches every view of them (room, inventory, PC page).
import { useQuery } from '@tanstack/react-query';
import { api, call, type Run } from './client.js';
import { mergeReport, mergeRun, type RunReport } from './live-cache.js';

export const keys = {
  rooms: ['rooms'] as const,
  room: (id: number) => ['room', id] as const,
  allHosts: ['hosts'] as const,
  hosts: (roomId: number) => ['hosts', 'room', roomId] as const,
  hostList: (which: 'unassigned' | 'all') => ['hosts', 'list', which] as const,
  host: (id: number) => ['hosts', 'one', id] as const,
  hostTasks: (id: number) => ['hosts', 'one', id, 'tasks'] as const,
  latestRun: (roomId: number) => ['room', roomId, 'latest-run'] as const,
  run: (id: number) => ['run', id] as const,
  report: (id: number) => ['run', id, 'report'] as const,
  images: ['images'] as const,
};

export const useRooms = () => useQuery({ queryKey: keys.rooms, queryFn: () => call(api.GET('/api/v1/rooms')) });

export const useRoom = (id: number) => useQuery({ queryKey: keys.room(id), queryFn: () => call(api.GET('/api/v1/rooms/{id}', { params: { path: { id: String(id) } } })) });

export const useRoomHosts = (id: number) =>
  useQuery({ queryKey: keys.hosts(id), queryFn: () => call(api.GET('/api/v1/rooms/{id}/hosts', { params: { path: { id: String(id) } } })) });

/** The room's newest run (its summary), or null. */
export const useLatestRun = (roomId: number) =>
  useQuery({
    queryKey: keys.latestRun(roomId),
    queryFn: async () => (await call(api.GET('/api/v1/runs', { params: { query: { room: String(roomId), limit: '1' } } })))[0] ?? null,
  });

export const useRun = (id: number | null | undefined) =>
  useQuery({
    queryKey: keys.run(id ?? 0),
    enabled: typeof id === 'number' && id > 0,
    // Merged with the cache on arrival: a live patch made while this fetch was in flight is kept.
    queryFn: async ({ client, queryKey }) => mergeRun(client.getQueryData<Run>(queryKey), await call(api.GET('/api/v1/runs/{id}', { params: { path: { id: String(id) } } }))),
  });

export const useImages = (enabled = true) => useQuery({ queryKey: keys.images, enabled, queryFn: () => call(api.GET('/api/v1/images')) });

/** A run's morning report: its PCs' reasons in French and English (live pages refetch it through keys.run). */
export const useReport = (id: number | null | undefined, enabled = true) =>
  useQuery({
    queryKey: keys.report(id ?? 0),
    enabled: enabled && typeof id === 'number' && id > 0,
    queryFn: async ({ client, queryKey }) => mergeReport(client.getQueryData<RunReport>(queryKey), await call(api.GET('/api/v1/runs/{id}/report', { params: { path: { id: String(id) } } }))),
  });
