// A small typed i18n: the French and English catalogues, `translate` with {placeholders} and plurals
// (Intl.PluralRules on the `count` parameter), and dates and durations in words in the school's time
// zone (Intl.DateTimeFormat / RelativeTimeFormat). French is the default; the choice is remembered
// in localStorage. React components use it through useI18n() (./react.tsx).
import { en } from './en.js';
import { fr } from './fr.js';

export type Lang = 'fr' | 'en';
export const LANGS: readonly Lang[] = ['fr', 'en'];
export type Plural = Partial<Record<Intl.LDMLPluralRule, string>> & { other: string };
export type Message = string | Plural;
export type MessageKey = keyof typeof fr;
export type Catalogue = Record<MessageKey, Message>;
export type Params = Record<string, string | number>;

export const CATALOGUES: Record<Lang, Catalogue> = { fr, en };
const STORAGE_KEY = 'roomcast.lang';
/** localStorage when there is one (this module is also loaded by Node tests). */
const storage = () => (globalThis as { localStorage?: { getItem(k: string): string | null; setItem(k: string, v: string): void } }).localStorage;

/** The school's time zone: the server's (ROOMCAST_TIME_ZONE, told with the session, ../session.ts); Europe/Paris until it is known. */
let timeZone = 'Europe/Paris';
export const setTimeZone = (tz: string) => void (timeZone = tz);
export const getTimeZone = () => timeZone;

export function storedLang(): Lang {
  try {
    const v = storage()?.getItem(STORAGE_KEY);
    return v === 'en' || v === 'fr' ? v : 'fr';
  } catch {
    return 'fr';
  }
}

export function storeLang(lang: Lang): void {
  try {
    storage()?.setItem(STORAGE_KEY, lang);
  } catch {
    // private mode: the choice lasts for this page only
  }
}

const plurals = new Map<Lang, Intl.PluralRules>();
const pluralOf = (lang: Lang) => plurals.get(lang) ?? plurals.set(lang, new Intl.PluralRules(lang)).get(lang)!;

export function translate(lang: Lang, key: MessageKey, params: Params = {}): string {
  const msg = CATALOGUES[lang][key] ?? CATALOGUES.fr[key] ?? key;
  let text: string;
  if (typeof msg === 'string') text = msg;
  else {
    const n = typeof params.count === 'number' ? params.count : Number(params.count ?? 0);
    text = msg[pluralOf(lang).select(n)] ?? msg.other;
  }
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const v = params[name];
    if (v === undefined) return whole;
    return typeof v === 'number' ? new Intl.NumberFormat(lang).format(v) : v;
  });
}

/** The {placeholders} of a message (every plural form's), sorted: the catalogue test compares them. */
export function placeholders(msg: Message): string[] {
  const texts = typeof msg === 'string' ? [msg] : Object.values(msg);
  return [...new Set(texts.flatMap((s) => [...(s ?? '').matchAll(/\{(\w+)\}/g)].map((m) => m[1]!)))].sort();
}

export function formatDateTime(lang: Lang, iso: string | Date): string {
  return new Intl.DateTimeFormat(lang, { timeZone, dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
}

export function formatDate(lang: Lang, iso: string | Date): string {
  return new Intl.DateTimeFormat(lang, { timeZone, dateStyle: 'medium' }).format(new Date(iso));
}

const UNITS: Array<[Intl.RelativeTimeFormatUnit, number]> = [
  ['year', 365 * 86400],
  ['month', 30 * 86400],
  ['week', 7 * 86400],
  ['day', 86400],
  ['hour', 3600],
  ['minute', 60],
  ['second', 1],
];

/** "il y a 3 min", "dans 2 heures", "hier": relative to `now`. */
export function formatRelative(lang: Lang, iso: string | Date, now: Date = new Date()): string {
  const seconds = (new Date(iso).getTime() - now.getTime()) / 1000;
  const rtf = new Intl.RelativeTimeFormat(lang, { numeric: 'auto', style: 'short' });
  if (Math.abs(seconds) < 45) return rtf.format(0, 'second');
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === 'second') return rtf.format(Math.round(seconds / size), unit);
  }
  return rtf.format(0, 'second');
}

/** A duration in words: "3 min", "1 h 20 min", "40 s". */
export function formatDuration(lang: Lang, seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const unit = (value: number, u: 'hour' | 'minute' | 'second') => new Intl.NumberFormat(lang, { style: 'unit', unit: u, unitDisplay: 'short' }).format(value);
  if (s < 60) return unit(s, 'second');
  const total = Math.round(s / 60); // minutes first, so that 3599 s is "1 h 0 min", never "60 min"
  const h = Math.floor(total / 60);
  const m = total % 60;
  return h > 0 ? `${unit(h, 'hour')} ${unit(m, 'minute')}` : unit(m, 'minute');
}
