// Login, session, password, users and API tokens.
import { z } from 'zod';
import { AppError } from '../core/errors.js';
import { SESSION_COOKIE } from '../core/auth.js';
import { clientIp, defineRoute, idParam, type AnyRoute } from '../core/route.js';
import type { AccountService, SessionAuth } from './service.js';
import type { LoginLimiter } from './rate-limit.js';

const Role = z.enum(['admin', 'technician', 'viewer']);
const Username = z
  .string()
  .trim()
  .min(2)
  .max(64)
  .regex(/^[A-Za-z0-9._@-]+$/, { error: 'letters, digits, ".", "_", "@" and "-" only' });

export const UserSchema = z
  .object({
    id: z.number().int(),
    username: z.string(),
    role: Role,
    disabled: z.boolean(),
    mustChangePassword: z.boolean(),
    createdAt: z.string(),
    lastLoginAt: z.string().nullable(),
  })
  .meta({ id: 'User' });

const SessionSchema = z
  .object({
    user: UserSchema,
    csrfToken: z.string(),
    expiresAt: z.string().optional(),
    via: z.enum(['session', 'token']),
    timeZone: z.string().describe("the school's IANA time zone (ROOMCAST_TIME_ZONE, read-only): the web UI shows dates in it"),
  })
  .meta({ id: 'Session' });

const TokenSchema = z
  .object({ id: z.number().int(), name: z.string(), prefix: z.string(), role: Role, owner: z.string(), createdAt: z.string(), expiresAt: z.string().nullable(), lastUsedAt: z.string().nullable() })
  .meta({ id: 'ApiToken' });

export interface AccountRouteOptions {
  secureCookies: boolean;
  sessionHours: number;
  /** The school's time zone, told with the session. */
  timeZone: string;
}

export function accountRoutes(accounts: AccountService, limiter: LoginLimiter, opts: AccountRouteOptions): AnyRoute[] {
  const cookie = (value: string, maxAgeSeconds: number) =>
    `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${opts.secureCookies ? '; Secure' : ''}`;

  return [
    defineRoute({
      method: 'post',
      path: '/api/v1/auth/login',
      summary: 'Log in; sets the session cookie and returns the CSRF token',
      tag: 'auth',
      access: 'public',
      body: z.object({ username: z.string().min(1).max(128), password: z.string().min(1).max(1024) }),
      response: SessionSchema,
      errors: { 401: 'invalid_credentials', 429: 'too_many_attempts' },
      handler: async ({ body, req, res }) => {
        const ip = clientIp(req) ?? 'unknown';
        const wait = limiter.retryAfter(ip, body.username);
        if (wait > 0) {
          res.set('Retry-After', String(wait));
          throw new AppError(429, 'too_many_attempts', `too many failed logins; try again in ${wait} s`);
        }
        try {
          const s = await accounts.login(body.username, body.password, { ip, userAgent: req.get('user-agent') ?? null });
          limiter.succeed(ip, body.username);
          res.set('Set-Cookie', cookie(s.token, opts.sessionHours * 3600));
          return { user: s.user, csrfToken: s.csrfToken, expiresAt: s.expiresAt, via: 'session', timeZone: opts.timeZone };
        } catch (err) {
          if (err instanceof AppError && err.status === 401) limiter.fail(ip, body.username);
          throw err;
        }
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/auth/logout',
      summary: 'End the current session',
      tag: 'auth',
      access: 'viewer',
      response: null,
      status: 204,
      handler: async ({ auth, res }) => {
        if (auth?.sessionId) await accounts.logout(auth.sessionId, auth.actor);
        res.set('Set-Cookie', cookie('', 0));
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/auth/session',
      summary: 'Who am I; returns the CSRF token for this session',
      tag: 'auth',
      access: 'viewer',
      response: SessionSchema,
      handler: async ({ auth }) => {
        const user = await accounts.getUser(auth!.userId);
        return { user: { ...user, role: auth!.role }, csrfToken: (auth as SessionAuth).csrfToken ?? '', via: auth!.via, timeZone: opts.timeZone };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/auth/password',
      summary: 'Change my password (required after a one-time password)',
      tag: 'auth',
      access: 'viewer',
      body: z.object({ currentPassword: z.string().min(1).max(1024), newPassword: z.string().max(1024) }),
      response: null,
      status: 204,
      errors: { 403: 'wrong_password', 400: 'weak_password' },
      handler: async ({ auth, body }) => {
        if (auth!.via !== 'session') throw new AppError(403, 'forbidden', 'an API token cannot change a password');
        await accounts.changeOwnPassword(auth!, body.currentPassword, body.newPassword);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/users',
      summary: 'List users',
      tag: 'users',
      access: 'admin',
      response: z.array(UserSchema),
      handler: () => accounts.listUsers(),
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/users',
      summary: 'Create a user (the password must be changed at first login)',
      tag: 'users',
      access: 'admin',
      body: z.object({ username: Username, role: Role, password: z.string().max(1024) }),
      status: 201,
      response: UserSchema,
      errors: { 409: 'username_taken', 400: 'weak_password' },
      handler: ({ auth, body }) => accounts.createUser(auth!.actor, body),
    }),
    defineRoute({
      method: 'patch',
      path: '/api/v1/users/:id',
      summary: 'Change a user’s role, disable it, or reset its password',
      tag: 'users',
      access: 'admin',
      params: idParam,
      body: z.object({ role: Role.optional(), disabled: z.boolean().optional(), password: z.string().max(1024).optional() }).strict(),
      response: UserSchema,
      errors: { 409: 'last_admin' },
      handler: ({ auth, params, body }) => accounts.updateUser(auth!.actor, params.id, body),
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v1/users/:id',
      summary: 'Delete a user',
      tag: 'users',
      access: 'admin',
      params: idParam,
      response: null,
      status: 204,
      errors: { 409: 'last_admin' },
      handler: ({ auth, params }) => accounts.deleteUser(auth!.actor, params.id),
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/tokens',
      summary: 'List API tokens (mine; an admin sees all)',
      tag: 'tokens',
      access: 'viewer',
      response: z.array(TokenSchema),
      handler: ({ auth }) => accounts.listTokens(auth!),
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/tokens',
      summary: 'Create an API token for scripts (at most your own role; valid 365 days unless expiresInDays says otherwise, null: never expires); the token is shown only in this answer',
      tag: 'tokens',
      access: 'viewer',
      body: z.object({ name: z.string().trim().min(1).max(64), role: Role.optional(), expiresInDays: z.number().int().min(1).max(3650).nullable().optional().describe('default 365; null: never expires') }),
      status: 201,
      errors: { 403: 'role_too_high: a token cannot have more rights than its owner' },
      response: z.object({ id: z.number().int(), name: z.string(), role: Role, expiresAt: z.string().nullable(), token: z.string() }),
      handler: ({ auth, body }) => accounts.createToken(auth!, body),
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v1/tokens/:id',
      summary: 'Revoke an API token',
      tag: 'tokens',
      access: 'viewer',
      params: idParam,
      response: null,
      status: 204,
      handler: ({ auth, params }) => accounts.deleteToken(auth!, params.id),
    }),
  ];
}
