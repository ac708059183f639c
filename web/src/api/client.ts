// The typed REST client (openapi-fetch over the generated schema.d.ts), same-origin with the session
// cookie; the CSRF token from the session is sent on every change. Problems become ApiError, and
// ./problems.ts turns any error into a sentence in the current language (never a raw error on screen).
import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema.js';

export type Schemas = components['schemas'];
export type Session = Schemas['Session'];
export type Room = Schemas['Room'];
export type Host = Schemas['Host'];
export type Run = Schemas['Run'];
export type RunPc = Schemas['RunPc'];
export type RunSummary = Schemas['RunSummary'];
export type Image = Schemas['Image'];
export type PcState = RunPc['state'];

export const CSRF_HEADER = 'x-csrf-token';
let csrfToken = '';
export const setCsrfToken = (token: string) => void (csrfToken = token);

/** Told when the server says the session is gone (401), so the app goes back to the login page. */
let onUnauthenticated: () => void = () => {};
export const setUnauthenticatedHandler = (fn: () => void) => void (onUnauthenticated = fn);

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
  ) {
    super(detail);
  }
}

/** No answer at all (the server is down, the Wi-Fi dropped). */
export class NetworkError extends Error {
  override name = 'NetworkError';
}

const csrf: Middleware = {
  onRequest({ request }) {
    if (!['GET', 'HEAD', 'OPTIONS'].includes(request.method) && csrfToken) request.headers.set(CSRF_HEADER, csrfToken);
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: '', credentials: 'same-origin' });
api.use(csrf);

/**
 * The data of an openapi-fetch answer, or throws ApiError / NetworkError. A 401 tells the app the
 * session is gone, except with `quiet` (the session check itself: a 401 there is just "logged out").
 */
export async function call<T>(p: Promise<{ data?: T; error?: unknown; response: Response }>, opts: { quiet?: boolean } = {}): Promise<T> {
  let r: { data?: T; error?: unknown; response: Response };
  try {
    r = await p;
  } catch (err) {
    throw new NetworkError((err as Error).message);
  }
  if (r.response.ok) return r.data as T;
  const body = (r.error ?? {}) as { code?: unknown; error?: unknown; detail?: unknown; message?: unknown };
  const code = typeof body.code === 'string' ? body.code : typeof body.error === 'string' ? body.error : `http_${r.response.status}`;
  const detail = typeof body.detail === 'string' ? body.detail : typeof body.message === 'string' ? body.message : r.response.statusText;
  if (r.response.status === 401 && code !== 'invalid_credentials' && !opts.quiet) onUnauthenticated();
  throw new ApiError(r.response.status, code, detail);
}
