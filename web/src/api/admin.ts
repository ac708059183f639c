// Server state of the inventory, PC, images and system pages (TanStack Query hooks), the CSV import
// (the file sent as the raw body, as it is: the server detects its encoding) and the role checks.
import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { useSession } from '../session.js';
import { api, call, type Schemas } from './client.js';
import { keys } from './queries.js';

export type Role = Schemas['User']['role'];
export type ImportReport = Schemas['ImportReport'];
export type Task = Schemas['Task'];
export type Health = Schemas['Health'];
export type ImageVersion = Schemas['ImageVersion'];

const RANK: Record<Role, number> = { viewer: 0, technician: 1, admin: 2 };

/** Whether the signed-in user has at least this role. */
export function useHasRole(min: Role): boolean {
  const role = useSession().data?.user.role;
  return role !== undefined && RANK[role] >= RANK[min];
}

/** The keys of this area's other queries (the PCs' are in ./queries.ts keys). */
export const adminKeys = {
  registration: ['registration'] as const,
  users: ['users'] as const,
  tokens: ['tokens'] as const,
  audit: ['audit'] as const,
  health: ['health'] as const,
  containers: ['containers'] as const,
};

/** PCs: of no room ("unassigned"), or all ("all"); `pollMs`: asked again that often (while registration is open). */
export const useHosts = (room: 'unassigned' | 'all', pollMs: number | false = false) =>
  useQuery({
    queryKey: keys.hostList(room),
    refetchInterval: pollMs,
    queryFn: () => call(api.GET('/api/v1/hosts', { params: { query: room === 'all' ? {} : { room } } })),
  });

export const useHost = (id: number) => useQuery({ queryKey: keys.host(id), queryFn: () => call(api.GET('/api/v1/hosts/{id}', { params: { path: { id: String(id) } } })) });

export const useHostTasks = (id: number) =>
  useQuery({ queryKey: keys.hostTasks(id), queryFn: () => call(api.GET('/api/v1/tasks', { params: { query: { hostId: String(id), limit: '50' } } })) });

export const useRegistration = () => useQuery({ queryKey: adminKeys.registration, queryFn: () => call(api.GET('/api/v1/boot/registration')) });

export const useUsers = () => useQuery({ queryKey: adminKeys.users, queryFn: () => call(api.GET('/api/v1/users')) });
export const useTokens = () => useQuery({ queryKey: adminKeys.tokens, queryFn: () => call(api.GET('/api/v1/tokens')) });
export const useContainers = () => useQuery({ queryKey: adminKeys.containers, queryFn: () => call(api.GET('/api/v1/system/containers', { params: { query: { logs: '0' } } })) });

/** /api/health answers 503 with the same body when degraded: that is still a report to show. */
export const useHealth = () =>
  useQuery({
    queryKey: adminKeys.health,
    queryFn: async (): Promise<Health> => {
      const r = await api.GET('/api/health');
      if (r.data) return r.data;
      if (r.response.status === 503 && r.error && typeof r.error === 'object' && 'status' in r.error) return r.error as unknown as Health;
      return call<Health>(Promise.resolve(r as { data?: Health; error?: unknown; response: Response }));
    },
  });

export const AUDIT_PAGE = 25;
export const useAudit = () =>
  useInfiniteQuery({
    queryKey: adminKeys.audit,
    initialPageParam: 0,
    queryFn: ({ pageParam }) => call(api.GET('/api/v1/audit', { params: { query: { limit: String(AUDIT_PAGE), ...(pageParam ? { before: String(pageParam) } : {}) } } })),
    getNextPageParam: (last) => (last.length < AUDIT_PAGE ? undefined : last[last.length - 1]!.id),
  });

/** Sends the CSV file as it is; the dry run writes nothing. */
export function importCsv(file: Blob, fileName: string, dryRun: boolean): Promise<ImportReport> {
  return call(
    api.POST('/api/v1/hosts/import', {
      params: { query: { dryRun: dryRun ? 'true' : 'false', fileName: fileName.slice(0, 200) } },
      body: file as unknown as string,
      bodySerializer: (b: unknown) => b as BodyInit,
      headers: { 'content-type': 'text/csv' },
    }),
  );
}

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];
/** Bytes in words: "465,8 Go" / "465.8 GB" (French uses "o"). */
export function formatBytes(lang: string, n: number): string {
  let v = n;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  const unit = lang === 'fr' ? UNITS[i]!.replace('B', 'o') : UNITS[i]!;
  return `${new Intl.NumberFormat(lang, { maximumFractionDigits: i === 0 ? 0 : 1 }).format(v)} ${unit}`;
}
