// The `software_assignments` table: every query on it, and its only writer.
import type { Kysely, Selectable } from 'kysely';
import { nowIso, type DB } from '../core/db/index.js';
import type { SoftwareAssignmentTable } from '../core/db/schema.js';

export type AssignmentRow = Selectable<SoftwareAssignmentTable>;

export type AssignmentTarget = { roomId: number; hostId?: undefined } | { hostId: number; roomId?: undefined };

export interface NewAssignment {
  packageId: string;
  version: string | null;
  mode: 'install' | 'exclude';
  createdBy: string;
}

export class AssignmentRepository {
  constructor(private readonly db: Kysely<DB>) {}

  get(id: number, db: Kysely<DB> = this.db): Promise<AssignmentRow | undefined> {
    return db.selectFrom('software_assignments').selectAll().where('id', '=', id).executeTakeFirst();
  }

  list(filter: { roomId?: number; hostId?: number; packageId?: string } = {}, db: Kysely<DB> = this.db): Promise<AssignmentRow[]> {
    let q = db.selectFrom('software_assignments').selectAll();
    if (filter.roomId !== undefined) q = q.where('room_id', '=', filter.roomId);
    if (filter.hostId !== undefined) q = q.where('host_id', '=', filter.hostId);
    if (filter.packageId !== undefined) q = q.where('package_id', '=', filter.packageId);
    return q.orderBy('id').execute();
  }

  /** The rows that make a PC's list: its room's and its own. */
  forHost(hostId: number, roomId: number | null, db: Kysely<DB> = this.db): Promise<AssignmentRow[]> {
    return db
      .selectFrom('software_assignments')
      .selectAll()
      .where((eb) => (roomId === null ? eb('host_id', '=', hostId) : eb.or([eb('host_id', '=', hostId), eb('room_id', '=', roomId)])))
      .orderBy('id')
      .execute();
  }

  byTarget(target: AssignmentTarget, packageId: string, db: Kysely<DB> = this.db): Promise<AssignmentRow | undefined> {
    const q = db.selectFrom('software_assignments').selectAll().where('package_id', '=', packageId);
    return (target.roomId !== undefined ? q.where('room_id', '=', target.roomId) : q.where('host_id', '=', target.hostId)).executeTakeFirst();
  }

  /** Sets the assignment of a package to a target (one per target and package), returning its id. */
  async upsert(target: AssignmentTarget, a: NewAssignment, db: Kysely<DB>): Promise<number> {
    const before = await this.byTarget(target, a.packageId, db);
    if (before) {
      await db.updateTable('software_assignments').set({ version: a.version, mode: a.mode, created_by: a.createdBy, created_at: nowIso() }).where('id', '=', before.id).execute();
      return before.id;
    }
    const row = await db
      .insertInto('software_assignments')
      .values({ room_id: target.roomId ?? null, host_id: target.hostId ?? null, package_id: a.packageId, version: a.version, mode: a.mode, created_by: a.createdBy, created_at: nowIso() })
      .returning('id')
      .executeTakeFirstOrThrow();
    return Number(row.id);
  }

  async remove(id: number, db: Kysely<DB>): Promise<void> {
    await db.deleteFrom('software_assignments').where('id', '=', id).execute();
  }
}
