// Table types of software deployment (issue 16): package versions and their installer files. Split
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
