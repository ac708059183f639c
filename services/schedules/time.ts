// Time for schedules, as pure functions: the instants a cron fires in a time zone (with the cron
// parser BullMQ itself uses, so that what we show is what BullMQ will do), whether an instant falls in
// a window given as local wall times ('22:00'–'06:00', across midnight allowed), and when the window
// of a run that starts at a given instant closes. Instants are ms since the epoch; no I/O, no clock.
import { CronExpressionParser } from 'cron-parser';

export const DEFAULT_TIME_ZONE = 'Europe/Paris';
const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** A sentence saying what is wrong with a five-field cron expression, or null when BullMQ can run it. */
export function cronProblem(cron: string): string | null {
  const fields = cron.trim().split(/\s+/);
  if (fields.length !== 5) return `"${cron}" has ${fields.length} field${fields.length > 1 ? 's' : ''}; a schedule takes five: minute hour day-of-month month day-of-week (e.g. "0 22 * * 1-5")`;
  try {
    CronExpressionParser.parse(cron, { tz: 'UTC', strict: false }).next();
    return null;
  } catch (err) {
    return `"${cron}" is not a valid cron expression: ${(err as Error).message}`;
  }
}

/** Whether the runtime knows this IANA time zone. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return tz.length > 0;
  } catch {
    return false;
  }
}

/** Minutes since midnight of 'HH:MM', or null when it is not a 24-hour time. */
export function hhmm(s: string): number | null {
  const m = HHMM.exec(s);
  return m ? Number(m[1]) * 60 + Number(m[2]) : null;
}

/** The next `count` instants the cron fires after `from` (exclusive), in zone `tz`. */
export function nextFires(cron: string, tz: string, from: number, count: number): number[] {
  const it = CronExpressionParser.parse(cron, { tz, currentDate: new Date(from) });
  const out: number[] = [];
  while (out.length < count) out.push(it.next().getTime());
  return out;
}

const partsCache = new Map<string, Intl.DateTimeFormat>();
function wall(at: number, tz: string): { y: number; mo: number; d: number; h: number; mi: number } {
  let f = partsCache.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    partsCache.set(tz, f);
  }
  const p = Object.fromEntries(f.formatToParts(new Date(at)).map((x) => [x.type, x.value]));
  return { y: Number(p.year), mo: Number(p.month), d: Number(p.day), h: Number(p.hour), mi: Number(p.minute) };
}

/** The zone's offset from UTC at `at`, in ms (Paris in winter: +3 600 000). */
function offsetAt(at: number, tz: string): number {
  const w = wall(at, tz);
  return Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi) - Math.floor(at / 60_000) * 60_000;
}

/** The instant a local wall time names in zone `tz` (a time skipped by a clock change: the instant after the gap). */
export function zonedInstant(y: number, mo: number, d: number, minutes: number, tz: string): number {
  const guess = Date.UTC(y, mo - 1, d, Math.floor(minutes / 60), minutes % 60);
  const first = guess - offsetAt(guess, tz);
  const second = guess - offsetAt(first, tz);
  return Math.max(first, second);
}

/** Local minutes since midnight of `at` in `tz`. */
export function localMinutes(at: number, tz: string): number {
  const w = wall(at, tz);
  return w.h * 60 + w.mi;
}

/** Whether `at` falls in the window [start, end) of local wall times; start > end crosses midnight; start = end is the whole day. */
export function inWindow(at: number, tz: string, start: string, end: string): boolean {
  const s = hhmm(start);
  const e = hhmm(end);
  if (s === null || e === null) throw new Error(`bad window ${start}–${end}`);
  if (s === e) return true;
  const m = localMinutes(at, tz);
  return s < e ? m >= s && m < e : m >= s || m < e;
}

/** When the window a run starts in at `at` closes: the next local `end` after `at`. */
export function windowEndAfter(at: number, tz: string, end: string): number {
  const e = hhmm(end);
  if (e === null) throw new Error(`bad window end ${end}`);
  const w = wall(at, tz);
  for (let day = 0; day < 3; day++) {
    // Day arithmetic on the calendar date (UTC noon avoids any clock change), then the zone's wall time.
    const cal = new Date(Date.UTC(w.y, w.mo - 1, w.d + day, 12));
    const t = zonedInstant(cal.getUTCFullYear(), cal.getUTCMonth() + 1, cal.getUTCDate(), e, tz);
    if (t > at) return t;
  }
  throw new Error('unreachable: a wall time recurs every day');
}

/** 'HH:MM' of an instant in a zone (for sentences). */
export function localHhmm(at: number, tz: string): string {
  const w = wall(at, tz);
  return `${String(w.h).padStart(2, '0')}:${String(w.mi).padStart(2, '0')}`;
}
