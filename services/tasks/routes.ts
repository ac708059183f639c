// REST routes for tasks: give PCs something to do at their next network boot (inventory, capture,
// restore), list, cancel.
import { z } from 'zod';
import { defineRoute, idParam, type AnyRoute } from '../api/route.js';
import { TASK_KINDS, TASK_STATES, type TaskService } from './service.js';

export const TaskSchema = z
  .object({
    id: z.number().int(),
    hostId: z.number().int(),
    hostName: z.string(),
    mac: z.string(),
    roomId: z.number().int().nullable(),
    room: z.string().nullable(),
    kind: z.enum(TASK_KINDS),
    state: z.enum(TASK_STATES),
    createdBy: z.string(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    error: z.string().nullable(),
    result: z.record(z.string(), z.unknown()).nullable().describe('the outcome; while a capture or restore runs, {progress} from the client'),
    params: z.record(z.string(), z.unknown()).nullable().describe('capture: {imageId, image, notes}; restore: {imageId, image, versionId, version}'),
  })
  .meta({ id: 'Task' });

const HostIds = z.array(z.number().int().positive()).min(1).max(5000);
const NewTaskSchema = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('inventory'), hostIds: HostIds }),
    z.object({
      kind: z.literal('capture'),
      hostIds: HostIds.describe('exactly one PC: the reference PC whose disk is captured'),
      imageId: z.number().int().positive().describe('the image that gets a new version'),
      notes: z.string().max(2000).nullable().optional().describe('notes of the new version (what changed)'),
    }),
    z.object({
      kind: z.literal('restore'),
      hostIds: HostIds,
      imageId: z.number().int().positive(),
      version: z.number().int().positive().optional().describe('version number; default the newest ready version'),
    }),
  ])
  .meta({ id: 'NewTask' });

export function taskRoutes(tasks: TaskService): AnyRoute[] {
  return [
    defineRoute({
      method: 'post', path: '/api/v1/tasks', tag: 'tasks', access: 'technician', status: 201,
      summary:
        'Give PCs a task for their next network boot (inventory: report hardware facts, then power off; capture: one PC\'s disk into a new version of an image; restore: a ready version onto the PCs); a PC that already has an open task keeps it',
      body: NewTaskSchema,
      response: z.object({ created: z.array(z.number().int()).describe('ids of the tasks created by this call'), tasks: z.array(TaskSchema).describe('the open task of each PC, in the order of hostIds') }),
      errors: { 400: 'unknown_host | one_host_per_capture | image_required | unknown_image | unknown_version', 409: 'no_ready_version | version_not_ready' },
      handler: ({ auth, body }) =>
        tasks.create(auth!.actor, body.hostIds, body.kind, {
          imageId: 'imageId' in body ? body.imageId : undefined,
          version: 'version' in body ? body.version : undefined,
          notes: 'notes' in body ? body.notes : undefined,
        }),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/tasks', tag: 'tasks', access: 'viewer',
      summary: 'List tasks, newest first; filter by state, PC or room (an id, or "unassigned")',
      query: z.object({
        state: z.enum(TASK_STATES).optional(),
        hostId: z.coerce.number().int().positive().optional(),
        room: z.union([z.literal('unassigned'), z.coerce.number().int().positive()]).optional(),
        limit: z.coerce.number().int().min(1).max(1000).optional(),
      }),
      response: z.array(TaskSchema),
      handler: ({ query }) => tasks.list({ state: query.state, hostId: query.hostId, roomId: query.room, limit: query.limit }),
    }),
    defineRoute({
      method: 'post', path: '/api/v1/tasks/:id/cancel', tag: 'tasks', access: 'technician',
      summary: 'Cancel a pending or running task (a capture\'s unpublished version becomes failed; earlier versions stay as they are)',
      params: idParam, response: TaskSchema, errors: { 404: 'not_found', 409: 'task_finished' },
      handler: ({ auth, params }) => tasks.cancel(auth!.actor, params.id),
    }),
  ];
}
