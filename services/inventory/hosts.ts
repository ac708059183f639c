// The `hosts` table: every query on it, and its only writer. The inventory service, the CSV importer
// and the boot client's hello all change PCs through here, and every write tells a `host.changed`
// event through the caller's outbox (emitted after its commit).
import type { Kysely } from 'kysely';
import { nowIso, type DB } from '../core/db/index.js';
import type { Host, HostTable } from '../core/db/schema.js';
import type { HostChange, Tx } from '../core/events.js';

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
  /** Place on the room's plan, from 1; null: not placed. */
  planRow: number | null;
  planCol: number | null;
  notes: string | null;
  hardware: Record<string, unknown> | null;
  lastSeenAt: string | null;
  createdAt: string;
  updatedAt: string;
}

type HostRow = Host & { room_name: string | null };

const toHostView = (h: HostRow): HostView => ({
  id: h.id,
  name: h.name,
  mac: h.mac,
  roomId: h.room_id,
  room: h.room_name,
  ip: h.ip,
  serial: h.serial,
  diskSerial: h.disk_serial,
  planRow: h.plan_row,
  planCol: h.plan_col,
  notes: h.notes,
  hardware: h.hardware === null ? null : (JSON.parse(h.hardware) as Record<string, unknown>),
  lastSeenAt: h.last_seen_at,
  createdAt: h.created_at,
  updatedAt: h.updated_at,
});

/** The columns a new PC is written with (id, created_at and updated_at are set here). */
export type NewHostRow = Omit<HostTable, 'id' | 'created_at' | 'updated_at' | 'disk_serial' | 'hardware' | 'last_seen_at' | 'plan_row' | 'plan_col'> &
  Partial<Pick<HostTable, 'disk_serial' | 'hardware' | 'last_seen_at'>>;
/** Columns a change may set (updated_at is set here). */
export type HostPatch = Partial<Omit<HostTable, 'id' | 'created_at' | 'updated_at'>>;

export interface HostFilter {
  roomId?: number | 'unassigned';
  /** Part of the name, MAC, serial or address, any case. */
  q?: string;
}

export class HostRepository {
  constructor(private readonly db: Kysely<DB>) {}

  private views(db: Kysely<DB>) {
    return db.selectFrom('hosts').leftJoin('rooms', 'rooms.id', 'hosts.room_id').selectAll('hosts').select('rooms.name as room_name');
  }

  async view(id: number, db: Kysely<DB> = this.db): Promise<HostView | undefined> {
    const row = await this.views(db).where('hosts.id', '=', id).executeTakeFirst();
    return row && toHostView(row);
  }

  async list(filter: HostFilter = {}, db: Kysely<DB> = this.db): Promise<HostView[]> {
    // Case-insensitive order, which the unique index on lower(name) serves without a sort.
    let q = this.views(db).orderBy((eb) => eb.fn('lower', ['hosts.name']));
    if (filter.roomId === 'unassigned') q = q.where('hosts.room_id', 'is', null);
    else if (filter.roomId !== undefined) q = q.where('hosts.room_id', '=', filter.roomId);
    if (filter.q) {
      const like = `%${filter.q.toLowerCase().replace(/[%_\\]/g, (c) => `\\${c}`)}%`;
      q = q.where((eb) => eb.or([eb(eb.fn('lower', ['hosts.name']), 'like', like), eb('hosts.mac', 'like', like), eb(eb.fn('lower', ['hosts.serial']), 'like', like), eb('hosts.ip', 'like', like)]));
    }
    return (await q.execute()).map(toHostView);
  }

  async viewsOf(ids: number[], db: Kysely<DB> = this.db): Promise<HostView[]> {
    if (ids.length === 0) return [];
    return (await this.views(db).where('hosts.id', 'in', ids).orderBy('hosts.name').execute()).map(toHostView);
  }

  byId(id: number, db: Kysely<DB> = this.db): Promise<Host | undefined> {
    return db.selectFrom('hosts').selectAll().where('id', '=', id).executeTakeFirst();
  }

  byMac(mac: string, db: Kysely<DB> = this.db): Promise<Host | undefined> {
    return db.selectFrom('hosts').selectAll().where('mac', '=', mac).executeTakeFirst();
  }

  /** The PC holding `name` (names are unique without case). */
  byName(name: string, db: Kysely<DB> = this.db): Promise<Host | undefined> {
    return db.selectFrom('hosts').selectAll().where((eb) => eb(eb.fn('lower', ['name']), '=', name.toLowerCase())).executeTakeFirst();
  }

  /** The MAC of every PC (what the proxyDHCP answers). */
  async macs(db: Kysely<DB> = this.db): Promise<string[]> {
    return (await db.selectFrom('hosts').select('mac').execute()).map((r) => r.mac);
  }

  /** The PCs whose last hello said whether Secure Boot is on (hardware facts' secureBoot), by MAC. */
  async secureBootReports(db: Kysely<DB> = this.db): Promise<{ on: string[]; off: string[] }> {
    const rows = await db.selectFrom('hosts').select(['mac', 'hardware']).where('hardware', 'like', '%"secureBoot":%').execute();
    const out = { on: [] as string[], off: [] as string[] };
    for (const r of rows) {
      let value: unknown;
      try {
        value = (JSON.parse(r.hardware ?? 'null') as { secureBoot?: unknown } | null)?.secureBoot;
      } catch {
        continue;
      }
      if (value === true) out.on.push(r.mac);
      else if (value === false) out.off.push(r.mac);
    }
    return out;
  }

  /** Which of `ids` exist. */
  async existing(db: Kysely<DB>, ids: number[]): Promise<Array<Pick<Host, 'id' | 'name' | 'room_id'>>> {
    if (ids.length === 0) return [];
    return db.selectFrom('hosts').select(['id', 'name', 'room_id']).where('id', 'in', ids).execute();
  }

  /** Every PC, in the columns the CSV import compares. */
  all(db: Kysely<DB> = this.db): Promise<Array<Pick<Host, 'id' | 'mac' | 'name' | 'room_id' | 'ip' | 'serial' | 'notes'>>> {
    return db.selectFrom('hosts').select(['id', 'mac', 'name', 'room_id', 'ip', 'serial', 'notes']).execute();
  }

  /** The names, among `base` and `base-N`, that PCs hold (lowercase). */
  async namesLike(db: Kysely<DB>, base: string): Promise<Set<string>> {
    const lower = base.toLowerCase();
    const rows = await db
      .selectFrom('hosts')
      .select('name')
      .where((eb) => eb.or([eb(eb.fn('lower', ['name']), '=', lower), eb(eb.fn('lower', ['name']), 'like', `${lower}-%`)]))
      .execute();
    return new Set(rows.map((r) => r.name.toLowerCase()));
  }

  /** The PC at a cell of a room's plan. */
  atCell(db: Kysely<DB>, roomId: number, row: number, col: number): Promise<Pick<Host, 'id' | 'name'> | undefined> {
    return db.selectFrom('hosts').select(['id', 'name']).where('room_id', '=', roomId).where('plan_row', '=', row).where('plan_col', '=', col).executeTakeFirst();
  }

  async count(db: Kysely<DB>, roomId: number): Promise<number> {
    const { n } = await db.selectFrom('hosts').select((eb) => eb.fn.countAll<number>().as('n')).where('room_id', '=', roomId).executeTakeFirstOrThrow();
    return Number(n);
  }

  /** Rows for the CSV export, by room then name. */
  exportRows(db: Kysely<DB> = this.db) {
    return db
      .selectFrom('hosts')
      .leftJoin('rooms', 'rooms.id', 'hosts.room_id')
      .select(['hosts.name', 'hosts.mac', 'hosts.ip', 'hosts.serial', 'hosts.notes', 'hosts.hardware', 'hosts.last_seen_at', 'rooms.name as room'])
      .orderBy('rooms.name')
      .orderBy('hosts.name')
      .execute();
  }

  // ---- writes: each tells host.changed through the transaction's outbox ----------------------

  async insert(tx: Tx, row: NewHostRow, change: HostChange = 'created'): Promise<number> {
    const ids = await this.insertMany(tx, [row], change);
    return ids[0]!;
  }

  async insertMany(tx: Tx, rows: NewHostRow[], change: HostChange = 'created'): Promise<number[]> {
    if (rows.length === 0) return [];
    const now = nowIso();
    const out = await tx.trx
      .insertInto('hosts')
      .values(rows.map((r) => ({ disk_serial: null, hardware: null, last_seen_at: null, ...r, created_at: now, updated_at: now })))
      .returning(['id', 'room_id'])
      .execute();
    for (const r of out) tx.out.add('host.changed', { hostId: r.id, roomId: r.room_id, change });
    return out.map((r) => r.id);
  }

  async update(tx: Tx, id: number, patch: HostPatch, change: HostChange = 'updated'): Promise<void> {
    // A PC that changes room leaves its place on the old room's plan (unless the change sets a new one).
    if (patch.room_id !== undefined && patch.plan_row === undefined && patch.plan_col === undefined) {
      const cur = await tx.trx.selectFrom('hosts').select('room_id').where('id', '=', id).executeTakeFirst();
      if (cur && cur.room_id !== patch.room_id) patch = { ...patch, plan_row: null, plan_col: null };
    }
    const r = await tx.trx
      .updateTable('hosts')
      .set({ ...patch, updated_at: nowIso() })
      .where('id', '=', id)
      .returning(['id', 'room_id'])
      .executeTakeFirst();
    if (r) tx.out.add('host.changed', { hostId: r.id, roomId: r.room_id, change });
  }

  /** Puts PCs in a room (null: unassigned). */
  async move(tx: Tx, ids: number[], roomId: number | null): Promise<void> {
    if (ids.length === 0) return;
    // Those that change room leave their place on the old room's plan.
    const leaving = tx.trx.updateTable('hosts').set({ plan_row: null, plan_col: null }).where('id', 'in', ids);
    await (roomId === null ? leaving.where('room_id', 'is not', null) : leaving.where((eb) => eb.or([eb('room_id', 'is', null), eb('room_id', '!=', roomId)]))).execute();
    const rows = await tx.trx.updateTable('hosts').set({ room_id: roomId, updated_at: nowIso() }).where('id', 'in', ids).returning('id').execute();
    for (const r of rows) tx.out.add('host.changed', { hostId: r.id, roomId, change: 'moved' });
  }

  /** Every PC of a room becomes unassigned (the room is being deleted). */
  async unassignRoom(tx: Tx, roomId: number): Promise<void> {
    const rows = await tx.trx.updateTable('hosts').set({ room_id: null, plan_row: null, plan_col: null, updated_at: nowIso() }).where('room_id', '=', roomId).returning('id').execute();
    for (const r of rows) tx.out.add('host.changed', { hostId: r.id, roomId: null, change: 'moved' });
  }

  async delete(tx: Tx, host: Pick<Host, 'id' | 'room_id'>): Promise<void> {
    await tx.trx.deleteFrom('hosts').where('id', '=', host.id).execute();
    tx.out.add('host.changed', { hostId: host.id, roomId: host.room_id, change: 'deleted' });
  }

  /** A booted client reported its hardware: facts, last seen, and the serial unless one was set. */
  async recordFacts(tx: Tx, host: Pick<Host, 'id' | 'serial'>, hardware: string, serial: string | null, at: string): Promise<void> {
    await this.update(tx, host.id, { hardware, last_seen_at: at, serial: host.serial ?? serial }, 'seen');
  }
}
