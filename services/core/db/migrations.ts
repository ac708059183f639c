// Schema migrations, in order. Each one must run on SQLite and PostgreSQL; dialect differences stay here.
import { sql, type Kysely, type Migration } from 'kysely';
import { migrations2 } from './migrations-2.js';

export type Dialect = 'sqlite' | 'postgres';
export function builders(dialect: Dialect) {
  return {
    /** An auto-incrementing integer primary key in either dialect. */
    id: (db: Kysely<unknown>, table: string) =>
      dialect === 'postgres'
        ? db.schema.createTable(table).addColumn('id', 'serial', (c) => c.primaryKey())
        : db.schema.createTable(table).addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement()),
  };
}

export function migrations(dialect: Dialect): Record<string, Migration> {
  const { id } = builders(dialect);
  return {
    '2026-11-29-0001-foundation': {
      async up(db: Kysely<unknown>) {
        await id(db, 'rooms')
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('description', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await sql`create unique index rooms_name_ci on rooms (lower(name))`.execute(db);
        await id(db, 'hosts')
          .addColumn('mac', 'text', (c) => c.notNull().unique())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('room_id', 'integer', (c) => c.references('rooms.id').onDelete('set null'))
          .addColumn('ip', 'text')
          .addColumn('serial', 'text')
          .addColumn('notes', 'text')
          .addColumn('hardware', 'text')
          .addColumn('last_seen_at', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await sql`create unique index hosts_name_ci on hosts (lower(name))`.execute(db);
        await db.schema.createIndex('hosts_room').on('hosts').column('room_id').execute();

        await id(db, 'users')
          .addColumn('username', 'text', (c) => c.notNull())
          .addColumn('password_hash', 'text', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('must_change_password', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('last_login_at', 'text')
          .execute();
        await sql`create unique index users_username_ci on users (lower(username))`.execute(db);

        await db.schema
          .createTable('sessions')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('csrf_token', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .addColumn('last_seen_at', 'text', (c) => c.notNull())
          .addColumn('ip', 'text')
          .addColumn('user_agent', 'text')
          .execute();
        await db.schema.createIndex('sessions_user').on('sessions').column('user_id').execute();
        await db.schema.createIndex('sessions_expires').on('sessions').column('expires_at').execute();

        await id(db, 'api_tokens')
          .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('prefix', 'text', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text')
          .addColumn('last_used_at', 'text')
          .execute();

        await id(db, 'audit_log')
          .addColumn('at', 'text', (c) => c.notNull())
          .addColumn('user_id', 'integer')
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('target_type', 'text')
          .addColumn('target_id', 'text')
          .addColumn('details', 'text')
          .addColumn('ip', 'text')
          .execute();
        await db.schema.createIndex('audit_at').on('audit_log').column('at').execute();

        await db.schema
          .createTable('settings')
          .addColumn('key', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '2026-11-29-0002-boot': {
      async up(db: Kysely<unknown>) {
        await id(db, 'tasks')
          .addColumn('host_id', 'integer', (c) => c.notNull().references('hosts.id').onDelete('cascade'))
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('started_at', 'text')
          .addColumn('finished_at', 'text')
          .addColumn('error', 'text')
          .addColumn('result', 'text')
          .execute();
        await db.schema.createIndex('tasks_host_state').on('tasks').columns(['host_id', 'state']).execute();
        // At most one open task per PC, even when two requests race: a PC does one thing at a time.
        // Partial indexes have the same syntax in SQLite and PostgreSQL.
        await sql`create unique index tasks_one_open on tasks (host_id) where state in ('pending', 'running')`.execute(db);
      },
    },
    '2026-11-29-0003-imaging': {
      async up(db: Kysely<unknown>) {
        // What a capture or restore task works on ({imageId, ...}, JSON); null for inventory.
        await db.schema.alterTable('tasks').addColumn('params', 'text').execute();
        // The disk a restore must target on this PC (its serial), when a technician pinned one.
        await db.schema.alterTable('hosts').addColumn('disk_serial', 'text').execute();

        await id(db, 'images')
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('description', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await sql`create unique index images_name_ci on images (lower(name))`.execute(db);

        // Byte counts are bigint: a disk is larger than 2^31 bytes (PostgreSQL's integer).
        await id(db, 'image_versions')
          .addColumn('image_id', 'integer', (c) => c.notNull().references('images.id'))
          .addColumn('number', 'integer', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('notes', 'text')
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('source_host_id', 'integer', (c) => c.references('hosts.id').onDelete('set null'))
          .addColumn('task_id', 'integer', (c) => c.references('tasks.id').onDelete('set null'))
          .addColumn('chunk_size', 'integer', (c) => c.notNull())
          .addColumn('disk_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('used_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('stored_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('chunk_count', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('manifest_sha256', 'text')
          .addColumn('error', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('published_at', 'text')
          .execute();
        await db.schema.createIndex('image_versions_number').on('image_versions').columns(['image_id', 'number']).unique().execute();
        await db.schema.createIndex('image_versions_task').on('image_versions').column('task_id').execute();
        await db.schema.createIndex('image_versions_state').on('image_versions').column('state').execute();

        await db.schema
          .createTable('image_version_chunks')
          .addColumn('version_id', 'integer', (c) => c.notNull().references('image_versions.id').onDelete('cascade'))
          .addColumn('hash', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('image_version_chunks_pk', ['version_id', 'hash'])
          .execute();
        await db.schema.createIndex('image_version_chunks_hash').on('image_version_chunks').column('hash').execute();

        await db.schema
          .createTable('chunks')
          .addColumn('hash', 'text', (c) => c.primaryKey())
          .addColumn('size', 'integer', (c) => c.notNull())
          .addColumn('stored_size', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('verified_at', 'text')
          .execute();

        // The row garbage collection and capture registration both update first, so they never overlap.
        await sql`insert into settings (key, value, updated_at) values ('imaging.store_lock', '-', ${new Date().toISOString()})`.execute(db);
      },
    },
    '2026-12-04-0004-boot-claims-alerts': {
      async up(db: Kysely<unknown>) {
        // The address whose hello claimed a task: its token works from there only.
        await db.schema.alterTable('tasks').addColumn('claimed_ip', 'text').execute();
        await db.schema.alterTable('tasks').addColumn('claimed_at', 'text').execute();
        // Which PC produced a captured version, as the store saw it.
        await db.schema.alterTable('image_versions').addColumn('source_mac', 'text').execute();
        await db.schema.alterTable('image_versions').addColumn('source_serial', 'text').execute();
        await db.schema.alterTable('image_versions').addColumn('source_ip', 'text').execute();

        // Things a person should look at (a boot token used from elsewhere, a PC whose disk changed…).
        await id(db, 'alerts')
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('severity', 'text', (c) => c.notNull())
          .addColumn('host_id', 'integer', (c) => c.references('hosts.id').onDelete('set null'))
          .addColumn('task_id', 'integer', (c) => c.references('tasks.id').onDelete('set null'))
          .addColumn('message', 'text', (c) => c.notNull())
          .addColumn('details', 'text')
          .addColumn('count', 'integer', (c) => c.notNull().defaultTo(1))
          .addColumn('first_at', 'text', (c) => c.notNull())
          .addColumn('last_at', 'text', (c) => c.notNull())
          .addColumn('acknowledged_at', 'text')
          .addColumn('acknowledged_by', 'text')
          .execute();
        await db.schema.createIndex('alerts_open').on('alerts').columns(['acknowledged_at', 'kind']).execute();
      },
    },
    '2026-12-06-0005-runs': {
      async up(db: Kysely<unknown>) {
        // Room runs (services/runs): the run, its PCs, and each PC's timeline. History outlives the
        // room, the PC and the image: their names are kept, their ids set to null.
        await id(db, 'runs')
          .addColumn('room_id', 'integer', (c) => c.references('rooms.id').onDelete('set null'))
          .addColumn('room_name', 'text')
          .addColumn('image_id', 'integer', (c) => c.references('images.id').onDelete('set null'))
          .addColumn('image_name', 'text', (c) => c.notNull())
          .addColumn('version_id', 'integer', (c) => c.references('image_versions.id').onDelete('set null'))
          .addColumn('version_number', 'integer', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('options', 'text', (c) => c.notNull())
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('started_at', 'text')
          .addColumn('ended_at', 'text')
          .addColumn('window_ends_at', 'text')
          .addColumn('reason_code', 'text')
          .addColumn('reason_text', 'text')
          .addColumn('report_sent_at', 'text')
          .execute();
        await db.schema.createIndex('runs_room').on('runs').columns(['room_id', 'created_at']).execute();
        await db.schema.createIndex('runs_state').on('runs').column('state').execute();

        await id(db, 'run_pcs')
          .addColumn('run_id', 'integer', (c) => c.notNull().references('runs.id').onDelete('cascade'))
          .addColumn('host_id', 'integer', (c) => c.references('hosts.id').onDelete('set null'))
          .addColumn('host_name', 'text', (c) => c.notNull())
          .addColumn('mac', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('wake_attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('task_id', 'integer', (c) => c.references('tasks.id').onDelete('set null'))
          .addColumn('deadline_at', 'text')
          .addColumn('reason_code', 'text')
          .addColumn('reason_text', 'text')
          .addColumn('bytes_done', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('bytes_total', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('started_at', 'text')
          .addColumn('ended_at', 'text')
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('run_pcs_run').on('run_pcs').columns(['run_id', 'state']).execute();
        await db.schema.createIndex('run_pcs_task').on('run_pcs').column('task_id').execute();
        // A PC is in one open run at a time (what its next network boot does must be one thing).
        await sql`create unique index run_pcs_one_open on run_pcs (host_id) where state not in ('done', 'failed', 'skipped', 'cancelled')`.execute(db);

        await id(db, 'run_pc_events')
          .addColumn('run_pc_id', 'integer', (c) => c.notNull().references('run_pcs.id').onDelete('cascade'))
          .addColumn('at', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('reason_code', 'text', (c) => c.notNull())
          .addColumn('reason_text', 'text', (c) => c.notNull())
          .addColumn('params', 'text')
          .execute();
        await db.schema.createIndex('run_pc_events_pc').on('run_pc_events').columns(['run_pc_id', 'id']).execute();
      },
    },
    '2026-12-06-0006-schedules': {
      async up(db: Kysely<unknown>) {
        // Nightly (or weekly) room runs: a cron in a time zone and a window. A schedule belongs to its
        // room (deleted with it); its fires are the record of what each instant did (one row per instant).
        await id(db, 'schedules')
          .addColumn('room_id', 'integer', (c) => c.notNull().references('rooms.id').onDelete('cascade'))
          .addColumn('image_id', 'integer', (c) => c.notNull().references('images.id').onDelete('cascade'))
          .addColumn('version', 'integer')
          .addColumn('cron', 'text', (c) => c.notNull())
          .addColumn('time_zone', 'text', (c) => c.notNull().defaultTo('Europe/Paris'))
          .addColumn('window_start', 'text', (c) => c.notNull())
          .addColumn('window_end', 'text', (c) => c.notNull())
          .addColumn('options', 'text', (c) => c.notNull())
          .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('schedules_room').on('schedules').column('room_id').execute();

        await id(db, 'schedule_fires')
          .addColumn('schedule_id', 'integer', (c) => c.notNull().references('schedules.id').onDelete('cascade'))
          .addColumn('fire_at', 'text', (c) => c.notNull())
          .addColumn('run_id', 'integer', (c) => c.references('runs.id').onDelete('set null'))
          .addColumn('outcome', 'text', (c) => c.notNull())
          .addColumn('reason_code', 'text')
          .addColumn('reason_text', 'text')
          .addColumn('reason_params', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        // One row per instant: a fire delivered twice (a retried job, two workers) starts one run.
        await db.schema.createIndex('schedule_fires_once').on('schedule_fires').columns(['schedule_id', 'fire_at']).unique().execute();
      },
    },
    '2026-12-06-0007-runs-reason-params': {
      async up(db: Kysely<unknown>) {
        // A run's own reason with its parameters (a schedule's instant that did not start: the time, the
        // window), so that the report can say it in French as well as in the English of reason_text.
        await db.schema.alterTable('runs').addColumn('reason_params', 'text').execute();
      },
    },
    '2026-12-06-0008-rooms-subnet': {
      async up(db: Kysely<unknown>) {
        // A room's IPv4 subnet (10.1.2.0/24): its directed broadcast is where the worker's Wake-on-LAN
        // packets for the room's PCs go (besides ROOMCAST_WOL_*), when the room sits behind a router.
        await db.schema.alterTable('rooms').addColumn('subnet', 'text').execute();
      },
    },
    '2026-12-07-0009-schedules-once': {
      async up(db: Kysely<unknown>) {
        // A one-off schedule ("tonight, once"): 1 turns it off after its first instant, whatever that did.
        await db.schema.alterTable('schedules').addColumn('once', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      },
    },
    '2026-12-07-0010-hosts-plan': {
      async up(db: Kysely<unknown>) {
        // A PC's place on its room's plan (row and column from 1; null: not placed). One PC per cell of a
        // room: the unique index holds it even for two concurrent writers (nulls never collide).
        await db.schema.alterTable('hosts').addColumn('plan_row', 'integer').execute();
        await db.schema.alterTable('hosts').addColumn('plan_col', 'integer').execute();
        await db.schema.createIndex('hosts_plan_cell').on('hosts').columns(['room_id', 'plan_row', 'plan_col']).unique().execute();
      },
    },
    '2026-12-07-0011-rooms-image': {
      async up(db: Kysely<unknown>) {
        // The image version a room is set to use: a run that names none restores it. A null version: the
        // image's newest ready one; a null image: the run must name one.
        await db.schema.alterTable('rooms').addColumn('image_id', 'integer', (c) => c.references('images.id').onDelete('set null')).execute();
        await db.schema.alterTable('rooms').addColumn('image_version', 'integer').execute();
      },
    },
    '2026-12-07-0012-runs-delivery': {
      async up(db: Kysely<unknown>) {
        // How each PC of a run gets its version (runs/delivery.ts: differential, multicast or unicast)
        // and why, with the stored bytes it got by multicast and by HTTP repair (bigint: a disk is
        // larger than 2^31 bytes).
        for (const [name, type] of [['path', 'text'], ['path_code', 'text'], ['path_text', 'text'], ['path_params', 'text']] as const) await db.schema.alterTable('run_pcs').addColumn(name, type).execute();
        await db.schema.alterTable('run_pcs').addColumn('multicast_bytes', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
        await db.schema.alterTable('run_pcs').addColumn('repair_bytes', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
        // The run's multicast session (one per run, jobs/multicast.ts): its state (sending, ended),
        // data group and first port (its allocator slot), the worker holding it and when it last said
        // so (a restarted worker takes over a stale one), and its outcome (JSON).
        for (const [name, type] of [['mcast_state', 'text'], ['mcast_slot', 'integer'], ['mcast_group', 'text'], ['mcast_port', 'integer'], ['mcast_owner', 'text'], ['mcast_beat', 'text'], ['mcast_outcome', 'text']] as const)
          await db.schema.alterTable('runs').addColumn(name, type).execute();
      },
    },
    '2026-12-07-0013-image-answer-files': {
      async up(db: Kysely<unknown>) {
        // An image's Windows answer file (imaging/answer-files.ts): on or off, its unattend.xml template
        // (null: the built-in one), the values it is rendered with, and the domain-join and local
        // Administrator passwords sealed with AES-256-GCM (core/crypto.ts: "v1:…"), never in clear.
        let t = db.schema.createTable('image_answer_files').addColumn('image_id', 'integer', (c) => c.primaryKey().references('images.id').onDelete('cascade'));
        t = t.addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(0));
        for (const name of ['template', 'workgroup', 'domain_name', 'domain_ou', 'domain_join_user', 'domain_join_password', 'admin_password', 'agent_command', 'locale', 'input_locale', 'time_zone'])
          t = t.addColumn(name, 'text');
        await t.addColumn('updated_by', 'text', (c) => c.notNull()).addColumn('updated_at', 'text', (c) => c.notNull()).execute();
      },
    },
    '2026-12-07-0014-versions-windows': {
      async up(db: Kysely<unknown>) {
        // What a capture read of the Windows it holds (imaging/windows-facts.ts): JSON, one entry per
        // partition holding Windows, [] for none; null: a version captured before this was read.
        await db.schema.alterTable('image_versions').addColumn('windows', 'text').execute();
      },
    },
    '2026-12-07-0015-runs-plan': {
      async up(db: Kysely<unknown>) {
        // The run's bandwidth plan (runs/plan.ts), JSON, computed when it starts: bytes per path, the
        // seconds planned, the binding limit, whether it fits its window. Null: a run from before.
        await db.schema.alterTable('runs').addColumn('plan', 'text').execute();
      },
    },
    '2026-12-07-0016-driver-packs': {
      async up(db: Kysely<unknown>) {
        // Driver packs (services/drivers): a tar of .inf drivers matched to PCs by DMI vendor and model
        // (a model pattern may hold *), uploaded in resumable pieces, checked against its SHA-256.
        await id(db, 'driver_packs')
          .addColumn('name', 'text', (c) => c.notNull().unique()).addColumn('vendor', 'text', (c) => c.notNull()).addColumn('model', 'text', (c) => c.notNull())
          .addColumn('size_bytes', 'bigint', (c) => c.notNull()).addColumn('sha256', 'text', (c) => c.notNull()).addColumn('state', 'text', (c) => c.notNull())
          .addColumn('files', 'integer', (c) => c.notNull().defaultTo(0)).addColumn('unpacked_bytes', 'bigint', (c) => c.notNull().defaultTo(0)).addColumn('error', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull()).addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '2026-12-07-0017-host-admin-passwords': {
      async up(db: Kysely<unknown>) {
        // Per-PC local Administrator passwords (imaging/admin-passwords.ts): an answer file may ask for
        // them; each PC's newest one and the one before, sealed (core/crypto.ts), with the task that gave it.
        await db.schema.alterTable('image_answer_files').addColumn('admin_password_per_pc', 'integer', (c) => c.notNull().defaultTo(0)).execute();
        let t = db.schema.createTable('host_admin_passwords').addColumn('host_id', 'integer', (c) => c.primaryKey().references('hosts.id').onDelete('cascade'));
        t = t.addColumn('password', 'text', (c) => c.notNull()).addColumn('set_at', 'text', (c) => c.notNull()).addColumn('task_id', 'integer');
        await t.addColumn('previous_password', 'text').addColumn('previous_set_at', 'text').addColumn('previous_task_id', 'integer').execute();
      },
    },
    ...migrations2(dialect),
  };
}
