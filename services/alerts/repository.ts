// The `alerts` table: every query on it, and its only writer.
import type { Kysely } from 'kysely';
import { nowIso, type DB } from '../core/db/index.js';
import type { Alert, AlertSeverity } from '../core/db/schema.js';

export interface AlertView {
  id: number;
  kind: string;
  severity: AlertSeverity;
  hostId: number | null;
  host: string | null;
  taskId: number | null;
  message: string;
  details: Record<string, unknown> | null;
  /** How many times it happened while open. */
  count: number;
  firstAt: string;
  lastAt: string;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
}

type Row = Alert & { host_name: string | null };

const toView = (a: Row): AlertView => ({
  id: a.id,
  kind: a.kind,
  severity: a.severity,
  hostId: a.host_id,
  host: a.host_name,
  taskId: a.task_id,
  message: a.message,
  details: a.details === null ? null : (JSON.parse(a.details) as Record<string, unknown>),
  count: a.count,
  firstAt: a.first_at,
  lastAt: a.last_at,
  acknowledgedAt: a.acknowledged_at,
  acknowledgedBy: a.acknowledged_by,
});

export interface NewAlert {
  kind: string;
  severity: AlertSeverity;
  hostId: number | null;
  taskId: number | null;
  message: string;
  details?: Record<string, unknown>;
}

export class AlertRepository {
  constructor(private readonly db: Kysely<DB>) {}

  private views(db: Kysely<DB>) {
    return db.selectFrom('alerts').leftJoin('hosts', 'hosts.id', 'alerts.host_id').selectAll('alerts').select('hosts.name as host_name');
  }

  async view(id: number, db: Kysely<DB> = this.db): Promise<AlertView | undefined> {
    const row = await this.views(db).where('alerts.id', '=', id).executeTakeFirst();
    return row && toView(row);
  }

  async list(filter: { open?: boolean; hostId?: number; limit?: number } = {}): Promise<AlertView[]> {
    let q = this.views(this.db).orderBy('alerts.last_at', 'desc').orderBy('alerts.id', 'desc').limit(filter.limit ?? 200);
    if (filter.open) q = q.where('alerts.acknowledged_at', 'is', null);
    if (filter.hostId !== undefined) q = q.where('alerts.host_id', '=', filter.hostId);
    return (await q.execute()).map(toView);
  }

  /** Records an alert, or counts one more of the same open alert (same kind, PC and message). Returns its id and whether it is new. */
  async raise(trx: Kysely<DB>, a: NewAlert): Promise<{ id: number; created: boolean }> {
    const now = nowIso();
    const same = await trx
      .selectFrom('alerts')
      .select(['id'])
      .where('kind', '=', a.kind)
      .where('message', '=', a.message)
      .where('acknowledged_at', 'is', null)
      .where((eb) => (a.hostId === null ? eb('host_id', 'is', null) : eb('host_id', '=', a.hostId)))
      .executeTakeFirst();
    const details = a.details === undefined ? null : JSON.stringify(a.details);
    if (same) {
      await trx
        .updateTable('alerts')
        .set((eb) => ({ count: eb('count', '+', 1), last_at: now, details, task_id: a.taskId }))
        .where('id', '=', same.id)
        .execute();
      return { id: same.id, created: false };
    }
    const row = await trx
      .insertInto('alerts')
      .values({ kind: a.kind, severity: a.severity, host_id: a.hostId, task_id: a.taskId, message: a.message, details, count: 1, first_at: now, last_at: now, acknowledged_at: null, acknowledged_by: null })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { id: row.id, created: true };
  }

  /** Marks an open alert seen by `by`; false when it was not open. */
  async acknowledge(trx: Kysely<DB>, id: number, by: string): Promise<boolean> {
    const r = await trx.updateTable('alerts').set({ acknowledged_at: nowIso(), acknowledged_by: by }).where('id', '=', id).where('acknowledged_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }
}
