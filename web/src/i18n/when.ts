// A coming instant in words, in the school's time zone: "ce soir à 22:00", "demain à 06:00",
// "lun. 8 déc. à 22:00". Pure (the clock is a parameter), used by the schedules and the dialog.
import { getTimeZone, translate, type Lang } from './index.js';

const dayKey = (d: Date, tz: string) => new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).format(d);

export function atWords(lang: Lang, iso: string, now: Date = new Date()): string {
  const tz = getTimeZone();
  const at = new Date(iso);
  const time = new Intl.DateTimeFormat(lang, { timeZone: tz, hour: '2-digit', minute: '2-digit', hour12: false }).format(at);
  const hour = Number(new Intl.DateTimeFormat('en-GB', { timeZone: tz, hour: '2-digit', hour12: false }).format(at));
  const evening = hour >= 18;
  const today = dayKey(now, tz);
  const tomorrow = dayKey(new Date(now.getTime() + 86_400_000), tz);
  const day = dayKey(at, tz);
  if (day === today) return translate(lang, evening ? 'at.tonight' : 'at.today', { time });
  if (day === tomorrow) return translate(lang, evening ? 'at.tomorrowNight' : 'at.tomorrow', { time });
  const date = new Intl.DateTimeFormat(lang, { timeZone: tz, weekday: 'short', day: 'numeric', month: 'short' }).format(at);
  return translate(lang, 'at.day', { date, time });
}

/** Whether it is already past `hour` today in the school's time zone ("tonight at 22:00" is gone). */
export function pastHour(hour = 22, now: Date = new Date()): boolean {
  return Number(new Intl.DateTimeFormat('en-GB', { timeZone: getTimeZone(), hour: '2-digit', hour12: false }).format(now)) % 24 >= hour;
}

/** Today's day of month and month (1–12) in the school's time zone: the "tonight, once" cron. */
export function tonightCron(now: Date = new Date(), hour = 22): string {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone: getTimeZone(), day: 'numeric', month: 'numeric' }).formatToParts(now);
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  return `0 ${hour} ${get('day')} ${get('month')} *`;
}
