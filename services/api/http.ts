// Express plumbing shared by every route: authentication, CSRF, validation, problem+json errors.
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { AppError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { AccountService, SessionAuth } from '../accounts/service.js';
import { CSRF_HEADER, SESSION_COOKIE, type AuthContext, type MachineAuth } from '../core/auth.js';
import { allows, clientIp, isUserAccess, type AnyRoute } from '../core/route.js';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Routes a user whose password must change can still call. */
const ALLOWED_BEFORE_PASSWORD_CHANGE = new Set(['/api/v1/auth/session', '/api/v1/auth/password', '/api/v1/auth/logout']);

declare module 'express-serve-static-core' {
  interface Request {
    auth?: AuthContext | SessionAuth;
    machine?: MachineAuth;
  }
}

/** What mountRoute needs to check each access class. */
export interface MountOptions {
  accounts: Pick<AccountService, 'authenticateSession' | 'authenticateToken'>;
  /** Verifies a boot token (Authorization: Bearer) for 'machine' routes; null when invalid or expired. */
  verifyMachineToken: (token: string, ip: string | null) => Promise<MachineAuth | null>;
  /** One token per request on 'boot' and 'machine' routes, keyed by route and address; false: answer 429. */
  takeMachineToken: (key: string) => boolean;
}

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const raw = part.slice(eq + 1).trim();
    try {
      out[key] = decodeURIComponent(raw);
    } catch {
      out[key] = raw;
    }
  }
  return out;
}

/** Resolves the caller from a bearer token or the session cookie; never rejects by itself. */
export function authenticate(accounts: Pick<AccountService, 'authenticateSession' | 'authenticateToken'>): RequestHandler {
  return async (req, _res, next) => {
    try {
      const header = req.headers.authorization;
      if (header?.startsWith('Bearer ')) {
        req.auth = (await accounts.authenticateToken(header.slice(7).trim(), clientIp(req))) ?? undefined;
        if (!req.auth) throw new AppError(401, 'invalid_token', 'the API token is unknown, expired or revoked');
      } else {
        const token = parseCookies(req.headers.cookie)[SESSION_COOKIE];
        if (token) req.auth = (await accounts.authenticateSession(token, clientIp(req))) ?? undefined;
      }
      next();
    } catch (err) {
      next(err);
    }
  };
}

function zodProblem(where: string, error: z.ZodError): AppError {
  const errors = error.issues.map((i) => ({ path: [where, ...i.path.map(String)].join('.'), message: i.message }));
  const first = errors[0];
  return new AppError(400, 'validation_failed', first ? `invalid ${first.path}: ${first.message}` : `invalid ${where}`, errors);
}

function parseWith<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T {
  if (!schema) return (value ?? {}) as T;
  const r = schema.safeParse(value ?? {});
  if (!r.success) throw zodProblem(where, r.error);
  return r.data;
}

/** Checks access for one route; separated so tests can reason about the same rule. */
function authorize(route: AnyRoute, req: Request): void {
  if (route.access === 'public') return;
  const auth = req.auth;
  if (!auth) throw new AppError(401, 'unauthenticated', 'log in first (session cookie) or send an API token (Authorization: Bearer …)');
  if (auth.via === 'session' && !SAFE_METHODS.has(req.method)) {
    const sent = req.get(CSRF_HEADER);
    if (!sent || sent !== (auth as SessionAuth).csrfToken) {
      throw new AppError(403, 'csrf_failed', `missing or wrong ${CSRF_HEADER} header; read it from GET /api/v1/auth/session`);
    }
  }
  if ((auth as SessionAuth).mustChangePassword && !ALLOWED_BEFORE_PASSWORD_CHANGE.has(route.path)) {
    throw new AppError(403, 'password_change_required', 'this one-time password must be changed first: POST /api/v1/auth/password');
  }
  if (!allows(route.access, auth.role)) {
    throw new AppError(403, 'forbidden', `this needs the ${route.access} role; you are ${auth.role}`);
  }
}

/** Anonymous firmware and booted clients: a bucket per route and address, then (machine) the boot token. */
function machineGate(route: AnyRoute, opts: MountOptions): RequestHandler {
  return async (req, res, next) => {
    try {
      const ip = clientIp(req);
      // One bucket per route and address: the boot role's policy lookups (one address for a whole
      // site) do not eat the budget of the PCs' own script and kernel downloads, nor the reverse.
      if (!opts.takeMachineToken(`${route.method} ${route.path}|${ip ?? 'unknown'}`)) {
        res.set('Retry-After', '1');
        throw new AppError(429, 'rate_limited', 'too many requests from this address; slow down and retry in a second');
      }
      if (route.access === 'machine') {
        const header = req.headers.authorization;
        if (!header?.startsWith('Bearer ')) throw new AppError(401, 'unauthenticated', 'send the boot token from the kernel command line (roomcast.token) as Authorization: Bearer …');
        const machine = await opts.verifyMachineToken(header.slice(7).trim(), ip);
        if (!machine) throw new AppError(401, 'invalid_token', 'the boot token is malformed, forged or expired; network-boot the PC again to get a fresh one');
        req.machine = machine;
      }
      next();
    } catch (err) {
      next(err);
    }
  };
}

const JSON_TYPES = ['application/json', 'application/*+json'];
/** Whether the request carries a body (RFC 9112: a length above 0, or chunked). */
const hasBody = (req: Request) => req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;

export function mountRoute(router: express.Router, route: AnyRoute, opts: MountOptions): void {
  const handlers: RequestHandler[] = [];
  // Access is checked before any body is read.
  if (isUserAccess(route.access) || route.access === 'public') {
    handlers.push(authenticate(opts.accounts));
    handlers.push((req, _res, next) => {
      try {
        authorize(route, req);
        next();
      } catch (err) {
        next(err);
      }
    });
  } else {
    handlers.push(machineGate(route, opts));
  }
  if (route.rawBody && route.streamBody) {
    const types = route.rawBody;
    const limit = route.bodyLimit ?? 20 * 1024 * 1024;
    handlers.push((req, _res, next) => {
      if (!req.is(types)) return next(new AppError(415, 'unsupported_media_type', `send the file as the request body with Content-Type ${types.join(' or ')}`));
      if (Number(req.get('content-length') ?? 0) > limit) return next(new AppError(413, 'payload_too_large', `the body is larger than ${limit} bytes`));
      next();
    });
  } else if (route.rawBody) {
    handlers.push(express.raw({ type: route.rawBody, limit: route.bodyLimit ?? '20mb' }));
  }
  handlers.push(async (req: Request, res: Response, next: NextFunction) => {
    try {
      if (route.rawBody && !route.streamBody && !Buffer.isBuffer(req.body)) {
        throw new AppError(415, 'unsupported_media_type', `send the file as the request body with Content-Type ${route.rawBody.join(' or ')}`);
      }
      // A JSON route called with another body type: say so (415), rather than "expected object".
      if (route.body && !route.rawBody && hasBody(req) && !req.is(JSON_TYPES)) {
        throw new AppError(415, 'unsupported_media_type', `send the body as JSON with Content-Type: application/json (got ${req.get('content-type') ?? 'no Content-Type'})`);
      }
      const params = parseWith(route.params, req.params, 'params');
      const query = parseWith(route.query, req.query, 'query');
      const body = route.rawBody ? (route.streamBody ? undefined : req.body) : parseWith(route.body, req.body, 'body');
      const result = await route.handler({ params, query, body, auth: req.auth, machine: req.machine, req, res });
      if (res.headersSent) return;
      // A handler may set another status itself (health answers 503 when degraded).
      const status = res.statusCode !== 200 ? res.statusCode : (route.status ?? 200);
      if (route.response === null || status === 204) res.status(204).end();
      else if ('mediaType' in route.response) res.status(status).type(route.response.mediaType).send(result);
      else res.status(status).json(result);
    } catch (err) {
      next(err);
    }
  });
  router[route.method](route.path, ...handlers);
}

export function problemHandler(log: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    let problem: AppError;
    if (err instanceof AppError) problem = err;
    else if (err instanceof z.ZodError) problem = zodProblem('input', err);
    else if (isHttpError(err) && err.status < 500) {
      const code = err.type === 'entity.too.large' ? 'payload_too_large' : err.type === 'entity.parse.failed' ? 'bad_json' : 'bad_request';
      problem = new AppError(err.status, code, code === 'bad_json' ? 'the request body is not valid JSON' : err.message);
    } else {
      log.error({ err, method: req.method, url: req.originalUrl }, 'request failed');
      problem = new AppError(500, 'internal_error', 'something went wrong on the server; the log has the details');
    }
    if (res.headersSent) return;
    res.status(problem.status).type('application/problem+json').send(JSON.stringify(problem.toProblem()));
  };
}

function isHttpError(err: unknown): err is { status: number; type?: string; message: string } {
  return typeof err === 'object' && err !== null && typeof (err as { status?: unknown }).status === 'number';
}

export function securityHeaders(): RequestHandler {
  return (_req, res, next) => {
    res.set({
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'no-referrer',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Content-Security-Policy': "default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'",
    });
    next();
  };
}

export function requestLog(log: Logger): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      const level = res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'debug';
      log[level]({ method: req.method, url: req.originalUrl.split('?')[0], status: res.statusCode, ms: Math.round(ms * 10) / 10, user: req.auth?.username ?? req.machine?.actor.name }, 'http');
    });
    next();
  };
}
