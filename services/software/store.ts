// The software package store (issue 16 item 2; docs/packages.md): package versions made from their
// manifest (software/package.ts), their installer files uploaded in resumable pieces (core/upload.ts,
// never a whole file in memory) and checked against their SHA-256, and downloaded with HTTP Range.
//
// On disk, under <data dir>/software:
//   uploads/<id>/<index>.part   a file while it arrives (its size is where its upload resumes)
//   packages/<id>/<file name>   a file whole and hashed: the .part was fsynced, renamed here, the folder fsynced
// A version is `ready` (seen by PCs) once every one of its files is. Before a version is made, and before
// each piece is read, the disk's free space is checked against what remains to come (507): an upload
// is not started that cannot end.
//
// Secret property values are sealed (core/crypto.ts) with the context software:<id>:<name>, never
// logged, and never in a view: a view says { set: true | false }.
import fs from 'node:fs';
import path from 'node:path';
import type { Kysely } from 'kysely';
import { writeAudit, type Actor } from '../core/audit.js';
import type { MachineAuth } from '../core/auth.js';
import { sealSecret } from '../core/crypto.js';
import type { DB } from '../core/db/index.js';
import { isUniqueViolation } from '../core/db/errors.js';
import { AppError, conflict, notFound } from '../core/errors.js';
import { appendPiece, freeBytes, heldBytes, noSpace, PerKey, sha256File } from '../core/upload.js';
import { fsyncPath } from '../imaging/driver-pack.js';
import { refuseIfAssigned } from './assignments.js';
import { installOrder } from './order.js';
import { PackageManifestSchema, secretNames, valueProblems, type PackageManifest, type PropertyValue } from './package.js';
import { SoftwareRepository, type PackageFileRow, type PackageVersionRow } from './repository.js';

export interface PackageFileView {
  index: number;
  name: string;
  sizeBytes: number;
  sha256: string;
  state: 'uploading' | 'ready';
  /** Bytes held: an interrupted upload resumes from there. */
  receivedBytes: number;
}

export interface PackageVersionView {
  id: number;
  packageId: string;
  version: string;
  name: string;
  publisher: string;
  state: 'uploading' | 'ready';
  manifest: PackageManifest;
  /** Each property's value; a secret one only as { set }. */
  values: Record<string, PropertyValue | { set: boolean }>;
  files: PackageFileView[];
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}

export type ValuesInput = Record<string, PropertyValue | null>;

const secretContext = (id: number, name: string) => `software:${id}:${name}`;

export class SoftwareStore {
  readonly repo: SoftwareRepository;
  private readonly serial = new PerKey<string>();
  /** Held by assignment changes (assignments.ts) and by a version's delete, which checks the assignments. */
  readonly assignmentChanges = new PerKey<'change'>();

  constructor(
    private readonly db: Kysely<DB>,
    readonly dir: string,
    private readonly secretKey: () => Buffer,
  ) {
    this.repo = new SoftwareRepository(db);
  }

  private part = (id: number, idx: number) => path.join(this.dir, 'uploads', String(id), `${idx}.part`);
  packageDir = (id: number) => path.join(this.dir, 'packages', String(id));

  private async held(f: PackageFileRow): Promise<number> {
    if (f.state === 'ready' || (await this.renamedBeforeCrash(f))) return Number(f.size_bytes);
    return heldBytes(this.part(f.version_id, f.idx));
  }

  /**
   * A file renamed into place by an api that stopped before the database said so: no part, the whole
   * file there. Its upload is not lost: the next piece (an empty one at its end will do) checks it again.
   */
  private async renamedBeforeCrash(f: PackageFileRow): Promise<boolean> {
    if (f.state === 'ready') return false;
    const size = async (file: string) => (await fs.promises.stat(file).catch(() => null))?.size ?? null;
    return (await size(this.part(f.version_id, f.idx))) === null && (await size(path.join(this.packageDir(f.version_id), f.name))) === Number(f.size_bytes);
  }

  private async row(id: number): Promise<PackageVersionRow> {
    const r = await this.repo.get(id);
    if (!r) throw notFound('software package version', id);
    return r;
  }

  private async toView(r: PackageVersionRow): Promise<PackageVersionView> {
    const manifest = PackageManifestSchema.parse(JSON.parse(r.manifest));
    const clear = JSON.parse(r.property_values) as Record<string, PropertyValue>;
    const sealed = JSON.parse(r.secret_values) as Record<string, string>;
    const values: PackageVersionView['values'] = {};
    for (const p of manifest.properties) {
      if (p.type === 'string' && p.secret) values[p.name] = { set: sealed[p.name] !== undefined };
      else if (clear[p.name] !== undefined) values[p.name] = clear[p.name]!;
    }
    const files = await Promise.all(
      (await this.repo.files(r.id)).map(async (f) => ({ index: f.idx, name: f.name, sizeBytes: Number(f.size_bytes), sha256: f.sha256, state: f.state, receivedBytes: await this.held(f) })),
    );
    return { id: r.id, packageId: r.package_id, version: r.version, name: r.name, publisher: r.publisher, state: r.state, manifest, values, files, createdBy: r.created_by, createdAt: r.created_at, updatedAt: r.updated_at };
  }

  async list(): Promise<PackageVersionView[]> {
    return Promise.all((await this.repo.list()).map((r) => this.toView(r)));
  }

  async view(id: number): Promise<PackageVersionView> {
    return this.toView(await this.row(id));
  }

  /** Splits values into clear and sealed ones (the sealed ones kept when left out, cleared when null). */
  private split(id: number, m: PackageManifest, values: ValuesInput, before: { clear: Record<string, PropertyValue>; sealed: Record<string, string> }) {
    const problems = valueProblems(m, values, true);
    if (problems.length) throw new AppError(422, 'software_values_invalid', `property values: ${problems.join('; ')}`);
    const secrets = secretNames(m);
    const clear = { ...before.clear };
    const sealed = { ...before.sealed };
    for (const [name, v] of Object.entries(values)) {
      const into = secrets.has(name) ? sealed : clear;
      if (v === null) delete into[name];
      else if (secrets.has(name)) sealed[name] = sealSecret(this.secretKey(), String(v), secretContext(id, name));
      else clear[name] = v;
    }
    return { clear, sealed };
  }

  /** Adds a package version (uploading) from its manifest, with property values. */
  async create(actor: Actor, manifest: PackageManifest, values: ValuesInput): Promise<PackageVersionView> {
    const m = manifest;
    const total = m.files.reduce((n, f) => n + f.sizeBytes, 0);
    const free = await freeBytes(this.dir);
    if (free < total) throw noSpace(this.dir, `the files of ${m.id} ${m.version} take ${total} bytes and ${free} are free; nothing was added`);
    const exists = () => conflict('software_package_exists', `${m.id} ${m.version} is already in the store: give the new one another version (e.g. a new package revision), or delete that one first`);
    const id = await this.db.transaction().execute(async (trx) => {
      if (await this.repo.byVersion(m.id, m.version, trx)) throw exists();
      // The dependency graph: the newest version of every package, with this one in place of its own.
      // The new one first, so that a cycle is told from it.
      const newest = new Map<string, readonly string[]>([[m.id, m.dependsOn]]);
      for (const r of await this.repo.list(trx)) if (r.package_id !== m.id) newest.set(r.package_id, (JSON.parse(r.manifest) as PackageManifest).dependsOn ?? []);
      const order = installOrder([...newest].map(([pid, dependsOn]) => ({ id: pid, dependsOn })));
      if (!order.ok) throw new AppError(422, order.code, order.message);
      const id = await this.repo.create({ packageId: m.id, version: m.version, name: m.name, publisher: m.publisher, manifest: JSON.stringify(m), propertyValues: '{}', createdBy: actor.name, files: m.files }, trx);
      const { clear, sealed } = this.split(id, m, values, { clear: {}, sealed: {} });
      await this.repo.setValues(id, JSON.stringify(clear), JSON.stringify(sealed), trx);
      await writeAudit(trx, actor, { action: 'software_package.create', targetType: 'software_package', targetId: id, details: { packageId: m.id, version: m.version, files: m.files.length, totalBytes: total } });
      return id;
    }).catch((err: unknown) => {
      if (isUniqueViolation(err)) throw exists(); // the same version created at the same moment (PostgreSQL's read committed)
      throw err;
    });
    return this.view(id);
  }

  /** Sets property values: a secret one given null is cleared, left out kept. */
  async setValues(actor: Actor, id: number, values: ValuesInput): Promise<PackageVersionView> {
    const r = await this.row(id);
    const m = PackageManifestSchema.parse(JSON.parse(r.manifest));
    const { clear, sealed } = this.split(id, m, values, { clear: JSON.parse(r.property_values), sealed: JSON.parse(r.secret_values) });
    await this.db.transaction().execute(async (trx) => {
      await this.repo.setValues(id, JSON.stringify(clear), JSON.stringify(sealed), trx);
      // The names only: a value may be a secret.
      await writeAudit(trx, actor, { action: 'software_package.values', targetType: 'software_package', targetId: id, details: { properties: Object.keys(values) } });
    });
    return this.view(id);
  }

  /** Deletes a version, once no piece of its files is being written (each file's upload lock is held). */
  async remove(actor: Actor, id: number): Promise<void> {
    const files = (await this.view(id)).files.map((f) => f.index);
    const locked = files.reduceRight<() => Promise<void>>((inner, idx) => () => this.serial.run(`${id}/${idx}`, inner), () => this.assignmentChanges.run('change', () => this.removeLocked(actor, id)));
    await locked();
  }

  private async removeLocked(actor: Actor, id: number): Promise<void> {
    const r = await this.row(id);
    await this.db.transaction().execute(async (trx) => {
      await refuseIfAssigned(trx, r, (await this.repo.list(trx)).filter((o) => o.package_id === r.package_id && o.id !== id).length);
      await this.repo.remove(id, trx);
      await writeAudit(trx, actor, { action: 'software_package.delete', targetType: 'software_package', targetId: id, details: { packageId: r.package_id, version: r.version } });
    });
    await fs.promises.rm(path.join(this.dir, 'uploads', String(id)), { recursive: true, force: true });
    await fs.promises.rm(this.packageDir(id), { recursive: true, force: true });
  }

  private async fileRow(id: number, idx: number): Promise<PackageFileRow> {
    await this.row(id);
    const f = await this.repo.file(id, idx);
    if (!f) throw notFound('installer file', `${id}/${idx}`);
    return f;
  }

  /**
   * Writes a piece of file `idx` at `offset` (at most the bytes held). The free space is checked
   * before the body is read. The piece ending the file hashes it and, if right, publishes it.
   */
  async append(id: number, idx: number, offset: number, body: AsyncIterable<Buffer>): Promise<PackageVersionView> {
    return this.serial.run(`${id}/${idx}`, async () => {
      const f = await this.fileRow(id, idx);
      const what = `file ${idx} (${f.name}) of package version ${id}`;
      if (f.state === 'ready') throw conflict('software_file_complete', `${what} is complete already`);
      if (await this.renamedBeforeCrash(f)) {
        await this.publish(f, what, path.join(this.packageDir(f.version_id), f.name));
        return this.view(id);
      }
      const size = Number(f.size_bytes);
      const free = await freeBytes(this.dir);
      if (free < size - offset) throw noSpace(this.dir, `${size - offset} bytes of ${what} are still to come and ${free} are free; nothing of this piece was written`);
      const at = await appendPiece(this.part(id, idx), what, size, await this.held(f), offset, body);
      if (at === size) await this.publish(f, what);
      return this.view(id);
    });
  }

  /** Hashes a whole file: another SHA-256 drops it (422); the right one renames it into place, durably. */
  private async publish(f: PackageFileRow, what: string, renamed?: string): Promise<void> {
    const part = renamed ?? this.part(f.version_id, f.idx);
    const got = await sha256File(part);
    if (got !== f.sha256) {
      await fs.promises.rm(part, { force: true });
      throw new AppError(422, 'software_file_hash_mismatch', `${what} hashes to ${got}, not to the declared SHA-256 ${f.sha256}: it was dropped. Check the file (sha256sum), then upload it again from byte 0`);
    }
    if (!renamed) {
      const into = this.packageDir(f.version_id);
      await fs.promises.mkdir(into, { recursive: true });
      await fs.promises.rename(part, path.join(into, f.name));
      await fsyncPath(into);
    }
    await this.repo.fileReady(f.version_id, f.idx);
    await this.repo.readyIfComplete(f.version_id);
  }

  /** The path of a whole file (technicians' download). */
  async filePath(id: number, idx: number): Promise<string> {
    const f = await this.fileRow(id, idx);
    if (f.state !== 'ready') throw conflict('software_file_incomplete', `file ${idx} (${f.name}) of package version ${id} is still uploading`);
    return this.wholeFile(f);
  }

  private wholeFile(f: PackageFileRow): string {
    const file = path.join(this.packageDir(f.version_id), f.name);
    if (!fs.existsSync(file)) throw new AppError(404, 'software_file_missing', `file ${f.idx} (${f.name}) of package version ${f.version_id} is missing from the appliance's disk: delete the version and add it again`);
    return file;
  }

  // ── PCs (a machine token of a known PC) ─────────────────────────────────────────────────────────

  private static host(machine: MachineAuth): number {
    if (machine.hostId === undefined) throw new AppError(403, 'not_a_host_token', 'this token names no PC: software is for PCs that roomcast knows');
    return machine.hostId;
  }

  /** Ready versions only: one still uploading does not exist for a PC. */
  private async readyRow(id: number): Promise<PackageVersionRow> {
    const r = await this.repo.get(id);
    if (!r || r.state !== 'ready') throw notFound('software package version', id);
    return r;
  }

  // `readable`: the versions assigned to the PC (AssignmentService.readable); any other is not found,
  // so that a PC never reads another room's software (an admin image may hold serial numbers).

  async clientList(machine: MachineAuth, readable: ReadonlySet<number>): Promise<PackageVersionView[]> {
    SoftwareStore.host(machine);
    return Promise.all((await this.repo.listReady()).filter((r) => readable.has(r.id)).map((r) => this.toView(r)));
  }

  async clientView(machine: MachineAuth, id: number, readable: ReadonlySet<number>): Promise<PackageVersionView> {
    SoftwareStore.host(machine);
    if (!readable.has(id)) throw notFound('software package version', id);
    return this.toView(await this.readyRow(id));
  }

  async clientFile(machine: MachineAuth, id: number, idx: number, readable: ReadonlySet<number>): Promise<string> {
    SoftwareStore.host(machine);
    if (!readable.has(id)) throw notFound('software package version', id);
    await this.readyRow(id);
    const f = await this.repo.file(id, idx);
    if (!f) throw notFound('installer file', `${id}/${idx}`);
    return this.wholeFile(f);
  }
}
