// Alerts: what a person should look at, raised by any domain (a boot token used from another
// address, a second claim of a task, a PC whose disk is not the one it had…), listed in the UI and the
// morning report, acknowledged by a technician. Each raise is audited and told as `alert.raised`.
import type { Kysely } from 'kysely';
import { writeAudit, type Actor } from '../core/audit.js';
import type { DB } from '../core/db/index.js';
import { conflict, notFound } from '../core/errors.js';
import type { EventBus, Tx } from '../core/events.js';
import type { AlertRepository, AlertView, NewAlert } from './repository.js';

export type { AlertView, NewAlert } from './repository.js';

export class AlertService {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly repo: AlertRepository,
    private readonly events: EventBus,
  ) {}

  list(filter: { open?: boolean; hostId?: number; limit?: number } = {}): Promise<AlertView[]> {
    return this.repo.list(filter);
  }

  /** Raises an alert inside the caller's transaction, with its audit entry (the actor is who caused it). */
  async raiseIn(tx: Tx, actor: Actor, alert: NewAlert): Promise<number> {
    const { id, created } = await this.repo.raise(tx.trx, alert);
    await writeAudit(tx.trx, actor, { action: alert.kind, targetType: alert.hostId === null ? undefined : 'host', targetId: alert.hostId ?? undefined, details: { alertId: id, message: alert.message, ...(alert.details ?? {}) } });
    tx.out.add('alert.raised', { alertId: id, kind: alert.kind, severity: alert.severity, hostId: alert.hostId, message: alert.message, repeated: !created });
    return id;
  }

  /** Raises an alert in a transaction of its own. */
  raise(actor: Actor, alert: NewAlert): Promise<number> {
    return this.events.transaction(this.db, (tx) => this.raiseIn(tx, actor, alert));
  }

  async acknowledge(actor: Actor, id: number): Promise<AlertView> {
    return this.db.transaction().execute(async (trx) => {
      const alert = await this.repo.view(id, trx);
      if (!alert) throw notFound('alert', id);
      if (!(await this.repo.acknowledge(trx, id, actor.name))) throw conflict('alert_acknowledged', `alert ${id} was already acknowledged by ${alert.acknowledgedBy}`);
      await writeAudit(trx, actor, { action: 'alert.acknowledge', targetType: 'alert', targetId: id, details: { kind: alert.kind } });
      return (await this.repo.view(id, trx))!;
    });
  }
}
