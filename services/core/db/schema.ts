// Table types shared by every query. Timestamps are ISO-8601 UTC strings and JSON is text in both
// dialects, so SQLite and PostgreSQL return the same shapes and the same queries serve both.
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { DriverPackTable, HostAdminPasswordTable, ImageAnswerFileTable } from './schema-windows.js';
import type { SoftwareAssignmentTable, SoftwarePackageFileTable, SoftwarePackageVersionTable } from './schema-software.js';

export type Timestamp = string;

export interface RoomTable {
  id: Generated<number>;
  name: string;
  description: string | null;
  /** IPv4 subnet (10.1.2.0/24): Wake-on-LAN to its directed broadcast. */
  subnet: string | null;
  /** The image a run restores when it names none (null: the run must name one). */
  image_id: number | null;
  /** Its version number (null: the image's newest ready version). */
  image_version: number | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface HostTable {
  id: Generated<number>;
  mac: string;
  name: string;
  room_id: number | null;
  ip: string | null;
  serial: string | null;
  notes: string | null;
  /** JSON object with hardware facts reported by the boot client. */
  hardware: string | null;
  last_seen_at: Timestamp | null;
  /** Serial of the disk restores must target on this PC (pinned by a technician); null: the client picks. */
  disk_serial: string | null;
  /** Place on the room's plan, from 1 (both null: not placed); cleared when the PC changes room. */
  plan_row: number | null;
  plan_col: number | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export type UserRole = 'admin' | 'technician' | 'viewer';

export interface UserTable {
  id: Generated<number>;
  username: string;
  password_hash: string;
  role: UserRole;
  /** 0 or 1 (SQLite has no boolean). */
  disabled: number;
  must_change_password: number;
  created_at: Timestamp;
  updated_at: Timestamp;
  last_login_at: Timestamp | null;
}

export interface SessionTable {
  /** SHA-256 of the cookie token: a stolen database does not yield live sessions. */
  id: string;
  user_id: number;
  csrf_token: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  last_seen_at: Timestamp;
  ip: string | null;
  user_agent: string | null;
}

export interface ApiTokenTable {
  id: Generated<number>;
  user_id: number;
  name: string;
  /** SHA-256 of the token; the token itself is shown once at creation. */
  token_hash: string;
  /** First characters of the token, to recognise it in a list. */
  prefix: string;
  role: UserRole;
  created_at: Timestamp;
  expires_at: Timestamp | null;
  last_used_at: Timestamp | null;
}

export interface AuditTable {
  id: Generated<number>;
  at: Timestamp;
  user_id: number | null;
  actor: string;
  action: string;
  target_type: string | null;
  target_id: string | null;
  details: string | null;
  ip: string | null;
}

export interface SettingTable {
  key: string;
  value: string;
  updated_at: Timestamp;
}

export type TaskState = 'pending' | 'running' | 'done' | 'failed' | 'cancelled';

/** Something a PC does the next time it network-boots. */
export interface TaskTable {
  id: Generated<number>;
  host_id: number;
  /** A kind of the task kind registry (services/tasks/kinds.ts): inventory, capture, restore… */
  kind: string;
  state: TaskState;
  /** The actor's name (username, token, "system"). */
  created_by: string;
  created_at: Timestamp;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
  error: string | null;
  /** JSON object with the task's outcome (while running: the client's last progress report). */
  result: string | null;
  /** JSON: what the task works on, in its kind's params schema (capture, restore: the image and version); null for inventory. */
  params: string | null;
  /** The address whose hello claimed the task (its boot client); its tokens work from there only. */
  claimed_ip: string | null;
  claimed_at: Timestamp | null;
}

export interface ImageTable {
  id: Generated<number>;
  name: string;
  description: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/**
 * capturing: chunks are being uploaded, never offered for restore; ready: complete and published;
 * damaged: published, then found with missing or corrupt chunks (by verify or a restore): never
 * offered for restore, back to ready when a verify finds it whole again; failed: the capture failed
 * or was cancelled; deleted: removed by a person. Capturing, ready and damaged versions keep their
 * chunks from garbage collection (a damaged one may be made whole by a new capture of the same data).
 */
export type ImageVersionState = 'capturing' | 'ready' | 'damaged' | 'failed' | 'deleted';

export interface ImageVersionTable {
  id: Generated<number>;
  image_id: number;
  /** 1, 2, 3… per image. */
  number: number;
  state: ImageVersionState;
  notes: string | null;
  created_by: string;
  source_host_id: number | null;
  task_id: number | null;
  /** The manifest's chunkSize. */
  chunk_size: number;
  disk_bytes: number;
  used_bytes: number;
  /** Sum of the stored (compressed) size of its distinct chunks. */
  stored_bytes: number;
  /** Distinct chunks. */
  chunk_count: number;
  /** SHA-256 of the published manifest file. */
  manifest_sha256: string | null;
  /** The PC that produced a captured version: its MAC, system serial and address at the time. */
  source_mac: string | null;
  source_serial: string | null;
  source_ip: string | null;
  /** What the capture read of its Windows (imaging/windows-facts.ts), JSON; null: captured before that. */
  windows: string | null;
  error: string | null;
  created_at: Timestamp;
  published_at: Timestamp | null;
}

/** The distinct chunks a version references (what garbage collection must keep). */
export interface ImageVersionChunkTable {
  version_id: number;
  hash: string;
}

/** A chunk present in the store: a row exists only once its file is in place and its hash checked. */
export interface ChunkTable {
  /** SHA-256 of the uncompressed bytes, lowercase hex. */
  hash: string;
  /** Uncompressed bytes. */
  size: number;
  /** Bytes of the zstd file. */
  stored_size: number;
  created_at: Timestamp;
  verified_at: Timestamp | null;
}

export type AlertSeverity = 'warning' | 'critical';

/** Something a person should look at; repeats of an open alert count up instead of adding rows. */
export interface AlertTable {
  id: Generated<number>;
  /** e.g. boot.token_elsewhere, boot.claim_refused, boot.identity_mismatch */
  kind: string;
  severity: AlertSeverity;
  host_id: number | null;
  task_id: number | null;
  /** A sentence a person can act on. */
  message: string;
  /** JSON object. */
  details: string | null;
  count: number;
  first_at: Timestamp;
  last_at: Timestamp;
  acknowledged_at: Timestamp | null;
  acknowledged_by: string | null;
}

export type RunState = 'running' | 'done' | 'cancelled' | 'not_started';
export type RunPcState = 'queued' | 'waking' | 'booted' | 'restoring' | 'verifying' | 'done' | 'failed' | 'skipped' | 'cancelled';

/** A room run: one image version restored onto a room's PCs (services/runs). */
export interface RunTable {
  id: Generated<number>;
  /** null once the room is deleted (room_name keeps what it was). */
  room_id: number | null;
  room_name: string | null;
  image_id: number | null;
  image_name: string;
  version_id: number | null;
  version_number: number;
  state: RunState;
  /** JSON: the run's options (steps, wake and silence timeouts, at most so many PCs at once, skip PCs in use…). */
  options: string;
  created_by: string;
  created_at: Timestamp;
  started_at: Timestamp | null;
  ended_at: Timestamp | null;
  /** When the run's window closes: PCs still running then are stopped. */
  window_ends_at: Timestamp | null;
  reason_code: string | null;
  reason_text: string | null;
  /** JSON: the reason's parameters (a run that did not start: the time, the window…). */
  reason_params: string | null;
  /** When the morning report was e-mailed (null: not yet, or no SMTP). */
  report_sent_at: Timestamp | null;
  /** The run's multicast session (jobs/multicast.ts); null: none. */
  mcast_state: 'sending' | 'ended' | null;
  /** Its allocator slot, data group and first port (multicast/session.ts). */
  mcast_slot: number | null;
  mcast_group: string | null;
  mcast_port: number | null;
  /** The worker that runs it, and when it last said so. */
  mcast_owner: string | null;
  mcast_beat: Timestamp | null;
  /** JSON: the sender's report once the session ended. */
  mcast_outcome: string | null;
  /** JSON: the bandwidth plan made when the run started (runs/plan.ts); null: none (a run from before, or one that did not start). */
  plan: string | null;
}

/** One PC of a run: its state in the per-PC pipeline (runs/pipeline.ts) and what it did. */
export interface RunPcTable {
  id: Generated<number>;
  run_id: number;
  host_id: number | null;
  host_name: string;
  mac: string;
  state: RunPcState;
  wake_attempts: number;
  task_id: number | null;
  /** When the current deadline falls (null: none). */
  deadline_at: Timestamp | null;
  reason_code: string | null;
  reason_text: string | null;
  bytes_done: number;
  bytes_total: number;
  started_at: Timestamp | null;
  ended_at: Timestamp | null;
  updated_at: Timestamp;
  /** How the PC gets its version (runs/delivery.ts: differential, multicast, unicast) and why; null: decided before it existed. */
  path: 'differential' | 'multicast' | 'unicast' | null;
  path_code: string | null;
  path_text: string | null;
  /** JSON object: the reason's parameters. */
  path_params: string | null;
  /** Stored bytes the PC's restore got from the multicast stream, and over HTTP as repair. */
  multicast_bytes: number;
  repair_bytes: number;
}

/** A PC's timeline in a run: one row per state change, with its reason. */
export interface RunPcEventTable {
  id: Generated<number>;
  run_pc_id: number;
  at: Timestamp;
  state: RunPcState;
  reason_code: string;
  reason_text: string;
  /** JSON object: the reason's parameters (the UI translates with them). */
  params: string | null;
}

/** A room run on a cron, inside a window (services/schedules). */
export interface ScheduleTable {
  id: Generated<number>;
  room_id: number;
  image_id: number;
  /** Version number; null: the newest ready version when it fires. */
  version: number | null;
  /** Five-field cron (minute hour day-of-month month day-of-week). */
  cron: string;
  /** IANA time zone of the cron and the window. */
  time_zone: string;
  /** 'HH:MM' in time_zone; the window may cross midnight (22:00–06:00). */
  window_start: string;
  window_end: string;
  /** JSON: the run options (maxParallel, steps, skipInUse…), as RunInputSchema takes them. */
  options: string;
  /** 0 or 1. */
  enabled: number;
  /** 1: a one-off, turned off (enabled 0) after its first instant. */
  once: number;
  created_by: string;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** What one instant of a schedule did: the run it started, or why it did not start. */
export interface ScheduleFireTable {
  id: Generated<number>;
  schedule_id: number;
  /** The scheduled instant (ISO UTC); unique per schedule. */
  fire_at: Timestamp;
  run_id: number | null;
  outcome: 'started' | 'not_started';
  reason_code: string | null;
  reason_text: string | null;
  /** JSON object: the reason's parameters (its French words are made from them). */
  reason_params: string | null;
  created_at: Timestamp;
}

export interface DB {
  rooms: RoomTable;
  hosts: HostTable;
  users: UserTable;
  sessions: SessionTable;
  api_tokens: ApiTokenTable;
  audit_log: AuditTable;
  settings: SettingTable;
  tasks: TaskTable;
  images: ImageTable;
  image_answer_files: ImageAnswerFileTable;
  host_admin_passwords: HostAdminPasswordTable;
  image_versions: ImageVersionTable;
  image_version_chunks: ImageVersionChunkTable;
  chunks: ChunkTable;
  alerts: AlertTable;
  runs: RunTable;
  run_pcs: RunPcTable;
  run_pc_events: RunPcEventTable;
  schedules: ScheduleTable;
  schedule_fires: ScheduleFireTable;
  driver_packs: DriverPackTable;
  software_package_versions: SoftwarePackageVersionTable;
  software_package_files: SoftwarePackageFileTable;
  software_assignments: SoftwareAssignmentTable;
}

export type Room = Selectable<RoomTable>;
export type Host = Selectable<HostTable>;
export type NewHost = Insertable<HostTable>;
export type HostUpdate = Updateable<HostTable>;
export type User = Selectable<UserTable>;
export type Session = Selectable<SessionTable>;
export type ApiToken = Selectable<ApiTokenTable>;
export type AuditEntry = Selectable<AuditTable>;
export type Task = Selectable<TaskTable>;
export type Image = Selectable<ImageTable>;
export type ImageVersion = Selectable<ImageVersionTable>;
export type ChunkRow = Selectable<ChunkTable>;
export type Alert = Selectable<AlertTable>;
export type Run = Selectable<RunTable>;
export type RunPc = Selectable<RunPcTable>;
export type RunPcEvent = Selectable<RunPcEventTable>;
export type Schedule = Selectable<ScheduleTable>;
export type ScheduleFire = Selectable<ScheduleFireTable>;
export type { ColumnType };
export type { DriverPackTable, HostAdminPasswordTable, ImageAnswerFileTable } from './schema-windows.js';
export type { SoftwareAssignmentTable, SoftwarePackageFileTable, SoftwarePackageVersionTable } from './schema-software.js';
