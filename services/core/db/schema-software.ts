// Table types of software deployment (issue 16): package versions, their installer files, assignments. Split
// from schema.ts for its length; the DB interface there names every table.
import type { Generated } from 'kysely';

type Timestamp = string;

/** A software package version (services/software/store.ts). */
export interface SoftwarePackageVersionTable {
  id: Generated<number>;
  /** The manifest's id (the same for every version of a package). */
  package_id: string;
  version: string;
  name: string;
  publisher: string;
  /** The manifest, JSON (software/package.ts). */
  manifest: string;
  /** JSON object: the values of the non-secret properties. */
  property_values: string;
  /** JSON object: secret property name → its value sealed (core/crypto.ts, context software:<id>:<name>). */
  secret_values: string;
  /** ready: every file is there and hashed; only then do PCs see it. */
  state: 'uploading' | 'ready';
  created_by: string;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** An installer file of a package version, in the manifest's order. */
export interface SoftwarePackageFileTable {
  version_id: number;
  idx: number;
  name: string;
  size_bytes: number;
  sha256: string;
  state: 'uploading' | 'ready';
}

/** A package assigned to a room or to one PC (services/software/assignments.ts): exactly one of room_id, host_id. */
export interface SoftwareAssignmentTable {
  id: Generated<number>;
  room_id: number | null;
  host_id: number | null;
  /** A package id (software_package_versions.package_id): not a row, so that it follows new versions. */
  package_id: string;
  /** Pinned to this version; null: the package's newest ready version. */
  version: string | null;
  /** exclude: only on a PC, with no version: the PC does not get its room's assignment of the package. */
  mode: 'install' | 'exclude';
  created_by: string;
  created_at: Timestamp;
}
