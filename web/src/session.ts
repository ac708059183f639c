// The current session as server state: GET /api/v1/auth/session (null when logged out), login, logout.
import { useQuery, type QueryClient } from '@tanstack/react-query';
import { api, ApiError, call, setCsrfToken, type Session } from './api/client.js';
import { closeLive } from './api/live.js';

export const SESSION_KEY = ['session'] as const;

/** Set when the server ended a session the page still had (expired, or logged out elsewhere): the login page says so once. */
let expired = false;
export const markSessionExpired = () => void (expired = true);
export function takeSessionExpired(): boolean {
  const was = expired;
  expired = false;
  return was;
}

async function fetchSession(): Promise<Session | null> {
  try {
    const s = await call(api.GET('/api/v1/auth/session'));
    setCsrfToken(s.csrfToken);
    return s;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

export const useSession = () => useQuery({ queryKey: SESSION_KEY, queryFn: fetchSession, staleTime: 60_000, retry: false });

export async function login(qc: QueryClient, username: string, password: string): Promise<Session> {
  const s = await call(api.POST('/api/v1/auth/login', { body: { username, password } }));
  setCsrfToken(s.csrfToken);
  qc.setQueryData(SESSION_KEY, s);
  return s;
}

export async function logout(qc: QueryClient): Promise<void> {
  try {
    await call(api.POST('/api/v1/auth/logout'));
  } finally {
    closeLive();
    setCsrfToken('');
    qc.clear();
    qc.setQueryData(SESSION_KEY, null);
  }
}
