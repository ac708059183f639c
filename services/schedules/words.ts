// A cron expression said back in words, in French and English, so that a person sees what the
// schedule will do: "du lundi au vendredi à 22:00" / "Monday to Friday at 22:00". It phrases the
// usual shapes (fixed minute; one hour or a list of hours, or every hour; any day of the month and
// any month; every day, a range or a list of weekdays, a single weekday) and gives the raw expression
// back for what it cannot phrase. Pure.
import type { Lang } from '../runs/report.js';

const DAYS: Record<Lang, string[]> = {
  fr: ['dimanche', 'lundi', 'mardi', 'mercredi', 'jeudi', 'vendredi', 'samedi'],
  en: ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'],
};
const NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

const num = (s: string, min: number, max: number): number | null => {
  if (!/^\d{1,2}$/.test(s)) return null;
  const n = Number(s);
  return n >= min && n <= max ? n : null;
};
const day = (s: string): number | null => {
  const i = NAMES.indexOf(s.toLowerCase());
  if (i >= 0) return i;
  const n = num(s, 0, 7);
  return n === null ? null : n % 7;
};

/** Weekdays of a day-of-week field as ranges [from, to] (Monday-first order kept as written), or null. */
function weekdays(field: string): Array<[number, number]> | null {
  if (field === '*' || field === '?') return [];
  const out: Array<[number, number]> = [];
  for (const part of field.split(',')) {
    const [a, b, ...rest] = part.split('-');
    if (rest.length || a === undefined) return null;
    const from = day(a);
    const to = b === undefined ? from : day(b);
    if (from === null || to === null) return null;
    out.push([from, to]);
  }
  return out;
}

const list = (items: string[], lang: Lang) => (items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} ${lang === 'fr' ? 'et' : 'and'} ${items.at(-1)}`);

function daysWords(ranges: Array<[number, number]>, lang: Lang): string | null {
  const d = DAYS[lang];
  if (!ranges.length) return lang === 'fr' ? 'tous les jours' : 'every day';
  if (ranges.length === 1) {
    const [a, b] = ranges[0]!;
    if (a === b) return lang === 'fr' ? `le ${d[a]}` : `every ${d[a]}`;
    // 0-6 (or 1-7) is every day; a range that wraps (5-1) is not phrased.
    const span = (b === 0 ? 7 : b) - a;
    if (span === 6) return lang === 'fr' ? 'tous les jours' : 'every day';
    if (span < 1) return null;
    return lang === 'fr' ? `du ${d[a]} au ${d[b]}` : `${d[a]} to ${d[b]}`;
  }
  const parts: string[] = [];
  for (const [a, b] of ranges) {
    if (a === b) parts.push(d[a]!);
    else return null;
  }
  return lang === 'fr' ? `les ${list(parts, lang)}` : `on ${list(parts, lang)}`;
}

const MONTHS: Record<Lang, string[]> = {
  fr: ['janvier', 'février', 'mars', 'avril', 'mai', 'juin', 'juillet', 'août', 'septembre', 'octobre', 'novembre', 'décembre'],
  en: ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'],
};

/** A fixed day of a fixed month ("le 6 décembre" / "on 6 December"); undefined: not that shape; null: that shape, not phrased. */
function dateWords(domF: string, monF: string, dowF: string, lang: Lang): string | null | undefined {
  if (domF === '*' || domF === '?' || monF === '*') return undefined;
  const d = num(domF, 1, 31);
  const m = num(monF, 1, 12);
  if (d === null || m === null || (dowF !== '*' && dowF !== '?')) return null;
  return lang === 'fr' ? `le ${d === 1 ? '1er' : d} ${MONTHS.fr[m - 1]}` : `on ${d} ${MONTHS.en[m - 1]}`;
}

/** The cron in words, or the raw expression when it has a shape this does not phrase. */
export function cronWords(cron: string, lang: Lang): string {
  const raw = cron.trim();
  const f = raw.split(/\s+/);
  if (f.length !== 5) return raw;
  const [minF, hourF, domF, monF, dowF] = f as [string, string, string, string, string];
  const minute = num(minF, 0, 59);
  if (minute === null) return raw;
  const date = dateWords(domF, monF, dowF, lang);
  if (date !== undefined) {
    const hour = num(hourF, 0, 23);
    if (date === null || hour === null) return raw;
    return `${date} ${lang === 'fr' ? 'à' : 'at'} ${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}`;
  }
  if ((domF !== '*' && domF !== '?') || monF !== '*') return raw;
  const ranges = weekdays(dowF);
  if (!ranges) return raw;
  const days = daysWords(ranges, lang);
  if (!days) return raw;
  const mm = String(minute).padStart(2, '0');
  let when: string;
  if (hourF === '*') {
    when = lang === 'fr' ? `toutes les heures à la minute ${minute}` : `every hour at minute ${minute}`;
  } else {
    const hours = hourF.split(',').map((h) => num(h, 0, 23));
    if (hours.some((h) => h === null)) return raw;
    const times = hours.map((h) => `${String(h).padStart(2, '0')}:${mm}`);
    when = `${lang === 'fr' ? 'à' : 'at'} ${list(times, lang)}`;
  }
  return `${days} ${when}`;
}

/** Both languages at once (what the API answers). */
export const cronBoth = (cron: string) => ({ fr: cronWords(cron, 'fr'), en: cronWords(cron, 'en') });
