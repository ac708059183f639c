// The imaging task kinds, registered with the tasks domain (tasks/kinds.ts):
// - capture: one reference PC's disk into a new version of an image;
// - restore: a ready version of an image onto each PC's disk.
// Both boot the client with imaging.img, get a 24-hour task token at the hello (a large disk takes
// longer than the boot token's 2 hours) and talk to the machine protocol (protocol.ts).
import { z } from 'zod';
import { writeAudit } from '../core/audit.js';
import { AppError, conflict } from '../core/errors.js';
import { ClientResultSchema, type MachineTask, type Outcome, type TaskKindDef } from '../tasks/kinds.js';
import { ClientTaskSchema, DEFAULT_CHUNK_SIZE, END_ACTIONS, MulticastJoinSchema, type ClientTask } from './format.js';
import type { ImageRepository } from './repository.js';

/** Lifetime of the task token a capture or restore works with. */
export const IMAGING_TOKEN_SECONDS = 24 * 3600;

export const CaptureParamsSchema = z.object({ imageId: z.number().int(), image: z.string(), notes: z.string().nullable() });
export type CaptureParams = z.infer<typeof CaptureParamsSchema>;
/** endAction: absent in tasks made before it existed (they power off). */
/** multicast: the room run's session the PC joins (absent: over HTTP). */
export const RestoreParamsSchema = z.object({ imageId: z.number().int(), image: z.string(), versionId: z.number().int(), version: z.number().int(), endAction: z.enum(END_ACTIONS).optional(), multicast: MulticastJoinSchema.optional() });
export type RestoreParams = z.infer<typeof RestoreParamsSchema>;
/** The end of a capture or restore: the client's report and the version it made or wrote. */
const ImagingResultSchema = ClientResultSchema.extend({
  version: z.object({ id: z.number().int(), number: z.number().int(), state: z.enum(['capturing', 'ready', 'damaged', 'failed', 'deleted']).optional() }).optional(),
});

async function imageFor(images: ImageRepository, trx: Parameters<ImageRepository['image']>[1], imageId: unknown, kind: string) {
  if (typeof imageId !== 'number') throw new AppError(400, 'image_required', `a ${kind} task needs imageId: the image to ${kind === 'capture' ? 'capture into' : 'restore'}`);
  const image = await images.image(imageId, trx);
  if (!image) throw new AppError(400, 'unknown_image', `image ${imageId} does not exist; create it first (POST /api/v1/images)`);
  return image;
}

export function captureKind(images: ImageRepository): TaskKindDef<CaptureParams> {
  return {
    name: 'capture',
    summary: "one PC's disk into a new version of an image",
    input: z.object({
      imageId: z.number().int().positive().describe('the image that gets a new version'),
      notes: z.string().max(2000).nullable().optional().describe('notes of the new version (what changed)'),
    }),
    params: CaptureParamsSchema,
    result: ImagingResultSchema,
    checkHosts(ids) {
      if (ids.length !== 1) throw new AppError(400, 'one_host_per_capture', `a capture reads the disk of one PC; give exactly one host id (got ${ids.length})`);
    },
    async resolve(trx, input) {
      const image = await imageFor(images, trx, input.imageId, 'capture');
      const notes = typeof input.notes === 'string' ? input.notes.trim() || null : null;
      return { imageId: image.id, image: image.name, notes };
    },
    boot: { imaging: true },
    hello: { action: 'capture', tokenSeconds: IMAGING_TOKEN_SECONDS },
    progress: true,
    client: {
      schema: ClientTaskSchema,
      async view(db, task, p): Promise<ClientTask> {
        const image = await images.image(p.imageId, db);
        const v = await images.captureOf(task.id, db);
        return {
          taskId: task.id,
          kind: 'capture',
          image: { id: p.imageId, name: image?.name ?? p.image },
          version: v ? { id: v.id, number: v.number } : null,
          chunkSize: v?.chunk_size ?? DEFAULT_CHUNK_SIZE,
          diskSerial: task.disk_serial,
          notes: p.notes,
          endAction: 'poweroff',
          computerName: null,
        };
      },
    },
    // Success is only what the store saw: a capture reported ok without its commit fails.
    async onResult(tx, task, _p, outcome): Promise<Outcome> {
      const v = await images.captureOf(task.id, tx.trx);
      const out = { ...outcome, result: { ...outcome.result } };
      if (outcome.state === 'done' && v?.state !== 'ready') {
        out.state = 'failed';
        out.error = 'capture not committed: the client reported success but the store never received its commit (POST /api/v1/client/capture/commit); capture again';
      }
      if (v) out.result.version = { id: v.id, number: v.number, state: out.state === 'done' ? v.state : 'failed' };
      return out;
    },
    // A cancelled or failed capture takes its unpublished version down with it; earlier versions stay.
    async onEnd(tx, task, _p, end) {
      for (const v of await images.failCapturesOf(tx, task.id, end.why)) {
        await writeAudit(tx.trx, end.actor, { action: 'image.version.fail', targetType: 'image', targetId: v.image_id, details: { version: v.number, versionId: v.id, taskId: task.id, error: end.why } });
      }
    },
  };
}

/** The PC's name in the inventory now (a rename after the task was made still counts); null when it is gone. */
export type HostNameOf = (hostId: number, db?: Parameters<ImageRepository['version']>[1]) => Promise<string | null>;

export function restoreKind(images: ImageRepository, hostNameOf: HostNameOf): TaskKindDef<RestoreParams> {
  return {
    name: 'restore',
    summary: 'a ready version of an image onto the PCs',
    input: z.object({
      imageId: z.number().int().positive(),
      version: z.number().int().positive().optional().describe('version number; default the newest ready version'),
      endAction: z.enum(END_ACTIONS).optional().describe('what the PC does once restored: poweroff (default), or reboot (left on, starting from its restored disk)'),
      multicast: MulticastJoinSchema.optional().describe("set by a room run: its multicast session, which the PC joins (the session's version must be the one restored)"),
    }),
    params: RestoreParamsSchema,
    result: ImagingResultSchema,
    async resolve(trx, input) {
      const image = await imageFor(images, trx, input.imageId, 'restore');
      const number = typeof input.version === 'number' ? input.version : undefined;
      const version = await images.restorable(image.id, number, trx);
      if (!version) {
        if (number !== undefined) throw new AppError(400, 'unknown_version', `image "${image.name}" has no version ${number}`);
        throw conflict('no_ready_version', `image "${image.name}" has no ready version to restore yet; capture one first`);
      }
      if (version.state === 'damaged') throw damagedConflict(image.name, version.number);
      if (version.state !== 'ready') {
        throw conflict('version_not_ready', `version ${version.number} of image "${image.name}" is ${version.state}; only a ready version can be restored`);
      }
      const multicast = MulticastJoinSchema.optional().parse(input.multicast);
      if (multicast && multicast.versionId !== version.id) throw new AppError(400, 'validation_failed', `the multicast session streams version id ${multicast.versionId}, not version ${version.number} (id ${version.id}) of image "${image.name}"`);
      return { imageId: image.id, image: image.name, versionId: version.id, version: version.number, endAction: input.endAction === 'reboot' ? 'reboot' : 'poweroff', ...(multicast ? { multicast } : {}) };
    },
    boot: { imaging: true },
    hello: { action: 'restore', tokenSeconds: IMAGING_TOKEN_SECONDS },
    progress: true,
    client: {
      schema: ClientTaskSchema,
      async view(db, task, p): Promise<ClientTask> {
        const v = await readyVersion(images, task, p, db);
        const computerName = await hostNameOf(task.host_id, db);
        return { taskId: task.id, kind: 'restore', image: { id: p.imageId, name: p.image }, version: { id: v.id, number: v.number }, chunkSize: v.chunk_size, diskSerial: task.disk_serial, notes: v.notes, endAction: p.endAction ?? 'poweroff', multicast: p.multicast ?? null, computerName };
      },
    },
    async onResult(_tx, _task, p, outcome): Promise<Outcome> {
      return { ...outcome, result: { ...outcome.result, version: { id: p.versionId, number: p.version } } };
    },
  };
}

/** 409 version_damaged: what a person reads when a damaged version is asked for. */
export function damagedConflict(image: string, number: number): AppError {
  return conflict(
    'version_damaged',
    `version ${number} of image "${image}" is damaged (chunks of it are missing or corrupt in the image store) and cannot be restored; restore another version, or capture the reference PC again (the version's error and the alerts say more)`,
  );
}

/** The ready version a restore task writes; 409 when it can no longer be restored. */
export async function readyVersion(images: ImageRepository, _task: MachineTask, p: RestoreParams, db?: Parameters<ImageRepository['version']>[1]) {
  const v = await images.version(p.versionId, db);
  if (v?.state === 'damaged') throw damagedConflict(p.image, p.version);
  if (!v || v.state !== 'ready') {
    throw conflict('version_not_ready', `version ${p.version} of image "${p.image}" is ${v?.state ?? 'gone'}; it can no longer be restored: cancel this task and pick another version`);
  }
  return v;
}
