// The restore dialog of a room: choose the image version and options, then a confirmation that names
// how many PCs, and which, will be erased, and how long it should take; *now* starts the run (POST
// /api/v1/runs), a schedule (tonight, weekday nights, Friday nights, a cron) creates one (POST
// /api/v1/schedules) after showing it back in words.
import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api, call, type Host, type Run } from '../api/client.js';
import { keys, useImages } from '../api/queries.js';
import { runKeys } from '../api/runs-queries.js';
import { getTimeZone } from '../i18n/index.js';
import { useI18n } from '../i18n/react.js';
import { ErrorMessage } from './ErrorMessage.js';
import { cronOf, EstimateLine, ScheduleWords, WHEN_DEFAULT, WhenFields, windowStartOf, type WhenChoice } from './WhenFields.js';

export interface RestoreTarget {
  roomId: number;
  roomName: string;
  /** The PCs to erase; `whole`: the whole room (hostIds not sent). */
  hosts: Host[];
  whole: boolean;
  defaultImageId: number | null;
  /** The version the room is set to use, for defaultImageId (null: the newest ready). */
  defaultVersion?: number | null;
}

export function RestoreDialog({ target, onClose, onStarted, onScheduled }: { target: RestoreTarget; onClose: () => void; onStarted: (run: Run) => void; onScheduled?: () => void }) {
  const { t, dateTime } = useI18n();
  const qc = useQueryClient();
  const ref = useRef<HTMLDialogElement>(null);
  const images = useImages();
  const restorable = (images.data ?? []).filter((i) => i.latestReady !== null);
  const [imageId, setImageId] = useState<number | null>(null);
  const [picked, setVersion] = useState(target.defaultVersion != null ? String(target.defaultVersion) : '');
  const [powerOff, setPowerOff] = useState(true);
  const [when, setWhen] = useState<WhenChoice>(WHEN_DEFAULT);
  const [cron, setCron] = useState<string | null>(null);
  const [step, setStep] = useState<'form' | 'confirm'>('form');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    const d = ref.current;
    // Removing the element on unmount closes it; closing it here would fire its close event again.
    if (d && !d.open) d.showModal();
  }, []);

  const chosenId = imageId ?? (restorable.some((i) => i.id === target.defaultImageId) ? target.defaultImageId : (restorable[0]?.id ?? null));
  const image = restorable.find((i) => i.id === chosenId);
  const versions = (image?.versions ?? []).filter((v) => v.restorable);
  // The room's version preselected, while it is one of this image's restorable ones.
  const version = picked !== '' && !versions.some((v) => String(v.number) === picked) ? '' : picked;
  const versionNumber = version === '' ? (image?.latestReady ?? 0) : Number(version);
  const count = target.hosts.length;

  const schedule = async () => {
    if (!image || cron === null) return;
    setBusy(true);
    setError(null);
    try {
      await call(
        api.POST('/api/v1/schedules', {
          body: {
            roomId: target.roomId,
            imageId: image.id,
            version: version === '' ? null : Number(version),
            cron,
            timeZone: getTimeZone(),
            windowStart: windowStartOf(cron),
            windowEnd: when.windowEnd,
            options: powerOff ? {} : { steps: ['wake', 'restore', 'verify'] },
            once: when.when === 'tonight',
          },
        }),
      );
      await qc.invalidateQueries({ queryKey: runKeys.schedules(target.roomId) });
      (onScheduled ?? onClose)();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  const start = async () => {
    if (!image) return;
    setBusy(true);
    setError(null);
    try {
      const run = await call(
        api.POST('/api/v1/runs', {
          body: {
            roomId: target.roomId,
            ...(target.whole ? {} : { hostIds: target.hosts.map((h) => h.id) }),
            imageId: image.id,
            ...(version === '' ? {} : { version: Number(version) }),
            ...(powerOff ? {} : { steps: ['wake', 'restore', 'verify'] }),
          },
        }),
      );
      qc.setQueryData(keys.run(run.id), run);
      await qc.invalidateQueries({ queryKey: keys.latestRun(target.roomId) });
      onStarted(run);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  const next = (e: FormEvent) => {
    e.preventDefault();
    if (!image) return;
    setCron(cronOf(when));
    setError(null);
    setStep('confirm');
  };

  const title = t('restore.title', { target: target.whole ? target.roomName : t('room.selected', { count }) });
  return (
    <dialog ref={ref} aria-labelledby="restore-title" onCancel={(e) => (busy ? e.preventDefault() : onClose())} onClose={onClose} data-testid="restore-dialog">
      <h2 id="restore-title">{step === 'form' ? title : t('restore.confirmTitle')}</h2>
      {images.isError && <ErrorMessage error={images.error} onRetry={() => void images.refetch()} />}
      {images.isPending && <p role="status">{t('app.loading')}</p>}
      {images.data && !image && (
        <>
          <p className="error">{t('restore.noImage')}</p>
          <button type="button" className="secondary" onClick={onClose}>
            {t('app.close')}
          </button>
        </>
      )}
      {step === 'form' && image && (
        <form className="stack" onSubmit={next}>
          <label>
            {t('restore.image')}
            <select value={image.id} onChange={(e) => {
                setImageId(Number(e.target.value));
                setVersion('');
              }}>
              {restorable.map((i) => (
                <option key={i.id} value={i.id}>
                  {i.name}
                </option>
              ))}
            </select>
          </label>
          <label>
            {t('restore.version')}
            <select value={version} onChange={(e) => setVersion(e.target.value)}>
              <option value="">{t('restore.latest', { version: image.latestReady ?? 0 })}</option>
              {versions.map((v) => (
                <option key={v.id} value={String(v.number)}>
                  {t('restore.versionItem', { version: v.number, date: dateTime(v.createdAt) })}
                </option>
              ))}
            </select>
          </label>
          <label className="check">
            <input type="checkbox" checked={powerOff} onChange={(e) => setPowerOff(e.target.checked)} />
            {t('restore.powerOff')}
          </label>
          <WhenFields value={when} onChange={setWhen} wholeRoom={target.whole} />
          <div className="actions">
            <button type="submit">{t('restore.next')}</button>
            <button type="button" className="secondary" onClick={onClose}>
              {t('app.cancel')}
            </button>
          </div>
        </form>
      )}
      {step === 'confirm' && image && (
        <div className="stack">
          {cron === null ? (
            <p>{t('restore.confirmText', { count, image: image.name, version: versionNumber })}</p>
          ) : (
            <>
              <ScheduleWords cron={cron} windowEnd={when.windowEnd} />
              <p>{t('when.scheduledText', { count, image: image.name, version: version === '' ? t('when.latestVersion') : `v${version}` })}</p>
            </>
          )}
          <ul className="erase-list" data-testid="erase-list">
            {target.hosts.map((h) => (
              <li key={h.id}>{h.name}</li>
            ))}
          </ul>
          <EstimateLine imageId={image.id} version={version === '' ? null : Number(version)} pcs={count} />
          {error !== null && <ErrorMessage error={error} />}
          <div className="actions">
            {cron === null ? (
              <button type="button" className="danger" disabled={busy} onClick={() => void start()}>
                {busy ? t('restore.busy') : t('restore.confirm', { count })}
              </button>
            ) : (
              <button type="button" className="danger" disabled={busy} onClick={() => void schedule()}>
                {busy ? t('when.busySchedule') : t('when.confirmSchedule')}
              </button>
            )}
            <button type="button" className="secondary" onClick={() => setStep('form')} disabled={busy}>
              {t('app.back')}
            </button>
          </div>
        </div>
      )}
    </dialog>
  );
}
