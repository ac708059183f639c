// REST routes of the software package store (docs/packages.md): technicians add package versions,
// set their property values, upload their installer files in resumable pieces and download them;
// everyone logged in reads them; a known PC (machine token) reads and downloads ready versions only.
//
// A resumable upload:  POST /api/v1/software/packages {manifest, values}
//                      PUT  /api/v1/software/packages/:id/files/:index?offset=N   (or Content-Range)
//                      GET  /api/v1/software/packages/:id → files[].receivedBytes: resume there
import { z } from 'zod';
import { decimal, defineRoute, idParam, sendStoredFile, type AnyRoute } from '../core/route.js';
import { receivePiece } from '../core/upload.js';
import { EXIT_OUTCOMES, FILE_LIMIT, PackageManifestSchema } from './package.js';
import type { AssignmentService } from './assignments.js';
import type { SoftwareStore } from './store.js';

const Value = z.union([z.string().max(2000), z.number(), z.boolean()]);
const ValuesSchema = z.record(z.string().max(64), Value.nullable()).describe('property name → value; null clears it');

export const PackageVersionSchema = z
  .object({
    id: z.number().int(),
    packageId: z.string(),
    version: z.string(),
    name: z.string(),
    publisher: z.string(),
    state: z.enum(['uploading', 'ready']).describe('ready: every file is there and hashed; only then do PCs see the version'),
    manifest: z.record(z.string(), z.unknown()).describe('the manifest (docs/packages.md), defaults filled in'),
    values: z.record(z.string(), z.union([Value, z.object({ set: z.boolean() })])).describe('property values; a secret one only as { set }'),
    files: z.array(
      z.object({
        index: z.number().int(),
        name: z.string(),
        sizeBytes: z.number().int(),
        sha256: z.string(),
        state: z.enum(['uploading', 'ready']),
        receivedBytes: z.number().int().describe('bytes held: an interrupted upload resumes from there'),
      }),
    ),
    createdBy: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'SoftwarePackageVersion', description: `exit code outcomes: ${EXIT_OUTCOMES.join(', ')}` });

const fileParams = z.object({ id: decimal('an id', 1), index: decimal('a file index', 0, 63) });
const MACHINE_ERRORS = { 403: 'not_a_host_token', 404: 'not_found | software_file_missing' };


export function softwareRoutes(store: SoftwareStore, assignments: Pick<AssignmentService, 'readable'>): AnyRoute[] {
  return [
    defineRoute({
      method: 'get', path: '/api/v1/software/packages', tag: 'software', access: 'viewer',
      summary: 'Software package versions, with their files\' upload state (secret property values only as set or not)',
      response: z.array(PackageVersionSchema),
      handler: () => store.list(),
    }),
    defineRoute({
      method: 'post', path: '/api/v1/software/packages', tag: 'software', access: 'technician', status: 201,
      summary: 'Add a package version from its manifest (docs/packages.md) and property values; then upload its files',
      body: z.object({ manifest: PackageManifestSchema, values: ValuesSchema.default({}) }), response: PackageVersionSchema,
      errors: { 409: 'software_package_exists', 422: 'package_dependency_missing | package_dependency_cycle | software_values_invalid', 507: 'insufficient_storage' },
      handler: ({ auth, body }) => store.create(auth!.actor, body.manifest, body.values),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/software/packages/:id', tag: 'software', access: 'viewer',
      summary: 'One package version; files[].receivedBytes is where an interrupted upload resumes',
      params: idParam, response: PackageVersionSchema,
      handler: ({ params }) => store.view(params.id),
    }),
    defineRoute({
      method: 'put', path: '/api/v1/software/packages/:id/values', tag: 'software', access: 'technician',
      summary: 'Set property values (a secret one is sealed; null clears a value; a secret left out is kept)',
      params: idParam, body: ValuesSchema, response: PackageVersionSchema,
      errors: { 422: 'software_values_invalid' },
      handler: ({ auth, params, body }) => store.setValues(auth!.actor, params.id, body),
    }),
    defineRoute({
      method: 'delete', path: '/api/v1/software/packages/:id', tag: 'software', access: 'technician', status: 204,
      summary: 'Delete a package version and its files',
      params: idParam, response: null,
      handler: ({ auth, params }) => store.remove(auth!.actor, params.id),
    }),
    defineRoute({
      method: 'put', path: '/api/v1/software/packages/:id/files/:index', tag: 'software', access: 'technician',
      summary:
        'Upload a piece of installer file `index` at ?offset=N (or Content-Range: bytes N-M/SIZE): N at most the bytes held; a smaller N drops what followed. ' +
        'A cut-off piece keeps what arrived. The free disk space is checked first. The piece that ends the file checks its SHA-256; the version is ready when all its files are',
      params: fileParams, query: z.object({ offset: decimal('offset').optional() }),
      rawBody: ['application/octet-stream'], bodyLimit: FILE_LIMIT, streamBody: true,
      response: PackageVersionSchema,
      errors: { 400: 'bad_content_range', 409: 'software_file_complete | upload_offset_mismatch', 413: 'upload_past_end', 422: 'software_file_hash_mismatch', 507: 'insufficient_storage' },
      handler: ({ params, query, req, res }) => receivePiece(req, res, query.offset, (offset) => store.append(params.id, params.index, offset, req)),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/software/packages/:id/files/:index', tag: 'software', access: 'technician',
      summary: 'Download a whole installer file; Range supported',
      params: fileParams, response: { mediaType: 'application/octet-stream' },
      errors: { 409: 'software_file_incomplete', 404: 'software_file_missing' },
      handler: async ({ params, req, res }) => sendStoredFile(req, res, await store.filePath(params.id, params.index)),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/client/software/packages', tag: 'client', access: 'machine',
      summary: 'Agent: the ready package versions assigned to its PC (secret property values only as set or not)',
      response: z.array(PackageVersionSchema), errors: { 403: MACHINE_ERRORS[403] },
      handler: async ({ machine }) => store.clientList(machine!, await assignments.readable(machine!)),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/client/software/packages/:id', tag: 'client', access: 'machine',
      summary: 'Agent: one ready package version assigned to its PC (one still uploading, or not assigned, answers 404)',
      params: idParam, response: PackageVersionSchema, errors: MACHINE_ERRORS,
      handler: async ({ machine, params }) => store.clientView(machine!, params.id, await assignments.readable(machine!)),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/client/software/packages/:id/files/:index', tag: 'client', access: 'machine',
      summary: 'Agent: an installer file of a ready package version assigned to its PC (check it against its SHA-256); Range supported',
      params: fileParams, response: { mediaType: 'application/octet-stream' }, errors: MACHINE_ERRORS,
      handler: async ({ machine, params, req, res }) => sendStoredFile(req, res, await store.clientFile(machine!, params.id, params.index, await assignments.readable(machine!))),
    }),
  ];
}
