// Schema migrations after migrations.ts filled up, in order; merged into its list. Each one runs on
// SQLite and PostgreSQL; dialect differences stay here.
import { sql, type Kysely, type Migration } from 'kysely';
import { builders, type Dialect } from './migrations.js';

export function migrations2(dialect: Dialect): Record<string, Migration> {
  const { id } = builders(dialect);
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
    '2026-12-07-0020-software-assignments': {
      async up(db: Kysely<unknown>) {
        // Packages assigned to a room or to one PC (services/software/assignments.ts): exactly one of
        // room_id and host_id; a package id (not a version row: an unpinned assignment follows the
        // newest ready version), optionally pinned to a version; a PC's row may exclude its room's
        // package. Deleting the room or the PC deletes its rows; deleting a package version that an
        // assignment needs is refused by the store.
        await id(db, 'software_assignments')
          .addColumn('room_id', 'integer', (c) => c.references('rooms.id').onDelete('cascade'))
          .addColumn('host_id', 'integer', (c) => c.references('hosts.id').onDelete('cascade'))
          .addColumn('package_id', 'text', (c) => c.notNull()).addColumn('version', 'text')
          .addColumn('mode', 'text', (c) => c.notNull())
          .addColumn('created_by', 'text', (c) => c.notNull()).addColumn('created_at', 'text', (c) => c.notNull())
          .addCheckConstraint('software_assignments_one_target', sql`(room_id is null) <> (host_id is null)`)
          .addCheckConstraint('software_assignments_mode', sql`mode = 'install' or (mode = 'exclude' and host_id is not null and version is null)`)
          .addUniqueConstraint('software_assignments_room_package', ['room_id', 'package_id'])
          .addUniqueConstraint('software_assignments_host_package', ['host_id', 'package_id'])
          .execute();
        await db.schema.createIndex('software_assignments_package').on('software_assignments').column('package_id').execute();
      },
    },
  };
}
