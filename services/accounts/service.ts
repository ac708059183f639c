// Users, sessions and API tokens. Tokens and session ids are stored only as SHA-256 hashes.
import type { Kysely } from 'kysely';
import { SYSTEM_ACTOR, writeAudit, type Actor } from '../core/audit.js';
import { randomToken, readablePassword, sha256Hex } from '../core/crypto.js';
import { nowIso, type DB } from '../core/db/index.js';
import type { User, UserRole } from '../core/db/schema.js';
import { AppError, conflict, notFound } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { AuthContext } from '../core/auth.js';
import { dummyVerify, hashPassword, passwordProblem, verifyPassword } from './passwords.js';

export interface PublicUser {
  id: number;
  username: string;
  role: UserRole;
  disabled: boolean;
  mustChangePassword: boolean;
  createdAt: string;
  lastLoginAt: string | null;
}

export const toPublicUser = (u: User): PublicUser => ({
  id: u.id,
  username: u.username,
  role: u.role,
  disabled: u.disabled === 1,
  mustChangePassword: u.must_change_password === 1,
  createdAt: u.created_at,
  lastLoginAt: u.last_login_at,
});

export interface SessionAuth extends AuthContext {
  csrfToken: string;
  mustChangePassword: boolean;
}

const TOKEN_PREFIX = 'rc_';
/** Lifetime of an API token when its creator names none. */
export const DEFAULT_TOKEN_DAYS = 365;
const ROLE_ORDER: UserRole[] = ['viewer', 'technician', 'admin'];
const minRole = (a: UserRole, b: UserRole): UserRole => (ROLE_ORDER.indexOf(a) < ROLE_ORDER.indexOf(b) ? a : b);

export class AccountService {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly opts: { sessionHours: number },
    private readonly log: Logger,
  ) {}

  /** On a database with no user, creates `admin`. Returns the one-time password when it generated one. */
  async bootstrapAdmin(configured: string | undefined): Promise<{ created: boolean; generatedPassword?: string }> {
    const existing = await this.db.selectFrom('users').select('id').limit(1).executeTakeFirst();
    if (existing) return { created: false };
    const password = configured ?? readablePassword(16);
    const now = nowIso();
    try {
      await this.db.transaction().execute(async (trx) => {
        const row = await trx
          .insertInto('users')
          .values({
            username: 'admin',
            password_hash: await hashPassword(password),
            role: 'admin',
            disabled: 0,
            must_change_password: configured ? 0 : 1,
            created_at: now,
            updated_at: now,
            last_login_at: null,
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        await writeAudit(trx, SYSTEM_ACTOR, { action: 'user.create', targetType: 'user', targetId: row.id, details: { username: 'admin', role: 'admin', firstStart: true } });
      });
    } catch (err) {
      // Another process created it at the same moment (unique index): nothing to do.
      if (await this.db.selectFrom('users').select('id').limit(1).executeTakeFirst()) return { created: false };
      throw err;
    }
    return configured ? { created: true } : { created: true, generatedPassword: password };
  }

  async login(username: string, password: string, meta: { ip: string | null; userAgent: string | null }) {
    const user = await this.db
      .selectFrom('users')
      .selectAll()
      .where((eb) => eb(eb.fn('lower', ['username']), '=', username.toLowerCase()))
      .executeTakeFirst();
    const ok = user ? await verifyPassword(user.password_hash, password) : await dummyVerify(password);
    if (!user || !ok || user.disabled === 1) {
      await writeAudit(this.db, { userId: user?.id ?? null, name: username.slice(0, 64), ip: meta.ip }, { action: 'auth.login_failed', details: { reason: !user ? 'unknown user' : !ok ? 'wrong password' : 'disabled' } });
      throw new AppError(401, 'invalid_credentials', 'wrong username or password, or the account is disabled');
    }
    const token = randomToken(32);
    const csrfToken = randomToken(24);
    const now = new Date();
    const expiresAt = new Date(now.getTime() + this.opts.sessionHours * 3600_000).toISOString();
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('sessions')
        .values({ id: sha256Hex(token), user_id: user.id, csrf_token: csrfToken, created_at: now.toISOString(), expires_at: expiresAt, last_seen_at: now.toISOString(), ip: meta.ip, user_agent: meta.userAgent?.slice(0, 300) ?? null })
        .execute();
      await trx.updateTable('users').set({ last_login_at: now.toISOString() }).where('id', '=', user.id).execute();
      await writeAudit(trx, { userId: user.id, name: user.username, ip: meta.ip }, { action: 'auth.login' });
    });
    return { token, csrfToken, expiresAt, user: toPublicUser({ ...user, last_login_at: now.toISOString() }) };
  }

  async logout(sessionId: string, actor: Actor): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('sessions').where('id', '=', sessionId).execute();
      await writeAudit(trx, actor, { action: 'auth.logout' });
    });
  }

  async authenticateSession(token: string, ip: string | null): Promise<SessionAuth | null> {
    const id = sha256Hex(token);
    const row = await this.db
      .selectFrom('sessions')
      .innerJoin('users', 'users.id', 'sessions.user_id')
      .select(['sessions.id as sid', 'sessions.csrf_token', 'sessions.expires_at', 'sessions.last_seen_at', 'users.id as uid', 'users.username', 'users.role', 'users.disabled', 'users.must_change_password'])
      .where('sessions.id', '=', id)
      .executeTakeFirst();
    if (!row || row.disabled === 1) return null;
    const now = new Date();
    if (row.expires_at <= now.toISOString()) {
      await this.db.deleteFrom('sessions').where('id', '=', id).execute();
      return null;
    }
    if (now.getTime() - Date.parse(row.last_seen_at) > 60_000) {
      await this.db.updateTable('sessions').set({ last_seen_at: now.toISOString() }).where('id', '=', id).execute();
    }
    return {
      userId: row.uid,
      username: row.username,
      role: row.role,
      via: 'session',
      sessionId: row.sid,
      csrfToken: row.csrf_token,
      mustChangePassword: row.must_change_password === 1,
      actor: { userId: row.uid, name: row.username, ip },
    };
  }

  async authenticateToken(token: string, ip: string | null): Promise<AuthContext | null> {
    if (!token.startsWith(TOKEN_PREFIX)) return null;
    const row = await this.db
      .selectFrom('api_tokens')
      .innerJoin('users', 'users.id', 'api_tokens.user_id')
      .select(['api_tokens.id as tid', 'api_tokens.name', 'api_tokens.role as token_role', 'api_tokens.expires_at', 'api_tokens.last_used_at', 'users.id as uid', 'users.username', 'users.role', 'users.disabled'])
      .where('api_tokens.token_hash', '=', sha256Hex(token))
      .executeTakeFirst();
    if (!row || row.disabled === 1) return null;
    const now = new Date();
    if (row.expires_at !== null && row.expires_at <= now.toISOString()) return null;
    if (row.last_used_at === null || now.getTime() - Date.parse(row.last_used_at) > 60_000) {
      await this.db.updateTable('api_tokens').set({ last_used_at: now.toISOString() }).where('id', '=', row.tid).execute();
    }
    return {
      userId: row.uid,
      username: row.username,
      // A token never has more rights than its owner has now.
      role: minRole(row.token_role, row.role),
      via: 'token',
      tokenId: row.tid,
      actor: { userId: row.uid, name: `token:${row.name} (${row.username})`, ip },
    };
  }

  async changeOwnPassword(auth: AuthContext, current: string, next: string): Promise<void> {
    const user = await this.db.selectFrom('users').selectAll().where('id', '=', auth.userId).executeTakeFirstOrThrow();
    if (!(await verifyPassword(user.password_hash, current))) {
      throw new AppError(403, 'wrong_password', 'the current password is wrong');
    }
    const problem = passwordProblem(next);
    if (problem) throw new AppError(400, 'weak_password', problem);
    if (next === current) throw new AppError(400, 'weak_password', 'the new password must differ from the current one');
    await this.db.transaction().execute(async (trx) => {
      await trx.updateTable('users').set({ password_hash: await hashPassword(next), must_change_password: 0, updated_at: nowIso() }).where('id', '=', user.id).execute();
      // Other sessions of this user end; the current one stays.
      let del = trx.deleteFrom('sessions').where('user_id', '=', user.id);
      if (auth.sessionId) del = del.where('id', '!=', auth.sessionId);
      await del.execute();
      await writeAudit(trx, auth.actor, { action: 'user.password_change', targetType: 'user', targetId: user.id });
    });
  }

  async getUser(id: number): Promise<PublicUser> {
    const user = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    if (!user) throw notFound('user', id);
    return toPublicUser(user);
  }

  listUsers() {
    return this.db.selectFrom('users').selectAll().orderBy('username').execute().then((r) => r.map(toPublicUser));
  }

  async createUser(actor: Actor, input: { username: string; role: UserRole; password: string }): Promise<PublicUser> {
    const problem = passwordProblem(input.password);
    if (problem) throw new AppError(400, 'weak_password', problem);
    const now = nowIso();
    const hash = await hashPassword(input.password);
    return this.db.transaction().execute(async (trx) => {
      const clash = await trx.selectFrom('users').select('id').where((eb) => eb(eb.fn('lower', ['username']), '=', input.username.toLowerCase())).executeTakeFirst();
      if (clash) throw conflict('username_taken', `a user named "${input.username}" already exists`);
      const user = await trx
        .insertInto('users')
        .values({ username: input.username, password_hash: hash, role: input.role, disabled: 0, must_change_password: 1, created_at: now, updated_at: now, last_login_at: null })
        .returningAll()
        .executeTakeFirstOrThrow();
      await writeAudit(trx, actor, { action: 'user.create', targetType: 'user', targetId: user.id, details: { username: user.username, role: user.role } });
      return toPublicUser(user);
    });
  }

  async updateUser(actor: Actor, id: number, patch: { role?: UserRole; disabled?: boolean; password?: string }): Promise<PublicUser> {
    if (patch.password !== undefined) {
      const problem = passwordProblem(patch.password);
      if (problem) throw new AppError(400, 'weak_password', problem);
    }
    const hash = patch.password === undefined ? undefined : await hashPassword(patch.password);
    return this.db.transaction().execute(async (trx) => {
      const user = await trx.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
      if (!user) throw notFound('user', id);
      const losesAdmin = user.role === 'admin' && ((patch.role !== undefined && patch.role !== 'admin') || patch.disabled === true);
      if (losesAdmin) await this.assertAnotherAdmin(trx, id);
      const updated = await trx
        .updateTable('users')
        .set({
          ...(patch.role !== undefined ? { role: patch.role } : {}),
          ...(patch.disabled !== undefined ? { disabled: patch.disabled ? 1 : 0 } : {}),
          ...(hash !== undefined ? { password_hash: hash, must_change_password: 1 } : {}),
          updated_at: nowIso(),
        })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow();
      if (patch.disabled === true || hash !== undefined || patch.role !== undefined) {
        await trx.deleteFrom('sessions').where('user_id', '=', id).execute();
      }
      await writeAudit(trx, actor, { action: 'user.update', targetType: 'user', targetId: id, details: { role: patch.role, disabled: patch.disabled, passwordReset: hash !== undefined } });
      return toPublicUser(updated);
    });
  }

  async deleteUser(actor: Actor, id: number): Promise<void> {
    if (actor.userId === id) throw new AppError(409, 'cannot_delete_self', 'you cannot delete your own account');
    await this.db.transaction().execute(async (trx) => {
      const user = await trx.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
      if (!user) throw notFound('user', id);
      if (user.role === 'admin') await this.assertAnotherAdmin(trx, id);
      await trx.deleteFrom('users').where('id', '=', id).execute();
      await writeAudit(trx, actor, { action: 'user.delete', targetType: 'user', targetId: id, details: { username: user.username } });
    });
  }

  private async assertAnotherAdmin(trx: Kysely<DB>, exceptId: number): Promise<void> {
    const other = await trx.selectFrom('users').select('id').where('role', '=', 'admin').where('disabled', '=', 0).where('id', '!=', exceptId).executeTakeFirst();
    if (!other) throw conflict('last_admin', 'this is the last active admin; make another user admin first');
  }

  async listTokens(auth: AuthContext) {
    let q = this.db.selectFrom('api_tokens').innerJoin('users', 'users.id', 'api_tokens.user_id').select(['api_tokens.id', 'api_tokens.name', 'api_tokens.prefix', 'api_tokens.role', 'api_tokens.created_at', 'api_tokens.expires_at', 'api_tokens.last_used_at', 'users.username']).orderBy('api_tokens.id');
    if (auth.role !== 'admin') q = q.where('api_tokens.user_id', '=', auth.userId);
    const rows = await q.execute();
    return rows.map((r) => ({ id: r.id, name: r.name, prefix: r.prefix, role: r.role, owner: r.username, createdAt: r.created_at, expiresAt: r.expires_at, lastUsedAt: r.last_used_at }));
  }

  /**
   * A token of at most the caller's role (asking for more is refused, not quietly lowered), valid
   * `expiresInDays` (default 365; `null`: never expires, which has to be asked for).
   */
  async createToken(auth: AuthContext, input: { name: string; role?: UserRole; expiresInDays?: number | null }) {
    if (input.role && ROLE_ORDER.indexOf(input.role) > ROLE_ORDER.indexOf(auth.role)) {
      throw new AppError(403, 'role_too_high', `a token cannot have more rights than its owner: you are ${auth.role} and asked for ${input.role}`);
    }
    const role = minRole(input.role ?? auth.role, auth.role);
    const token = TOKEN_PREFIX + randomToken(32);
    const now = new Date();
    const days = input.expiresInDays === undefined ? DEFAULT_TOKEN_DAYS : input.expiresInDays;
    const expiresAt = days === null ? null : new Date(now.getTime() + days * 86_400_000).toISOString();
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('api_tokens')
        .values({ user_id: auth.userId, name: input.name, token_hash: sha256Hex(token), prefix: token.slice(0, TOKEN_PREFIX.length + 6), role, created_at: now.toISOString(), expires_at: expiresAt, last_used_at: null })
        .returning('id')
        .executeTakeFirstOrThrow();
      await writeAudit(trx, auth.actor, { action: 'token.create', targetType: 'api_token', targetId: row.id, details: { name: input.name, role } });
      return { id: row.id, name: input.name, role, expiresAt, token };
    });
  }

  async deleteToken(auth: AuthContext, id: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('api_tokens').select(['id', 'user_id', 'name']).where('id', '=', id).executeTakeFirst();
      if (!row || (auth.role !== 'admin' && row.user_id !== auth.userId)) throw notFound('API token', id);
      await trx.deleteFrom('api_tokens').where('id', '=', id).execute();
      await writeAudit(trx, auth.actor, { action: 'token.delete', targetType: 'api_token', targetId: id, details: { name: row.name } });
    });
  }

  async purgeExpiredSessions(): Promise<number> {
    const res = await this.db.deleteFrom('sessions').where('expires_at', '<=', nowIso()).executeTakeFirst();
    const n = Number(res.numDeletedRows);
    if (n > 0) this.log.info({ sessions: n }, 'expired sessions removed');
    return n;
  }
}
