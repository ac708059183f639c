// The current session as server state: GET /api/v1/auth/session (null when logged out), login, logout,
// and what happens when the server ended the session: the previous user's data leaves the cache. The
// session answer also names the school's time zone, which every date of the UI is then shown in.
import { useQuery, type QueryClient } from '@tanstack/react-query';
import { api, ApiError, call, setCsrfToken, type Session } from './api/client.js';
import { closeLive } from './api/live.js';
import { setTimeZone } from './i18n/index.js';

export const SESSION_KEY = ['session'] as const;

/**
 * Set when the server ended a session the page still had (expired, or logged out elsewhere): the login
 * page says so until someone logs in again (a login page mounted twice, as when a second request
 * meets the 401, still says it).
 */
let expired = false;
export const markSessionExpired = () => void (expired = true);
export const sessionExpired = (): boolean => expired;

/** The session, or null; quiet on 401 (no loop through the 401 handler), but a session this page had that is now gone ends as any other. */
async function fetchSession(qc: QueryClient): Promise<Session | null> {
  try {
    const s = await call(api.GET('/api/v1/auth/session'), { quiet: true });
    setCsrfToken(s.csrfToken);
    setTimeZone(s.timeZone);
    return s;
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) throw err;
    if (qc.getQueryData(SESSION_KEY)) {
      markSessionExpired();
      closeLive();
      setCsrfToken('');
      forgetUserData(qc);
    }
    return null;
  }
}

export const useSession = () => useQuery({ queryKey: SESSION_KEY, queryFn: ({ client }) => fetchSession(client), staleTime: 60_000, retry: false });

/**
 * Drops every cached answer but the session's (its observers would refetch it at once) and stops the
 * fetches in flight: nothing the previous user saw is shown to the next one.
 */
export function forgetUserData(qc: QueryClient): void {
  const others = { predicate: (q: { queryKey: readonly unknown[] }) => q.queryKey[0] !== SESSION_KEY[0] };
  void qc.cancelQueries(others);
  qc.removeQueries(others);
}

/** The server said 401: back to the login page (saying so when a session was open), with an empty cache. */
export function sessionEnded(qc: QueryClient): void {
  if (qc.getQueryData(SESSION_KEY)) markSessionExpired();
  closeLive();
  setCsrfToken('');
  forgetUserData(qc);
  qc.setQueryData(SESSION_KEY, null);
}

export async function login(qc: QueryClient, username: string, password: string): Promise<Session> {
  const s = await call(api.POST('/api/v1/auth/login', { body: { username, password } }));
  setCsrfToken(s.csrfToken);
  setTimeZone(s.timeZone);
  expired = false;
  forgetUserData(qc);
  qc.setQueryData(SESSION_KEY, s);
  return s;
}

export async function logout(qc: QueryClient): Promise<void> {
  try {
    await call(api.POST('/api/v1/auth/logout'));
  } finally {
    closeLive();
    setCsrfToken('');
    expired = false;
    qc.clear();
    qc.setQueryData(SESSION_KEY, null);
  }
}
