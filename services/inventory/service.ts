// Rooms and hosts: validation, uniqueness, moves, audit. Every change is one transaction with its
// audit entry; PCs are written through the hosts repository (hosts.ts), which tells host.changed.
import { isIPv4 } from 'node:net';
import type { Kysely } from 'kysely';
import { writeAudit, type Actor } from '../core/audit.js';
import type { DB } from '../core/db/index.js';
import { isUniqueViolation } from '../core/db/errors.js';
import { AppError, conflict, notFound } from '../core/errors.js';
import type { EventBus, Tx } from '../core/events.js';
import { checkComputerName } from './computer-name.js';
import type { HostRepository, HostView } from './hosts.js';
import type { RoomRepository, RoomView } from './rooms.js';
import { MAC_PATTERN_HELP, normalizeMac } from './mac.js';

export type { HostView } from './hosts.js';
export type { RoomView } from './rooms.js';


export interface HostInput {
  name: string;
  mac: string;
  roomId?: number | null;
  ip?: string | null;
  serial?: string | null;
  diskSerial?: string | null;
  notes?: string | null;
  /** Place on the room's plan, from 1 (null: not placed); only with a change, never on creation. */
  planRow?: number | null;
  planCol?: number | null;
}

/** The plan's largest row and column. */
export const PLAN_MAX = 40;

const blankToNull = (v: string | null | undefined) => {
  const t = v?.trim();
  return t ? t : null;
};

/** Validates and normalises host fields; throws a 400 naming the field. */
export function validateHostFields<T extends Partial<HostInput>>(input: T): T {
  const out = { ...input };
  if (input.name !== undefined) {
    const check = checkComputerName(input.name);
    if (!check.ok) throw new AppError(400, check.code, check.message);
    out.name = check.name;
  }
  if (input.mac !== undefined) {
    const mac = normalizeMac(input.mac);
    if (!mac) throw new AppError(400, 'bad_mac', `"${input.mac}" is not a valid unicast MAC address; write it as ${MAC_PATTERN_HELP}`);
    out.mac = mac;
  }
  if (input.ip !== undefined) {
    out.ip = blankToNull(input.ip);
    if (out.ip !== null && !isIPv4(out.ip)) throw new AppError(400, 'bad_ip', `"${input.ip}" is not an IPv4 address`);
  }
  if (input.serial !== undefined) out.serial = blankToNull(input.serial);
  if (input.diskSerial !== undefined) out.diskSerial = blankToNull(input.diskSerial);
  if (input.notes !== undefined) out.notes = blankToNull(input.notes);
  return out;
}

export class InventoryService {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly rooms: RoomRepository,
    private readonly hosts: HostRepository,
    private readonly events: EventBus,
    /** Checks an image version a room may be set to use (null: the newest ready); throws the API's refusal. */
    private readonly checkVersion: (db: Kysely<DB>, imageId: number, version: number | null) => Promise<void> = async () => undefined,
  ) {}

  listRooms(): Promise<RoomView[]> {
    return this.rooms.list();
  }

  async getRoom(id: number): Promise<RoomView> {
    const room = await this.rooms.view(id);
    if (!room) throw notFound('room', id);
    return room;
  }

  /** Throws 404 unless the room exists; cheaper than getRoom when only existence matters. */
  async assertRoomExists(id: number): Promise<void> {
    if (!(await this.rooms.byId(id))) throw notFound('room', id);
  }

  async createRoom(actor: Actor, input: { name: string; description?: string | null; subnet?: string | null }): Promise<RoomView> {
    const id = await this.db.transaction().execute(async (trx) => {
      if (await this.rooms.byName(input.name, trx)) throw conflict('duplicate_room', `a room named "${input.name}" already exists`);
      const id = await this.rooms.insert(trx, input.name, blankToNull(input.description), checkSubnet(input.subnet));
      await writeAudit(trx, actor, { action: 'room.create', targetType: 'room', targetId: id, details: { name: input.name, subnet: input.subnet ?? null } });
      return id;
    });
    return this.getRoom(id);
  }

  async updateRoom(actor: Actor, id: number, patch: { name?: string; description?: string | null; subnet?: string | null; imageId?: number | null; version?: number | null }): Promise<RoomView> {
    await this.db.transaction().execute(async (trx) => {
      const room = await this.rooms.byId(id, trx);
      if (!room) throw notFound('room', id);
      if (patch.name !== undefined) {
        const clash = await this.rooms.byName(patch.name, trx);
        if (clash && clash.id !== id) throw conflict('duplicate_room', `a room named "${patch.name}" already exists`);
      }
      const uses = await this.roomImage(trx, room, patch);
      await this.rooms.update(trx, id, { ...(patch.name !== undefined ? { name: patch.name } : {}), ...(patch.description !== undefined ? { description: blankToNull(patch.description) } : {}), ...(patch.subnet !== undefined ? { subnet: checkSubnet(patch.subnet) } : {}), ...uses });
      await writeAudit(trx, actor, { action: 'room.update', targetType: 'room', targetId: id, details: { from: { name: room.name }, to: patch } });
    });
    return this.getRoom(id);
  }

  /** The image columns a room change writes: imageId null clears both; a version alone keeps the image. */
  private async roomImage(db: Kysely<DB>, room: { name: string; image_id: number | null }, patch: { imageId?: number | null; version?: number | null }) {
    if (patch.imageId === undefined && patch.version === undefined) return {};
    if (patch.imageId === null) return { image_id: null, image_version: null };
    const imageId = patch.imageId ?? room.image_id;
    if (imageId === null) throw new AppError(400, 'image_required', `room "${room.name}" uses no image yet: give imageId with the version`);
    const version = patch.version ?? null;
    await this.checkVersion(db, imageId, version);
    return { image_id: imageId, image_version: version };
  }

  /** Refuses to delete a room with hosts unless they are to become unassigned. */
  async deleteRoom(actor: Actor, id: number, opts: { unassignHosts: boolean }): Promise<void> {
    await this.events.transaction(this.db, async (tx) => {
      const trx = tx.trx;
      const room = await this.rooms.byId(id, trx);
      if (!room) throw notFound('room', id);
      const n = await this.hosts.count(trx, id);
      if (n > 0 && !opts.unassignHosts) {
        throw conflict('room_not_empty', `room "${room.name}" still has ${n} PC(s); move them first or delete with ?hosts=unassign`);
      }
      await this.hosts.unassignRoom(tx, id);
      await this.rooms.delete(trx, id);
      await writeAudit(trx, actor, { action: 'room.delete', targetType: 'room', targetId: id, details: { name: room.name, hostsUnassigned: n } });
      // Its schedules go with it (ON DELETE CASCADE); the worker removes their job schedulers on this event.
      tx.out.add('room.changed', { roomId: id, change: 'deleted' });
    });
  }

  listHosts(filter: { roomId?: number | 'unassigned'; q?: string } = {}): Promise<HostView[]> {
    return this.hosts.list(filter);
  }

  async getHost(id: number, db: Kysely<DB> = this.db): Promise<HostView> {
    const view = await this.hosts.view(id, db);
    if (!view) throw notFound('host', id);
    return view;
  }

  private async assertRoom(db: Kysely<DB>, roomId: number | null | undefined): Promise<void> {
    if (roomId === null || roomId === undefined) return;
    if (!(await this.rooms.byId(roomId, db))) throw new AppError(400, 'unknown_room', `room ${roomId} does not exist`);
  }

  private async assertUnique(db: Kysely<DB>, fields: { mac?: string; name?: string }, selfId?: number): Promise<void> {
    if (fields.mac !== undefined) {
      const other = await this.hosts.byMac(fields.mac, db);
      if (other && other.id !== selfId) throw conflict('duplicate_mac', `MAC ${fields.mac} already belongs to ${other.name}`);
    }
    if (fields.name !== undefined) {
      const other = await this.hosts.byName(fields.name, db);
      if (other && other.id !== selfId) throw conflict('duplicate_name', `the name ${fields.name} is already used by the PC with MAC ${other.mac}`);
    }
  }

  async createHost(actor: Actor, raw: HostInput): Promise<HostView> {
    const input = validateHostFields(raw);
    return this.writeHost(async (tx) => {
      const trx = tx.trx;
      await this.assertRoom(trx, input.roomId);
      await this.assertUnique(trx, input);
      const id = await this.hosts.insert(tx, { name: input.name, mac: input.mac, room_id: input.roomId ?? null, ip: input.ip ?? null, serial: input.serial ?? null, disk_serial: input.diskSerial ?? null, notes: input.notes ?? null });
      await writeAudit(trx, actor, { action: 'host.create', targetType: 'host', targetId: id, details: { name: input.name, mac: input.mac, roomId: input.roomId ?? null } });
      return this.getHost(id, trx);
    });
  }

  async updateHost(actor: Actor, id: number, raw: Partial<HostInput>): Promise<HostView> {
    const patch = validateHostFields(raw);
    return this.writeHost(async (tx) => {
      const trx = tx.trx;
      const before = await this.getHost(id, trx);
      await this.assertRoom(trx, patch.roomId);
      await this.assertUnique(trx, patch, id);
      const place = await this.planPlace(trx, before, patch);
      await this.hosts.update(tx, id, {
        ...place,
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.mac !== undefined ? { mac: patch.mac } : {}),
        ...(patch.roomId !== undefined ? { room_id: patch.roomId } : {}),
        ...(patch.ip !== undefined ? { ip: patch.ip } : {}),
        ...(patch.serial !== undefined ? { serial: patch.serial } : {}),
        ...(patch.diskSerial !== undefined ? { disk_serial: patch.diskSerial } : {}),
        ...(patch.notes !== undefined ? { notes: patch.notes } : {}),
      });
      const after = await this.getHost(id, trx);
      const changed = Object.fromEntries(
        (Object.keys(patch) as Array<keyof HostInput>).filter((k) => before[k] !== after[k]).map((k) => [k, { from: before[k], to: after[k] }]),
      );
      await writeAudit(trx, actor, { action: 'host.update', targetType: 'host', targetId: id, details: { name: after.name, changed } });
      return after;
    });
  }

  async deleteHost(actor: Actor, id: number): Promise<void> {
    await this.events.transaction(this.db, async (tx) => {
      const trx = tx.trx;
      const host = await this.getHost(id, trx);
      await this.hosts.delete(tx, { id, room_id: host.roomId });
      await writeAudit(trx, actor, { action: 'host.delete', targetType: 'host', targetId: id, details: { name: host.name, mac: host.mac, room: host.room } });
    });
  }

  /** Moves several hosts to a room (or to unassigned with null); all or none. */
  async moveHosts(actor: Actor, hostIds: number[], roomId: number | null): Promise<HostView[]> {
    const ids = [...new Set(hostIds)];
    return this.events.transaction(this.db, async (tx) => {
      const trx = tx.trx;
      await this.assertRoom(trx, roomId);
      const found = await this.hosts.existing(trx, ids);
      const missing = ids.filter((id) => !found.some((f) => f.id === id));
      if (missing.length) throw new AppError(400, 'unknown_host', `host(s) ${missing.join(', ')} do not exist; nothing was moved`);
      await this.hosts.move(tx, ids, roomId);
      await writeAudit(trx, actor, { action: 'host.move', targetType: 'room', targetId: roomId ?? 'unassigned', details: { hostIds: ids } });
      return this.hosts.viewsOf(ids, trx);
    });
  }

  /** Runs a write; turns a unique-index race into the same 409 the pre-checks give. */
  /**
   * The plan columns a change writes: the place asked for, checked (both or neither, a room, a free
   * cell); none asked and a new room: the place is cleared (the hosts repository does that too).
   */
  private async planPlace(db: Kysely<DB>, before: HostView, patch: Partial<HostInput>): Promise<{ plan_row?: number | null; plan_col?: number | null }> {
    const roomId = patch.roomId !== undefined ? patch.roomId : before.roomId;
    const moved = roomId !== before.roomId;
    if (patch.planRow === undefined && patch.planCol === undefined) return moved ? { plan_row: null, plan_col: null } : {};
    const row = patch.planRow !== undefined ? patch.planRow : moved ? null : before.planRow;
    const col = patch.planCol !== undefined ? patch.planCol : moved ? null : before.planCol;
    if ((row === null) !== (col === null)) throw new AppError(400, 'plan_incomplete', 'a place on the plan needs both a row and a column (or neither, to take the PC off the plan)');
    if (row !== null && col !== null) {
      if (roomId === null) throw new AppError(400, 'plan_needs_room', `${before.name} is in no room, so it cannot be placed on a room's plan; put it in a room first`);
      const other = await this.hosts.atCell(db, roomId, row, col);
      if (other && other.id !== before.id) throw conflict('cell_taken', `row ${row}, column ${col} of this room's plan already holds ${other.name}; take it off or choose another place`);
    }
    return { plan_row: row, plan_col: col };
  }

  private async writeHost<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    try {
      return await this.events.transaction(this.db, fn);
    } catch (err) {
      if (isUniqueViolation(err) && /plan/.test(`${(err as { constraint?: string }).constraint ?? ''} ${(err as Error).message}`))
        throw conflict('cell_taken', "another PC was put at this place on the room's plan at the same moment; reload and choose another place");
      if (isUniqueViolation(err)) throw conflict('duplicate_host', 'another PC with this MAC or name was saved at the same moment; reload and try again');
      throw err;
    }
  }
}

/**
 * A room's subnet as stored: an IPv4 network in CIDR form (10.1.2.0/24, prefix 8–30, host bits zero),
 * or null; anything else is a 400 that says what is expected.
 */
export function checkSubnet(v: string | null | undefined): string | null {
  const s = blankToNull(v ?? null);
  if (s === null) return null;
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(s.trim());
  const octets = m ? m.slice(1, 5).map(Number) : [];
  const prefix = m ? Number(m[5]) : -1;
  const bad = () => new AppError(400, 'bad_subnet', `"${s}" is not an IPv4 subnet such as 10.1.2.0/24 (prefix 8 to 30, the network's own address) / « ${s} » n'est pas un sous-réseau IPv4 comme 10.1.2.0/24`);
  if (!m || octets.some((o) => o > 255) || prefix < 8 || prefix > 30) throw bad();
  const ip = octets.reduce((a, o) => a * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  if (ip % size !== 0) throw bad();
  return `${octets.join('.')}/${prefix}`;
}

