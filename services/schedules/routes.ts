// REST routes for schedules: nightly (or weekly) room runs on a cron in a time zone, inside a window.
// Technicians write, viewers read. Each schedule is shown with its cron in words (French and English)
// and its next instants; its fires say what each instant did (the run, or why it did not start).
import { z } from 'zod';
import { decimal, defineRoute, idParam, type AnyRoute } from '../core/route.js';
import { STEPS } from '../runs/pipeline.js';
import { ScheduleInputSchema, SchedulePatchSchema, type ScheduleService } from './service.js';

const ScheduleSchema = z
  .object({
    id: z.number().int(),
    roomId: z.number().int(),
    room: z.string().nullable(),
    imageId: z.number().int(),
    version: z.number().int().nullable().describe('null: the newest ready version when it fires'),
    cron: z.string(),
    timeZone: z.string(),
    words: z.object({ fr: z.string(), en: z.string() }).describe('the cron in words ("du lundi au vendredi à 22:00"); the raw expression when it has no simple phrasing'),
    window: z.object({ start: z.string(), end: z.string() }),
    options: z.object({
      steps: z.array(z.enum(STEPS)).optional(),
      maxParallel: z.number().int().optional(),
      wakeAttempts: z.number().int().optional(),
      wakeTimeoutMinutes: z.number().optional(),
      silenceTimeoutMinutes: z.number().optional(),
      skipInUse: z.boolean().optional(),
      wakePerSecond: z.number().optional(),
    }),
    enabled: z.boolean(),
    once: z.boolean().describe('a one-off: turned off after its first instant'),
    next: z.array(z.string()).describe('the next instants it fires (ISO UTC); none when disabled'),
    createdBy: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Schedule' });

const FireSchema = z
  .object({
    at: z.string().describe('the instant it was due (ISO UTC)'),
    outcome: z.enum(['started', 'not_started']),
    runId: z.number().int().nullable(),
    reason: z.object({ code: z.string(), fr: z.string(), en: z.string() }).nullable().describe('why it did not start, in French and English'),
    recordedAt: z.string(),
  })
  .meta({ id: 'ScheduleFire' });

const errors400 = 'validation_failed | bad_cron | bad_time_zone | once_too_far | bad_window | bad_steps | bad_options | unknown_image | unknown_version';
const errors409 = 'no_ready_version | version_not_ready | version_damaged';

export function scheduleRoutes(schedules: ScheduleService): AnyRoute[] {
  return [
    defineRoute({
      method: 'get', path: '/api/v1/schedules', tag: 'schedules', access: 'viewer',
      summary: 'Schedules, with their cron in words and their next instants; filter by room',
      query: z.object({ room: decimal('room', 1).optional() }),
      response: z.array(ScheduleSchema),
      handler: ({ query }) => schedules.list(query.room !== undefined ? { roomId: query.room } : {}),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/schedules/words', tag: 'schedules', access: 'viewer',
      summary: 'A cron said back in words (French and English) with its next instants, without saving anything: what a schedule with it would do',
      query: z.object({ cron: z.string().min(1).max(120), timeZone: z.string().min(1).max(64).optional() }),
      response: z.object({ cron: z.string(), words: z.object({ fr: z.string(), en: z.string() }), next: z.array(z.string()) }).meta({ id: 'CronWords' }),
      errors: { 400: 'bad_cron | bad_time_zone' },
      handler: async ({ query }) => schedules.describe(query.cron, query.timeZone),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/schedules/:id', tag: 'schedules', access: 'viewer',
      summary: 'One schedule', params: idParam, response: ScheduleSchema, errors: { 404: 'not_found' },
      handler: ({ params }) => schedules.get(params.id),
    }),
    defineRoute({
      method: 'post', path: '/api/v1/schedules', tag: 'schedules', access: 'technician', status: 201,
      summary: 'Schedule a room run: a cron in a time zone (default Europe/Paris) and a window (e.g. 22:00–06:00); a run that cannot start inside its window does not start and says why',
      body: ScheduleInputSchema, response: ScheduleSchema,
      errors: { 400: errors400, 404: 'not_found', 409: errors409 },
      handler: ({ auth, body }) => schedules.create(auth!.actor, body),
    }),
    defineRoute({
      method: 'patch', path: '/api/v1/schedules/:id', tag: 'schedules', access: 'technician',
      summary: 'Edit a schedule: the fields given replace its own (it stays one schedule, with one job scheduler)',
      params: idParam, body: SchedulePatchSchema, response: ScheduleSchema,
      errors: { 400: errors400, 404: 'not_found', 409: errors409 },
      handler: ({ auth, params, body }) => schedules.update(auth!.actor, params.id, body),
    }),
    defineRoute({
      method: 'delete', path: '/api/v1/schedules/:id', tag: 'schedules', access: 'technician', status: 204,
      summary: 'Delete a schedule (its job scheduler goes with it)', params: idParam, response: null, errors: { 404: 'not_found' },
      handler: async ({ auth, params }) => {
        await schedules.delete(auth!.actor, params.id);
      },
    }),
    defineRoute({
      method: 'get', path: '/api/v1/schedules/:id/fires', tag: 'schedules', access: 'viewer',
      summary: 'What each instant of a schedule did, newest first: the run it started, or why it did not start (French and English)',
      params: idParam, query: z.object({ limit: decimal('limit', 1, 1000).optional() }), response: z.array(FireSchema), errors: { 404: 'not_found' },
      handler: ({ params, query }) => schedules.fires(params.id, query.limit ?? 100),
    }),
  ];
}
