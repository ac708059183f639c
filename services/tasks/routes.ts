// REST routes for tasks: give PCs something to do at their next network boot (one body per kind of the
// registry: inventory, capture, restore…), list, cancel; and the client API every kind shares
// (/api/v1/client/task, progress, result: access 'machine', the task token from the hello answer).
import { z } from 'zod';
import { ProgressSchema } from '../core/progress.js';
import { decimal, defineRoute, idParam, type AnyRoute } from '../core/route.js';
import type { TaskKindRegistry } from './kinds.js';
import { TASK_STATES } from './lifecycle.js';
import { ClientReportSchema, type TaskService } from './service.js';

export const taskSchema = (kinds: TaskKindRegistry) =>
  z
    .object({
      id: z.number().int(),
      hostId: z.number().int(),
      hostName: z.string(),
      mac: z.string(),
      roomId: z.number().int().nullable(),
      room: z.string().nullable(),
      kind: z.enum(kinds.names() as [string, ...string[]]),
      state: z.enum(TASK_STATES),
      createdBy: z.string(),
      createdAt: z.string(),
      startedAt: z.string().nullable(),
      finishedAt: z.string().nullable(),
      error: z.string().nullable(),
      result: z.record(z.string(), z.unknown()).nullable().describe('the outcome; while a capture or restore runs, {progress} from the client'),
      params: z.record(z.string(), z.unknown()).nullable().describe('what the task works on, by kind; capture: {imageId, image, notes}; restore: {imageId, image, versionId, version}'),
      runId: z.number().int().nullable().describe('the room run this task restores a PC for; null for a task started on its own'),
    })
    .meta({ id: 'Task' });

const HostIds = z.array(z.number().int().positive()).min(1).max(5000);

/** One body per registered kind: {kind, hostIds, ...the kind's own fields}. */
function newTaskSchema(kinds: TaskKindRegistry) {
  const bodies = kinds.list().map((k) => z.object({ kind: z.literal(k.name).describe(k.summary), hostIds: HostIds }).extend(k.input.shape));
  return z.discriminatedUnion('kind', bodies as [(typeof bodies)[number], ...typeof bodies]).meta({ id: 'NewTask' });
}

export function taskRoutes(tasks: TaskService): AnyRoute[] {
  const TaskSchema = taskSchema(tasks.kinds);
  const summary = tasks.kinds
    .list()
    .map((k) => `${k.name}: ${k.summary}`)
    .join('; ');
  return [
    defineRoute({
      method: 'post', path: '/api/v1/tasks', tag: 'tasks', access: 'technician', status: 201,
      summary: `Give PCs a task for their next network boot (${summary}); a PC that already has an open task keeps it`,
      body: newTaskSchema(tasks.kinds),
      response: z.object({ created: z.array(z.number().int()).describe('ids of the tasks created by this call'), tasks: z.array(TaskSchema).describe('the open task of each PC, in the order of hostIds') }),
      errors: { 400: 'unknown_host | one_host_per_capture | image_required | unknown_image | unknown_version', 409: 'no_ready_version | version_not_ready | version_damaged' },
      handler: ({ auth, body }) => {
        const { kind, hostIds, ...input } = body as { kind: string; hostIds: number[] } & Record<string, unknown>;
        return tasks.create(auth!.actor, hostIds, kind, input);
      },
    }),
    defineRoute({
      method: 'get', path: '/api/v1/tasks', tag: 'tasks', access: 'viewer',
      summary: 'List tasks, newest first; filter by state, PC or room (an id, or "unassigned")',
      query: z.object({
        state: z.enum(TASK_STATES).optional(),
        hostId: decimal('hostId', 1).optional(),
        room: z.union([z.literal('unassigned'), decimal('room', 1)]).optional(),
        limit: decimal('limit', 1, 1000).optional(),
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

export function clientTaskRoutes(tasks: TaskService): AnyRoute[] {
  const errors = { 403: 'not_a_task_token | task_mismatch', 404: 'task_gone', 409: 'task_not_running | task_failed | wrong_task_kind' };
  const views = [...new Set(tasks.kinds.list().flatMap((k) => (k.client ? [k.client.schema] : [])))];
  return [
    defineRoute({
      method: 'get', path: '/api/v1/client/task', tag: 'client', access: 'machine',
      summary: 'The booted client asks what its running task is (what it needs depends on the kind: capture, restore…)',
      response: views.length === 1 ? views[0]! : z.union(views), errors,
      handler: ({ machine }) => tasks.clientView(machine!),
    }),
    defineRoute({
      method: 'post', path: '/api/v1/client/progress', tag: 'client', access: 'machine',
      summary: 'Report progress (about once a second); the last report shows on the task (result.progress)',
      body: ProgressSchema, response: null, errors,
      handler: async ({ machine, body }) => tasks.recordProgress(machine!, body),
    }),
    defineRoute({
      method: 'post', path: '/api/v1/client/result', tag: 'client', access: 'machine',
      summary: 'The final result: the task becomes done, or failed with the reason (a sentence a person can act on). A capture reported ok without a commit fails.',
      body: ClientReportSchema,
      response: z.object({ taskId: z.number().int(), state: z.enum(['done', 'failed']), error: z.string().nullable() }),
      errors: { ...errors, 400: "bad_result: the report does not fit the task kind's result" },
      handler: ({ machine, body }) => tasks.finish(machine!, body),
    }),
  ];
}
