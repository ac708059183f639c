// A room's scheduled restores, each in words in the current language with its window and its next
// instant ("ce soir à 22:00"); a technician turns one on or off, or deletes it (a viewer sees no
// buttons). Live through useRoomRunsLive (api/runs-live.ts), called by the room page.
import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api, call } from '../api/client.js';
import { useImages } from '../api/queries.js';
import { runKeys, useRoomSchedules, type Schedule } from '../api/runs-queries.js';
import { useI18n } from '../i18n/react.js';
import { atWords } from '../i18n/when.js';
import { Confirm } from './Confirm.js';
import { ErrorMessage } from './ErrorMessage.js';

function ScheduleItem({ s, canEdit, images }: { s: Schedule; canEdit: boolean; images: Map<number, string> }) {
  const { t, lang } = useI18n();
  const qc = useQueryClient();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const words = s.words[lang];
  const act = async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
      await qc.invalidateQueries({ queryKey: runKeys.schedules(s.roomId) });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const id = { params: { path: { id: String(s.id) } } };
  const toggle = () => act(() => call(api.PATCH('/api/v1/schedules/{id}', { ...id, body: { enabled: !s.enabled } })));
  const [asking, setAsking] = useState(false);
  const remove = () => {
    setAsking(false);
    void act(() => call(api.DELETE('/api/v1/schedules/{id}', id)));
  };
  const version = s.version === null ? t('schedules.latest') : t('schedules.version', { version: s.version });
  return (
    <li className="card" data-testid="schedule" data-enabled={s.enabled}>
      <p>
        <strong>{t('schedules.item', { words, image: images.get(s.imageId) ?? `#${s.imageId}`, version })}</strong>
      </p>
      <p className="meta">
        <span className={`state ${s.enabled ? 'state-done' : 'state-cancelled'}`}>
          <span aria-hidden="true">{s.enabled ? '✔' : '○'}</span> {s.enabled ? t('schedules.enabled') : t('schedules.disabled')}
        </span>{' '}
        {s.once && <> · {t('schedules.once')}</>} · {t('schedules.window', { start: s.window.start, end: s.window.end })}
        {s.enabled && s.next[0] && <> · {t('schedules.next', { when: atWords(lang, s.next[0]) })}</>}
      </p>
      {error !== null && <ErrorMessage error={error} />}
      {canEdit && (
        <div className="actions">
          {/* A one-off that is off has run (or was stopped): it is not turned on again (the server refuses it a year later); make a new one. */}
          {!(s.once && !s.enabled) && (
            <button type="button" className="secondary" disabled={busy} onClick={() => void toggle()} aria-label={`${s.enabled ? t('schedules.disable') : t('schedules.enable')} — ${words}`}>
              {s.enabled ? t('schedules.disable') : t('schedules.enable')}
            </button>
          )}
          <button type="button" className="secondary" disabled={busy || asking} onClick={() => setAsking(true)} aria-label={`${t('schedules.delete')} — ${words}`}>
            {t('schedules.delete')}
          </button>
        </div>
      )}
      {asking && <Confirm text={t('schedules.deleteConfirm', { words })} action={t('schedules.delete')} busy={busy} onConfirm={remove} onCancel={() => setAsking(false)} />}
    </li>
  );
}

export function RoomSchedules({ roomId, canEdit }: { roomId: number; canEdit: boolean }) {
  const { t } = useI18n();
  const schedules = useRoomSchedules(roomId);
  // The images' names, only once there is a schedule to name one (the room page's first render does not wait for them).
  const imageList = useImages((schedules.data?.length ?? 0) > 0);
  const images = new Map((imageList.data ?? []).map((i) => [i.id, i.name]));
  return (
    <section aria-labelledby="schedules-title">
      <h2 id="schedules-title">{t('schedules.title')}</h2>
      {schedules.isError && <ErrorMessage error={schedules.error} onRetry={() => void schedules.refetch()} />}
      {schedules.data?.length === 0 && <p>{t('schedules.none')}</p>}
      {schedules.data && schedules.data.length > 0 && (
        <ul className="cards" data-testid="schedules">
          {schedules.data.map((s) => (
            <ScheduleItem key={s.id} s={s} canEdit={canEdit} images={images} />
          ))}
        </ul>
      )}
    </section>
  );
}
