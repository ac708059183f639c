// A booted roomcast client says hello with its hardware facts and asks what to do.
// - task token: the facts go to that PC; its open task starts (an inventory task is done at once);
// - register token: a PC that became known meanwhile is updated, else it is added "à classer"
//   (no room) as PC-XXXXXX, while the registration window accepts it.
// The answer: 'capture' or 'restore' for a running task of that kind, with a fresh task token valid
// 24 hours (a large disk takes longer than the boot token's 2 hours); 'poweroff' otherwise.
import type { Kysely } from 'kysely';
import { writeAudit } from '../../core/audit.js';
import { nowIso, type DB } from '../../core/db/index.js';
import type { Host, TaskKind, TaskState } from '../../core/db/schema.js';
import { AppError } from '../../core/errors.js';
import type { MachineAuth } from '../../api/route.js';
import { normalizeMac } from '../../inventory/mac.js';
import { isUniqueViolation } from '../../inventory/service.js';
import type { TaskService } from '../../tasks/service.js';
import { hardwareJson, realSerial, type HardwareFacts } from './facts.js';
import type { RegistrationWindow } from './registration.js';
import type { BootTokens } from './tokens.js';

export const HELLO_ACTIONS = ['poweroff', 'capture', 'restore'] as const;
export type HelloAction = (typeof HELLO_ACTIONS)[number];
/** Lifetime of the task token a capture or restore works with. */
export const IMAGING_TOKEN_SECONDS = 24 * 3600;

export interface HelloAnswer {
  action: HelloAction;
  hostId: number;
  hostName: string;
  /** True when this hello added the PC to the inventory. */
  registered: boolean;
  taskId: number | null;
  taskState: TaskState | null;
  /** Capture and restore: the task token for the /api/v1/client/* calls (Authorization: Bearer), valid 24 h. */
  token?: string;
}

const IMAGING_KINDS: TaskKind[] = ['capture', 'restore'];

/** PC- and the last six hex digits of the MAC: aa:bb:cc:dd:ee:ff → PC-DDEEFF. */
export const registeredName = (mac: string) => `PC-${mac.replace(/:/g, '').slice(-6).toUpperCase()}`;

export class HelloService {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly tasks: TaskService,
    private readonly registration: RegistrationWindow,
    private readonly tokens: Pick<BootTokens, 'issue'>,
  ) {}

  async hello(machine: MachineAuth, facts: HardwareFacts): Promise<HelloAnswer> {
    if (normalizeMac(facts.mac) !== machine.mac) {
      throw new AppError(403, 'mac_mismatch', `this boot token was issued for ${machine.mac}, not for ${JSON.stringify(facts.mac)}; report the MAC the PC network-booted with`);
    }
    return machine.purpose === 'task' ? this.taskHello(machine, facts) : this.registerHello(machine, facts);
  }

  private async taskHello(machine: MachineAuth, facts: HardwareFacts): Promise<HelloAnswer> {
    const { answer, kind } = await this.db.transaction().execute(async (trx) => {
      const host = await trx.selectFrom('hosts').selectAll().where('id', '=', machine.hostId!).executeTakeFirst();
      if (!host || host.mac !== machine.mac) {
        throw new AppError(404, 'host_gone', `the PC this boot token was issued for (${machine.mac}) is no longer in the inventory with this MAC`);
      }
      await this.storeFacts(trx, host, facts);
      const task = await this.tasks.startFromHello(trx, machine.actor, machine.taskId!, host.id);
      const answer: HelloAnswer = { action: 'poweroff', hostId: host.id, hostName: host.name, registered: false, taskId: task?.id ?? null, taskState: task?.state ?? null };
      return { answer, kind: task?.state === 'running' ? task.kind : null };
    });
    // After the commit: the token is signed with the settings' key, read outside this transaction.
    if (kind && IMAGING_KINDS.includes(kind)) {
      answer.action = kind as HelloAction;
      answer.token = await this.tokens.issue({ purpose: 'task', mac: machine.mac, taskId: answer.taskId!, hostId: answer.hostId }, IMAGING_TOKEN_SECONDS);
    }
    return answer;
  }

  private async registerHello(machine: MachineAuth, facts: HardwareFacts): Promise<HelloAnswer> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction().execute(async (trx) => {
          const known = await trx.selectFrom('hosts').selectAll().where('mac', '=', machine.mac).executeTakeFirst();
          if (known) {
            await this.storeFacts(trx, known, facts);
            return { action: 'poweroff', hostId: known.id, hostName: known.name, registered: false, taskId: null, taskState: null };
          }
          if (!(await this.registration.acceptsHello(trx))) {
            throw new AppError(403, 'registration_closed', 'registration of new PCs is closed; open it again (POST /api/v1/boot/registration) and restart the PC');
          }
          const name = await this.freeName(trx, registeredName(machine.mac));
          const now = nowIso();
          const row = await trx
            .insertInto('hosts')
            .values({ name, mac: machine.mac, room_id: null, ip: null, serial: realSerial(facts), notes: null, hardware: hardwareJson(facts, now), last_seen_at: now, created_at: now, updated_at: now })
            .returning('id')
            .executeTakeFirstOrThrow();
          await writeAudit(trx, machine.actor, {
            action: 'host.register',
            targetType: 'host',
            targetId: row.id,
            details: { name, mac: machine.mac, vendor: facts.system.vendor, model: facts.system.model, serial: facts.system.serial, firmware: facts.firmware },
          });
          return { action: 'poweroff', hostId: row.id, hostName: name, registered: true, taskId: null, taskState: null };
        });
      } catch (err) {
        // The same PC (a retried request) or a PC with a clashing name was added at the same moment.
        if (isUniqueViolation(err) && attempt < 3) continue;
        throw err;
      }
    }
  }

  private async storeFacts(trx: Kysely<DB>, host: Host, facts: HardwareFacts): Promise<void> {
    const now = nowIso();
    const serial = host.serial ?? realSerial(facts);
    await trx.updateTable('hosts').set({ hardware: hardwareJson(facts, now), last_seen_at: now, serial, updated_at: now }).where('id', '=', host.id).execute();
  }

  /** `base`, or base-2, base-3… : the first name no PC has (names are unique without case). */
  private async freeName(trx: Kysely<DB>, base: string): Promise<string> {
    const lower = base.toLowerCase();
    const rows = await trx
      .selectFrom('hosts')
      .select('name')
      .where((eb) => eb.or([eb(eb.fn('lower', ['name']), '=', lower), eb(eb.fn('lower', ['name']), 'like', `${lower}-%`)]))
      .execute();
    const taken = new Set(rows.map((r) => r.name.toLowerCase()));
    if (!taken.has(lower)) return base;
    for (let n = 2; ; n++) if (!taken.has(`${lower}-${n}`)) return `${base}-${n}`;
  }
}
