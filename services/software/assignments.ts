// Software assignments (issue 16 item 4; docs/packages.md): packages assigned to rooms or to single PCs,
// and each PC's effective list (effective.ts) in install order, for technicians and for the agent.
//
// Every change is checked before it is committed: the lists it touches (the room's own and each of its
// PCs', or the one PC's) must still order, so a dependency left out or excluded, or a cycle, is refused
// with the packages involved. Deleting a room or a PC deletes its assignments (ON DELETE CASCADE);
// deleting a package version that an assignment needs is refused by the store (refuseIfAssigned).
import type { Kysely } from 'kysely';
import { writeAudit, type Actor } from '../core/audit.js';
import type { MachineAuth } from '../core/auth.js';
import type { DB } from '../core/db/index.js';
import { AppError, conflict, notFound } from '../core/errors.js';
import { AssignmentRepository, type AssignmentRow, type AssignmentTarget } from './assignment-repository.js';
import { effectiveList, type AssignmentInput, type EffectiveEntry, type VersionInput } from './effective.js';
import type { PackageManifest } from './package.js';
import type { PackageVersionRow } from './repository.js';
import type { PackageVersionView, SoftwareStore } from './store.js';

export interface AssignmentView {
  id: number;
  roomId: number | null;
  hostId: number | null;
  packageId: string;
  /** Pinned version; null: the newest ready one. */
  version: string | null;
  /** A PC's exclusion of its room's assignment of the package. */
  exclude: boolean;
  createdBy: string;
  createdAt: string;
}

export interface AssignInput {
  roomId?: number | undefined;
  hostId?: number | undefined;
  packageId: string;
  version?: string | null | undefined;
  exclude?: boolean | undefined;
}

export interface HostSoftwareView {
  hostId: number;
  roomId: number | null;
  entries: EffectiveEntry[];
  excluded: Array<{ packageId: string; assignmentId: number }>;
}

export interface AgentPackage {
  packageId: string;
  versionId: number;
  version: string;
  name: string;
  publisher: string;
  manifest: PackageManifest;
  /** Property values; a secret one only as { set } (the store never gives them out). */
  values: PackageVersionView['values'];
  /** `url` is relative to the api: GET it with the machine token (Range supported), then check the SHA-256. */
  files: Array<{ index: number; name: string; sizeBytes: number; sha256: string; url: string }>;
}

export interface AgentAssignments {
  hostId: number;
  /** Ready packages, in install order. */
  packages: AgentPackage[];
  /** Assigned but not yet deliverable, with the reason. */
  waiting: Array<{ packageId: string; reason: string }>;
}

const toView = (r: AssignmentRow): AssignmentView => ({ id: r.id, roomId: r.room_id, hostId: r.host_id, packageId: r.package_id, version: r.version, exclude: r.mode === 'exclude', createdBy: r.created_by, createdAt: r.created_at });

const toVersionInput = (r: PackageVersionRow): VersionInput => ({ id: r.id, packageId: r.package_id, version: r.version, state: r.state, dependsOn: (JSON.parse(r.manifest) as PackageManifest).dependsOn ?? [] });

export class AssignmentService {
  readonly repo: AssignmentRepository;
  /**
   * Changes one at a time, with the store's deletes of versions (store.assignmentChanges): on
   * PostgreSQL (read committed) two changes checked at once could each pass alone. SQLite's writes are serial already.
   */
  private get serial() {
    return this.store.assignmentChanges;
  }

  constructor(
    private readonly db: Kysely<DB>,
    private readonly store: SoftwareStore,
  ) {
    this.repo = new AssignmentRepository(db);
  }

  async list(filter: { roomId?: number; hostId?: number; packageId?: string } = {}): Promise<AssignmentView[]> {
    return (await this.repo.list(filter)).map(toView);
  }

  private async host(id: number, db: Kysely<DB>) {
    const h = await db.selectFrom('hosts').select(['id', 'name', 'room_id']).where('id', '=', id).executeTakeFirst();
    if (!h) throw notFound('host', id);
    return h;
  }

  private async room(id: number, db: Kysely<DB>) {
    const r = await db.selectFrom('rooms').select(['id', 'name']).where('id', '=', id).executeTakeFirst();
    if (!r) throw notFound('room', id);
    return r;
  }

  private async hostList(hostId: number, db: Kysely<DB>) {
    const h = await this.host(hostId, db);
    const rows = await this.repo.forHost(h.id, h.room_id, db);
    const input: AssignmentInput[] = rows.map((r) => ({ id: r.id, from: r.host_id !== null ? 'host' : 'room', packageId: r.package_id, version: r.version, mode: r.mode }));
    return { host: h, result: effectiveList(input, (await this.store.repo.list(db)).map(toVersionInput), `PC ${h.name}`) };
  }

  /** Refuses (422) unless every list the change touches still orders; run inside the change's transaction. */
  private async check(target: AssignmentTarget, db: Kysely<DB>): Promise<void> {
    const hostIds: number[] = [];
    if (target.roomId !== undefined) {
      const room = await this.room(target.roomId, db);
      const rows = await this.repo.list({ roomId: room.id }, db);
      const own = effectiveList(
        rows.map((r) => ({ id: r.id, from: 'room', packageId: r.package_id, version: r.version, mode: r.mode })),
        (await this.store.repo.list(db)).map(toVersionInput),
        `room ${room.name}`,
      );
      if (!own.ok) throw new AppError(422, own.code, own.message);
      hostIds.push(...(await db.selectFrom('hosts').select('id').where('room_id', '=', room.id).orderBy('id').execute()).map((h) => h.id));
    } else hostIds.push(target.hostId);
    for (const id of hostIds) {
      const { result } = await this.hostList(id, db);
      if (!result.ok) throw new AppError(422, result.code, result.message);
    }
  }

  /** Assigns a package to a room or a PC (replacing that target's assignment of the package), or excludes it on a PC. */
  async assign(actor: Actor, input: AssignInput): Promise<AssignmentView> {
    if ((input.roomId === undefined) === (input.hostId === undefined)) throw new AppError(400, 'validation_failed', 'give roomId or hostId, not both');
    const target: AssignmentTarget = input.roomId !== undefined ? { roomId: input.roomId } : { hostId: input.hostId! };
    const version = input.version ?? null;
    if (input.exclude && target.roomId !== undefined) throw new AppError(422, 'software_exclude_not_host', 'only a PC excludes a package (one its room gets); to take a package from a room, unassign it');
    if (input.exclude && version !== null) throw new AppError(422, 'software_exclude_not_host', 'an exclusion names no version: it takes the package away from this PC whatever the version');
    const id = await this.serial.run('change', () => this.db.transaction().execute(async (trx) => {
      const name = target.roomId !== undefined ? `room ${(await this.room(target.roomId, trx)).name}` : `PC ${(await this.host(target.hostId, trx)).name}`;
      const versions = (await this.store.repo.list(trx)).filter((v) => v.package_id === input.packageId);
      if (versions.length === 0) throw notFound('software package', input.packageId);
      if (version !== null && !versions.some((v) => v.version === version)) {
        throw new AppError(422, 'software_version_unknown', `${input.packageId} has no version ${version} in the store (it has ${versions.map((v) => v.version).join(', ')}); leave the version out to follow the newest ready one`);
      }
      const before = await this.repo.byTarget(target, input.packageId, trx);
      const id = await this.repo.upsert(target, { packageId: input.packageId, version, mode: input.exclude ? 'exclude' : 'install', createdBy: actor.name }, trx);
      await this.check(target, trx);
      await writeAudit(trx, actor, {
        action: 'software_assignment.assign', targetType: 'software_assignment', targetId: id,
        details: { packageId: input.packageId, version, exclude: input.exclude ?? false, to: name, ...(before ? { before: { version: before.version, exclude: before.mode === 'exclude' } } : {}) },
      });
      return id;
    }));
    return toView((await this.repo.get(id))!);
  }

  async unassign(actor: Actor, id: number): Promise<void> {
    await this.serial.run('change', () => this.db.transaction().execute(async (trx) => {
      const row = await this.repo.get(id, trx);
      if (!row) throw notFound('software assignment', id);
      const target: AssignmentTarget = row.room_id !== null ? { roomId: row.room_id } : { hostId: row.host_id! };
      await this.repo.remove(id, trx);
      await this.check(target, trx);
      await writeAudit(trx, actor, {
        action: 'software_assignment.unassign', targetType: 'software_assignment', targetId: id,
        details: { packageId: row.package_id, version: row.version, exclude: row.mode === 'exclude', ...(row.room_id !== null ? { roomId: row.room_id } : { hostId: row.host_id }) },
      });
    }));
  }

  /** A PC's effective list in install order (a list that no longer orders, after a new version changed its dependencies: 422). */
  async forHost(hostId: number): Promise<HostSoftwareView> {
    const { host, result } = await this.hostList(hostId, this.db);
    if (!result.ok) throw new AppError(422, result.code, result.message);
    return { hostId: host.id, roomId: host.room_id, entries: result.entries, excluded: result.excluded };
  }

  /**
   * The package versions a PC may read (its agent's downloads): the ready ones of its effective list.
   * A list that no longer orders gives none, as the agent's list answers 422 then.
   */
  async readable(machine: MachineAuth): Promise<Set<number>> {
    if (machine.hostId === undefined) throw new AppError(403, 'not_a_host_token', 'this token names no PC: software is for PCs that roomcast knows');
    const { result } = await this.hostList(machine.hostId, this.db);
    return new Set(result.ok ? result.entries.flatMap((e) => (e.state === 'ready' && e.versionId !== null ? [e.versionId] : [])) : []);
  }

  /** The agent's list: its PC's ready packages in install order, each with its files to download; no secret value. */
  async forAgent(machine: MachineAuth): Promise<AgentAssignments> {
    if (machine.hostId === undefined) throw new AppError(403, 'not_a_host_token', 'this token names no PC: software is for PCs that roomcast knows');
    const list = await this.forHost(machine.hostId);
    const packages: AgentPackage[] = [];
    for (const e of list.entries.filter((x) => x.state === 'ready')) {
      const v = await this.store.view(e.versionId!);
      packages.push({
        packageId: v.packageId, versionId: v.id, version: v.version, name: v.name, publisher: v.publisher, manifest: v.manifest, values: v.values,
        files: v.files.map((f) => ({ index: f.index, name: f.name, sizeBytes: f.sizeBytes, sha256: f.sha256, url: `/api/v1/client/software/packages/${v.id}/files/${f.index}` })),
      });
    }
    const waiting = list.entries.filter((x) => x.state === 'waiting').map((x) => ({ packageId: x.packageId, reason: x.reason!.text }));
    return { hostId: list.hostId, packages, waiting };
  }
}

/**
 * Refuses (409) to delete a package version that an assignment needs: one pinned to it, or the last
 * version of a package assigned unpinned. Called by the store inside its delete transaction.
 */
export async function refuseIfAssigned(db: Kysely<DB>, version: PackageVersionRow, others: number): Promise<void> {
  const rows = (await new AssignmentRepository(db).list({ packageId: version.package_id }, db)).filter((r) => r.mode === 'install');
  const needing = rows.filter((r) => r.version === version.version || (r.version === null && others === 0));
  if (needing.length === 0) return;
  const names = async (table: 'rooms' | 'hosts', ids: number[]) => (ids.length ? (await db.selectFrom(table).select('name').where('id', 'in', ids).orderBy('name').execute()).map((x) => x.name) : []);
  const rooms = await names('rooms', needing.flatMap((r) => (r.room_id !== null ? [r.room_id] : [])));
  const hosts = await names('hosts', needing.flatMap((r) => (r.host_id !== null ? [r.host_id] : [])));
  const where = [...rooms.map((n) => `room ${n}`), ...hosts.map((n) => `PC ${n}`)].join(', ');
  throw conflict('software_package_assigned', `${version.package_id} ${version.version} is assigned (${where}): unassign it there first, or pin those assignments to another version`);
}
