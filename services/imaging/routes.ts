// REST routes of the image catalogue, for people (/api/v1/images). The boot client's calls are in
// client-routes.ts.
import { z } from 'zod';
import { decimal, defineRoute, idParam, type AnyRoute } from '../core/route.js';
import type { ImageCatalogue } from './catalogue.js';
import { WindowsFactsSchema } from './windows-facts.js';

const Bytes = z.number().int().nonnegative();

const VersionSchema = z
  .object({
    id: z.number().int(),
    number: z.number().int(),
    state: z.enum(['capturing', 'ready', 'damaged', 'failed', 'deleted']).describe('damaged: chunks of it were found missing or corrupt (by verify or a restore); never restored until a verify finds it whole again'),
    restorable: z.boolean().describe('only ready versions are offered for restore'),
    notes: z.string().nullable(),
    createdBy: z.string().describe('who started the capture'),
    createdAt: z.string(),
    publishedAt: z.string().nullable().describe('when the capture was committed'),
    sourceHostId: z.number().int().nullable(),
    sourceHost: z.string().nullable().describe('the PC it was captured from'),
    source: z.object({ mac: z.string().nullable(), serial: z.string().nullable(), ip: z.string().nullable() }).describe('the PC that produced it, as the store saw it: MAC, system serial, address'),
    taskId: z.number().int().nullable(),
    chunkSize: Bytes,
    diskBytes: Bytes.describe('size of the captured disk'),
    usedBytes: Bytes.describe('bytes the filesystems use (what a restore writes)'),
    storedBytes: Bytes.describe('compressed size of its distinct chunks (shared chunks count in every version)'),
    chunkCount: z.number().int().describe('distinct chunks'),
    manifestSha256: z.string().nullable(),
    windows: z.array(WindowsFactsSchema).nullable().describe('what the capture read of its Windows: edition, build, generalized or not (one per partition holding Windows; [] none; null: captured before this was read)'),
    error: z.string().nullable().describe('why a failed capture failed, or what is damaged in a damaged version and what to do'),
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

const versionParams = idParam.extend({ number: decimal('a version number', 1) });

export function imageRoutes(imaging: ImageCatalogue): AnyRoute[] {
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
      summary: 'Re-read every chunk of a ready or damaged version, decompress and hash it; lists missing or corrupt chunks (takes a while on a large image). Bad chunks mark the version (and every ready version holding them) damaged at once, with an alert; a damaged version found whole is ready again',
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

