// Schedules: a room run on a cron in a time zone, inside a window ("du lundi au vendredi à 22:00,
// entre 22:00 et 06:00"). This service checks and keeps them (one row per schedule: an edit replaces
// it) and decides what one instant does (fire): a run through RunService whose window ends when the
// schedule's does, or a recorded "not started" with a reason a person can act on. Every instant is one
// row (unique per schedule and instant), written before the run is created, so an instant delivered
// twice (a retried job, two workers) starts at most one run. BullMQ's job schedulers are the worker's
// side (jobs/schedules.ts); they follow the schedule.changed and room.changed events told here.
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { writeAudit, type Actor } from '../core/audit.js';
import type { DB } from '../core/db/index.js';
import { isUniqueViolation } from '../core/db/errors.js';
import type { Schedule, ScheduleFire } from '../core/db/schema.js';
import { AppError, notFound } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import type { RoomRepository } from '../inventory/rooms.js';
import { checkSteps, STEPS } from '../runs/pipeline.js';
import { RunInputSchema, type RunService } from '../runs/service.js';
import type { TaskService } from '../tasks/service.js';
import { fireReasonWords, type FireReason } from './reasons.js';
import type { ScheduleRepository, ScheduleRow } from './repository.js';
import { cronProblem, DEFAULT_TIME_ZONE, hhmm, inWindow, isTimeZone, localHhmm, nextFires, windowEndAfter } from './time.js';
import { cronBoth } from './words.js';

/** How soon a one-off schedule must fire. */
const ONCE_WITHIN_MS = 24 * 3600 * 1000;

const shape = RunInputSchema.shape;
/** The run options a schedule passes to each run (RunService applies the defaults of those left out). */
export const ScheduleOptionsSchema = z
  .object({
    steps: shape.steps,
    maxParallel: shape.maxParallel.unwrap().optional(),
    wakeAttempts: shape.wakeAttempts.unwrap().optional(),
    wakeTimeoutMinutes: shape.wakeTimeoutMinutes.unwrap().optional(),
    silenceTimeoutMinutes: shape.silenceTimeoutMinutes.unwrap().optional(),
    skipInUse: shape.skipInUse.unwrap().optional(),
    wakePerSecond: shape.wakePerSecond.unwrap().optional(),
  })
  .strict();

const HHMM = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: 'a 24-hour time HH:MM, e.g. 22:00' });
export const ScheduleInputSchema = z
  .object({
    roomId: z.number().int().positive().describe('the room restored'),
    imageId: z.number().int().positive().describe('the image restored'),
    version: z.number().int().positive().nullable().default(null).describe('version number; null: the newest ready version when it fires'),
    cron: z.string().min(1).max(120).describe('five fields: minute hour day-of-month month day-of-week, e.g. "0 22 * * 1-5"'),
    timeZone: z.string().min(1).max(64).default(DEFAULT_TIME_ZONE).describe('IANA time zone of the cron and the window'),
    windowStart: HHMM.describe('the window opens (local time)'),
    windowEnd: HHMM.describe('the window closes (local time); before windowStart: the next day (22:00–06:00)'),
    options: ScheduleOptionsSchema.default({}).describe('the run options (maxParallel, steps, skipInUse…)'),
    enabled: z.boolean().default(true),
    once: z.boolean().default(false).describe('a one-off ("tonight, once"): turned off after its first instant, whatever that did'),
  })
  .strict();
export type ScheduleInput = z.input<typeof ScheduleInputSchema>;
export const SchedulePatchSchema = ScheduleInputSchema.partial().strict();

export interface ScheduleView {
  id: number;
  roomId: number;
  room: string | null;
  imageId: number;
  version: number | null;
  cron: string;
  timeZone: string;
  /** The cron said back in words. */
  words: { fr: string; en: string };
  window: { start: string; end: string };
  options: z.output<typeof ScheduleOptionsSchema>;
  enabled: boolean;
  /** A one-off: turned off after its first instant. */
  once: boolean;
  /** The next instants it fires (ISO UTC), none when disabled. */
  next: string[];
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}

export interface FireView {
  at: string;
  outcome: ScheduleFire['outcome'];
  runId: number | null;
  reason: { code: string; fr: string; en: string } | null;
  recordedAt: string;
}

export type FireResult = FireView & { scheduleId: number; roomId: number; room: string | null; duplicate: boolean };

const fireView = (f: ScheduleFire): FireView => ({
  at: f.fire_at,
  outcome: f.outcome,
  runId: f.run_id,
  reason: f.reason_code ? fireReasonWords(f.reason_code, f.reason_params ? (JSON.parse(f.reason_params) as Record<string, string>) : {}, f.reason_text ?? f.reason_code) : null,
  recordedAt: f.created_at,
});

export class ScheduleService {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly repo: ScheduleRepository,
    private readonly rooms: Pick<RoomRepository, 'byId' | 'all'>,
    private readonly runs: Pick<RunService, 'create' | 'recordNotStarted'>,
    private readonly tasks: Pick<TaskService, 'kinds'>,
    private readonly events: EventBus,
    /** ms since the epoch; a test passes its own clock. */
    private readonly now: () => number = Date.now,
  ) {}

  async list(filter: { roomId?: number; enabled?: boolean } = {}): Promise<ScheduleView[]> {
    const names = new Map((await this.rooms.all()).map((r) => [r.id, r.name]));
    return (await this.repo.list(filter)).map((s) => this.view(s, names.get(s.room_id) ?? null));
  }

  async get(id: number): Promise<ScheduleView> {
    const s = await this.repo.byId(id);
    if (!s) throw notFound('schedule', id);
    return this.view(s, (await this.rooms.byId(s.room_id))?.name ?? null);
  }

  /** A cron said back in words with its next instants, before anything is saved (the UI's preview); 400 when it is not valid. */
  describe(cron: string, timeZone = DEFAULT_TIME_ZONE): { cron: string; words: { fr: string; en: string }; next: string[] } {
    const c = cron.trim().replace(/\s+/g, ' ');
    const bad = cronProblem(c);
    if (bad) throw new AppError(400, 'bad_cron', bad);
    if (!isTimeZone(timeZone)) throw new AppError(400, 'bad_time_zone', `"${timeZone}" is not a time zone this server knows; use an IANA name such as Europe/Paris`);
    return { cron: c, words: cronBoth(c), next: nextFires(c, timeZone, this.now(), 3).map((t) => new Date(t).toISOString()) };
  }

  /** The rows as they are (the worker's sync). */
  rows(filter: { enabled?: boolean } = {}): Promise<Schedule[]> {
    return this.repo.list(filter);
  }

  async create(actor: Actor, raw: unknown): Promise<ScheduleView> {
    const row = this.check(ScheduleInputSchema.safeParse(raw));
    const id = await this.events.transaction(this.db, async (tx) => {
      await this.checkTargets(tx.trx, row);
      const at = new Date(this.now()).toISOString();
      const id = await this.repo.insert(tx.trx, row, actor.name, at);
      await writeAudit(tx.trx, actor, { action: 'schedule.create', targetType: 'schedule', targetId: id, details: { ...row } });
      tx.out.add('schedule.changed', { scheduleId: id, roomId: row.roomId, change: 'created', at });
      return id;
    });
    return this.get(id);
  }

  /** An edit: the patch over the schedule as it is, checked whole, written over the same row. */
  async update(actor: Actor, id: number, raw: unknown): Promise<ScheduleView> {
    const patch = SchedulePatchSchema.safeParse(raw);
    if (!patch.success) this.check(patch);
    await this.events.transaction(this.db, async (tx) => {
      const s = await this.repo.byId(id, tx.trx);
      if (!s) throw notFound('schedule', id);
      const current = { roomId: s.room_id, imageId: s.image_id, version: s.version, cron: s.cron, timeZone: s.time_zone, windowStart: s.window_start, windowEnd: s.window_end, options: JSON.parse(s.options) as object, enabled: s.enabled === 1, once: s.once === 1 };
      // Only the fields the patch names: the schema's defaults (version, zone, options, enabled, once)
      // must not overwrite what the schedule has (a PATCH { enabled: false } turned a one-off into a
      // nightly schedule and reset its options).
      const named = Object.fromEntries(Object.entries(patch.data as object).filter(([k]) => Object.hasOwn(raw as object, k)));
      const row = this.check(ScheduleInputSchema.safeParse({ ...current, ...named }));
      await this.checkTargets(tx.trx, row);
      const at = new Date(this.now()).toISOString();
      await this.repo.replace(tx.trx, id, row, at);
      await writeAudit(tx.trx, actor, { action: 'schedule.update', targetType: 'schedule', targetId: id, details: { from: current, to: row } });
      tx.out.add('schedule.changed', { scheduleId: id, roomId: row.roomId, change: 'updated', at });
      // A schedule moved to another room: that room's listeners hear it too.
      if (row.roomId !== s.room_id) tx.out.add('schedule.changed', { scheduleId: id, roomId: s.room_id, change: 'deleted', at });
    });
    return this.get(id);
  }

  async delete(actor: Actor, id: number): Promise<void> {
    await this.events.transaction(this.db, async (tx) => {
      const s = await this.repo.byId(id, tx.trx);
      if (!s || !(await this.repo.delete(tx.trx, id))) throw notFound('schedule', id);
      await writeAudit(tx.trx, actor, { action: 'schedule.delete', targetType: 'schedule', targetId: id, details: { roomId: s.room_id, cron: s.cron } });
      tx.out.add('schedule.changed', { scheduleId: id, roomId: s.room_id, change: 'deleted', at: new Date(this.now()).toISOString() });
    });
  }

  async fires(id: number, limit = 100): Promise<FireView[]> {
    if (!(await this.repo.byId(id))) throw notFound('schedule', id);
    return (await this.repo.fires(id, limit)).map(fireView);
  }

  /**
   * What the instant `at` of a schedule does (the worker calls it when BullMQ's job for that instant
   * runs, possibly late): the run, or a recorded reason it did not start. Idempotent per instant.
   * undefined: the schedule is gone (its job scheduler is stale).
   */
  async fire(scheduleId: number, at: number): Promise<FireResult | undefined> {
    const s = await this.repo.byId(scheduleId);
    if (!s) return undefined;
    const room = (await this.rooms.byId(s.room_id))?.name ?? null;
    const fireAt = new Date(at).toISOString();
    const result = (f: ScheduleFire, duplicate: boolean): FireResult => ({ ...fireView(f), scheduleId, roomId: s.room_id, room, duplicate });
    const recorded = new Date(this.now()).toISOString();
    // The claim: the instant's row, before anything else. A second delivery finds it and does nothing.
    try {
      await this.repo.insertFire(this.db, { scheduleId, fireAt, runId: null, outcome: 'not_started', reason: { code: 'starting', params: {}, text: 'the worker stopped while starting this run; see the room’s runs' } }, recorded);
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      return result((await this.repo.fire(scheduleId, fireAt))!, true);
    }
    const outcome = await this.decide(s, at);
    await this.events.transaction(this.db, async (tx) => {
      // An instant that did not start is a run of its own too (state not_started, with the reason), so
      // that the room's runs and their reports say it; a disabled schedule's instant only in its fires.
      if (outcome.outcome === 'not_started' && outcome.reason && outcome.reason.code !== 'disabled')
        outcome.runId = await this.runs.recordNotStarted(tx, { roomId: s.room_id, imageId: s.image_id, version: s.version, options: JSON.parse(s.options) as Record<string, unknown>, createdBy: `schedule:${s.id}`, reason: outcome.reason });
      await this.repo.settleFire(tx.trx, scheduleId, fireAt, outcome);
      tx.out.add('schedule.changed', { scheduleId, roomId: s.room_id, change: 'fired', at: recorded });
      // A one-off is done after its instant: turned off (its job scheduler goes with the 'updated' event).
      if (s.once === 1 && (await this.repo.disable(tx.trx, scheduleId, recorded))) tx.out.add('schedule.changed', { scheduleId, roomId: s.room_id, change: 'updated', at: recorded });
    });
    return result((await this.repo.fire(scheduleId, fireAt))!, false);
  }

  private async decide(s: Schedule, at: number): Promise<{ runId: number | null; outcome: ScheduleFire['outcome']; reason: FireReason | null }> {
    const notStarted = (reason: FireReason) => ({ runId: null, outcome: 'not_started' as const, reason });
    const window = `${s.window_start}–${s.window_end}`;
    if (s.enabled !== 1) return notStarted({ code: 'disabled', params: {}, text: 'the schedule is disabled' });
    if (!inWindow(at, s.time_zone, s.window_start, s.window_end)) {
      const time = localHhmm(at, s.time_zone);
      return notStarted({ code: 'outside_window', params: { time, window }, text: `it was due at ${time}, outside its window ${window}: change the schedule's time or its window` });
    }
    const end = windowEndAfter(at, s.time_zone, s.window_end);
    const now = this.now();
    if (now >= end) {
      const time = localHhmm(now, s.time_zone);
      return notStarted({ code: 'window_missed', params: { time, end: s.window_end }, text: `it could only start at ${time}, after its window closed at ${s.window_end}: check that the worker was running` });
    }
    const options = JSON.parse(s.options) as Record<string, unknown>;
    const actor = { userId: null, name: `schedule:${s.id}`, ip: null };
    try {
      const run = await this.runs.create(actor, { roomId: s.room_id, imageId: s.image_id, ...(s.version !== null ? { version: s.version } : {}), ...options, windowEndsAt: new Date(end).toISOString() });
      return { runId: run.id, outcome: 'started', reason: null };
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      return notStarted({ code: err.code, params: { detail: err.message }, text: err.message });
    }
  }

  private view(s: Schedule, room: string | null): ScheduleView {
    return {
      id: s.id,
      roomId: s.room_id,
      room,
      imageId: s.image_id,
      version: s.version,
      cron: s.cron,
      timeZone: s.time_zone,
      words: cronBoth(s.cron),
      window: { start: s.window_start, end: s.window_end },
      options: JSON.parse(s.options) as ScheduleView['options'],
      enabled: s.enabled === 1,
      once: s.once === 1,
      next: s.enabled === 1 ? nextFires(s.cron, s.time_zone, this.now(), 3).map((t) => new Date(t).toISOString()) : [],
      createdBy: s.created_by,
      createdAt: s.created_at,
      updatedAt: s.updated_at,
    };
  }

  /** The parsed input as a row, or a 400 that says what is wrong (cron, zone, window, steps). */
  private check(parsed: z.ZodSafeParseResult<unknown>): ScheduleRow {
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      throw new AppError(400, 'validation_failed', `invalid schedule: ${first ? `${first.path.join('.') || 'input'}: ${first.message}` : 'bad input'}`);
    }
    const v = parsed.data as z.output<typeof ScheduleInputSchema>;
    const cron = v.cron.trim().replace(/\s+/g, ' ');
    const bad = cronProblem(cron);
    if (bad) throw new AppError(400, 'bad_cron', bad);
    if (!isTimeZone(v.timeZone)) throw new AppError(400, 'bad_time_zone', `"${v.timeZone}" is not a time zone this server knows; use an IANA name such as Europe/Paris`);
    if (v.once && v.enabled) {
      // A one-off is "tonight": one whose first instant is further away (a date already past this
      // year, the dialog confirmed after 22:00, a used one-off turned on again) would erase the room a
      // year later.
      const [first] = nextFires(cron, v.timeZone, this.now(), 1);
      if (first === undefined || first - this.now() > ONCE_WITHIN_MS) {
        throw new AppError(400, 'once_too_far', `a one-off restore must start within the next 24 hours; its cron ${cron} next fires ${first === undefined ? 'never' : new Date(first).toISOString()}: make a new one for the day you want`);
      }
    }
    if (hhmm(v.windowStart) === hhmm(v.windowEnd)) throw new AppError(400, 'bad_window', `the window ${v.windowStart}–${v.windowEnd} is empty; give a start and an end (22:00–06:00 crosses midnight)`);
    // The options must make a valid run (the steps' order, restore and verify in): checked as RunService will.
    const steps = checkSteps(v.options.steps ?? STEPS);
    if (steps) throw new AppError(400, 'bad_steps', steps);
    const probe = RunInputSchema.safeParse({ roomId: v.roomId, imageId: v.imageId, ...v.options });
    if (!probe.success) {
      const first = probe.error.issues[0];
      throw new AppError(400, 'bad_options', `invalid run options: ${first ? `${first.path.join('.')}: ${first.message}` : 'bad input'}`);
    }
    return { roomId: v.roomId, imageId: v.imageId, version: v.version, cron, timeZone: v.timeZone, windowStart: v.windowStart, windowEnd: v.windowEnd, options: v.options, enabled: v.enabled, once: v.once };
  }

  /** The room exists, and the image (and version) can be restored now. */
  private async checkTargets(trx: Kysely<DB>, row: ScheduleRow): Promise<void> {
    if (!(await this.rooms.byId(row.roomId, trx))) throw notFound('room', row.roomId);
    await this.tasks.kinds.get('restore').resolve(trx, { imageId: row.imageId, ...(row.version !== null ? { version: row.version } : {}) });
  }
}
