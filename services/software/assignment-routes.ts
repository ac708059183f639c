// REST routes of software assignments (docs/packages.md): technicians assign packages to rooms and PCs
// (a PC may exclude its room's package); everyone logged in reads them and a PC's effective list; a
// known PC (machine token) reads its own list, in install order, with the files to download.
import { z } from 'zod';
import { decimal, defineRoute, idParam, type AnyRoute } from '../core/route.js';
import { PACKAGE_ID_PATTERN } from './package.js';
import type { AssignmentService } from './assignments.js';

const AssignmentSchema = z
  .object({
    id: z.number().int(),
    roomId: z.number().int().nullable(),
    hostId: z.number().int().nullable(),
    packageId: z.string(),
    version: z.string().nullable().describe('pinned version; null: the newest ready version'),
    exclude: z.boolean().describe('a PC taking away its room\'s assignment of the package'),
    createdBy: z.string(),
    createdAt: z.string(),
  })
  .meta({ id: 'SoftwareAssignment' });

const Reason = z.object({ code: z.enum(['no_ready_version', 'version_missing', 'dependency_waiting']), text: z.string() });
const HostSoftwareSchema = z
  .object({
    hostId: z.number().int(),
    roomId: z.number().int().nullable(),
    entries: z.array(
      z.object({
        packageId: z.string(),
        assignmentId: z.number().int(),
        from: z.enum(['room', 'host']),
        pinned: z.string().nullable(),
        versionId: z.number().int().nullable(),
        version: z.string().nullable(),
        state: z.enum(['ready', 'waiting']).describe('waiting: no ready version yet, or after a package that waits'),
        reason: Reason.nullable(),
      }),
    ).describe('in install order: every package after the packages it depends on'),
    excluded: z.array(z.object({ packageId: z.string(), assignmentId: z.number().int() })),
  })
  .meta({ id: 'HostSoftware' });

const AgentAssignmentsSchema = z
  .object({
    hostId: z.number().int(),
    packages: z.array(
      z.object({
        packageId: z.string(),
        versionId: z.number().int(),
        version: z.string(),
        name: z.string(),
        publisher: z.string(),
        manifest: z.record(z.string(), z.unknown()),
        values: z.record(z.string(), z.unknown()).describe('property values; a secret one only as { set }'),
        files: z.array(z.object({ index: z.number().int(), name: z.string(), sizeBytes: z.number().int(), sha256: z.string(), url: z.string().describe('relative to the api; machine token; Range supported') })),
      }),
    ).describe('ready packages in install order'),
    waiting: z.array(z.object({ packageId: z.string(), reason: z.string() })),
  })
  .meta({ id: 'AgentSoftwareAssignments' });

const AssignBody = z
  .object({
    roomId: z.number().int().min(1).optional(),
    hostId: z.number().int().min(1).optional(),
    packageId: z.string().regex(PACKAGE_ID_PATTERN, { error: 'packageId: a package id of the store' }),
    version: z.string().min(1).max(64).nullable().optional().describe('pin to this version; left out or null: the newest ready version'),
    exclude: z.boolean().optional().describe('on a PC only: it does not get its room\'s assignment of the package'),
  })
  .refine((b) => (b.roomId === undefined) !== (b.hostId === undefined), { error: 'give roomId or hostId, not both' });

const ORDER_ERRORS = 'software_dependency_unassigned | package_dependency_cycle';

export function assignmentRoutes(assignments: AssignmentService): AnyRoute[] {
  return [
    defineRoute({
      method: 'get', path: '/api/v1/software/assignments', tag: 'software', access: 'viewer',
      summary: 'Software assignments, optionally of one room, one PC or one package',
      query: z.object({ roomId: decimal('a room id', 1).optional(), hostId: decimal('a host id', 1).optional(), packageId: z.string().max(64).optional() }),
      response: z.array(AssignmentSchema),
      handler: ({ query }) => assignments.list(query),
    }),
    defineRoute({
      method: 'post', path: '/api/v1/software/assignments', tag: 'software', access: 'technician',
      summary: 'Assign a package to a room or a PC (replacing that target\'s assignment of it), or exclude a room\'s package on a PC; refused if a list would no longer order',
      body: AssignBody, response: AssignmentSchema,
      errors: { 404: 'not_found', 409: 'software_package_assigned', 422: `software_version_unknown | software_exclude_not_host | ${ORDER_ERRORS}` },
      handler: ({ auth, body }) => assignments.assign(auth!.actor, body),
    }),
    defineRoute({
      method: 'delete', path: '/api/v1/software/assignments/:id', tag: 'software', access: 'technician', status: 204,
      summary: 'Remove an assignment (or an exclusion); refused if a list would no longer order',
      params: idParam, response: null, errors: { 404: 'not_found', 422: ORDER_ERRORS },
      handler: ({ auth, params }) => assignments.unassign(auth!.actor, params.id),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/software/hosts/:id', tag: 'software', access: 'viewer',
      summary: 'A PC\'s effective software: its room\'s assignments and its own, in install order, each ready or waiting with the reason',
      params: idParam, response: HostSoftwareSchema, errors: { 404: 'not_found', 422: ORDER_ERRORS },
      handler: ({ params }) => assignments.forHost(params.id),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/client/software/assignments', tag: 'client', access: 'machine',
      summary: 'Agent: this PC\'s ready packages in install order, with the files to download (no secret property value)',
      response: AgentAssignmentsSchema, errors: { 403: 'not_a_host_token', 404: 'not_found', 422: ORDER_ERRORS },
      handler: ({ machine }) => assignments.forAgent(machine!),
    }),
  ];
}
