// A booted roomcast client says hello with its hardware facts and asks what to do.
// - task token: the facts go to that PC; its open task starts (an inventory task is done at once);
// - register token: a PC that became known meanwhile is updated, else it is added "à classer"
//   (no room) as PC-XXXXXX, while the registration window accepts it.
// The answer: the action of a running task's kind (capture, restore…), with a fresh task token whose
// lifetime the kind sets (a large disk takes longer than the boot token's 2 hours); 'poweroff' otherwise.
import type { Kysely } from 'kysely';
import { writeAudit } from '../../core/audit.js';
import type { MachineAuth } from '../../core/auth.js';
import { nowIso, type DB } from '../../core/db/index.js';
import { isUniqueViolation } from '../../core/db/errors.js';
import type { Host, TaskState } from '../../core/db/schema.js';
import { AppError } from '../../core/errors.js';
import type { EventBus, Tx } from '../../core/events.js';
import type { HostRepository } from '../../inventory/hosts.js';
import { normalizeMac } from '../../inventory/mac.js';
import type { AlertService } from '../../alerts/service.js';
import type { TaskService } from '../../tasks/service.js';
import { diskIdentityProblem, hardwareJson, realSerial, type HardwareFacts } from './facts.js';
import type { RegistrationWindow } from './registration.js';
import type { BootTokens } from './tokens.js';

export interface HelloAnswer {
  /** 'poweroff', or the action of the running task's kind. */
  action: string;
  hostId: number;
  hostName: string;
  /** True when this hello added the PC to the inventory. */
  registered: boolean;
  taskId: number | null;
  taskState: TaskState | null;
  /** A running task: the task token for the /api/v1/client/* calls (Authorization: Bearer). */
  token?: string;
}

/** PC- and the last six hex digits of the MAC: aa:bb:cc:dd:ee:ff → PC-DDEEFF. */
export const registeredName = (mac: string) => `PC-${mac.replace(/:/g, '').slice(-6).toUpperCase()}`;

export class HelloService {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly tasks: TaskService,
    private readonly hosts: HostRepository,
    private readonly registration: RegistrationWindow,
    private readonly tokens: Pick<BootTokens, 'issue'>,
    private readonly events: EventBus,
    private readonly alerts: Pick<AlertService, 'raiseIn'>,
  ) {}

  async hello(machine: MachineAuth, facts: HardwareFacts): Promise<HelloAnswer> {
    if (normalizeMac(facts.mac) !== machine.mac) {
      throw new AppError(403, 'mac_mismatch', `this boot token was issued for ${machine.mac}, not for ${JSON.stringify(facts.mac)}; report the MAC the PC network-booted with`);
    }
    return machine.purpose === 'task' ? this.taskHello(machine, facts) : this.registerHello(machine, facts);
  }

  private async taskHello(machine: MachineAuth, facts: HardwareFacts): Promise<HelloAnswer> {
    const ip = machine.actor.ip;
    const outcome = await this.events.transaction(this.db, async (tx) => {
      const host = await this.hosts.byId(machine.hostId!, tx.trx);
      if (!host || host.mac !== machine.mac) {
        throw new AppError(404, 'host_gone', `the PC this boot token was issued for (${machine.mac}) is no longer in the inventory with this MAC`);
      }
      // A task that runs (capture, restore…) is only for this PC: its disks must be the ones it had.
      const open = await this.tasks.openTaskOf(host.id, tx.trx);
      const kind = open && open.id === machine.taskId ? this.tasks.kinds.find(open.kind) : undefined;
      const runs = kind !== undefined && !('doneAtHello' in kind.hello);
      const notThisPc = runs ? diskIdentityProblem(host, facts) : null;
      if (notThisPc) {
        const message = `${host.name} (${host.mac}) said hello for task ${machine.taskId} from ${ip ?? 'an unknown address'}, but ${notThisPc}: the task was not started. If the disk was replaced, pin the new disk's serial on the PC (diskSerial) and network-boot it again.`;
        await this.alerts.raiseIn(tx, machine.actor, { kind: 'boot.identity_mismatch', severity: 'warning', hostId: host.id, taskId: machine.taskId!, message, details: { ip, disks: facts.disks.map((d) => d.serial), pinned: host.disk_serial } });
        return { refused: new AppError(409, 'not_this_pc', message) };
      }
      const checkIn = await this.tasks.checkIn(tx, machine.actor, machine.taskId!, host.id, ip);
      if (checkIn.claimedBy) {
        const message = `a second boot client said hello for task ${machine.taskId} of ${host.name} (${host.mac}) from ${ip ?? 'an unknown address'}, after the one at ${checkIn.claimedBy} claimed it: refused. Someone on the network may be posing as this PC; check it, then cancel the task if in doubt.`;
        await this.alerts.raiseIn(tx, machine.actor, { kind: 'boot.claim_refused', severity: 'critical', hostId: host.id, taskId: machine.taskId!, message, details: { ip, claimedBy: checkIn.claimedBy } });
        return { refused: new AppError(409, 'task_claimed', `task ${machine.taskId} was claimed by the boot client at ${checkIn.claimedBy}; this one (${ip ?? 'unknown address'}) is refused and reported`) };
      }
      await this.storeFacts(tx, host, facts);
      const { task, run } = checkIn;
      const answer: HelloAnswer = { action: 'poweroff', hostId: host.id, hostName: host.name, registered: false, taskId: task?.id ?? null, taskState: task?.state ?? null };
      return { answer, run };
    });
    // The alert is committed; the hello is refused.
    if ('refused' in outcome) throw outcome.refused;
    const { answer, run } = outcome;
    // After the commit: the token is signed with the settings' key, read outside this transaction.
    // It works from the address that claimed the task only.
    if (run) {
      answer.action = run.action;
      answer.token = await this.tokens.issue({ purpose: 'task', mac: machine.mac, taskId: answer.taskId!, hostId: answer.hostId, ip }, run.tokenSeconds);
    }
    return answer;
  }

  private async registerHello(machine: MachineAuth, facts: HardwareFacts): Promise<HelloAnswer> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.events.transaction(this.db, async (tx) => {
          const trx = tx.trx;
          const known = await this.hosts.byMac(machine.mac, trx);
          if (known) {
            await this.storeFacts(tx, known, facts);
            return { action: 'poweroff', hostId: known.id, hostName: known.name, registered: false, taskId: null, taskState: null };
          }
          if (!(await this.registration.acceptsHello(trx))) {
            throw new AppError(403, 'registration_closed', 'registration of new PCs is closed; open it again (POST /api/v1/boot/registration) and restart the PC');
          }
          const name = await this.freeName(trx, registeredName(machine.mac));
          const now = nowIso();
          const id = await this.hosts.insert(tx, { name, mac: machine.mac, room_id: null, ip: null, serial: realSerial(facts), notes: null, hardware: hardwareJson(facts, now), last_seen_at: now }, 'registered');
          await writeAudit(trx, machine.actor, {
            action: 'host.register',
            targetType: 'host',
            targetId: id,
            details: { name, mac: machine.mac, vendor: facts.system.vendor, model: facts.system.model, serial: facts.system.serial, firmware: facts.firmware },
          });
          return { action: 'poweroff', hostId: id, hostName: name, registered: true, taskId: null, taskState: null };
        });
      } catch (err) {
        // The same PC (a retried request) or a PC with a clashing name was added at the same moment.
        if (isUniqueViolation(err) && attempt < 3) continue;
        throw err;
      }
    }
  }

  private async storeFacts(tx: Tx, host: Host, facts: HardwareFacts): Promise<void> {
    const now = nowIso();
    await this.hosts.recordFacts(tx, host, hardwareJson(facts, now), realSerial(facts), now);
  }

  /** `base`, or base-2, base-3… : the first name no PC has (names are unique without case). */
  private async freeName(trx: Kysely<DB>, base: string): Promise<string> {
    const lower = base.toLowerCase();
    const taken = await this.hosts.namesLike(trx, base);
    if (!taken.has(lower)) return base;
    for (let n = 2; ; n++) if (!taken.has(`${lower}-${n}`)) return `${base}-${n}`;
  }
}
