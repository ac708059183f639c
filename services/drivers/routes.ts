// REST routes for driver packs: technicians make, upload (in resumable pieces), re-rule and delete
// them; viewers list them and see which pack a PC gets. A restoring PC (task token) asks for its pack
// and downloads its archive (imaging/client/drivers.ts).
//
// A resumable upload:  POST /api/v1/driver-packs {name, vendor, model, sizeBytes, sha256}
//                      PUT  /api/v1/driver-packs/:id/archive?offset=N   (or Content-Range: bytes N-M/SIZE)
//                      GET (or HEAD) /api/v1/driver-packs/:id  → receivedBytes (also Upload-Offset): resume there
// The piece with the last byte checks and publishes the pack; POST .../complete does it again after a
// full disk.
import { z } from 'zod';
import { decimal, defineRoute, idParam, sendStoredFile, type AnyRoute } from '../core/route.js';
import { receivePiece } from '../core/upload.js';
import { HASH_PATTERN } from '../imaging/format.js';
import { DriverMatchSchema } from '../imaging/driver-pack.js';
import type { DriverPackService } from './service.js';

/** The largest pack: a full vendor driver set is a few GB. */
export const PACK_LIMIT = 32 * 1024 ** 3;

const DriverPackSchema = z
  .object({
    id: z.number().int(),
    name: z.string(),
    vendor: z.string().describe('DMI system vendor, compared trimmed and without regard to case'),
    model: z.string().describe('DMI system model, or a pattern where * stands for any characters'),
    sizeBytes: z.number().int(),
    sha256: z.string(),
    state: z.enum(['uploading', 'ready', 'damaged']),
    receivedBytes: z.number().int().describe('bytes of the archive held: an interrupted upload resumes from there'),
    files: z.number().int(),
    unpackedBytes: z.number().int(),
    error: z.string().nullable().describe('damaged: why'),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'DriverPack' });

const rule = (what: string) => z.string().trim().min(1, { error: `${what}: give the DMI ${what} as the PCs report it (the PC page shows it)` }).max(128);
const NewPackSchema = z.object({
  name: z.string().trim().min(1).max(80),
  vendor: rule('vendor'),
  model: rule('model'),
  sizeBytes: z.number().int().positive().max(PACK_LIMIT),
  sha256: z.string().regex(HASH_PATTERN, { error: 'the SHA-256 of the archive in lowercase hexadecimal (sha256sum)' }),
});

const HostMatchSchema = z
  .object({ pack: DriverPackSchema.nullable(), code: DriverMatchSchema.shape.code, reason: DriverMatchSchema.shape.reason })
  .meta({ id: 'HostDriverMatch' });

export function driverRoutes(drivers: DriverPackService): AnyRoute[] {
  return [
    defineRoute({
      method: 'get', path: '/api/v1/driver-packs', tag: 'drivers', access: 'viewer',
      summary: 'Driver packs, with their match rule, state and bytes held',
      response: z.array(DriverPackSchema),
      handler: () => drivers.list(),
    }),
    defineRoute({
      method: 'post', path: '/api/v1/driver-packs', tag: 'drivers', access: 'technician', status: 201,
      summary: 'Make a driver pack: its name, match rule (DMI vendor and model, * allowed in the model) and the size and SHA-256 of its archive (a tar or tar.gz of .inf drivers); then upload the archive',
      body: NewPackSchema, response: DriverPackSchema,
      errors: { 409: 'driver_pack_name_taken' },
      handler: ({ auth, body }) => drivers.create(auth!.actor, body),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/driver-packs/:id', tag: 'drivers', access: 'viewer',
      summary: 'One driver pack; receivedBytes (also the Upload-Offset header, and with HEAD) is where an interrupted upload resumes',
      params: idParam, response: DriverPackSchema,
      handler: async ({ params, res }) => {
        const v = await drivers.view(params.id);
        res.set('Upload-Offset', String(v.receivedBytes));
        return v;
      },
    }),
    defineRoute({
      method: 'patch', path: '/api/v1/driver-packs/:id', tag: 'drivers', access: 'technician',
      summary: 'Change a pack\'s match rule',
      params: idParam, body: z.object({ vendor: rule('vendor').optional(), model: rule('model').optional() }), response: DriverPackSchema,
      handler: ({ auth, params, body }) => drivers.setRule(auth!.actor, params.id, body),
    }),
    defineRoute({
      method: 'delete', path: '/api/v1/driver-packs/:id', tag: 'drivers', access: 'technician', status: 204,
      summary: 'Delete a driver pack and its files',
      params: idParam, response: null,
      handler: ({ auth, params }) => drivers.remove(auth!.actor, params.id),
    }),
    defineRoute({
      method: 'put', path: '/api/v1/driver-packs/:id/archive', tag: 'drivers', access: 'technician',
      summary:
        'Upload a piece of the pack\'s archive at ?offset=N (or Content-Range: bytes N-M/SIZE): N at most the bytes held (GET the pack); a smaller N drops what followed. ' +
        'A cut-off piece keeps what arrived. The piece that ends the archive checks it (SHA-256, a tar of files and folders with at least one .inf) and publishes the pack',
      params: idParam, query: z.object({ offset: decimal('offset').optional() }),
      rawBody: ['application/octet-stream', 'application/x-tar', 'application/gzip'], bodyLimit: PACK_LIMIT, streamBody: true,
      response: DriverPackSchema,
      errors: {
        400: 'bad_content_range', 409: 'driver_pack_not_uploading | upload_offset_mismatch', 413: 'upload_past_end',
        422: 'driver_pack_hash_mismatch | driver_pack_not_tar | driver_pack_unsafe_path | driver_pack_bad_entry | driver_pack_no_inf', 507: 'insufficient_storage',
      },
      handler: ({ params, query, req, res }) => receivePiece(req, res, query.offset, (offset) => drivers.append(params.id, offset, req)),
    }),
    defineRoute({
      method: 'post', path: '/api/v1/driver-packs/:id/complete', tag: 'drivers', access: 'technician',
      summary: 'Check and publish a pack whose archive is all there (after a full disk stopped it)',
      params: idParam, response: DriverPackSchema,
      errors: { 409: 'driver_pack_not_uploading | upload_incomplete', 422: 'driver_pack_hash_mismatch | driver_pack_not_tar | driver_pack_unsafe_path | driver_pack_bad_entry | driver_pack_no_inf', 507: 'insufficient_storage' },
      handler: ({ params }) => drivers.complete(params.id),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/hosts/:id/driver-pack', tag: 'drivers', access: 'viewer',
      summary: 'The driver pack this PC gets at its next restore (by its DMI vendor and model), or none and why, in French and English',
      params: idParam, response: HostMatchSchema,
      handler: ({ params }) => drivers.matchHost(params.id),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/client/drivers', tag: 'client', access: 'machine',
      summary: 'Restore: the driver pack for this PC (by its DMI vendor and model), or none and why',
      response: DriverMatchSchema,
      errors: { 403: 'not_a_task_token | task_mismatch', 404: 'task_gone', 409: 'task_not_running | task_failed | wrong_task_kind' },
      handler: ({ machine }) => drivers.clientMatch(machine!),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/client/drivers/:id/archive', tag: 'client', access: 'machine',
      summary: 'Restore: the archive of this PC\'s driver pack (tar or tar.gz; check it against the SHA-256 of GET /api/v1/client/drivers); Range supported',
      params: idParam, response: { mediaType: 'application/octet-stream' },
      errors: { 403: 'not_a_task_token | task_mismatch | driver_pack_not_yours', 404: 'task_gone | driver_pack_missing', 409: 'task_not_running | task_failed | wrong_task_kind' },
      handler: async ({ machine, params, req, res }) => {
        await sendStoredFile(req, res, await drivers.clientArchive(machine!, params.id));
      },
    }),
  ];
}
