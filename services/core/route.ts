// The route kit: one declaration per API route gives the Express handler, its input validation, its
// access rule and its OpenAPI entry. Nothing is mounted any other way, so a test can enumerate every
// route and its rule. Domains declare their routes with it; services/api mounts them (api/http.ts).
// Only Express's types are used here: importing this file starts nothing.
import fs from 'node:fs';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { ROLE_RANK, type AuthContext, type MachineAuth } from './auth.js';
import type { UserRole } from './db/schema.js';

/**
 * Who may call a route:
 * - 'public': anyone (health, login);
 * - 'boot': anyone, for PXE firmware and iPXE, which cannot log in: GET only, only under /boot/,
 *   rate-limited per address, and nothing secret in the answer;
 * - 'machine': a booted roomcast client with a valid signed boot token (Authorization: Bearer),
 *   never a user session or API token; rate-limited per address;
 * - a user role: a session or API token of that role or higher.
 */
export type Access = 'public' | 'boot' | 'machine' | UserRole;
export type MachineAccess = Extract<Access, 'boot' | 'machine'>;
export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface HandlerContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** Present on every route whose access is a user role. */
  auth: AuthContext | undefined;
  /** Present on every 'machine' route. */
  machine: MachineAuth | undefined;
  req: Request;
  res: Response;
}

type AnyObject = z.ZodType<Record<string, unknown>>;

export interface RouteSpec<P extends AnyObject, Q extends AnyObject, B extends z.ZodType> {
  method: Method;
  /** Express path syntax (`/api/v1/hosts/:id`). */
  path: string;
  summary: string;
  tag: string;
  access: Access;
  params?: P;
  query?: Q;
  /** JSON body schema; with `rawBody`, the body is a Buffer and this is ignored. */
  body?: B;
  /** Accept a raw upload of these media types (the handler receives a Buffer). */
  rawBody?: string[];
  /** Largest raw upload in bytes (default 20 MB). The app-wide JSON parser (1 MB) skips rawBody routes. */
  bodyLimit?: number;
  /**
   * With `rawBody`: no Buffer is made of the body; the handler reads `req` itself (a chunk upload goes
   * to its file as it arrives). Content-Type is still checked (415), and a Content-Length over
   * `bodyLimit` refused (413), before anything is read; the handler enforces the limit while reading.
   */
  streamBody?: boolean;
  /** Success status code (default 200). */
  status?: number;
  /** JSON response schema, or a media type for a non-JSON response, or null for 204. */
  response: z.ZodType | { mediaType: string } | null;
  /** Error codes this route documents besides the generic ones. */
  errors?: Record<number, string>;
  handler: (ctx: HandlerContext<z.output<P>, z.output<Q>, z.output<B>>) => Promise<unknown>;
}

// The registry stores routes with their types erased; `defineRoute` checks them at the call site.
export type AnyRoute = RouteSpec<AnyObject, AnyObject, z.ZodType>;

export function defineRoute<P extends AnyObject = AnyObject, Q extends AnyObject = AnyObject, B extends z.ZodType = z.ZodUnknown>(
  spec: RouteSpec<P, Q, B>,
): AnyRoute {
  const problem = accessProblem(spec.access, spec.method, spec.path);
  if (problem) throw new Error(`route ${spec.method.toUpperCase()} ${spec.path}: ${problem}`);
  return spec as unknown as AnyRoute;
}

/** The placement rules of the anonymous and machine classes, checked when a route is declared. */
export function accessProblem(access: Access, method: Method, path: string): string | null {
  const underBoot = path.startsWith('/boot/');
  if (access === 'boot') {
    if (method !== 'get' || !underBoot) return "access 'boot' (anonymous firmware) is only for GET routes under /boot/";
  } else if (underBoot) {
    return "routes under /boot/ are for firmware: their access must be 'boot'";
  }
  if (access === 'machine' && !path.startsWith('/api/v1/')) return "access 'machine' is only for routes under /api/v1/";
  return null;
}

export const isUserAccess = (access: Access): access is UserRole => Object.hasOwn(ROLE_RANK, access);

/** Whether a user of `role` may call a route of `access` (boot and machine routes take no users). */
export function allows(access: Access, role: UserRole | undefined): boolean {
  if (access === 'public') return true;
  if (!isUserAccess(access)) return false;
  return role !== undefined && ROLE_RANK[role] >= ROLE_RANK[access];
}

/**
 * An integer from a path or query string, in plain decimal only: "16", not "0x10", " 16", "1e1" or
 * "16.0" (z.coerce.number would take them all). `min` and `max` bound it.
 */
export const decimal = (what: string, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .regex(/^(0|[1-9]\d{0,15})$/, { error: `${what}: a whole number in plain decimal digits` })
    .transform(Number)
    .refine((n) => n >= min && n <= max, { error: `${what}: from ${min} to ${max}` });

/** Parses a positive integer id from a path parameter. */
export const idParam = z.object({ id: decimal('an id', 1) });

/**
 * RFC 9110 §14.1.2: a suffix range longer than the representation ("bytes=-5000" of 1,000 bytes)
 * means the whole of it (206), where Express's send answers 416. Rewrites such a header before sendFile.
 */
export function wholeForLongSuffix(req: Request, size: number): void {
  const m = /^bytes=-(\d{1,16})$/.exec(req.headers.range ?? '');
  if (m && size > 0 && Number(m[1]) >= size) req.headers.range = 'bytes=0-';
}

/**
 * Sends a whole file the server named (an upload it stored), with Range: a path with a dot-folder is
 * sent too (send's default ignores it), and a long suffix range is the whole file.
 */
export async function sendStoredFile(req: Request, res: Response, file: string): Promise<void> {
  if (req.headers.range) wholeForLongSuffix(req, (await fs.promises.stat(file)).size);
  await new Promise<void>((resolve, reject) => {
    res.sendFile(file, { acceptRanges: true, lastModified: false, cacheControl: false, dotfiles: 'allow', headers: { 'Content-Type': 'application/octet-stream' } }, (err) => (err && !res.headersSent ? reject(err) : resolve()));
  });
}

/** The caller's address as Express sees it (behind a trusted proxy: X-Forwarded-For). */
export function clientIp(req: Request): string | null {
  return req.ip ?? req.socket.remoteAddress ?? null;
}
