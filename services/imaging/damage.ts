// Damaged versions (issue 11): when verify, a restore's pre-flight or a restoring PC finds chunks
// missing or corrupt in the store, every ready version that references them is marked damaged at
// once (never offered for restore again), an alert says what to do, and the corrupt chunks are
// forgotten by the store so that a new capture of the same data uploads them again. A verify that
// later finds a damaged version whole makes it ready again. The restore tasks of a damaged version
// fail at once (issue 11: "a restore that was already running stops"): a pending one never starts, a
// running one's client is refused at its next call (409 task_failed), stops writing and leaves its
// disk without a partition table (restore.ts writes it last), so its PC network-boots again.
import type { Kysely } from 'kysely';
import type { AlertService } from '../alerts/service.js';
import { writeAudit, type Actor } from '../core/audit.js';
import type { DB } from '../core/db/index.js';
import type { ImageVersion } from '../core/db/schema.js';
import type { EventBus } from '../core/events.js';
import type { TaskService } from '../tasks/service.js';
import { RestoreParamsSchema } from './kinds.js';
import type { BadChunk } from './maintenance.js';
import type { ImageRepository } from './repository.js';
import type { ImageStore } from './store.js';

export const DAMAGED_ALERT = 'image.version.damaged';

/** What a person reads about a damaged version (its `error`, the alert). */
export function damagedMessage(image: string, number: number, bad: number, foundBy: string): string {
  return (
    `version ${number} of image "${image}" is damaged: ${bad} of its chunks are missing or corrupt in the image store (found by ${foundBy}); ` +
    'it will not be restored. Restore another version, or capture the reference PC again; if a new capture brings the same data back, verify this version again to make it restorable'
  );
}

/** The error of a restore task the server stopped because its version is damaged. */
export function stoppedMessage(versionError: string, running: boolean): string {
  return running
    ? `stopped while it ran: ${versionError}. Its PC stops at its next call to the server; if it had begun writing, its disk is left without a partition table (it will not start Windows and network-boots again at its next start), otherwise as it was; restore it with another version`
    : `stopped before it began, nothing was written to the disk: ${versionError}`;
}

export class ImageDamage {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly images: ImageRepository,
    private readonly store: ImageStore,
    private readonly alerts: Pick<AlertService, 'raiseIn'>,
    private readonly events: EventBus,
    private readonly tasks: Pick<TaskService, 'failOpen'>,
  ) {}

  /**
   * Records chunks found bad: marks the ready versions holding them damaged, with an alert and an
   * audit entry each, fails their pending and running restore tasks (but `taskId`'s, whose client
   * is reporting and ends its task itself), then forgets the corrupt chunks. Returns the versions that
   * became damaged.
   */
  async record(actor: Actor, bad: BadChunk[], foundBy: string, taskId: number | null = null): Promise<Array<Pick<ImageVersion, 'id' | 'image_id' | 'number'>>> {
    bad = [...new Map(bad.map((b) => [b.hash, b])).values()]; // a hash reported twice counts once
    if (bad.length === 0) return [];
    const hashes = bad.map((b) => b.hash);
    const changed = await this.events.transaction(this.db, async (tx) => {
      const versions = await this.images.markDamaged(tx, hashes, (v) => damagedMessage(v.image, v.number, v.bad, foundBy));
      for (const v of versions) {
        await this.alerts.raiseIn(tx, actor, { kind: DAMAGED_ALERT, severity: 'critical', hostId: null, taskId, message: v.error, details: { imageId: v.image_id, version: v.number, versionId: v.id, bad: bad.slice(0, 10) } });
        await writeAudit(tx.trx, actor, { action: 'image.version.damage', targetType: 'image', targetId: v.image_id, details: { version: v.number, versionId: v.id, foundBy, bad: v.bad } });
      }
      const byId = new Map(versions.map((v) => [v.id, v]));
      await this.tasks.failOpen(
        tx,
        actor,
        'restore',
        (p) => byId.has(RestoreParamsSchema.parse(p).versionId),
        (task) => {
          const v = byId.get(RestoreParamsSchema.parse(JSON.parse(task.params!)).versionId)!;
          const running = task.state === 'running';
          return { error: stoppedMessage(v.error, running), details: { code: 'version_damaged', versionId: v.id, ...(running ? {} : { diskState: 'untouched' }) } };
        },
        taskId,
      );
      return versions;
    });
    await this.store.forget(bad.filter((b) => b.reason !== 'missing').map((b) => b.hash));
    return changed;
  }

  /** A damaged version a verify found whole: ready again. */
  async repaired(actor: Actor, v: Pick<ImageVersion, 'id' | 'image_id' | 'number'>): Promise<boolean> {
    return this.events.transaction(this.db, async (tx) => {
      if (!(await this.images.markWhole(tx, v))) return false;
      await writeAudit(tx.trx, actor, { action: 'image.version.repair', targetType: 'image', targetId: v.image_id, details: { version: v.number, versionId: v.id } });
      return true;
    });
  }
}
