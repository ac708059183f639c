// Images: each image with its versions (size, date, author, notes, state, its Windows and whether it was generalized; a damaged one says what to
// do), verify a version, edit its notes, start a capture from a reference PC (technician), create an
// image, its Windows answer file with a preview for a PC (technician, components/AnswerFile.tsx), the
// driver packs (components/DriverPacks.tsx), and the garbage collection with a confirmation (admin).
import { useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { formatBytes, useHasRole, type ImageVersion } from '../api/admin.js';
import { api, call, type Image } from '../api/client.js';
import { keys, useImages } from '../api/queries.js';
import { AnswerFile } from '../components/AnswerFile.js';
import { CaptureForm } from '../components/CaptureForm.js';
import { Confirm } from '../components/Confirm.js';
import { DriverPacks } from '../components/DriverPacks.js';
import { ErrorMessage } from '../components/ErrorMessage.js';
import { UseForRoom } from '../components/UseForRoom.js';
import { Problem } from '../components/Problem.js';
import { useI18n, useTitle } from '../i18n/react.js';
import { ServerText } from '../components/ServerText.js';
import { useWho } from '../who.js';

const V_ICONS: Record<ImageVersion['state'], string> = { capturing: '◷', ready: '✔', damaged: '⚠', failed: '✖', deleted: '⊘' };

type WindowsFacts = NonNullable<ImageVersion['windows']>[number];
const GENERALIZED = { yes: 'img.genYes', no: 'img.genNo', unknown: 'img.genUnknown' } as const;

/** What the capture read of the version's Windows: edition, build, generalized or not (issue 15). */
function WindowsFactsText({ windows }: { windows: ImageVersion['windows'] }) {
  const { t } = useI18n();
  if (windows === null) return <>{t('img.windowsUnread')}</>;
  if (windows.length === 0) return <>{t('img.windowsNone')}</>;
  return (
    <>
      {windows.map((w: WindowsFacts) => (
        <div key={w.partition}>
          {[w.productName, w.editionId && `(${w.editionId})`, w.displayVersion, w.build && t('img.windowsBuild', { build: w.build })].filter(Boolean).join(' ') || t('img.windows')}
          {' — '}
          <span className={w.generalized === 'no' ? 'error' : undefined}>{t(GENERALIZED[w.generalized], { reason: w.imageState ?? w.reason })}</span>
        </div>
      ))}
    </>
  );
}

function VersionRow({ image, v, technician }: { image: Image; v: ImageVersion; technician: boolean }) {
  const { t, lang, dateTime } = useI18n();
  const who = useWho();
  const qc = useQueryClient();
  const [editing, setEditing] = useState(false);
  const [notes, setNotes] = useState(v.notes ?? '');
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const path = { id: String(image.id), number: String(v.number) };

  const verify = async () => {
    setBusy(true);
    setError(null);
    setOutcome(null);
    try {
      const r = await call(api.POST('/api/v1/images/{id}/versions/{number}/verify', { params: { path } }));
      setOutcome(r.ok ? t('img.verifyOk', { version: v.number, count: r.checked }) : t('img.verifyBad', { version: v.number, bad: r.bad.length, count: r.checked }));
      await qc.invalidateQueries({ queryKey: keys.images });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const save = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await call(api.PATCH('/api/v1/images/{id}/versions/{number}', { params: { path }, body: { notes: notes.trim() || null } }));
      setEditing(false);
      await qc.invalidateQueries({ queryKey: keys.images });
    } catch (err) {
      setError(err);
    }
  };
  const canVerify = v.state === 'ready' || v.state === 'damaged';
  return (
    <li className="version" data-testid="version" data-state={v.state}>
      <h3>
        v{v.number}{' '}
        <span className={`state vstate-${v.state}`}>
          <span aria-hidden="true">{V_ICONS[v.state]}</span> {t(`img.vstate.${v.state}`)}
        </span>
      </h3>
      {v.state === 'damaged' && <p className="error">{t('img.damagedHelp')}</p>}
      {(v.state === 'damaged' || v.state === 'failed') && v.error && (
        <p className="meta">
          <ServerText text={v.error} />
        </p>
      )}
      <dl className="facts">
        <div>
          <dt>{t('img.size')}</dt>
          <dd>{t('img.sizeText', { used: formatBytes(lang, v.usedBytes), disk: formatBytes(lang, v.diskBytes), stored: formatBytes(lang, v.storedBytes) })}</dd>
        </div>
        <div>
          <dt>{t('img.date')}</dt>
          <dd>
            {dateTime(v.publishedAt ?? v.createdAt)}
            {v.sourceHost && <span className="meta"> — {t('img.source', { pc: v.sourceHost })}</span>}
          </dd>
        </div>
        <div>
          <dt>{t('img.author')}</dt>
          <dd>{who(v.createdBy)}</dd>
        </div>
        <div>
          <dt>{t('img.windows')}</dt>
          <dd>
            <WindowsFactsText windows={v.windows} />
          </dd>
        </div>
        <div>
          <dt>{t('img.notes')}</dt>
          <dd>{v.notes ?? t('common.none')}</dd>
        </div>
      </dl>
      {editing && (
        <form className="stack" onSubmit={(e) => void save(e)}>
          <label>
            {t('img.notesOf', { version: v.number })}
            <textarea value={notes} maxLength={2000} rows={2} onChange={(e) => setNotes(e.target.value)} />
          </label>
          <div className="actions">
            <button type="submit">{t('common.save')}</button>
            <button type="button" className="secondary" onClick={() => setEditing(false)}>
              {t('app.cancel')}
            </button>
          </div>
        </form>
      )}
      {technician && (
        <div className="actions">
          {canVerify && (
            <button type="button" className="secondary" disabled={busy} onClick={() => void verify()}>
              {busy ? t('img.verifying') : t('img.verify', { version: v.number })}
            </button>
          )}
          {!editing && v.state !== 'deleted' && (
            <button type="button" className="secondary" onClick={() => setEditing(true)}>
              {t('img.editNotes', { version: v.number })}
            </button>
          )}
        </div>
      )}
      {outcome && <p role="status">{outcome}</p>}
      {error !== null && <Problem error={error} />}
      {v.state === 'ready' && <UseForRoom image={image} version={v.number} technician={technician} />}
    </li>
  );
}

function ImageCard({ image, technician }: { image: Image; technician: boolean }) {
  const { t } = useI18n();
  const versions = image.versions.filter((v) => v.state !== 'deleted');
  return (
    <section className="card" aria-labelledby={`image-${image.id}`} data-testid="image">
      <h2 id={`image-${image.id}`}>{image.name}</h2>
      {image.description && <p className="meta">{image.description}</p>}
      {versions.length === 0 ? (
        <p>{t('img.noVersions')}</p>
      ) : (
        <ul className="versions" aria-label={t('img.versions', { name: image.name })}>
          {versions.map((v) => (
            <VersionRow key={v.id} image={image} v={v} technician={technician} />
          ))}
        </ul>
      )}
      {technician && <AnswerFile image={image} />}
    </section>
  );
}

function NewImage() {
  const { t } = useI18n();
  const qc = useQueryClient();
  const [name, setName] = useState('');
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await call(api.POST('/api/v1/images', { body: { name: name.trim() } }));
      setName('');
      await qc.invalidateQueries({ queryKey: keys.images });
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form className="stack" onSubmit={(e) => void submit(e)} aria-label={t('img.create')}>
      <label>
        {t('img.name')}
        <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={200} />
      </label>
      <div className="actions">
        <button type="submit">{t('img.createBtn')}</button>
      </div>
      {error !== null && <Problem error={error} />}
    </form>
  );
}

function GarbageCollection() {
  const { t, lang } = useI18n();
  const [confirming, setConfirming] = useState(false);
  const [result, setResult] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      const r = await call(api.POST('/api/v1/images/gc'));
      setResult(t('img.gcDone', { freed: formatBytes(lang, r.freedBytes), chunks: r.removedChunks }));
      setConfirming(false);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="gc-title">
      <h2 id="gc-title">{t('img.gc')}</h2>
      <p className="meta">{t('img.gcHelp')}</p>
      {confirming ? (
        <Confirm text={t('img.gcConfirm')} action={t('img.gc')} busy={busy} onConfirm={() => void run()} onCancel={() => setConfirming(false)} />
      ) : (
        <button type="button" className="secondary" onClick={() => setConfirming(true)}>
          {t('img.gc')}…
        </button>
      )}
      {result && <p role="status">{result}</p>}
      {error !== null && <Problem error={error} />}
    </section>
  );
}

export function ImagesPage() {
  const { t } = useI18n();
  useTitle(t('img.title'));
  const images = useImages();
  const technician = useHasRole('technician');
  const admin = useHasRole('admin');
  return (
    <section>
      <h1>{t('img.title')}</h1>
      {images.isPending && <p role="status">{t('app.loading')}</p>}
      {images.isError && <ErrorMessage error={images.error} onRetry={() => void images.refetch()} />}
      {images.data?.length === 0 && <p>{t('img.empty')}</p>}
      <div className="stack">
        {images.data?.map((i) => (
          <ImageCard key={i.id} image={i} technician={technician} />
        ))}
      </div>
      {technician && images.data && images.data.length > 0 && (
        <section aria-labelledby="capture-title">
          <h2 id="capture-title">{t('img.capture')}</h2>
          <p className="meta">{t('img.captureHelp')}</p>
          <CaptureForm />
        </section>
      )}
      {technician && (
        <section aria-labelledby="new-image-title">
          <h2 id="new-image-title">{t('img.create')}</h2>
          <NewImage />
        </section>
      )}
      <DriverPacks />
      {admin && <GarbageCollection />}
    </section>
  );
}
