// Rooms and hosts: validation, uniqueness, moves, audit. Every change is one transaction with its audit entry.
import { isIPv4 } from 'node:net';
import type { Kysely } from 'kysely';
import { writeAudit, type Actor } from '../core/audit.js';
import { nowIso, type DB } from '../core/db/index.js';
import type { Host, Room } from '../core/db/schema.js';
import { AppError, conflict, notFound } from '../core/errors.js';
import { checkComputerName } from './computer-name.js';
import { MAC_PATTERN_HELP, normalizeMac } from './mac.js';

export interface RoomView {
  id: number;
  name: string;
  description: string | null;
  hostCount: number;
  createdAt: string;
  updatedAt: string;
}

export interface HostView {
  id: number;
  name: string;
  mac: string;
  roomId: number | null;
  room: string | null;
  ip: string | null;
  serial: string | null;
  /** Serial of the disk restores must target (pinned by a technician); null: the client picks. */
  diskSerial: string | null;
  notes: string | null;
  hardware: Record<string, unknown> | null;
  lastSeenAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface HostInput {
  name: string;
  mac: string;
  roomId?: number | null;
  ip?: string | null;
  serial?: string | null;
  diskSerial?: string | null;
  notes?: string | null;
}

type HostRow = Host & { room_name: string | null };

export const toHostView = (h: HostRow): HostView => ({
  id: h.id,
  name: h.name,
  mac: h.mac,
  roomId: h.room_id,
  room: h.room_name,
  ip: h.ip,
  serial: h.serial,
  diskSerial: h.disk_serial,
  notes: h.notes,
  hardware: h.hardware === null ? null : (JSON.parse(h.hardware) as Record<string, unknown>),
  lastSeenAt: h.last_seen_at,
  createdAt: h.created_at,
  updatedAt: h.updated_at,
});

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

export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE';
}

export class InventoryService {
  constructor(private readonly db: Kysely<DB>) {}

  private hostQuery(db: Kysely<DB> = this.db) {
    return db.selectFrom('hosts').leftJoin('rooms', 'rooms.id', 'hosts.room_id').selectAll('hosts').select('rooms.name as room_name');
  }

  async listRooms(): Promise<RoomView[]> {
    const rows = await this.db
      .selectFrom('rooms')
      .leftJoin('hosts', 'hosts.room_id', 'rooms.id')
      .select((eb) => ['rooms.id', 'rooms.name', 'rooms.description', 'rooms.created_at', 'rooms.updated_at', eb.fn.count<number>('hosts.id').as('host_count')])
      .groupBy(['rooms.id', 'rooms.name', 'rooms.description', 'rooms.created_at', 'rooms.updated_at'])
      .orderBy('rooms.name')
      .execute();
    return rows.map((r) => ({ id: r.id, name: r.name, description: r.description, hostCount: Number(r.host_count), createdAt: r.created_at, updatedAt: r.updated_at }));
  }

  async getRoom(id: number): Promise<RoomView> {
    const r = await this.db
      .selectFrom('rooms')
      .select((eb) => ['id', 'name', 'description', 'created_at', 'updated_at', eb.selectFrom('hosts').select((h) => h.fn.countAll<number>().as('n')).whereRef('hosts.room_id', '=', 'rooms.id').as('host_count')])
      .where('id', '=', id)
      .executeTakeFirst();
    if (!r) throw notFound('room', id);
    return { id: r.id, name: r.name, description: r.description, hostCount: Number(r.host_count ?? 0), createdAt: r.created_at, updatedAt: r.updated_at };
  }

  /** Throws 404 unless the room exists; cheaper than getRoom when only existence matters. */
  async assertRoomExists(id: number): Promise<void> {
    const r = await this.db.selectFrom('rooms').select('id').where('id', '=', id).executeTakeFirst();
    if (!r) throw notFound('room', id);
  }

  private async findRoomByName(db: Kysely<DB>, name: string): Promise<Room | undefined> {
    return db.selectFrom('rooms').selectAll().where((eb) => eb(eb.fn('lower', ['name']), '=', name.toLowerCase())).executeTakeFirst();
  }

  async createRoom(actor: Actor, input: { name: string; description?: string | null }): Promise<RoomView> {
    const id = await this.db.transaction().execute(async (trx) => {
      if (await this.findRoomByName(trx, input.name)) throw conflict('duplicate_room', `a room named "${input.name}" already exists`);
      const now = nowIso();
      const row = await trx.insertInto('rooms').values({ name: input.name, description: blankToNull(input.description), created_at: now, updated_at: now }).returning('id').executeTakeFirstOrThrow();
      await writeAudit(trx, actor, { action: 'room.create', targetType: 'room', targetId: row.id, details: { name: input.name } });
      return row.id;
    });
    return this.getRoom(id);
  }

  async updateRoom(actor: Actor, id: number, patch: { name?: string; description?: string | null }): Promise<RoomView> {
    await this.db.transaction().execute(async (trx) => {
      const room = await trx.selectFrom('rooms').selectAll().where('id', '=', id).executeTakeFirst();
      if (!room) throw notFound('room', id);
      if (patch.name !== undefined) {
        const clash = await this.findRoomByName(trx, patch.name);
        if (clash && clash.id !== id) throw conflict('duplicate_room', `a room named "${patch.name}" already exists`);
      }
      await trx
        .updateTable('rooms')
        .set({ ...(patch.name !== undefined ? { name: patch.name } : {}), ...(patch.description !== undefined ? { description: blankToNull(patch.description) } : {}), updated_at: nowIso() })
        .where('id', '=', id)
        .execute();
      await writeAudit(trx, actor, { action: 'room.update', targetType: 'room', targetId: id, details: { from: { name: room.name }, to: patch } });
    });
    return this.getRoom(id);
  }

  /** Refuses to delete a room with hosts unless they are to become unassigned. */
  async deleteRoom(actor: Actor, id: number, opts: { unassignHosts: boolean }): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const room = await trx.selectFrom('rooms').selectAll().where('id', '=', id).executeTakeFirst();
      if (!room) throw notFound('room', id);
      const { n } = await trx.selectFrom('hosts').select((eb) => eb.fn.countAll<number>().as('n')).where('room_id', '=', id).executeTakeFirstOrThrow();
      if (Number(n) > 0 && !opts.unassignHosts) {
        throw conflict('room_not_empty', `room "${room.name}" still has ${n} PC(s); move them first or delete with ?hosts=unassign`);
      }
      await trx.updateTable('hosts').set({ room_id: null, updated_at: nowIso() }).where('room_id', '=', id).execute();
      await trx.deleteFrom('rooms').where('id', '=', id).execute();
      await writeAudit(trx, actor, { action: 'room.delete', targetType: 'room', targetId: id, details: { name: room.name, hostsUnassigned: Number(n) } });
    });
  }

  async listHosts(filter: { roomId?: number | 'unassigned'; q?: string } = {}): Promise<HostView[]> {
    // Case-insensitive order, which the unique index on lower(name) serves without a sort.
    let q = this.hostQuery().orderBy((eb) => eb.fn('lower', ['hosts.name']));
    if (filter.roomId === 'unassigned') q = q.where('hosts.room_id', 'is', null);
    else if (filter.roomId !== undefined) q = q.where('hosts.room_id', '=', filter.roomId);
    if (filter.q) {
      const like = `%${filter.q.toLowerCase().replace(/[%_\\]/g, (c) => `\\${c}`)}%`;
      q = q.where((eb) => eb.or([eb(eb.fn('lower', ['hosts.name']), 'like', like), eb('hosts.mac', 'like', like), eb(eb.fn('lower', ['hosts.serial']), 'like', like), eb('hosts.ip', 'like', like)]));
    }
    return (await q.execute()).map(toHostView);
  }

  async getHost(id: number, db: Kysely<DB> = this.db): Promise<HostView> {
    const row = await this.hostQuery(db).where('hosts.id', '=', id).executeTakeFirst();
    if (!row) throw notFound('host', id);
    return toHostView(row);
  }

  private async assertRoom(db: Kysely<DB>, roomId: number | null | undefined): Promise<void> {
    if (roomId === null || roomId === undefined) return;
    const room = await db.selectFrom('rooms').select('id').where('id', '=', roomId).executeTakeFirst();
    if (!room) throw new AppError(400, 'unknown_room', `room ${roomId} does not exist`);
  }

  private async assertUnique(db: Kysely<DB>, fields: { mac?: string; name?: string }, selfId?: number): Promise<void> {
    if (fields.mac !== undefined) {
      const other = await db.selectFrom('hosts').select(['id', 'name']).where('mac', '=', fields.mac).executeTakeFirst();
      if (other && other.id !== selfId) throw conflict('duplicate_mac', `MAC ${fields.mac} already belongs to ${other.name}`);
    }
    if (fields.name !== undefined) {
      const name = fields.name;
      const other = await db.selectFrom('hosts').select(['id', 'mac']).where((eb) => eb(eb.fn('lower', ['name']), '=', name.toLowerCase())).executeTakeFirst();
      if (other && other.id !== selfId) throw conflict('duplicate_name', `the name ${name} is already used by the PC with MAC ${other.mac}`);
    }
  }

  async createHost(actor: Actor, raw: HostInput): Promise<HostView> {
    const input = validateHostFields(raw);
    return this.writeHost(async (trx) => {
      await this.assertRoom(trx, input.roomId);
      await this.assertUnique(trx, input);
      const now = nowIso();
      const row = await trx
        .insertInto('hosts')
        .values({ name: input.name, mac: input.mac, room_id: input.roomId ?? null, ip: input.ip ?? null, serial: input.serial ?? null, disk_serial: input.diskSerial ?? null, notes: input.notes ?? null, hardware: null, last_seen_at: null, created_at: now, updated_at: now })
        .returning('id')
        .executeTakeFirstOrThrow();
      await writeAudit(trx, actor, { action: 'host.create', targetType: 'host', targetId: row.id, details: { name: input.name, mac: input.mac, roomId: input.roomId ?? null } });
      return this.getHost(row.id, trx);
    });
  }

  async updateHost(actor: Actor, id: number, raw: Partial<HostInput>): Promise<HostView> {
    const patch = validateHostFields(raw);
    return this.writeHost(async (trx) => {
      const before = await this.getHost(id, trx);
      await this.assertRoom(trx, patch.roomId);
      await this.assertUnique(trx, patch, id);
      await trx
        .updateTable('hosts')
        .set({
          ...(patch.name !== undefined ? { name: patch.name } : {}),
          ...(patch.mac !== undefined ? { mac: patch.mac } : {}),
          ...(patch.roomId !== undefined ? { room_id: patch.roomId } : {}),
          ...(patch.ip !== undefined ? { ip: patch.ip } : {}),
          ...(patch.serial !== undefined ? { serial: patch.serial } : {}),
          ...(patch.diskSerial !== undefined ? { disk_serial: patch.diskSerial } : {}),
          ...(patch.notes !== undefined ? { notes: patch.notes } : {}),
          updated_at: nowIso(),
        })
        .where('id', '=', id)
        .execute();
      const after = await this.getHost(id, trx);
      const changed = Object.fromEntries(
        (Object.keys(patch) as Array<keyof HostInput>).filter((k) => before[k] !== after[k]).map((k) => [k, { from: before[k], to: after[k] }]),
      );
      await writeAudit(trx, actor, { action: 'host.update', targetType: 'host', targetId: id, details: { name: after.name, changed } });
      return after;
    });
  }

  async deleteHost(actor: Actor, id: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const host = await this.getHost(id, trx);
      await trx.deleteFrom('hosts').where('id', '=', id).execute();
      await writeAudit(trx, actor, { action: 'host.delete', targetType: 'host', targetId: id, details: { name: host.name, mac: host.mac, room: host.room } });
    });
  }

  /** Moves several hosts to a room (or to unassigned with null); all or none. */
  async moveHosts(actor: Actor, hostIds: number[], roomId: number | null): Promise<HostView[]> {
    const ids = [...new Set(hostIds)];
    return this.db.transaction().execute(async (trx) => {
      await this.assertRoom(trx, roomId);
      const found = await trx.selectFrom('hosts').select('id').where('id', 'in', ids).execute();
      const missing = ids.filter((id) => !found.some((f) => f.id === id));
      if (missing.length) throw new AppError(400, 'unknown_host', `host(s) ${missing.join(', ')} do not exist; nothing was moved`);
      await trx.updateTable('hosts').set({ room_id: roomId, updated_at: nowIso() }).where('id', 'in', ids).execute();
      await writeAudit(trx, actor, { action: 'host.move', targetType: 'room', targetId: roomId ?? 'unassigned', details: { hostIds: ids } });
      return (await this.hostQuery(trx).where('hosts.id', 'in', ids).orderBy('hosts.name').execute()).map(toHostView);
    });
  }

  /** Runs a write; turns a unique-index race into the same 409 the pre-checks give. */
  private async writeHost<T>(fn: (trx: Kysely<DB>) => Promise<T>): Promise<T> {
    try {
      return await this.db.transaction().execute(fn);
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict('duplicate_host', 'another PC with this MAC or name was saved at the same moment; reload and try again');
      throw err;
    }
  }
}
