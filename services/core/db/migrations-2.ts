// Schema migrations after migrations.ts filled up, in order; merged into its list. Each one runs on
// SQLite and PostgreSQL; dialect differences stay here.
import type { Kysely, Migration } from 'kysely';
import type { Dialect } from './migrations.js';

export function migrations2(dialect: Dialect): Record<string, Migration> {
  /** An auto-incrementing integer primary key in either dialect. */
  const id = (db: Kysely<unknown>, table: string) =>
    dialect === 'postgres'
      ? db.schema.createTable(table).addColumn('id', 'serial', (c) => c.primaryKey())
      : db.schema.createTable(table).addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
  return {
    '2026-12-07-0018-software-package-versions': {
      async up(db: Kysely<unknown>) {
        // Software package versions (services/software): the manifest (JSON, software/package.ts), the
        // property values in clear (JSON) but the secret ones, sealed one by one (core/crypto.ts), and
        // the state: uploading until every installer file is there and hashed, then ready.
        await id(db, 'software_package_versions')
          .addColumn('package_id', 'text', (c) => c.notNull()).addColumn('version', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull()).addColumn('publisher', 'text', (c) => c.notNull())
          .addColumn('manifest', 'text', (c) => c.notNull()).addColumn('property_values', 'text', (c) => c.notNull()).addColumn('secret_values', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull()).addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull()).addColumn('updated_at', 'text', (c) => c.notNull())
          .addUniqueConstraint('software_package_versions_id_version', ['package_id', 'version'])
          .execute();
      },
    },
    '2026-12-07-0019-software-package-files': {
      async up(db: Kysely<unknown>) {
        // A package version's installer files, in the manifest's order (idx): declared size and SHA-256,
        // uploading until its bytes are all there and hash right, then ready (moved to its final name).
        await db.schema
          .createTable('software_package_files')
          .addColumn('version_id', 'integer', (c) => c.notNull().references('software_package_versions.id').onDelete('cascade'))
          .addColumn('idx', 'integer', (c) => c.notNull()).addColumn('name', 'text', (c) => c.notNull())
          .addColumn('size_bytes', 'bigint', (c) => c.notNull()).addColumn('sha256', 'text', (c) => c.notNull()).addColumn('state', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('software_package_files_pk', ['version_id', 'idx'])
          .execute();
      },
    },
  };
}
