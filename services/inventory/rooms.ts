// The `rooms` table: every query on it, and its only writer (the inventory service and the CSV importer
// change rooms through here).
import type { Kysely } from 'kysely';
import { nowIso, type DB } from '../core/db/index.js';
import type { Room } from '../core/db/schema.js';

export interface RoomView {
  id: number;
  name: string;
  description: string | null;
  /** IPv4 subnet of the room (10.1.2.0/24): the worker wakes its PCs at its directed broadcast too. */
  subnet: string | null;
  /** The image version a run restores when it names none: image null, none set; version null, the newest ready. */
  imageId: number | null;
  image: string | null;
  version: number | null;
  hostCount: number;
  createdAt: string;
  updatedAt: string;
}

const toView = (r: Room & { host_count: number | string | null; image_name: string | null }): RoomView => ({
  id: r.id,
  name: r.name,
  description: r.description,
  subnet: r.subnet,
  imageId: r.image_id,
  image: r.image_name,
  version: r.image_id === null ? null : r.image_version,
  hostCount: Number(r.host_count ?? 0),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class RoomRepository {
  constructor(private readonly db: Kysely<DB>) {}

  private views(db: Kysely<DB>) {
    return db
      .selectFrom('rooms')
      .select((eb) => [
        'id', 'name', 'description', 'subnet', 'image_id', 'image_version', 'created_at', 'updated_at',
        eb.selectFrom('images').select('images.name').whereRef('images.id', '=', 'rooms.image_id').as('image_name'),
        eb.selectFrom('hosts').select((h) => h.fn.countAll<number>().as('n')).whereRef('hosts.room_id', '=', 'rooms.id').as('host_count'),
      ]);
  }

  /** Every room with its number of PCs, by name. */
  async list(db: Kysely<DB> = this.db): Promise<RoomView[]> {
    return (await this.views(db).orderBy('name').execute()).map(toView);
  }

  async view(id: number, db: Kysely<DB> = this.db): Promise<RoomView | undefined> {
    const r = await this.views(db).where('id', '=', id).executeTakeFirst();
    return r && toView(r);
  }

  byId(id: number, db: Kysely<DB> = this.db): Promise<Room | undefined> {
    return db.selectFrom('rooms').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** The room named `name`, any case. */
  byName(name: string, db: Kysely<DB> = this.db): Promise<Room | undefined> {
    return db.selectFrom('rooms').selectAll().where((eb) => eb(eb.fn('lower', ['name']), '=', name.toLowerCase())).executeTakeFirst();
  }

  all(db: Kysely<DB> = this.db): Promise<Array<Pick<Room, 'id' | 'name'>>> {
    return db.selectFrom('rooms').select(['id', 'name']).execute();
  }

  async insert(trx: Kysely<DB>, name: string, description: string | null, subnet: string | null = null): Promise<number> {
    const now = nowIso();
    const row = await trx.insertInto('rooms').values({ name, description, subnet, image_id: null, image_version: null, created_at: now, updated_at: now }).returning('id').executeTakeFirstOrThrow();
    return row.id;
  }

  async update(trx: Kysely<DB>, id: number, patch: { name?: string; description?: string | null; subnet?: string | null; image_id?: number | null; image_version?: number | null }): Promise<void> {
    await trx
      .updateTable('rooms')
      .set({ ...patch, updated_at: nowIso() })
      .where('id', '=', id)
      .execute();
  }

  async delete(trx: Kysely<DB>, id: number): Promise<void> {
    await trx.deleteFrom('rooms').where('id', '=', id).execute();
  }
}
