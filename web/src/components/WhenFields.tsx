// The "when" of a restore: now, or a schedule (tonight once, every weekday night, every Friday night,
// a custom cron) with the end of its window; and, for the confirmation, the schedule said back in
// words by the server (GET /api/v1/schedules/words) with its next instant, and the run's estimate.
import { useCronWords, useEstimate } from '../api/runs-queries.js';
import { getTimeZone } from '../i18n/index.js';
import { useI18n } from '../i18n/react.js';
import { atWords, pastHour, tonightCron } from '../i18n/when.js';
import { ErrorMessage } from './ErrorMessage.js';

export type When = 'now' | 'tonight' | 'weekdays' | 'fridays' | 'custom';
export interface WhenChoice {
  when: When;
  cron: string;
  windowEnd: string;
}
export const WHEN_DEFAULT: WhenChoice = { when: 'now', cron: '0 22 * * 1-5', windowEnd: '06:00' };

/** The cron a choice stands for (null: now). */
export function cronOf(c: WhenChoice, now = new Date()): string | null {
  switch (c.when) {
    case 'now':
      return null;
    case 'tonight':
      return tonightCron(now);
    case 'weekdays':
      return '0 22 * * 1-5';
    case 'fridays':
      return '0 22 * * 5';
    case 'custom':
      return c.cron.trim();
  }
}

/** Where the window opens: the cron's own time when it has a plain one, else 22:00. */
export function windowStartOf(cron: string): string {
  const [m, h] = cron.trim().split(/\s+/);
  const pad = (s: string) => s.padStart(2, '0');
  return m && h && /^\d{1,2}$/.test(m) && /^\d{1,2}$/.test(h) && Number(h) < 24 && Number(m) < 60 ? `${pad(h)}:${pad(m)}` : '22:00';
}

const OPTIONS: When[] = ['now', 'tonight', 'weekdays', 'fridays', 'custom'];

export function WhenFields({ value, onChange, wholeRoom }: { value: WhenChoice; onChange: (v: WhenChoice) => void; wholeRoom: boolean }) {
  const { t } = useI18n();
  const label = (w: When) => (w === 'now' ? t('restore.now') : t(`when.${w}`));
  const late = pastHour(22);
  return (
    <>
      <fieldset>
        <legend>{t('restore.when')}</legend>
        {OPTIONS.map((w) => (
          <label className="check" key={w}>
            <input type="radio" name="when" value={w} checked={value.when === w} disabled={(w !== 'now' && !wholeRoom) || (w === 'tonight' && late)} onChange={() => onChange({ ...value, when: w })} />
            {label(w)}
          </label>
        ))}
        {!wholeRoom && <p className="meta">{t('when.wholeRoomOnly')}</p>}
        {wholeRoom && late && <p className="meta">{t('when.tonightPast')}</p>}
      </fieldset>
      {value.when === 'custom' && (
        <label>
          {t('when.cron')}
          <input type="text" value={value.cron} onChange={(e) => onChange({ ...value, cron: e.target.value })} spellCheck={false} autoCapitalize="off" aria-describedby="cron-help" required />
          <span id="cron-help" className="meta">
            {t('when.cronHelp')}
          </span>
        </label>
      )}
      {value.when !== 'now' && (
        <label>
          {t('when.windowEnd')}
          <input type="time" value={value.windowEnd} onChange={(e) => onChange({ ...value, windowEnd: e.target.value })} aria-describedby="window-help" required />
          <span id="window-help" className="meta">
            {t('when.windowHelp')}
          </span>
        </label>
      )}
    </>
  );
}

/** The schedule in the server's words, in the current language, with its next instant. */
export function ScheduleWords({ cron, windowEnd }: { cron: string; windowEnd: string }) {
  const { t, lang } = useI18n();
  const tz = getTimeZone();
  const words = useCronWords(cron, tz, true);
  if (words.isPending) return <p role="status">{t('app.loading')}</p>;
  if (words.isError) return <ErrorMessage error={words.error} />;
  const next = words.data.next[0];
  return (
    <div data-testid="schedule-words">
      <p>
        <strong>{t('when.scheduled', { words: words.data.words[lang], start: windowStartOf(cron), end: windowEnd, zone: tz })}</strong>
      </p>
      {next && <p>{t('when.nextAt', { when: atWords(lang, next) })}</p>}
    </div>
  );
}

/** How long the run should take (the server's estimate), in words. */
export function EstimateLine({ imageId, version, pcs }: { imageId: number; version: number | null; pcs: number }) {
  const { t, duration } = useI18n();
  const e = useEstimate(imageId, version, pcs);
  if (e.isPending) return <p role="status">{t('app.loading')}</p>;
  if (e.isError) return <p className="meta">{t('estimate.unavailable')}</p>;
  return (
    <p data-testid="estimate">
      {t('estimate.text', { duration: duration(e.data.seconds), per: duration(e.data.perPcSeconds) })} {e.data.waves > 1 && t('estimate.waves', { count: e.data.waves })} <span className="meta">{t(`estimate.${e.data.basis}`)}</span>
    </p>
  );
}
