// Per-PC local Administrator passwords (issue 15 item 6, LAPS-like). An image's answer file may ask for
// them (image_answer_files.admin_password_per_pc): then each PC restored from it gets its own random
// password through its answer file, instead of the image's one shared by the whole room.
//
// Rules:
// - A password is made when the PC's answer file is rendered for a restore task (answer-files.ts). The
//   same task asking again gets the same password (a client that retried its download writes what is
//   stored); a new task makes a new one, and the one before is kept beside it: a restore that stops
//   before Windows reads its answer file leaves the PC with that older password.
// - 20 characters drawn with crypto.randomInt from an alphabet without look-alikes (no 0 O 1 l I), with
//   at least one upper case letter, lower case letter, digit and symbol (Windows' complexity rule wants
//   three of the four).
// - Sealed with the site key (core/crypto.ts), bound to the host: a sealed value copied to another
//   host's row does not open.
// - Shown only to technicians, only when asked (reveal), and every showing is an audit entry naming
//   who and which PC, never the password. No other answer, log line or audit entry holds it.
// - This module is the one writer of host_admin_passwords.
import { randomInt } from 'node:crypto';
import type { Kysely } from 'kysely';
import { writeAudit, type Actor } from '../core/audit.js';
import { openSecret, sealSecret } from '../core/crypto.js';
import { nowIso, type DB } from '../core/db/index.js';
import { AppError, notFound } from '../core/errors.js';

const CLASSES = ['ABCDEFGHJKLMNPQRSTUVWXYZ', 'abcdefghijkmnopqrstuvwxyz', '23456789', '#%+-=?@_'] as const;
export const ADMIN_PASSWORD_LENGTH = 20;

/** A random password: one of each class, the rest from all of them, in a random order. */
export function makeAdminPassword(length = ADMIN_PASSWORD_LENGTH): string {
  const all = CLASSES.join('');
  const chars = CLASSES.map((c) => c[randomInt(c.length)]!);
  while (chars.length < length) chars.push(all[randomInt(all.length)]!);
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j]!, chars[i]!];
  }
  return chars.join('');
}

const context = (hostId: number) => `host:${hostId}:adminPassword`;

export interface AdminPasswordStatus {
  hostId: number;
  /** Whether roomcast gave this PC a password of its own (never the password itself). */
  set: boolean;
  setAt: string | null;
  /** The restore task whose answer file carried it. */
  taskId: number | null;
  previous: { setAt: string; taskId: number | null } | null;
}

export interface AdminPasswordReveal {
  hostId: number;
  hostName: string;
  password: string;
  setAt: string;
  taskId: number | null;
  /** The one before: the PC still has it when the newest restore stopped before Windows started. */
  previous: { password: string; setAt: string; taskId: number | null } | null;
}

export class AdminPasswords {
  constructor(
    private readonly db: Kysely<DB>,
    /** The site's secret key (read or made on first use). */
    private readonly key: () => Buffer,
  ) {}

  private row(hostId: number, db: Kysely<DB> = this.db) {
    return db.selectFrom('host_admin_passwords').selectAll().where('host_id', '=', hostId).executeTakeFirst();
  }

  private open(hostId: number, sealed: string): string {
    try {
      return openSecret(this.key(), sealed, context(hostId));
    } catch {
      throw new AppError(409, 'secret_undecryptable', `the local Administrator password of PC ${hostId} cannot be decrypted with this server's secret key (ROOMCAST_SECRET_KEY, or secret.key in the data directory, changed?): restore the PC again to give it a new one`);
    }
  }

  /** The PC's password for this restore task: the stored one when the task already has one, else a new one (the old one kept as previous). */
  async issue(hostId: number, taskId: number): Promise<string> {
    return this.db.transaction().execute(async (trx) => {
      const r = await this.row(hostId, trx);
      if (r && r.task_id === taskId) return this.open(hostId, r.password);
      const password = makeAdminPassword();
      const values = {
        password: sealSecret(this.key(), password, context(hostId)),
        set_at: nowIso(),
        task_id: taskId,
        previous_password: r?.password ?? null,
        previous_set_at: r?.set_at ?? null,
        previous_task_id: r?.task_id ?? null,
      };
      if (r) await trx.updateTable('host_admin_passwords').set(values).where('host_id', '=', hostId).execute();
      else await trx.insertInto('host_admin_passwords').values({ host_id: hostId, ...values }).execute();
      return password;
    });
  }

  private async host(hostId: number, db: Kysely<DB>) {
    const host = await db.selectFrom('hosts').select(['id', 'name']).where('id', '=', hostId).executeTakeFirst();
    if (!host) throw notFound('host', hostId);
    return host;
  }

  async status(hostId: number): Promise<AdminPasswordStatus> {
    await this.host(hostId, this.db);
    const r = await this.row(hostId);
    return {
      hostId,
      set: Boolean(r),
      setAt: r?.set_at ?? null,
      taskId: r?.task_id ?? null,
      previous: r?.previous_password && r.previous_set_at ? { setAt: r.previous_set_at, taskId: r.previous_task_id } : null,
    };
  }

  /** The PC's passwords, for a technician who asked; the showing is written to the audit log first. */
  async reveal(actor: Actor, hostId: number): Promise<AdminPasswordReveal> {
    return this.db.transaction().execute(async (trx) => {
      const host = await this.host(hostId, trx);
      const r = await this.row(hostId, trx);
      if (!r) throw new AppError(404, 'admin_password_none', `PC "${host.name}" has no local Administrator password from roomcast: its image's answer file does not give one per PC, or it was not restored since`);
      const out: AdminPasswordReveal = {
        hostId,
        hostName: host.name,
        password: this.open(hostId, r.password),
        setAt: r.set_at,
        taskId: r.task_id,
        previous: r.previous_password && r.previous_set_at ? { password: this.open(hostId, r.previous_password), setAt: r.previous_set_at, taskId: r.previous_task_id } : null,
      };
      await writeAudit(trx, actor, { action: 'host.admin_password.show', targetType: 'host', targetId: hostId, details: { host: host.name, setAt: r.set_at, previous: out.previous !== null } });
      return out;
    });
  }
}
