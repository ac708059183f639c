// Table types of what makes a restored Windows ready (issue 15): an image's answer file, per-PC
// local Administrator passwords, driver packs. Split from schema.ts only for its length; the DB interface there names every table.
import type { ColumnType, Generated } from 'kysely';

type Timestamp = string;

/** An image's Windows answer file (imaging/answer-files.ts); the two passwords sealed (core/crypto.ts). */
export interface ImageAnswerFileTable {
  image_id: number;
  enabled: Generated<number>;
  /** 1: each PC gets a random local Administrator password of its own (imaging/admin-passwords.ts) instead of admin_password. */
  admin_password_per_pc: Generated<number>;
  template: string | null;
  workgroup: string | null;
  domain_name: string | null;
  domain_ou: string | null;
  domain_join_user: string | null;
  domain_join_password: string | null;
  admin_password: string | null;
  agent_command: string | null;
  locale: string | null;
  input_locale: string | null;
  time_zone: string | null;
  updated_by: string;
  updated_at: string;
}

/** A PC's local Administrator password given by its newest answer file, and the one before (imaging/admin-passwords.ts), sealed. */
export interface HostAdminPasswordTable {
  host_id: number;
  password: string;
  set_at: Timestamp;
  task_id: number | null;
  previous_password: string | null;
  previous_set_at: Timestamp | null;
  previous_task_id: number | null;
}

/** A driver pack (services/drivers): its match rule, declared size and SHA-256, and what it unpacked to. */
export interface DriverPackTable {
  id: Generated<number>;
  name: string;
  vendor: string;
  /** The DMI model, or a pattern with * (any run of characters). */
  model: string;
  size_bytes: number;
  sha256: string;
  state: 'uploading' | 'ready' | 'damaged';
  files: ColumnType<number, number | undefined, number>;
  unpacked_bytes: ColumnType<number, number | undefined, number>;
  error: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}
