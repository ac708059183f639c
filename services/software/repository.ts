// The `software_package_versions` and `software_package_files` tables: every query on them, and their only writer.
import type { Kysely, Selectable } from 'kysely';
import { nowIso, type DB } from '../core/db/index.js';
import type { SoftwarePackageFileTable, SoftwarePackageVersionTable } from '../core/db/schema.js';

export type PackageVersionRow = Selectable<SoftwarePackageVersionTable>;
export type PackageFileRow = Selectable<SoftwarePackageFileTable>;

export interface NewVersion {
  packageId: string;
  version: string;
  name: string;
  publisher: string;
  manifest: string;
  propertyValues: string;
  createdBy: string;
  files: Array<{ name: string; sizeBytes: number; sha256: string }>;
}

export class SoftwareRepository {
  constructor(private readonly db: Kysely<DB>) {}

  list(db: Kysely<DB> = this.db): Promise<PackageVersionRow[]> {
    return db.selectFrom('software_package_versions').selectAll().orderBy('package_id').orderBy('id').execute();
  }

  listReady(db: Kysely<DB> = this.db): Promise<PackageVersionRow[]> {
    return db.selectFrom('software_package_versions').selectAll().where('state', '=', 'ready').orderBy('package_id').orderBy('id').execute();
  }

  get(id: number, db: Kysely<DB> = this.db): Promise<PackageVersionRow | undefined> {
    return db.selectFrom('software_package_versions').selectAll().where('id', '=', id).executeTakeFirst();
  }

  byVersion(packageId: string, version: string, db: Kysely<DB> = this.db): Promise<PackageVersionRow | undefined> {
    return db.selectFrom('software_package_versions').selectAll().where('package_id', '=', packageId).where('version', '=', version).executeTakeFirst();
  }

  files(versionId: number, db: Kysely<DB> = this.db): Promise<PackageFileRow[]> {
    return db.selectFrom('software_package_files').selectAll().where('version_id', '=', versionId).orderBy('idx').execute();
  }

  file(versionId: number, idx: number, db: Kysely<DB> = this.db): Promise<PackageFileRow | undefined> {
    return db.selectFrom('software_package_files').selectAll().where('version_id', '=', versionId).where('idx', '=', idx).executeTakeFirst();
  }

  async create(v: NewVersion, db: Kysely<DB>): Promise<number> {
    const now = nowIso();
    const row = await db
      .insertInto('software_package_versions')
      .values({ package_id: v.packageId, version: v.version, name: v.name, publisher: v.publisher, manifest: v.manifest, property_values: v.propertyValues, secret_values: '{}', state: 'uploading', created_by: v.createdBy, created_at: now, updated_at: now })
      .returning('id')
      .executeTakeFirstOrThrow();
    const id = Number(row.id);
    await db
      .insertInto('software_package_files')
      .values(v.files.map((f, idx) => ({ version_id: id, idx, name: f.name, size_bytes: f.sizeBytes, sha256: f.sha256, state: 'uploading' as const })))
      .execute();
    return id;
  }

  async setValues(id: number, propertyValues: string, secretValues: string, db: Kysely<DB> = this.db): Promise<void> {
    await db.updateTable('software_package_versions').set({ property_values: propertyValues, secret_values: secretValues, updated_at: nowIso() }).where('id', '=', id).execute();
  }

  async fileReady(versionId: number, idx: number, db: Kysely<DB> = this.db): Promise<void> {
    await db.updateTable('software_package_files').set({ state: 'ready' }).where('version_id', '=', versionId).where('idx', '=', idx).execute();
  }

  /**
   * Marks the version ready when every file of it is, in one statement. Called after each file's own
   * change is committed: of two files finished at once, the later call sees both.
   */
  async readyIfComplete(versionId: number, db: Kysely<DB> = this.db): Promise<void> {
    await db
      .updateTable('software_package_versions')
      .set({ state: 'ready', updated_at: nowIso() })
      .where('id', '=', versionId)
      .where((eb) => eb.not(eb.exists(eb.selectFrom('software_package_files').select('idx').where('version_id', '=', versionId).where('state', '!=', 'ready'))))
      .execute();
  }

  async remove(id: number, db: Kysely<DB> = this.db): Promise<void> {
    await db.deleteFrom('software_package_files').where('version_id', '=', id).execute();
    await db.deleteFrom('software_package_versions').where('id', '=', id).execute();
  }
}
