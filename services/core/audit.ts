// The audit log: who changed what. Written in the same transaction as the change it records.
import type { Kysely } from 'kysely';
import { nowIso, type DB } from './db/index.js';

export interface Actor {
  userId: number | null;
  /** Username, or "system", or "token:<name> (<username>)". */
  name: string;
  ip: string | null;
}

export const SYSTEM_ACTOR: Actor = { userId: null, name: 'system', ip: null };

export interface AuditRecord {
  action: string;
  targetType?: string;
  targetId?: string | number;
  details?: Record<string, unknown>;
}

export async function writeAudit(db: Kysely<DB>, actor: Actor, rec: AuditRecord): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      at: nowIso(),
      user_id: actor.userId,
      actor: actor.name,
      action: rec.action,
      target_type: rec.targetType ?? null,
      target_id: rec.targetId === undefined ? null : String(rec.targetId),
      details: rec.details === undefined ? null : JSON.stringify(rec.details),
      ip: actor.ip,
    })
    .execute();
}

export interface AuditQuery {
  limit: number;
  beforeId?: number;
  action?: string;
  targetType?: string;
}

export async function listAudit(db: Kysely<DB>, q: AuditQuery) {
  let query = db.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(q.limit);
  if (q.beforeId !== undefined) query = query.where('id', '<', q.beforeId);
  if (q.action) query = query.where('action', '=', q.action);
  if (q.targetType) query = query.where('target_type', '=', q.targetType);
  const rows = await query.execute();
  return rows.map((r) => ({
    id: r.id,
    at: r.at,
    userId: r.user_id,
    actor: r.actor,
    action: r.action,
    targetType: r.target_type,
    targetId: r.target_id,
    details: r.details === null ? null : (JSON.parse(r.details) as Record<string, unknown>),
    ip: r.ip,
  }));
}
