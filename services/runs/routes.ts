// REST routes for room runs: start one (a room or chosen PCs, an image version, the steps and limits),
// list them, follow one (its PCs with their state and reason, their timelines), cancel a run or one PC.
// The worker role picks a new run up from its run.changed event (and from the database every minute).
import { z } from 'zod';
import { decimal, defineRoute, idParam, type AnyRoute } from '../core/route.js';
import { DELIVERY_PATHS, TRANSPORTS } from './delivery.js';
import { RunWarningSchema } from './generalized.js';
import { PC_STATES, STEPS } from './pipeline.js';
import { reportHtml } from './report-html.js';
import { RunInputSchema, type RunService } from './service.js';

const RUN_STATES = ['running', 'done', 'cancelled', 'not_started'] as const;
const Reason = z.object({ code: z.string(), text: z.string().describe('a sentence a person can act on (English; the UI translates by code)') }).nullable();

const PreflightWords = z.object({ code: z.string(), text: z.string().describe('English'), fr: z.string().describe('French') });
const PreflightSchema = z
  .object({ at: z.string(), verdict: z.enum(['multicast', 'unicast']), fallback: PreflightWords.nullable().describe('why the run did not use multicast'), warnings: z.array(PreflightWords).describe('another PXE server, no IGMP querier, a check that could not run') })
  .describe('the network pre-flight before the session (null or absent: none was run)');
const PATHS = z.enum(DELIVERY_PATHS).describe('differential: its disk held most of the version; multicast: the run\'s one stream, what it missed repaired over HTTP; unicast: over HTTP');
const DeliverySchema = z
  .object({
    path: PATHS,
    reason: z.object({ code: z.string(), text: z.string(), params: z.record(z.string(), z.union([z.string(), z.number()])) }),
    multicastBytes: z.number().describe('stored bytes its restore got from the multicast stream'),
    repairBytes: z.number().describe('stored bytes it fetched over HTTP during the session (the repair)'),
  })
  .nullable()
  .describe('how the PC gets its version and why (null: a run from before this existed)');

const PlanReasonSchema = z.object({ code: z.string(), params: z.record(z.string(), z.union([z.string(), z.number()])), en: z.string(), fr: z.string() });
const PathBytes = z.object({ pcs: z.number().int(), bytes: z.number() });
const PlanSchema = z
  .object({
    pcs: z.number().int(),
    paths: z.object({ differential: PathBytes, multicast: PathBytes, unicast: PathBytes }).describe('per path: PCs and the stored bytes they move over the server link (multicast: the stream, once)'),
    totalBytes: z.number(),
    seconds: z.number().describe('the whole run, planned'),
    limits: z.object({ perPc: z.number(), serverLink: z.number().nullable(), multicastCap: z.number().nullable() }).describe('each limit in seconds (null: does not apply); the run takes the longest'),
    bound: z.enum(['per_pc', 'server_link', 'multicast_cap', 'none']).describe('the binding limit'),
    perPc: z.object({ seconds: z.number(), basis: z.enum(['same_version', 'throughput', 'default']), samples: z.number().int() }).describe('one PC restoring the whole version, from past PCs'),
    rate: z.object({ bytesPerSecond: z.number(), source: z.enum(['configured', 'measured', 'default']), samples: z.number().int() }).describe('the server link rate used: ROOMCAST_SERVER_LINK_RATE, else past multicast streams, else 1 Gbit/s'),
    multicastCap: z.number().nullable().describe('bytes per second (ROOMCAST_MULTICAST_MAX_BITRATE)'),
    window: z.object({ seconds: z.number().nullable(), fits: z.boolean().nullable(), marginSeconds: z.number().nullable() }).describe('null: no window'),
    reasons: z.object({ rate: PlanReasonSchema, bound: PlanReasonSchema, window: PlanReasonSchema, overflow: PlanReasonSchema.nullable() }),
  })
  .meta({
    id: 'RunPlan',
    description:
      "a run's bandwidth plan: how long it should take, what limits it, whether it fits its window. In a run: planned when it started (null: a run from before, or one that did not start); in the estimate: as if every PC needed the whole version (a run's PCs whose disks hold most of it take the differential path: less)",
  });

const RunPcSchema = z
  .object({
    id: z.number().int(),
    hostId: z.number().int().nullable().describe('null once the PC was removed from the inventory'),
    hostName: z.string(),
    mac: z.string(),
    state: z.enum(PC_STATES),
    wakeAttempts: z.number().int(),
    taskId: z.number().int().nullable(),
    reason: Reason,
    deadlineAt: z.string().nullable().describe('when the PC is woken again or given up, if nothing happens before'),
    bytesDone: z.number(),
    bytesTotal: z.number(),
    startedAt: z.string().nullable(),
    endedAt: z.string().nullable(),
    updatedAt: z.string(),
    delivery: DeliverySchema,
  })
  .meta({ id: 'RunPc' });

const RunSchema = z
  .object({
    id: z.number().int(),
    roomId: z.number().int().nullable(),
    room: z.string().nullable(),
    image: z.object({ id: z.number().int().nullable(), name: z.string() }),
    version: z.object({ id: z.number().int().nullable(), number: z.number().int() }),
    state: z.enum(RUN_STATES),
    options: z.object({
      steps: z.array(z.enum(STEPS)),
      maxParallel: z.number().int(),
      wakeAttempts: z.number().int(),
      wakeTimeoutMinutes: z.number(),
      silenceTimeoutMinutes: z.number(),
      skipInUse: z.boolean(),
      wakePerSecond: z.number(),
      transport: z.enum(TRANSPORTS).optional().describe('absent in runs from before it existed (auto)'),
    }),
    createdBy: z.string(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    endedAt: z.string().nullable(),
    windowEndsAt: z.string().nullable(),
    reason: Reason,
    counts: z.record(z.string(), z.number().int()).describe('PCs by state'),
    warnings: z.array(RunWarningSchema).optional().describe("when the run was started: the version's Windows is not (or may not be) generalized and goes to several PCs (runs/generalized.ts)"),
    multicast: z
      .object({
        state: z.enum(['sending', 'ended']),
        group: z.string().nullable(),
        portBase: z.number().int().nullable(),
        outcome: z.object({ ok: z.boolean(), reason: z.string(), detail: z.string(), streamBytes: z.number(), joined: z.array(z.string()), dropped: z.array(z.string()), seconds: z.number(), preflight: PreflightSchema.nullable().optional() }).nullable(),
      })
      .nullable()
      .describe("the run's multicast session (null: none)"),
    plan: PlanSchema.nullable(),
    pcs: z.array(RunPcSchema),
  })
  .meta({ id: 'Run' });

const RunSummarySchema = z
  .object({ id: z.number().int(), roomId: z.number().int().nullable(), room: z.string().nullable(), image: z.string(), version: z.number().int(), state: z.enum(RUN_STATES), createdBy: z.string(), createdAt: z.string(), endedAt: z.string().nullable() })
  .meta({ id: 'RunSummary' });

const TimelineSchema = z.array(
  z.object({ runPcId: z.number().int(), at: z.string(), state: z.enum(PC_STATES), code: z.string(), text: z.string(), params: z.record(z.string(), z.unknown()).nullable() }),
);

const Words = z.object({ code: z.string(), fr: z.string(), en: z.string() });
const ReportSchema = z
  .object({
    run: z.object({ id: z.number().int(), room: z.string().nullable(), image: z.string(), version: z.number().int(), state: z.enum(RUN_STATES), createdBy: z.string(), startedAt: z.string().nullable(), endedAt: z.string().nullable(), reason: Reason, why: z.object({ code: z.string(), fr: z.string(), en: z.string() }).nullable().describe("the run's own reason in French and English (why it did not start, or how it ended)") }),
    totals: z.object({ pcs: z.number().int(), done: z.number().int(), failed: z.number().int(), skipped: z.number().int(), cancelled: z.number().int(), open: z.number().int(), wallSeconds: z.number().nullable(), bytesMoved: z.number(), multicastBytes: z.number(), repairBytes: z.number() }),
    multicast: z.object({ ok: z.boolean(), reason: z.string(), detail: z.string(), streamBytes: z.number().describe('bytes sent once for every PC'), preflight: PreflightSchema.nullable() }).nullable(),
    plan: z
      .object({
        plannedSeconds: z.number(),
        actualSeconds: z.number().nullable().describe('null: still running'),
        bound: z.enum(['per_pc', 'server_link', 'multicast_cap', 'none']),
        fits: z.boolean().nullable().describe('whether the plan fitted the window (null: no window)'),
        totalBytes: z.number(),
        words: z.object({ bound: Words, rate: Words, window: Words, overflow: Words.nullable(), actual: Words.nullable().describe('planned against what it took (null: still running)') }),
      })
      .nullable()
      .describe('the bandwidth plan made when the run started, against what it took (null: none)'),
    pcs: z.array(
      z.object({
        id: z.number().int(),
        hostName: z.string(),
        mac: z.string(),
        state: z.enum(PC_STATES),
        needsAPerson: z.boolean(),
        reason: z.object({ code: z.string(), fr: z.string(), en: z.string() }).nullable(),
        startedAt: z.string().nullable(),
        endedAt: z.string().nullable(),
        durationSeconds: z.number().nullable(),
        bytesMoved: z.number(),
        delivery: z.object({ path: PATHS, code: z.string(), fr: z.string(), en: z.string(), multicastBytes: z.number(), repairBytes: z.number() }).nullable(),
        timeline: z.array(z.object({ at: z.string(), state: z.string(), code: z.string(), text: z.string() })),
        windows: z
          .object({
            name: Words.nullable().describe('the Windows name written into the offline registry, or why not'),
            answerFile: Words.nullable().describe('the answer file (unattend.xml) written, or why none'),
            drivers: Words.extend({ pack: z.string().nullable(), vendor: z.string().nullable(), model: z.string().nullable() }).nullable().describe('the driver pack copied and the vendor/model rule it matched, or why none (no DMI facts, no pack for this model)'),
            bootEntry: Words.extend({ entry: z.string().nullable() }).nullable().describe('the UEFI boot entry: added, already present, or why not (not UEFI)'),
          })
          .nullable()
          .describe("what the PC's restore did to its Windows before it first started; null: nothing reported (a task from before, or one that failed before)"),
      }),
    ),
  })
  .meta({ id: 'RunReport' });

const EstimateSchema = z
  .object({
    seconds: z.number().describe('the whole run'),
    perPcSeconds: z.number().describe('one PC, from its wake to its end'),
    basis: z.enum(['same_version', 'throughput', 'default']).describe("same_version: past PCs restored this version (their median); throughput: past PCs' restore rate scaled to this version's size; default: no history, an assumed rate"),
    samples: z.number().int().describe('past PCs it rests on'),
    pcs: z.number().int(),
    waves: z.number().int().describe('PCs restore maxParallel at a time'),
    usedBytes: z.number(),
    version: z.number().int().describe('the version number the run would restore'),
    plan: PlanSchema,
    warnings: z.array(RunWarningSchema).describe("the version's Windows is not (or may not be) generalized and would go to several PCs: a run needs acknowledge: true for image_not_generalized"),
  })
  .meta({ id: 'RunEstimate' });

const RoomLastRunSchema = z
  .object({
    roomId: z.number().int(),
    run: z.object({ id: z.number().int(), state: z.enum(RUN_STATES), image: z.string(), version: z.number().int(), createdAt: z.string(), endedAt: z.string().nullable() }),
    counts: z.record(z.string(), z.number().int()).describe("the run's PCs by state"),
  })
  .meta({ id: 'RoomLastRun' });

const PcLastResultSchema = z
  .object({ hostId: z.number().int(), runId: z.number().int(), runPcId: z.number().int(), state: z.enum(PC_STATES), reasonCode: z.string().nullable(), reasonText: z.string().nullable(), endedAt: z.string().nullable() })
  .meta({ id: 'PcLastResult' });

const runAndPc = z.object({ id: decimal('an id', 1), pcId: decimal('a PC id', 1) });

export function runRoutes(runs: RunService): AnyRoute[] {
  return [
    defineRoute({
      method: 'post', path: '/api/v1/runs', tag: 'runs', access: 'technician', status: 201,
      summary: 'Start a room run: wake, boot, restore, verify and power off a room (or chosen PCs) with a version of an image',
      body: RunInputSchema,
      response: RunSchema,
      errors: { 400: 'validation_failed | bad_steps | wake_not_configured | not_in_room | unknown_host | empty_room | image_required | unknown_image | unknown_version | window_over', 404: 'not_found', 409: 'in_another_run | no_ready_version | version_not_ready | version_damaged | image_not_generalized (errors: the warning; send acknowledge: true to start anyway)' },
      handler: ({ auth, body }) => runs.create(auth!.actor, body),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/runs', tag: 'runs', access: 'viewer',
      summary: 'Runs, newest first; filter by room or state',
      query: z.object({ room: decimal('room', 1).optional(), state: z.enum(RUN_STATES).optional(), limit: decimal('limit', 1, 1000).optional() }),
      response: z.array(RunSummarySchema),
      handler: async ({ query }) =>
        (await runs.list({ roomId: query.room, state: query.state, limit: query.limit })).map((r) => ({
          id: r.id, roomId: r.room_id, room: r.room_name, image: r.image_name, version: r.version_number, state: r.state, createdBy: r.created_by, createdAt: r.created_at, endedAt: r.ended_at,
        })),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/runs/estimate', tag: 'runs', access: 'viewer',
      summary: 'How long a run should take: from the version\'s used bytes and past PCs\' durations (this version\'s, else their restore rate), in waves of maxParallel; and its bandwidth plan (bytes per path over the server link, the binding limit, whether it fits a window)',
      query: z.object({
        image: decimal('image', 1), version: decimal('version', 1).optional(), pcs: decimal('pcs', 1, 1000), maxParallel: decimal('maxParallel', 1, 500).optional(),
        transport: z.enum(TRANSPORTS).optional().describe('as the run would be asked (default auto)'), windowEndsAt: z.iso.datetime().optional().describe("the window's end, for whether the plan fits it"),
      }),
      response: EstimateSchema, errors: { 404: 'not_found', 400: 'unknown_image | unknown_version', 409: 'no_ready_version | version_not_ready | version_damaged' },
      handler: ({ query }) => runs.estimate({ imageId: query.image, version: query.version, pcs: query.pcs, maxParallel: query.maxParallel, transport: query.transport, windowEndsAt: query.windowEndsAt }),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/runs/latest-by-room', tag: 'runs', access: 'viewer',
      summary: "Every room's newest run with its PCs counted by state, in one answer (the rooms page); rooms never run are absent",
      response: z.array(RoomLastRunSchema),
      handler: () => runs.lastRunOfRooms(),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/runs/latest-by-pc', tag: 'runs', access: 'viewer',
      summary: "Each PC of a room with its newest run result (state, reason), whatever run it was in; PCs never run are absent",
      query: z.object({ room: decimal('room', 1) }),
      response: z.array(PcLastResultSchema),
      handler: ({ query }) => runs.lastResultOfPcs(query.room),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/runs/:id', tag: 'runs', access: 'viewer',
      summary: 'One run: its options, its PCs with their state, progress and reason, counts by state',
      params: idParam, response: RunSchema, errors: { 404: 'not_found' },
      handler: ({ params }) => runs.view(params.id),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/runs/:id/timeline', tag: 'runs', access: 'viewer',
      summary: "Every PC's timeline in a run: each state change with its time and reason, in order",
      params: idParam, response: TimelineSchema, errors: { 404: 'not_found' },
      handler: async ({ params }) => {
        const view = await runs.view(params.id);
        return (await runs.timeline(view.pcs.map((p) => p.id))).map((e) => ({ runPcId: e.run_pc_id, at: e.at, state: e.state, code: e.reason_code, text: e.reason_text, params: e.params ? (JSON.parse(e.params) as Record<string, unknown>) : null }));
      },
    }),
    defineRoute({
      method: 'get', path: '/api/v1/runs/:id/report', tag: 'runs', access: 'viewer',
      summary: 'The morning report of a run: PCs that need a person first (failed, skipped, cancelled) with their reason in French and English, then the others; per PC its timeline, duration and bytes; totals',
      params: idParam, response: ReportSchema, errors: { 404: 'not_found' },
      handler: ({ params }) => runs.report(params.id),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/runs/:id/report.html', tag: 'runs', access: 'viewer',
      summary: 'The morning report as a printable page (French; ?lang=en for English)',
      params: idParam, query: z.object({ lang: z.enum(['fr', 'en']).optional() }),
      response: { mediaType: 'text/html; charset=utf-8' }, errors: { 404: 'not_found' },
      handler: async ({ params, query }) => reportHtml(await runs.report(params.id), query.lang ?? 'fr'),
    }),
    defineRoute({
      method: 'post', path: '/api/v1/runs/:id/cancel', tag: 'runs', access: 'technician',
      summary: 'Cancel a run: every PC not yet done ends cancelled, its task too (a running client is told to stop at its next call)',
      params: idParam, response: RunSchema, errors: { 404: 'not_found', 409: 'run_finished' },
      handler: ({ auth, params }) => runs.cancel(auth!.actor, params.id),
    }),
    defineRoute({
      method: 'post', path: '/api/v1/runs/:id/retry', tag: 'runs', access: 'technician', status: 201,
      summary: 'Retry the failed PCs of an ended run: a new run of the same version and options for them',
      params: idParam, response: RunSchema, errors: { 404: 'not_found', 400: 'not_in_room', 409: 'run_running | nothing_to_retry | image_gone | in_another_run | version_damaged' },
      handler: ({ auth, params }) => runs.retryFailed(auth!.actor, params.id),
    }),
    defineRoute({
      method: 'post', path: '/api/v1/runs/:id/pcs/:pcId/cancel', tag: 'runs', access: 'technician',
      summary: 'Cancel one PC of a run (its task too); the run goes on with the others',
      params: runAndPc, response: RunPcSchema, errors: { 404: 'not_found', 409: 'run_pc_finished' },
      handler: ({ auth, params }) => runs.cancelPc(auth!.actor, params.id, params.pcId),
    }),
  ];
}
