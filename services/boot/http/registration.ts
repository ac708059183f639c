// The registration window: while it is open, an unknown PC that network-boots starts the roomcast
// client in registration mode and lands in the inventory as "à classer" (no room). One setting,
// boot.registration_until (ISO time); opening and closing are audited.
import type { Kysely } from 'kysely';
import { writeAudit, type Actor } from '../../core/audit.js';
import type { DB } from '../../core/db/index.js';
import type { EventBus } from '../../core/events.js';
import type { SettingsStore } from '../../core/settings.js';

/** The setting holding when the window closes (ISO time); absent: closed. */
export const SETTING_REGISTRATION_UNTIL = 'boot.registration_until';

/** A PC that got its registration script just before the window closed by itself may still report. */
export const REGISTRATION_GRACE_MS = 15 * 60_000;

export interface RegistrationState {
  open: boolean;
  until: string | null;
}

export class RegistrationWindow {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly settings: SettingsStore,
    private readonly events: EventBus,
  ) {}

  /** When the window closes (or closed), or null. */
  async until(): Promise<string | null> {
    const t = await this.untilMs();
    return t === null ? null : new Date(t).toISOString();
  }

  private async untilMs(db: Kysely<DB> = this.db): Promise<number | null> {
    const v = await this.settings.get(SETTING_REGISTRATION_UNTIL, db);
    const t = v === undefined ? NaN : Date.parse(v);
    return Number.isFinite(t) ? t : null;
  }

  async state(now = Date.now()): Promise<RegistrationState> {
    const until = await this.untilMs();
    return { open: until !== null && until > now, until: until === null ? null : new Date(until).toISOString() };
  }

  /** Milliseconds a registration token may live from now (0: the window is closed). */
  async tokenLifetimeMs(now = Date.now()): Promise<number> {
    const until = await this.untilMs();
    return until === null || until <= now ? 0 : until + REGISTRATION_GRACE_MS - now;
  }

  /** Whether a registering client may still add itself: open, or closed by expiry within the grace. */
  async acceptsHello(db: Kysely<DB> = this.db, now = Date.now()): Promise<boolean> {
    const until = await this.untilMs(db);
    return until !== null && now < until + REGISTRATION_GRACE_MS;
  }

  async open(actor: Actor, minutes: number): Promise<RegistrationState> {
    const until = new Date(Date.now() + minutes * 60_000).toISOString();
    await this.events.transaction(this.db, async ({ trx, out }) => {
      await this.settings.set(SETTING_REGISTRATION_UNTIL, until, trx);
      await writeAudit(trx, actor, { action: 'boot.registration_open', targetType: 'setting', targetId: SETTING_REGISTRATION_UNTIL, details: { minutes, until } });
      out.add('boot.registration', { open: true, until });
    });
    return this.state();
  }

  /** Closes at once: a registering client that reports after this is refused. */
  async close(actor: Actor): Promise<RegistrationState> {
    await this.events.transaction(this.db, async ({ trx, out }) => {
      const was = await this.settings.get(SETTING_REGISTRATION_UNTIL, trx);
      await this.settings.delete(SETTING_REGISTRATION_UNTIL, trx);
      await writeAudit(trx, actor, { action: 'boot.registration_close', targetType: 'setting', targetId: SETTING_REGISTRATION_UNTIL, details: { until: was ?? null } });
      out.add('boot.registration', { open: false, until: null });
    });
    return this.state();
  }
}
