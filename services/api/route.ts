// One declaration per API route gives the Express handler, its input validation, its access rule and its
// OpenAPI entry. Nothing is mounted any other way, so a test can enumerate every route and its rule.
import type { Request, Response } from 'express';
import { z } from 'zod';
import type { Actor } from '../core/audit.js';
import type { UserRole } from '../core/db/schema.js';

export type Access = 'public' | UserRole;
export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface AuthContext {
  userId: number;
  username: string;
  role: UserRole;
  via: 'session' | 'token';
  sessionId?: string;
  tokenId?: number;
  actor: Actor;
}

export interface HandlerContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** Present on every route whose access is not 'public'. */
  auth: AuthContext | undefined;
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
  return spec as unknown as AnyRoute;
}

export const ROLE_RANK: Record<UserRole, number> = { viewer: 1, technician: 2, admin: 3 };

export function allows(access: Access, role: UserRole | undefined): boolean {
  if (access === 'public') return true;
  return role !== undefined && ROLE_RANK[role] >= ROLE_RANK[access];
}

/** Parses a positive integer id from a path parameter. */
export const idParam = z.object({
  id: z.coerce.number({ error: 'an integer id' }).int().positive({ error: 'a positive integer id' }),
});
