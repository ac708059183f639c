// The machine protocol: what a booted client says to the image store while its capture or restore task
// runs (with the task token from the hello answer). The task's progress and final result go through
// the tasks domain (tasks/routes.ts: /api/v1/client/progress and /result), like every kind's.
//
// Capture: POST the manifest (a 'capturing' version and its chunk list are recorded, the answer lists
// the chunks the store lacks), PUT each missing chunk, commit (every chunk present → the manifest is
// published, the version becomes 'ready'), then the final result ends the task. A streaming capture
// (the client since 2026-12: its disk read once) first names its chunks in batches as it hashes them
// (announceChunks: the version is recorded at the first, each batch joins its chunk list) and uploads
// the ones the store lacks at once; its manifest, posted at the end, replaces the list; then commit.
// Restore: GET the manifest of the task's version, GET the chunks it needs (Range for resume), result.
// Multicast joins here: a session streams the chunks of the same version, checked the same way.
import fs from 'node:fs';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { writeAudit } from '../core/audit.js';
import type { MachineAuth } from '../core/auth.js';
import type { DB } from '../core/db/index.js';
import type { ImageVersion } from '../core/db/schema.js';
import { AppError, conflict } from '../core/errors.js';
import type { EventBus, Tx } from '../core/events.js';
import type { MachineTask } from '../tasks/kinds.js';
import type { TaskService } from '../tasks/service.js';
import { allChunks, distinctChunks, HASH_PATTERN, parseManifest, type Manifest } from './format.js';
import { CaptureParamsSchema, readyVersion, RestoreParamsSchema, type CaptureParams } from './kinds.js';
import type { ImageDamage } from './damage.js';
import type { StoreMaintenance } from './maintenance.js';
import type { ChunkIntake } from './intake.js';
import type { ImageRepository } from './repository.js';
import { CHUNK_UPLOAD_MARGIN, ImageStore, sha256Hex } from './store.js';
import type { WindowsFacts } from './windows-facts.js';

/** How long a commit waits for the checks of its last uploaded chunks before answering 503 chunks_checking. */
export const COMMIT_WAIT_MS = 20_000;

export interface CaptureAnswer {
  versionId: number;
  number: number;
  /** Distinct hashes the store lacks: upload these (PUT /api/v1/client/chunks/:hash). */
  missing: string[];
  /** Uncompressed bytes of the missing chunks. */
  missingBytes: number;
}

export interface CommitAnswer {
  versionId: number;
  number: number;
  state: 'ready';
  chunkCount: number;
  storedBytes: number;
  manifestSha256: string;
}

/** A streaming capture's batch (POST /api/v1/client/capture/chunks). */
export interface ChunkAnnouncement {
  chunkSize: number;
  chunks: Array<{ hash: string; length: number }>;
}

/** Used bytes of a manifest: the used extents of every partition and the boot area written back. */
const usedBytesOf = (m: Manifest) => m.partitions.reduce((s, p) => s + p.usedBytes, 0) + m.bootArea.write.reduce((s, [, l]) => s + l, 0);

export class MachineProtocol {
  constructor(
    private readonly db: Kysely<DB>,
    readonly store: ImageStore,
    private readonly images: ImageRepository,
    private readonly tasks: TaskService,
    private readonly events: EventBus,
    private readonly maintenance: StoreMaintenance,
    private readonly damage: ImageDamage,
    readonly intake: ChunkIntake,
    private readonly commitWaitMs = COMMIT_WAIT_MS,
  ) {}

  /** The version a task reads chunks of: the restore's version (ready), or the capture's own. */
  private async taskVersion(task: MachineTask): Promise<ImageVersion> {
    if (task.kind === 'restore') return readyVersion(this.images, task, RestoreParamsSchema.parse(this.tasks.kinds.paramsOf(task)));
    const v = await this.images.captureOf(task.id);
    if (!v) throw conflict('no_capture', `task ${task.id} has no capture yet: post the manifest first (POST /api/v1/client/capture)`);
    return v;
  }

  /**
   * Records a capture: the 'capturing' version (next number; the same version again when the client
   * restarted and posts its manifest anew) and its distinct chunks, under the store lock, in one
   * transaction that also answers which chunks the store lacks and checks the free space.
   */
  async registerCapture(machine: MachineAuth, body: Buffer): Promise<CaptureAnswer> {
    const task = await this.tasks.machineTask(machine, ['capture']);
    const manifest = parseManifestBody(body);
    const distinct = distinctChunks(manifest);
    const hashes = [...distinct.keys()];
    const params = CaptureParamsSchema.parse(this.tasks.kinds.paramsOf(task));
    const stats = {
      chunk_size: manifest.chunkSize,
      disk_bytes: manifest.disk.sizeBytes,
      used_bytes: usedBytesOf(manifest),
      stored_bytes: [...distinct.values()].reduce((s, c) => s + (c.storedSize ?? 0), 0),
      chunk_count: distinct.size,
    };
    const normalized = JSON.stringify(manifest);

    return this.events.transaction(this.db, async (tx) => {
      const trx = tx.trx;
      const { image, existing } = await this.openCapture(tx, task, params);
      let version: { id: number; number: number };
      // A version created by a streaming capture's first batch has no manifest yet: this is its first.
      const again = existing !== undefined && (await this.store.hasPending(existing.id));
      if (existing) {
        version = { id: existing.id, number: existing.number };
        await this.images.recapture(tx, existing.id, stats, hashes);
      } else {
        // Which PC produced it, as the store saw it: its MAC, serial and the address its client called from.
        const source = { mac: task.mac, serial: task.serial, ip: machine.actor.ip };
        version = await this.images.insertCapturing(tx, { imageId: image.id, notes: params.notes, createdBy: task.created_by, sourceHostId: task.host_id, source, taskId: task.id, stats, hashes });
      }
      const present = await this.store.present(hashes, trx);
      const missing = hashes.filter((h) => !present.has(h));
      const missingBytes = missing.reduce((s, h) => s + distinct.get(h)!.length, 0);
      await this.store.checkSpace(missingBytes);
      await this.store.writeDurable(this.store.pendingManifestPath(version.id), normalized);
      await writeAudit(trx, machine.actor, {
        action: again ? 'image.version.recapture' : 'image.version.capture',
        targetType: 'image',
        targetId: image.id,
        details: { version: version.number, versionId: version.id, taskId: task.id, chunks: hashes.length, missing: missing.length, missingBytes },
      });
      return { versionId: version.id, number: version.number, missing, missingBytes };
    });
  }

  /**
   * A streaming capture's batch of chunk hashes, named as the client reads and hashes its disk (before
   * it has a manifest): the first batch records the 'capturing' version, each batch adds its hashes to
   * the version's chunk list under the store lock (from then on GC keeps them: a chunk answered as
   * present cannot be collected before the commit), and the answer lists those the store lacks. The
   * manifest, posted at the end (registerCapture), replaces the list with the final one.
   */
  async announceChunks(machine: MachineAuth, body: ChunkAnnouncement): Promise<Omit<CaptureAnswer, 'missingBytes'> & { missingBytes: number }> {
    const task = await this.tasks.machineTask(machine, ['capture']);
    const lengths = new Map<string, number>();
    for (const c of body.chunks) {
      if (c.length > body.chunkSize) throw new AppError(400, 'bad_chunk_list', `chunk ${c.hash} is ${c.length} bytes long, more than the chunk size (${body.chunkSize})`);
      lengths.set(c.hash, Math.max(c.length, lengths.get(c.hash) ?? 0));
    }
    const hashes = [...lengths.keys()];
    const params = CaptureParamsSchema.parse(this.tasks.kinds.paramsOf(task));
    return this.events.transaction(this.db, async (tx) => {
      const { image, existing } = await this.openCapture(tx, task, params);
      let version: { id: number; number: number };
      if (existing) {
        if (existing.chunk_size !== body.chunkSize) {
          throw conflict('chunk_size_changed', `this capture was started with ${existing.chunk_size}-byte chunks, not ${body.chunkSize}; post the manifest (POST /api/v1/client/capture) to start it over`);
        }
        version = { id: existing.id, number: existing.number };
        await this.images.addChunks(tx, existing.id, hashes);
      } else {
        const source = { mac: task.mac, serial: task.serial, ip: machine.actor.ip };
        const stats = { chunk_size: body.chunkSize, disk_bytes: 0, used_bytes: 0, stored_bytes: 0, chunk_count: 0 };
        version = await this.images.insertCapturing(tx, { imageId: image.id, notes: params.notes, createdBy: task.created_by, sourceHostId: task.host_id, source, taskId: task.id, stats, hashes });
      }
      // One being checked (uploaded before a restart) is not asked again: the commit waits for its
      // check and lists it missing if it fails. Which are being checked is read before the store's
      // rows: a check that ends in between has its row read (it is recorded before it stops being
      // checked), where the other order could miss both (on PostgreSQL the check records on another
      // connection while this reads).
      const checking = new Set(hashes.filter((h) => this.intake.checking(h)));
      const present = await this.store.present(hashes, tx.trx);
      const missing = hashes.filter((h) => !present.has(h) && !checking.has(h));
      const missingBytes = missing.reduce((s, h) => s + lengths.get(h)!, 0);
      await this.store.checkSpace(missingBytes);
      return { versionId: version.id, number: version.number, missing, missingBytes };
    }, 'relaxed'); // re-done by the manifest's registration (core/db/durability.ts)
  }

  /**
   * In a capture's transaction: the store's lock first (GC waits), then the task must still run and
   * its image exist; the version this task captures so far, unless it is committed already.
   */
  private async openCapture(tx: Tx, task: MachineTask, params: CaptureParams): Promise<{ image: { id: number }; existing: ImageVersion | undefined }> {
    await this.store.lock(tx.trx);
    const state = await this.tasks.stateOf(task.id, tx.trx);
    if (state !== 'running') throw conflict('task_not_running', `task ${task.id} is ${state ?? 'gone'}, not running; power off`);
    const image = await this.images.image(params.imageId, tx.trx);
    if (!image) throw new AppError(404, 'image_gone', `image ${params.imageId} ("${params.image}") no longer exists; cancel this task`);
    const existing = await this.images.captureOf(task.id, tx.trx);
    if (existing?.state === 'ready') {
      throw conflict('capture_committed', `version ${existing.number} of this task is already committed; post the result (POST /api/v1/client/result)`);
    }
    return { image, existing };
  }

  /** One uploaded chunk of the task's capturing version. */
  async putChunk(machine: MachineAuth, hash: string, frame: Buffer): Promise<'stored' | 'present'> {
    const task = await this.tasks.machineTask(machine, ['capture']);
    const v = await this.expectedChunk(task.id, hash);
    return this.store.putChunk(hash, frame, v.chunk_size);
  }

  /**
   * One uploaded chunk that came with a Content-Digest (`frameSha256`: the SHA-256 the client says the
   * frame has as sent), read as it arrives (the route makes no Buffer of it). The task and the chunk
   * are checked before anything is read; the body goes to a temporary file (intake.receive); the
   * intake then checks, in the background, that the file hashes to `frameSha256` and that its content
   * hashes to `hash`, before the chunk enters the store ('queued'; intake.ts). A frame that fails
   * either is dropped: the chunk stays missing, the commit says why, and the client uploads it again.
   */
  async putChunkStream(machine: MachineAuth, hash: string, body: AsyncIterable<Buffer>, frameSha256: string): Promise<'queued' | 'present'> {
    const task = await this.tasks.machineTask(machine, ['capture']);
    const v = await this.expectedChunk(task.id, hash);
    if (!HASH_PATTERN.test(hash)) throw new AppError(400, 'bad_hash', 'a chunk hash is 64 lowercase hexadecimal digits (SHA-256)');
    const got = await this.intake.receive(hash, body, v.chunk_size + CHUNK_UPLOAD_MARGIN);
    const drop = () => (got.tmp ? fs.promises.rm(got.tmp, { force: true }) : Promise.resolve());
    if (got.tooLarge) {
      throw new AppError(413, 'chunk_too_large', `chunk ${hash}: ${got.size} bytes is more than a ${v.chunk_size}-byte chunk can take compressed`);
    }
    if (got.size === 0) {
      await drop();
      throw new AppError(422, 'bad_chunk', `chunk ${hash}: the upload is empty`);
    }
    if (await this.store.has(hash)) {
      await drop();
      return 'present';
    }
    await this.intake.acceptFile(hash, got.tmp!, got.size, v.chunk_size, frameSha256);
    return 'queued';
  }

  private async expectedChunk(taskId: number, hash: string) {
    const v = await this.images.capturingWithChunk(taskId, hash);
    if (!v) {
      const capturing = await this.images.captureOf(taskId);
      if (capturing?.state !== 'capturing') throw conflict('no_capture', `task ${taskId} has no capture in progress: post the manifest first (POST /api/v1/client/capture)`);
      throw conflict('chunk_not_expected', `chunk ${hash} is not in the manifest of this capture; upload only the chunks the manifest lists`);
    }
    return v;
  }

  /** Publishes the capture once every chunk is present: manifest written durably, then the version is ready. */
  /** `windows`: what the client read of the Windows it captured (windows-facts.ts), recorded with the version. */
  async commitCapture(machine: MachineAuth, windows?: WindowsFacts[]): Promise<CommitAnswer> {
    const task = await this.tasks.machineTask(machine, ['capture']);
    const v = await this.images.captureOf(task.id);
    if (!v) throw conflict('no_capture', `task ${task.id} has no capture in progress: post the manifest first (POST /api/v1/client/capture)`);
    if (v.state === 'ready') {
      return { versionId: v.id, number: v.number, state: 'ready', chunkCount: v.chunk_count, storedBytes: Number(v.stored_bytes), manifestSha256: v.manifest_sha256! };
    }
    let manifest: Manifest;
    try {
      manifest = parseManifest(JSON.parse(await this.store.readPending(v.id)));
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw conflict('manifest_missing', `the manifest of this capture cannot be read back (${(err as Error).message}); post it again (POST /api/v1/client/capture)`);
    }
    const distinct = distinctChunks(manifest);
    const hashes = [...distinct.keys()];
    // Never publish a chunk that was not checked: the last uploads may still be in the intake.
    if (!(await this.intake.settle(hashes, this.commitWaitMs))) {
      throw new AppError(503, 'chunks_checking', 'the last uploaded chunks of this capture are still being checked; commit again in a moment');
    }
    const present = await this.store.present(hashes);
    const missing = hashes.filter((h) => !present.has(h));
    if (missing.length) {
      const reasons = this.intake.reasons(missing);
      const first = reasons.entries().next().value;
      const why = first ? `; ${reasons.size} were rejected when checked (first: ${first[0]}: ${first[1]})` : '';
      throw new AppError(409, 'chunks_missing', `${missing.length} chunk(s) of this capture are not in the store yet${why}; upload them (PUT /api/v1/client/chunks/:hash), then commit again`, missing);
    }
    const wrong = hashes.filter((h) => present.get(h)!.size !== distinct.get(h)!.length);
    if (wrong.length) {
      throw new AppError(422, 'manifest_mismatch', `${wrong.length} chunk(s) have another length in the store than in the manifest (first: ${wrong[0]}); the client built a wrong manifest: capture again`, wrong);
    }
    // The manifest gives the size of the frames the store holds (a chunk uploaded by an earlier capture may be another frame of the same bytes).
    for (const c of allChunks(manifest)) c.storedSize = present.get(c.hash)!.storedSize;
    const bytes = JSON.stringify(manifest);
    const digest = sha256Hex(bytes);
    const storedBytes = hashes.reduce((s, h) => s + present.get(h)!.storedSize, 0);
    await this.store.writeDurable(this.store.manifestPath(v.id), bytes);
    await this.events.transaction(this.db, async (tx) => {
      if (!(await this.images.publish(tx, v, { storedBytes, chunkCount: hashes.length, manifestSha256: digest, ...(windows ? { windows: JSON.stringify(windows) } : {}) }))) {
        throw conflict('capture_cancelled', `the capture of version ${v.number} was cancelled meanwhile; nothing was published`);
      }
      await writeAudit(tx.trx, machine.actor, { action: 'image.version.publish', targetType: 'image', targetId: v.image_id, details: { version: v.number, versionId: v.id, taskId: task.id, chunks: hashes.length, storedBytes } });
    });
    await this.store.removePending(v.id);
    return { versionId: v.id, number: v.number, state: 'ready', chunkCount: hashes.length, storedBytes, manifestSha256: digest };
  }

  /** The published manifest of the restore task's version, as stored, and its SHA-256. */
  async restoreManifest(machine: MachineAuth): Promise<{ bytes: Buffer; sha256: string }> {
    const task = await this.tasks.machineTask(machine, ['restore']);
    const v = await this.taskVersion(task);
    const bytes = await this.store.readManifest(v.id);
    return { bytes, sha256: v.manifest_sha256 ?? sha256Hex(bytes) };
  }

  /**
   * Restore pre-flight: which chunks of the task's version the store lacks (a row and a file each; no
   * chunk is read). Missing ones mark the version damaged before the PC writes anything.
   */
  async restoreCheck(machine: MachineAuth): Promise<{ chunks: number; missing: string[] }> {
    const task = await this.tasks.machineTask(machine, ['restore']);
    const v = await this.taskVersion(task);
    const hashes = await this.images.chunkHashes(v.id);
    const present = await this.store.present(hashes);
    const missing = hashes.filter((h) => !present.has(h));
    if (missing.length) {
      const bad = missing.map((hash) => ({ hash, reason: 'missing' as const, detail: 'not in the store (found by a restore\'s pre-flight)' }));
      await this.damage.record(machine.actor, bad, `the pre-flight of restore task ${task.id}`, task.id);
    }
    return { chunks: hashes.length, missing };
  }

  /**
   * A restoring PC got a chunk whose content does not match its hash. The store re-reads its copy
   * (the PC is not taken at its word): a bad copy marks the versions holding it damaged.
   */
  async chunkDamaged(machine: MachineAuth, hash: string): Promise<{ damaged: boolean }> {
    const task = await this.tasks.machineTask(machine, ['restore']);
    const v = await this.images.version(RestoreParamsSchema.parse(this.tasks.kinds.paramsOf(task)).versionId);
    if (!v || !(await this.images.hasChunk(v.id, hash))) throw new AppError(404, 'chunk_not_found', `chunk ${hash} is not part of the version this task restores`);
    const r = await this.maintenance.verifyHashes([hash], v.chunk_size);
    if (r.ok) return { damaged: false };
    await this.damage.record(machine.actor, r.bad, `restore task ${task.id}`, task.id);
    return { damaged: true };
  }

  /** The file of one chunk of the task's version (capture or restore), relative to the store's chunks/. */
  async chunkForDownload(machine: MachineAuth, hash: string): Promise<string> {
    const task = await this.tasks.machineTask(machine, ['capture', 'restore']);
    const v = await this.taskVersion(task);
    if (!(await this.images.hasChunk(v.id, hash))) throw new AppError(404, 'chunk_not_found', `chunk ${hash} is not part of version ${v.number} of this task's image`);
    if ((await this.store.fileSize(hash)) === null) {
      throw new AppError(404, 'chunk_missing', `chunk ${hash} of version ${v.number} is missing from the image store; verify the version (POST /api/v1/images/${v.image_id}/versions/${v.number}/verify)`);
    }
    return ImageStore.chunkName(hash);
  }
}

/** The manifest in a capture request: JSON, schema and soundness checked; 400 bad_manifest otherwise. */
export function parseManifestBody(body: Buffer): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw new AppError(400, 'bad_json', 'the manifest is not valid JSON');
  }
  let m: Manifest;
  try {
    m = parseManifest(json);
  } catch (err) {
    if (err instanceof z.ZodError) {
      const errors = err.issues.slice(0, 20).map((i) => ({ path: ['manifest', ...i.path.map(String)].join('.'), message: i.message }));
      throw new AppError(400, 'bad_manifest', `the manifest does not follow image format v1: ${errors[0]?.path}: ${errors[0]?.message}`, errors);
    }
    throw new AppError(400, 'bad_manifest', (err as Error).message);
  }
  const lengths = new Map<string, number>();
  for (const c of allChunks(m)) {
    const seen = lengths.get(c.hash);
    if (seen !== undefined && seen !== c.length) throw new AppError(400, 'bad_manifest', `invalid image manifest: chunk ${c.hash} appears with lengths ${seen} and ${c.length}`);
    lengths.set(c.hash, c.length);
  }
  return m;
}
