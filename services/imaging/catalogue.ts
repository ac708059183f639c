// The image catalogue people use: images, their versions and notes, deleting a version, verifying one,
// collecting garbage. (Which version a room restores arrives with room runs; it belongs here.)
// Every change is one transaction with its audit entry; versions are written through repository.ts.
import type { Kysely } from 'kysely';
import { writeAudit, type Actor } from '../core/audit.js';
import type { DB } from '../core/db/index.js';
import { isUniqueViolation } from '../core/db/errors.js';
import type { ImageVersionState } from '../core/db/schema.js';
import { AppError, conflict, notFound } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import type { TaskService } from '../tasks/service.js';
import type { ImageDamage } from './damage.js';
import { RestoreParamsSchema } from './kinds.js';
import type { GcResult, StoreMaintenance, VerifyResult } from './maintenance.js';
import type { ImageRepository, VersionRow } from './repository.js';
import { parseWindowsFacts, type WindowsFacts } from './windows-facts.js';

/** Letters (any language), digits, space, "-", "_" and "."; not only digits (the command line takes a name or an id). */
export const IMAGE_NAME_PATTERN = /^[\p{L}\p{N} ._-]{1,64}$/u;

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
  /** The PC a captured version came from, as the store saw it (kept when the PC leaves the inventory). */
  source: { mac: string | null; serial: string | null; ip: string | null };
  taskId: number | null;
  chunkSize: number;
  diskBytes: number;
  usedBytes: number;
  storedBytes: number;
  chunkCount: number;
  manifestSha256: string | null;
  /** What the capture read of its Windows (windows-facts.ts): one per partition holding Windows; null: not read (an older capture). */
  windows: WindowsFacts[] | null;
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
  source: { mac: v.source_mac, serial: v.source_serial, ip: v.source_ip },
  taskId: v.task_id,
  chunkSize: v.chunk_size,
  diskBytes: Number(v.disk_bytes),
  usedBytes: Number(v.used_bytes),
  storedBytes: Number(v.stored_bytes),
  chunkCount: v.chunk_count,
  manifestSha256: v.manifest_sha256,
  windows: parseWindowsFacts(v.windows),
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

export class ImageCatalogue {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly images: ImageRepository,
    private readonly maintenance: StoreMaintenance,
    private readonly tasks: TaskService,
    private readonly events: EventBus,
    private readonly damage: ImageDamage,
  ) {}

  async listImages(db: Kysely<DB> = this.db, onlyId?: number): Promise<ImageView[]> {
    const [images, versions] = [await this.images.images(db, onlyId), await this.images.versions(db, onlyId)];
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
    const byName = await this.images.imageNamed(nameOrId.trim());
    if (byName) return this.getImage(byName.id);
    if (/^\d{1,9}$/.test(nameOrId.trim())) return this.getImage(Number(nameOrId));
    throw new AppError(404, 'not_found', `no image is named "${nameOrId}"`);
  }

  async createImage(actor: Actor, input: { name: string; description?: string | null }): Promise<ImageView> {
    const name = checkImageName(input.name);
    try {
      return await this.db.transaction().execute(async (trx) => {
        const clash = await this.images.imageNamed(name, trx);
        if (clash) throw conflict('duplicate_image', `an image named "${clash.name}" already exists`);
        const id = await this.images.insertImage(trx, name, blankToNull(input.description));
        await writeAudit(trx, actor, { action: 'image.create', targetType: 'image', targetId: id, details: { name } });
        return this.getImage(id, trx);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict('duplicate_image', `an image named "${name}" was created at the same moment`);
      throw err;
    }
  }

  private async versionByNumber(db: Kysely<DB>, imageId: number, number: number): Promise<VersionRow> {
    if (!(await this.images.image(imageId, db))) throw notFound('image', imageId);
    const v = await this.images.versionByNumber(imageId, number, db);
    if (!v) throw new AppError(404, 'not_found', `image ${imageId} has no version ${number}`);
    return v;
  }

  async updateVersionNotes(actor: Actor, imageId: number, number: number, notes: string | null): Promise<VersionView> {
    return this.db.transaction().execute(async (trx) => {
      const v = await this.versionByNumber(trx, imageId, number);
      await this.images.setNotes(trx, v.id, blankToNull(notes));
      await writeAudit(trx, actor, { action: 'image.version.update', targetType: 'image', targetId: imageId, details: { version: number, notes: { from: v.notes, to: blankToNull(notes) } } });
      return toVersionView(await this.versionByNumber(trx, imageId, number));
    });
  }

  /** Marks a version deleted (its chunks become collectable unless shared); refused while a capture or an open restore uses it. */
  async deleteVersion(actor: Actor, imageId: number, number: number): Promise<void> {
    await this.events.transaction(this.db, async (tx) => {
      const v = await this.versionByNumber(tx.trx, imageId, number);
      if (v.state === 'deleted') return;
      if (v.state === 'capturing') {
        throw conflict('version_capturing', `version ${number} is being captured (task ${v.task_id}); cancel that task instead`);
      }
      const users = (await this.tasks.openOfKind('restore', tx.trx)).filter((t) => RestoreParamsSchema.safeParse(t.params).data?.versionId === v.id);
      if (users.length) {
        const list = users.slice(0, 5).map((t) => `task ${t.id} (${t.hostName})`).join(', ');
        throw conflict('version_in_use', `version ${number} is to be restored by ${users.length} open task(s): ${list}${users.length > 5 ? ', …' : ''}; cancel them or let them finish first`);
      }
      await this.images.markDeleted(tx, v);
      await writeAudit(tx.trx, actor, { action: 'image.version.delete', targetType: 'image', targetId: imageId, details: { version: number, versionId: v.id, from: v.state } });
    });
  }

  /**
   * Re-reads every chunk of a ready or damaged version. Bad chunks mark it (and every other ready
   * version holding them) damaged at once, with an alert; a damaged version found whole is ready again.
   */
  async verifyVersion(actor: Actor, imageId: number, number: number): Promise<VerifyResult> {
    const v = await this.versionByNumber(this.db, imageId, number);
    if (v.state !== 'ready' && v.state !== 'damaged') throw conflict('version_not_ready', `version ${number} is ${v.state}; only a ready or damaged version can be verified`);
    const result = await this.maintenance.verifyVersion(v.id);
    if (!result.ok) await this.damage.record(actor, result.bad, `a verification by ${actor.name}`);
    else if (v.state === 'damaged') await this.damage.repaired(actor, v);
    await writeAudit(this.db, actor, {
      action: 'image.version.verify',
      targetType: 'image',
      targetId: imageId,
      details: { version: number, ok: result.ok, checked: result.checked, bad: result.bad.length, ...(result.bad.length ? { firstBad: result.bad.slice(0, 10) } : {}) },
    });
    return result;
  }

  async gc(actor: Actor): Promise<GcResult> {
    const result = await this.maintenance.gc();
    await writeAudit(this.db, actor, { action: 'image.gc', details: { ...result } });
    return result;
  }
}
