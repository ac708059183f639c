// Start a capture (technician): one PC's disk into a new version of an image, at its next network
// boot (POST /api/v1/tasks, kind capture). The PC is fixed (PC page) or chosen (images page); so is the image.
import { useQueryClient } from '@tanstack/react-query';
import { useId, useState, type FormEvent } from 'react';
import { useHosts } from '../api/admin.js';
import { api, call, type Host } from '../api/client.js';
import { keys, useImages } from '../api/queries.js';
import { useI18n } from '../i18n/react.js';
import { Problem } from './Problem.js';

export function CaptureForm({ host, imageId: fixedImage }: { host?: Host; imageId?: number }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const uid = useId();
  const images = useImages();
  const allHosts = useHosts('all');
  const [imageId, setImageId] = useState(fixedImage ? String(fixedImage) : '');
  const [hostId, setHostId] = useState(host ? String(host.id) : '');
  const [notes, setNotes] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [queued, setQueued] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const list = images.data ?? [];
  const chosenImage = list.find((i) => String(i.id) === (imageId || String(list[0]?.id ?? '')));
  const chosenHost = host ?? allHosts.data?.find((h) => String(h.id) === hostId);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!chosenImage || !chosenHost) return;
    setBusy(true);
    setError(null);
    try {
      await call(api.POST('/api/v1/tasks', { body: { kind: 'capture', hostIds: [chosenHost.id], imageId: chosenImage.id, notes: notes.trim() || null } }));
      setQueued(chosenHost.name);
      setNotes('');
      await qc.invalidateQueries({ queryKey: keys.hostTasks(chosenHost.id) });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  if (images.data && list.length === 0) return <p>{t('pc.noImages')}</p>;
  return (
    <form className="stack" onSubmit={(e) => void submit(e)} aria-label={t('pc.capture')}>
      {!host && (
        <label>
          {t('img.capturePc')}
          <select value={hostId} onChange={(e) => setHostId(e.target.value)} required>
            <option value="">{t('img.choosePc')}</option>
            {(allHosts.data ?? []).map((h) => (
              <option key={h.id} value={h.id}>
                {h.room ? `${h.name} (${h.room})` : h.name}
              </option>
            ))}
          </select>
        </label>
      )}
      {fixedImage === undefined && (
        <label>
          {t('pc.captureImage')}
          <select value={chosenImage ? String(chosenImage.id) : ''} onChange={(e) => setImageId(e.target.value)}>
            {list.map((i) => (
              <option key={i.id} value={i.id}>
                {i.name}
              </option>
            ))}
          </select>
        </label>
      )}
      <label htmlFor={`${uid}-notes`}>{t('pc.captureNotes')}</label>
      <textarea id={`${uid}-notes`} value={notes} maxLength={2000} rows={2} onChange={(e) => setNotes(e.target.value)} />
      {chosenImage && chosenHost && <p className="meta">{t('pc.captureConfirm', { name: chosenHost.name, image: chosenImage.name })}</p>}
      <div className="actions">
        <button type="submit" disabled={busy || !chosenImage || !chosenHost}>
          {t('pc.captureStart')}
        </button>
      </div>
      {queued && (
        <p className="notice" role="status">
          {t('pc.captureQueued', { name: queued })}
        </p>
      )}
      {error !== null && <Problem error={error} />}
    </form>
  );
}
