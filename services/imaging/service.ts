// Images and their versions (people's API), and the capture and restore conversation with the boot
// client (machine API, with the task token from the hello answer).
//
// Capture: POST the manifest (a 'capturing' version and its chunk list are recorded, the answer lists
// the chunks the store lacks), PUT each missing chunk, commit (every chunk present → the manifest is
// published, the version becomes 'ready'), then the final result ends the task.
// Restore: GET the manifest of the task's version, GET the chunks it needs (Range for resume), result.
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { MachineAuth } from '../api/route.js';
import { writeAudit, type Actor } from '../core/audit.js';
import { nowIso, type DB } from '../core/db/index.js';
import type { ImageVersion, ImageVersionState, Task, TaskKind } from '../core/db/schema.js';
import { AppError, conflict, notFound } from '../core/errors.js';
import { isUniqueViolation } from '../inventory/service.js';
import { OPEN_STATES, parseParams, type CaptureParams, type RestoreParams, type TaskService } from '../tasks/service.js';
import { allChunks, DEFAULT_CHUNK_SIZE, distinctChunks, parseManifest, type ClientTask, type Manifest, type Progress } from './format.js';
import { ImageStore, sha256Hex, type GcResult, type VerifyResult } from './store.js';

/** Letters (any language), digits, space, "-", "_" and "."; not only digits (the command line takes a name or an id). */
export const IMAGE_NAME_PATTERN = /^[\p{L}\p{N} ._-]{1,64}$/u;
const INSERT_BATCH = 500;

export interface VersionView {
  id: number;
  number: number;
  state: ImageVersionState;
  /** Only ready versions are offered for restore. */
  restorable: boolean;
  notes: string | null;
  createdBy: string;
  createdAt: string;
  publishedAt: string | null;
  sourceHostId: number | null;
  sourceHost: string | null;
  taskId: number | null;
  chunkSize: number;
  diskBytes: number;
  usedBytes: number;
  storedBytes: number;
  chunkCount: number;
  manifestSha256: string | null;
  error: string | null;
}

export interface ImageView {
  id: number;
  name: string;
  description: string | null;
  createdAt: string;
  updatedAt: string;
  /** Number of the newest ready version (what a restore takes by default). */
  latestReady: number | null;
  versions: VersionView[];
}

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

export interface ClientResult {
  ok: boolean;
  reason?: string | undefined;
  details?: Record<string, unknown> | undefined;
}

type VersionRow = ImageVersion & { source_host_name: string | null };
type MachineTask = Task & { mac: string; disk_serial: string | null };

const toVersionView = (v: VersionRow): VersionView => ({
  id: v.id,
  number: v.number,
  state: v.state,
  restorable: v.state === 'ready',
  notes: v.notes,
  createdBy: v.created_by,
  createdAt: v.created_at,
  publishedAt: v.published_at,
  sourceHostId: v.source_host_id,
  sourceHost: v.source_host_name,
  taskId: v.task_id,
  chunkSize: v.chunk_size,
  diskBytes: Number(v.disk_bytes),
  usedBytes: Number(v.used_bytes),
  storedBytes: Number(v.stored_bytes),
  chunkCount: v.chunk_count,
  manifestSha256: v.manifest_sha256,
  error: v.error,
});

const blankToNull = (v: string | null | undefined) => v?.trim() || null;

function checkImageName(raw: string): string {
  const name = raw.trim();
  if (!IMAGE_NAME_PATTERN.test(name) || /^\d+$/.test(name)) {
    throw new AppError(400, 'bad_image_name', `"${raw}" is not a usable image name: 1 to 64 letters, digits, spaces, "-", "_" or ".", and not only digits (e.g. "Windows 11 B204")`);
  }
  return name;
}

/** Used bytes of a manifest: the used extents of every partition and the boot area written back. */
const usedBytesOf = (m: Manifest) => m.partitions.reduce((s, p) => s + p.usedBytes, 0) + m.bootArea.write.reduce((s, [, l]) => s + l, 0);

export class ImagingService {
  constructor(
    private readonly db: Kysely<DB>,
    readonly store: ImageStore,
    private readonly tasks: TaskService,
  ) {}

  // ---- images and versions (people) -------------------------------------------------------

  private versionQuery(db: Kysely<DB> = this.db) {
    return db.selectFrom('image_versions').leftJoin('hosts', 'hosts.id', 'image_versions.source_host_id').selectAll('image_versions').select('hosts.name as source_host_name');
  }

  async listImages(db: Kysely<DB> = this.db, onlyId?: number): Promise<ImageView[]> {
    let iq = db.selectFrom('images').selectAll().orderBy((eb) => eb.fn('lower', ['name']));
    let vq = this.versionQuery(db).orderBy('image_versions.image_id').orderBy('image_versions.number', 'desc');
    if (onlyId !== undefined) {
      iq = iq.where('id', '=', onlyId);
      vq = vq.where('image_versions.image_id', '=', onlyId);
    }
    const [images, versions] = [await iq.execute(), await vq.execute()];
    return images.map((i) => {
      const vs = versions.filter((v) => v.image_id === i.id).map(toVersionView);
      return {
        id: i.id,
        name: i.name,
        description: i.description,
        createdAt: i.created_at,
        updatedAt: i.updated_at,
        latestReady: vs.find((v) => v.state === 'ready')?.number ?? null,
        versions: vs,
      };
    });
  }

  async getImage(id: number, db: Kysely<DB> = this.db): Promise<ImageView> {
    const [image] = await this.listImages(db, id);
    if (!image) throw notFound('image', id);
    return image;
  }

  /** An image by id, or by name (case-insensitive): what the command line takes. */
  async findImage(nameOrId: string): Promise<ImageView> {
    const byName = await this.db.selectFrom('images').select('id').where((eb) => eb(eb.fn('lower', ['name']), '=', nameOrId.trim().toLowerCase())).executeTakeFirst();
    if (byName) return this.getImage(byName.id);
    if (/^\d{1,9}$/.test(nameOrId.trim())) return this.getImage(Number(nameOrId));
    throw new AppError(404, 'not_found', `no image is named "${nameOrId}"`);
  }

  async createImage(actor: Actor, input: { name: string; description?: string | null }): Promise<ImageView> {
    const name = checkImageName(input.name);
    try {
      return await this.db.transaction().execute(async (trx) => {
        const clash = await trx.selectFrom('images').select('name').where((eb) => eb(eb.fn('lower', ['name']), '=', name.toLowerCase())).executeTakeFirst();
        if (clash) throw conflict('duplicate_image', `an image named "${clash.name}" already exists`);
        const now = nowIso();
        const row = await trx.insertInto('images').values({ name, description: blankToNull(input.description), created_at: now, updated_at: now }).returning('id').executeTakeFirstOrThrow();
        await writeAudit(trx, actor, { action: 'image.create', targetType: 'image', targetId: row.id, details: { name } });
        return this.getImage(row.id, trx);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict('duplicate_image', `an image named "${name}" was created at the same moment`);
      throw err;
    }
  }

  private async versionByNumber(db: Kysely<DB>, imageId: number, number: number): Promise<VersionRow> {
    const image = await db.selectFrom('images').select('id').where('id', '=', imageId).executeTakeFirst();
    if (!image) throw notFound('image', imageId);
    const v = await this.versionQuery(db).where('image_versions.image_id', '=', imageId).where('image_versions.number', '=', number).executeTakeFirst();
    if (!v) throw new AppError(404, 'not_found', `image ${imageId} has no version ${number}`);
    return v;
  }

  async updateVersionNotes(actor: Actor, imageId: number, number: number, notes: string | null): Promise<VersionView> {
    return this.db.transaction().execute(async (trx) => {
      const v = await this.versionByNumber(trx, imageId, number);
      await trx.updateTable('image_versions').set({ notes: blankToNull(notes) }).where('id', '=', v.id).execute();
      await writeAudit(trx, actor, { action: 'image.version.update', targetType: 'image', targetId: imageId, details: { version: number, notes: { from: v.notes, to: blankToNull(notes) } } });
      return toVersionView(await this.versionByNumber(trx, imageId, number));
    });
  }

  /** Marks a version deleted (its chunks become collectable unless shared); refused while a capture or an open restore uses it. */
  async deleteVersion(actor: Actor, imageId: number, number: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const v = await this.versionByNumber(trx, imageId, number);
      if (v.state === 'deleted') return;
      if (v.state === 'capturing') {
        throw conflict('version_capturing', `version ${number} is being captured (task ${v.task_id}); cancel that task instead`);
      }
      const open = await trx
        .selectFrom('tasks')
        .innerJoin('hosts', 'hosts.id', 'tasks.host_id')
        .select(['tasks.id', 'tasks.params', 'hosts.name'])
        .where('tasks.kind', '=', 'restore')
        .where('tasks.state', 'in', OPEN_STATES)
        .execute();
      const users = open.filter((t) => parseParams<RestoreParams>(t)?.versionId === v.id);
      if (users.length) {
        const list = users.slice(0, 5).map((t) => `task ${t.id} (${t.name})`).join(', ');
        throw conflict('version_in_use', `version ${number} is to be restored by ${users.length} open task(s): ${list}${users.length > 5 ? ', …' : ''}; cancel them or let them finish first`);
      }
      await trx.updateTable('image_versions').set({ state: 'deleted' }).where('id', '=', v.id).execute();
      await trx.updateTable('images').set({ updated_at: nowIso() }).where('id', '=', imageId).execute();
      await writeAudit(trx, actor, { action: 'image.version.delete', targetType: 'image', targetId: imageId, details: { version: number, versionId: v.id, from: v.state } });
    });
  }

  async verifyVersion(actor: Actor, imageId: number, number: number): Promise<VerifyResult> {
    const v = await this.versionByNumber(this.db, imageId, number);
    if (v.state !== 'ready') throw conflict('version_not_ready', `version ${number} is ${v.state}; only a ready version can be verified`);
    const result = await this.store.verifyVersion(v.id);
    await writeAudit(this.db, actor, {
      action: 'image.version.verify',
      targetType: 'image',
      targetId: imageId,
      details: { version: number, ok: result.ok, checked: result.checked, bad: result.bad.length, ...(result.bad.length ? { firstBad: result.bad.slice(0, 10) } : {}) },
    });
    return result;
  }

  async gc(actor: Actor): Promise<GcResult> {
    const result = await this.store.gc();
    await writeAudit(this.db, actor, { action: 'image.gc', details: { ...result } });
    return result;
  }

  // ---- the boot client (machine) ----------------------------------------------------------

  /** The running capture or restore task this boot token was issued for; 403/404/409 otherwise. */
  async machineTask(machine: MachineAuth, kinds: TaskKind[] = ['capture', 'restore'], db: Kysely<DB> = this.db): Promise<MachineTask> {
    if (machine.purpose !== 'task' || machine.taskId === undefined || machine.hostId === undefined) {
      throw new AppError(403, 'not_a_task_token', 'this boot token was issued to register a PC, not for a task; give the PC a capture or restore task and network-boot it again');
    }
    const task = await db
      .selectFrom('tasks')
      .innerJoin('hosts', 'hosts.id', 'tasks.host_id')
      .selectAll('tasks')
      .select(['hosts.mac', 'hosts.disk_serial'])
      .where('tasks.id', '=', machine.taskId)
      .executeTakeFirst();
    if (!task) throw new AppError(404, 'task_gone', `task ${machine.taskId} no longer exists (its PC may have been removed from the inventory)`);
    if (task.host_id !== machine.hostId || task.mac !== machine.mac) {
      throw new AppError(403, 'task_mismatch', `task ${task.id} is not a task of the PC with MAC ${machine.mac}`);
    }
    if (task.state !== 'running') {
      const hint = task.state === 'pending' ? 'say hello first (POST /api/v1/boot/hello)' : 'there is nothing left to do; power off';
      throw conflict('task_not_running', `task ${task.id} is ${task.state}, not running; ${hint}`);
    }
    if (!kinds.includes(task.kind)) {
      throw conflict('wrong_task_kind', `task ${task.id} is a${task.kind === 'inventory' ? 'n' : ''} ${task.kind} task; this call is for ${kinds.join(' or ')} tasks`);
    }
    return task;
  }

  /** The version a capture task is making (capturing, or ready once committed). */
  private captureVersion(db: Kysely<DB>, taskId: number) {
    return db.selectFrom('image_versions').selectAll().where('task_id', '=', taskId).where('state', 'in', ['capturing', 'ready']).orderBy('id', 'desc').executeTakeFirst();
  }

  /** The version a task reads chunks of: the restore's version (ready), or the capture's own. */
  private async taskVersion(task: MachineTask): Promise<ImageVersion> {
    if (task.kind === 'restore') {
      const p = parseParams<RestoreParams>(task)!;
      const v = await this.db.selectFrom('image_versions').selectAll().where('id', '=', p.versionId).executeTakeFirst();
      if (!v || v.state !== 'ready') {
        throw conflict('version_not_ready', `version ${p.version} of image "${p.image}" is ${v?.state ?? 'gone'}; it can no longer be restored: cancel this task and pick another version`);
      }
      return v;
    }
    const v = await this.captureVersion(this.db, task.id);
    if (!v) throw conflict('no_capture', `task ${task.id} has no capture yet: post the manifest first (POST /api/v1/client/capture)`);
    return v;
  }

  async clientTask(machine: MachineAuth): Promise<ClientTask> {
    const task = await this.machineTask(machine);
    const kind = task.kind as 'capture' | 'restore';
    if (kind === 'restore') {
      const p = parseParams<RestoreParams>(task)!;
      const v = await this.taskVersion(task);
      return { taskId: task.id, kind, image: { id: p.imageId, name: p.image }, version: { id: v.id, number: v.number }, chunkSize: v.chunk_size, diskSerial: task.disk_serial, notes: v.notes };
    }
    const p = parseParams<CaptureParams>(task)!;
    const image = await this.db.selectFrom('images').select(['id', 'name']).where('id', '=', p.imageId).executeTakeFirst();
    const v = await this.captureVersion(this.db, task.id);
    return {
      taskId: task.id,
      kind,
      image: { id: p.imageId, name: image?.name ?? p.image },
      version: v ? { id: v.id, number: v.number } : null,
      chunkSize: v?.chunk_size ?? DEFAULT_CHUNK_SIZE,
      diskSerial: task.disk_serial,
      notes: p.notes,
    };
  }

  /**
   * Records a capture: the 'capturing' version (next number; the same version again when the client
   * restarted and posts its manifest anew) and its distinct chunks, under the store lock, in one
   * transaction that also answers which chunks the store lacks and checks the free space.
   */
  async registerCapture(machine: MachineAuth, body: Buffer): Promise<CaptureAnswer> {
    const task = await this.machineTask(machine, ['capture']);
    const manifest = parseManifestBody(body);
    const distinct = distinctChunks(manifest);
    const hashes = [...distinct.keys()];
    const params = parseParams<CaptureParams>(task)!;
    const stats = {
      chunk_size: manifest.chunkSize,
      disk_bytes: manifest.disk.sizeBytes,
      used_bytes: usedBytesOf(manifest),
      stored_bytes: [...distinct.values()].reduce((s, c) => s + (c.storedSize ?? 0), 0),
      chunk_count: distinct.size,
    };
    const normalized = JSON.stringify(manifest);

    return this.db.transaction().execute(async (trx) => {
      await this.store.lock(trx);
      const state = await trx.selectFrom('tasks').select('state').where('id', '=', task.id).executeTakeFirst();
      if (state?.state !== 'running') throw conflict('task_not_running', `task ${task.id} is ${state?.state ?? 'gone'}, not running; power off`);
      const image = await trx.selectFrom('images').select(['id', 'name']).where('id', '=', params.imageId).executeTakeFirst();
      if (!image) throw new AppError(404, 'image_gone', `image ${params.imageId} ("${params.image}") no longer exists; cancel this task`);

      const existing = await this.captureVersion(trx, task.id);
      if (existing?.state === 'ready') {
        throw conflict('capture_committed', `version ${existing.number} of this task is already committed; post the result (POST /api/v1/client/result)`);
      }
      let versionId: number;
      let number: number;
      if (existing) {
        versionId = existing.id;
        number = existing.number;
        await trx.deleteFrom('image_version_chunks').where('version_id', '=', versionId).execute();
        await trx.updateTable('image_versions').set({ ...stats, error: null }).where('id', '=', versionId).execute();
      } else {
        const max = await trx.selectFrom('image_versions').select((eb) => eb.fn.max('number').as('n')).where('image_id', '=', image.id).executeTakeFirst();
        number = Number(max?.n ?? 0) + 1;
        const row = await trx
          .insertInto('image_versions')
          .values({
            image_id: image.id,
            number,
            state: 'capturing',
            notes: params.notes,
            created_by: task.created_by,
            source_host_id: task.host_id,
            task_id: task.id,
            ...stats,
            manifest_sha256: null,
            error: null,
            created_at: nowIso(),
            published_at: null,
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        versionId = row.id;
      }
      for (let i = 0; i < hashes.length; i += INSERT_BATCH) {
        await trx
          .insertInto('image_version_chunks')
          .values(hashes.slice(i, i + INSERT_BATCH).map((hash) => ({ version_id: versionId, hash })))
          .execute();
      }
      const present = await this.store.present(hashes, trx);
      const missing = hashes.filter((h) => !present.has(h));
      const missingBytes = missing.reduce((s, h) => s + distinct.get(h)!.length, 0);
      await this.store.checkSpace(missingBytes);
      await this.store.writeDurable(this.store.pendingManifestPath(versionId), normalized);
      await writeAudit(trx, machine.actor, {
        action: existing ? 'image.version.recapture' : 'image.version.capture',
        targetType: 'image',
        targetId: image.id,
        details: { version: number, versionId, taskId: task.id, chunks: hashes.length, missing: missing.length, missingBytes },
      });
      return { versionId, number, missing, missingBytes };
    });
  }

  /** One uploaded chunk of the task's capturing version. */
  async putChunk(machine: MachineAuth, hash: string, frame: Buffer): Promise<'stored' | 'present'> {
    const task = await this.machineTask(machine, ['capture']);
    const v = await this.db
      .selectFrom('image_versions as v')
      .innerJoin('image_version_chunks as ivc', 'ivc.version_id', 'v.id')
      .select(['v.id', 'v.chunk_size'])
      .where('v.task_id', '=', task.id)
      .where('v.state', '=', 'capturing')
      .where('ivc.hash', '=', hash)
      .executeTakeFirst();
    if (!v) {
      const capturing = await this.db.selectFrom('image_versions').select('id').where('task_id', '=', task.id).where('state', '=', 'capturing').executeTakeFirst();
      if (!capturing) throw conflict('no_capture', `task ${task.id} has no capture in progress: post the manifest first (POST /api/v1/client/capture)`);
      throw conflict('chunk_not_expected', `chunk ${hash} is not in the manifest of this capture; upload only the chunks the manifest lists`);
    }
    return this.store.putChunk(hash, frame, v.chunk_size);
  }

  /** Publishes the capture once every chunk is present: manifest written durably, then the version is ready. */
  async commitCapture(machine: MachineAuth): Promise<CommitAnswer> {
    const task = await this.machineTask(machine, ['capture']);
    const v = await this.captureVersion(this.db, task.id);
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
    const present = await this.store.present(hashes);
    const missing = hashes.filter((h) => !present.has(h));
    if (missing.length) {
      throw new AppError(409, 'chunks_missing', `${missing.length} chunk(s) of this capture are not in the store yet; upload them (PUT /api/v1/client/chunks/:hash), then commit again`, missing);
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
    await this.db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable('image_versions')
        .set({ state: 'ready', published_at: nowIso(), stored_bytes: storedBytes, chunk_count: hashes.length, manifest_sha256: digest, error: null })
        .where('id', '=', v.id)
        .where('state', '=', 'capturing')
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) throw conflict('capture_cancelled', `the capture of version ${v.number} was cancelled meanwhile; nothing was published`);
      await trx.updateTable('images').set({ updated_at: nowIso() }).where('id', '=', v.image_id).execute();
      await writeAudit(trx, machine.actor, { action: 'image.version.publish', targetType: 'image', targetId: v.image_id, details: { version: v.number, versionId: v.id, taskId: task.id, chunks: hashes.length, storedBytes } });
    });
    await this.store.removePending(v.id);
    return { versionId: v.id, number: v.number, state: 'ready', chunkCount: hashes.length, storedBytes, manifestSha256: digest };
  }

  /** The published manifest of the restore task's version, as stored, and its SHA-256. */
  async restoreManifest(machine: MachineAuth): Promise<{ bytes: Buffer; sha256: string }> {
    const task = await this.machineTask(machine, ['restore']);
    const v = await this.taskVersion(task);
    const bytes = await this.store.readManifest(v.id);
    return { bytes, sha256: v.manifest_sha256 ?? sha256Hex(bytes) };
  }

  /** The file of one chunk of the task's version (capture or restore), relative to the store's chunks/. */
  async chunkForDownload(machine: MachineAuth, hash: string): Promise<string> {
    const task = await this.machineTask(machine);
    const v = await this.taskVersion(task);
    const member = await this.db.selectFrom('image_version_chunks').select('hash').where('version_id', '=', v.id).where('hash', '=', hash).executeTakeFirst();
    if (!member) throw new AppError(404, 'chunk_not_found', `chunk ${hash} is not part of version ${v.number} of this task's image`);
    if ((await this.store.fileSize(hash)) === null) {
      throw new AppError(404, 'chunk_missing', `chunk ${hash} of version ${v.number} is missing from the image store; verify the version (POST /api/v1/images/${v.image_id}/versions/${v.number}/verify)`);
    }
    return ImageStore.chunkName(hash);
  }

  /** Keeps the client's last progress report on its task: one UPDATE when all is well. */
  async progress(machine: MachineAuth, p: Progress): Promise<void> {
    if (machine.purpose === 'task' && machine.taskId !== undefined && machine.hostId !== undefined) {
      const result = JSON.stringify({ progress: { ...p, at: nowIso() } });
      const r = await this.db
        .updateTable('tasks')
        .set({ result })
        .where('id', '=', machine.taskId)
        .where('host_id', '=', machine.hostId)
        .where('state', '=', 'running')
        .where('kind', 'in', ['capture', 'restore'])
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 1) return;
    }
    await this.machineTask(machine); // says why
    throw conflict('task_not_running', `task ${machine.taskId} changed state meanwhile; power off`);
  }

  /** The client's final word: the task is done or failed (with a reason a person can act on). */
  async result(machine: MachineAuth, body: ClientResult): Promise<{ taskId: number; state: 'done' | 'failed'; error: string | null }> {
    const task = await this.machineTask(machine);
    return this.db.transaction().execute(async (trx) => {
      const previous = task.result === null ? {} : (JSON.parse(task.result) as { progress?: unknown });
      let state: 'done' | 'failed' = body.ok ? 'done' : 'failed';
      let error = body.ok ? null : body.reason?.trim() || 'the roomcast client reported a failure without a reason; look at the PC\'s screen';
      const result: Record<string, unknown> = { ok: body.ok, ...(previous.progress ? { progress: previous.progress } : {}), ...(body.reason ? { reason: body.reason } : {}), ...(body.details ? { details: body.details } : {}) };
      if (task.kind === 'capture') {
        const v = await this.captureVersion(trx, task.id);
        if (body.ok && v?.state !== 'ready') {
          state = 'failed';
          error = 'capture not committed: the client reported success but the store never received its commit (POST /api/v1/client/capture/commit); capture again';
        }
        if (v) result.version = { id: v.id, number: v.number, state: state === 'done' ? v.state : 'failed' };
      } else {
        const p = parseParams<RestoreParams>(task)!;
        result.version = { id: p.versionId, number: p.version };
      }
      if (!(await this.tasks.finish(trx, machine.actor, task, { state, error, result }))) {
        throw conflict('task_not_running', `task ${task.id} ended meanwhile; power off`);
      }
      return { taskId: task.id, state, error };
    });
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
