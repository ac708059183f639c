// REST routes of imaging: images and versions for people (/api/v1/images), and the boot client's
// capture and restore calls (/api/v1/client/*, access 'machine': the task token from the hello answer).
import type { Response } from 'express';
import { z } from 'zod';
import { defineRoute, idParam, type AnyRoute } from '../api/route.js';
import { HASH_PATTERN } from './format.js';
import type { ImagingService } from './service.js';
import { CHUNK_UPLOAD_MARGIN } from './store.js';

/** The largest manifest a capture may post (a fully used multi-terabyte disk with a fragmented NTFS). */
export const MANIFEST_LIMIT = 64 * 1024 * 1024;
/** The largest chunk frame: format v1 allows chunks of up to 64 MiB. */
export const CHUNK_LIMIT = 64 * 1024 * 1024 + CHUNK_UPLOAD_MARGIN;

const Bytes = z.number().int().nonnegative();

const VersionSchema = z
  .object({
    id: z.number().int(),
    number: z.number().int(),
    state: z.enum(['capturing', 'ready', 'failed', 'deleted']),
    restorable: z.boolean().describe('only ready versions are offered for restore'),
    notes: z.string().nullable(),
    createdBy: z.string().describe('who started the capture'),
    createdAt: z.string(),
    publishedAt: z.string().nullable().describe('when the capture was committed'),
    sourceHostId: z.number().int().nullable(),
    sourceHost: z.string().nullable().describe('the PC it was captured from'),
    taskId: z.number().int().nullable(),
    chunkSize: Bytes,
    diskBytes: Bytes.describe('size of the captured disk'),
    usedBytes: Bytes.describe('bytes the filesystems use (what a restore writes)'),
    storedBytes: Bytes.describe('compressed size of its distinct chunks (shared chunks count in every version)'),
    chunkCount: z.number().int().describe('distinct chunks'),
    manifestSha256: z.string().nullable(),
    error: z.string().nullable().describe('why a failed capture failed'),
  })
  .meta({ id: 'ImageVersion' });

const ImageSchema = z
  .object({
    id: z.number().int(),
    name: z.string(),
    description: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
    latestReady: z.number().int().nullable().describe('number of the newest ready version (what a restore takes by default)'),
    versions: z.array(VersionSchema).describe('newest first, every state'),
  })
  .meta({ id: 'Image' });

const VerifyResultSchema = z
  .object({
    ok: z.boolean(),
    checked: z.number().int().describe('distinct chunks read and checked'),
    bad: z.array(z.object({ hash: z.string(), reason: z.enum(['missing', 'corrupt', 'unreadable']), detail: z.string() })),
  })
  .meta({ id: 'VerifyResult' });

const GcResultSchema = z
  .object({
    removedChunks: z.number().int(),
    freedBytes: Bytes,
    orphanFiles: z.number().int(),
    tmpFiles: z.number().int(),
    manifests: z.number().int(),
    abandonedCaptures: z.number().int(),
  })
  .meta({ id: 'GcResult' });

const versionParams = idParam.extend({ number: z.coerce.number({ error: 'a version number' }).int().positive({ error: 'a positive version number' }) });
const hashParams = z.object({ hash: z.string().regex(HASH_PATTERN, { error: 'a SHA-256 in lowercase hexadecimal (64 digits)' }) });

export function imageRoutes(imaging: ImagingService): AnyRoute[] {
  return [
    defineRoute({
      method: 'post', path: '/api/v1/images', tag: 'images', access: 'technician', status: 201,
      summary: 'Create an image (a name for a series of captured versions)',
      body: z.object({ name: z.string().max(200), description: z.string().max(500).nullable().optional() }),
      response: ImageSchema, errors: { 400: 'bad_image_name', 409: 'duplicate_image' },
      handler: ({ auth, body }) => imaging.createImage(auth!.actor, body),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/images', tag: 'images', access: 'viewer',
      summary: 'List images with their versions (newest first)', response: z.array(ImageSchema),
      handler: () => imaging.listImages(),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/images/:id', tag: 'images', access: 'viewer',
      summary: 'One image with its versions', params: idParam, response: ImageSchema, errors: { 404: 'not_found' },
      handler: ({ params }) => imaging.getImage(params.id),
    }),
    defineRoute({
      method: 'patch', path: '/api/v1/images/:id/versions/:number', tag: 'images', access: 'technician',
      summary: 'Change the notes of a version', params: versionParams,
      body: z.object({ notes: z.string().max(2000).nullable() }).strict(), response: VersionSchema, errors: { 404: 'not_found' },
      handler: ({ auth, params, body }) => imaging.updateVersionNotes(auth!.actor, params.id, params.number, body.notes),
    }),
    defineRoute({
      method: 'delete', path: '/api/v1/images/:id/versions/:number', tag: 'images', access: 'technician',
      summary: 'Delete a version: never offered again; its chunks are freed by the next garbage collection unless other versions share them',
      params: versionParams, response: null, errors: { 404: 'not_found', 409: 'version_in_use | version_capturing' },
      handler: async ({ auth, params }) => imaging.deleteVersion(auth!.actor, params.id, params.number),
    }),
    defineRoute({
      method: 'post', path: '/api/v1/images/:id/versions/:number/verify', tag: 'images', access: 'technician',
      summary: 'Re-read every chunk of a ready version, decompress and hash it; lists missing or corrupt chunks (takes a while on a large image)',
      params: versionParams, response: VerifyResultSchema, errors: { 404: 'not_found', 409: 'version_not_ready' },
      handler: ({ auth, params }) => imaging.verifyVersion(auth!.actor, params.id, params.number),
    }),
    defineRoute({
      method: 'post', path: '/api/v1/images/gc', tag: 'images', access: 'admin',
      summary: 'Garbage collection: remove chunks no capturing or ready version references, stale temporary files and dead manifests (safe while captures run)',
      response: GcResultSchema,
      handler: ({ auth }) => imaging.gc(auth!.actor),
    }),
  ];
}

const ClientTaskSchema = z
  .object({
    taskId: z.number().int(),
    kind: z.enum(['capture', 'restore']),
    image: z.object({ id: z.number().int(), name: z.string() }),
    version: z.object({ id: z.number().int(), number: z.number().int() }).nullable().describe('restore: the version to write; capture: the version being made, once the manifest was posted'),
    chunkSize: z.number().int().describe('bytes per chunk (capture: use this one)'),
    diskSerial: z.string().nullable().describe('the disk serial pinned for this PC: use that disk, and refuse when it is missing'),
    notes: z.string().nullable(),
  })
  .meta({ id: 'ClientTask' });

const ProgressSchema = z
  .object({
    phase: z.string().min(1).max(40).describe('e.g. partition, hash, upload, download, write, check'),
    bytesDone: Bytes,
    bytesTotal: Bytes,
    chunksDone: Bytes,
    chunksTotal: Bytes,
    rateBytesPerSecond: z.number().nonnegative(),
    etaSeconds: z.number().nonnegative().nullable(),
    message: z.string().max(500).optional(),
  })
  .meta({ id: 'Progress' });

function sendChunk(res: Response, root: string, name: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    res.sendFile(name, { root, acceptRanges: true, lastModified: false, cacheControl: false, dotfiles: 'deny', headers: { 'Content-Type': 'application/zstd' } }, (err) => {
      // A client that hangs up mid-transfer resumes with Range; before any byte went out, it is reported.
      if (err && !res.headersSent) reject(err);
      else resolve();
    });
  });
}

export function clientRoutes(imaging: ImagingService): AnyRoute[] {
  const errors = { 403: 'not_a_task_token | task_mismatch', 404: 'task_gone', 409: 'task_not_running | wrong_task_kind' };
  return [
    defineRoute({
      method: 'get', path: '/api/v1/client/task', tag: 'client', access: 'machine',
      summary: 'The boot client asks what its capture or restore task is', response: ClientTaskSchema, errors,
      handler: ({ machine }) => imaging.clientTask(machine!),
    }),
    defineRoute({
      method: 'post', path: '/api/v1/client/capture', tag: 'client', access: 'machine',
      summary: 'Capture: post the manifest (image format v1, JSON, up to 64 MiB); records the capturing version and answers which chunks the store lacks. Posting again replaces the manifest (client restarted).',
      rawBody: ['application/json'], bodyLimit: MANIFEST_LIMIT,
      response: z
        .object({ versionId: z.number().int(), number: z.number().int(), missing: z.array(z.string()).describe('distinct hashes to upload'), missingBytes: Bytes.describe('their uncompressed size') })
        .meta({ id: 'CaptureAnswer' }),
      errors: { ...errors, 400: 'bad_json | bad_manifest', 409: 'task_not_running | wrong_task_kind | capture_committed', 507: 'insufficient_storage' },
      handler: ({ machine, body }) => imaging.registerCapture(machine!, body as Buffer),
    }),
    defineRoute({
      method: 'put', path: '/api/v1/client/chunks/:hash', tag: 'client', access: 'machine',
      summary: 'Capture: upload one chunk (its zstd frame); the store keeps it only if its decompressed bytes hash to :hash. 201 stored, 200 already there.',
      params: hashParams, rawBody: ['application/octet-stream', 'application/zstd'], bodyLimit: CHUNK_LIMIT,
      response: z.object({ hash: z.string(), stored: z.boolean().describe('false: the store already had it') }),
      errors: { ...errors, 409: 'task_not_running | wrong_task_kind | no_capture | chunk_not_expected', 413: 'chunk_too_large', 422: 'hash_mismatch | bad_chunk' },
      handler: async ({ machine, params, body, res }) => {
        const outcome = await imaging.putChunk(machine!, params.hash, body as Buffer);
        res.status(outcome === 'stored' ? 201 : 200);
        return { hash: params.hash, stored: outcome === 'stored' };
      },
    }),
    defineRoute({
      method: 'post', path: '/api/v1/client/capture/commit', tag: 'client', access: 'machine',
      summary: 'Capture: publish the version once every chunk is in the store (manifest written durably, then the version is ready); the task runs on until the result',
      response: z
        .object({ versionId: z.number().int(), number: z.number().int(), state: z.literal('ready'), chunkCount: z.number().int(), storedBytes: Bytes, manifestSha256: z.string() })
        .meta({ id: 'CommitAnswer' }),
      errors: { ...errors, 409: 'task_not_running | wrong_task_kind | no_capture | chunks_missing (errors: the hashes) | capture_cancelled | manifest_missing', 422: 'manifest_mismatch' },
      handler: ({ machine }) => imaging.commitCapture(machine!),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/client/manifest', tag: 'client', access: 'machine',
      summary: 'Restore: the manifest of the task\'s version, byte for byte (its SHA-256 in X-Manifest-Sha256)',
      response: { mediaType: 'application/json' },
      errors: { ...errors, 404: 'task_gone | manifest_missing', 409: 'task_not_running | wrong_task_kind | version_not_ready' },
      handler: async ({ machine, res }) => {
        const m = await imaging.restoreManifest(machine!);
        res.set('X-Manifest-Sha256', m.sha256);
        return m.bytes;
      },
    }),
    defineRoute({
      method: 'get', path: '/api/v1/client/chunks/:hash', tag: 'client', access: 'machine',
      summary: 'Download one chunk (zstd frame) of the task\'s version; Range requests supported (206) to resume',
      params: hashParams, response: { mediaType: 'application/zstd' },
      errors: { ...errors, 404: 'task_gone | chunk_not_found | chunk_missing', 409: 'task_not_running | wrong_task_kind | version_not_ready | no_capture' },
      handler: async ({ machine, params, res }) => {
        const name = await imaging.chunkForDownload(machine!, params.hash);
        await sendChunk(res, imaging.store.chunksDir, name);
      },
    }),
    defineRoute({
      method: 'post', path: '/api/v1/client/progress', tag: 'client', access: 'machine',
      summary: 'Report progress (about once a second); the last report shows on the task (result.progress)',
      body: ProgressSchema, response: null, errors,
      handler: async ({ machine, body }) => imaging.progress(machine!, body),
    }),
    defineRoute({
      method: 'post', path: '/api/v1/client/result', tag: 'client', access: 'machine',
      summary: 'The final result: the task becomes done, or failed with the reason (a sentence a person can act on). A capture reported ok without a commit fails.',
      body: z.object({ ok: z.boolean(), reason: z.string().max(2000).optional(), details: z.record(z.string(), z.unknown()).optional() }),
      response: z.object({ taskId: z.number().int(), state: z.enum(['done', 'failed']), error: z.string().nullable() }),
      errors,
      handler: ({ machine, body }) => imaging.result(machine!, body),
    }),
  ];
}
