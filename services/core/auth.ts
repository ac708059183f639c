// Who is calling: the verified identities every domain may see. The HTTP layer fills them in
// (services/api/http.ts); domains read them without importing the app.
import type { Actor } from './audit.js';
import type { UserRole } from './db/schema.js';

/** A person, through a session cookie or an API token. */
export interface AuthContext {
  userId: number;
  username: string;
  role: UserRole;
  via: 'session' | 'token';
  sessionId?: string;
  tokenId?: number;
  actor: Actor;
}

/** The verified claims of a boot token (services/boot/http/tokens.ts): a booted roomcast client. */
export interface MachineAuth {
  purpose: 'task' | 'register';
  /** aa:bb:cc:dd:ee:ff */
  mac: string;
  taskId?: number;
  hostId?: number;
  /** Expiry, unix seconds. */
  exp: number;
  actor: Actor;
}

/** The session cookie people's browsers send, and the header unsafe requests repeat its CSRF token in. */
export const SESSION_COOKIE = 'roomcast_session';
export const CSRF_HEADER = 'x-csrf-token';

export const ROLE_RANK: Record<UserRole, number> = { viewer: 1, technician: 2, admin: 3 };
