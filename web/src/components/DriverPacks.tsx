// Driver packs (a section of the Images page): the list with each pack's rule, size, state, files and
// error; for technicians, the upload of a new pack through the resumable upload API
// (services/drivers/routes.ts: its SHA-256 first, computed here, then the archive in pieces at
// ?offset=N, resumed where the appliance stopped after a lost connection), the resumption of an upload
// left half done, and the deletion with a confirmation.
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { formatBytes, useHasRole } from '../api/admin.js';
import { api, call, NetworkError, type Schemas } from '../api/client.js';
import { useI18n } from '../i18n/react.js';
import { sha256OfFile } from '../sha256.js';
import { Confirm } from './Confirm.js';
import { ErrorMessage } from './ErrorMessage.js';
import { Problem } from './Problem.js';
import { TableWrap } from './TableWrap.js';

type Pack = Schemas['DriverPack'];
const KEY = ['driver-packs'] as const;
const PIECE = 8 << 20;
const ATTEMPTS = 5;

type Progress = { phase: 'hash' | 'upload'; file: string; done: number; total: number; retry: number };

const percent = (done: number, total: number) => (total ? Math.floor((done / total) * 100) : 100);

/** Sends `file` as `pack`'s archive from the bytes the appliance holds; resumes there after a lost connection. */
async function sendArchive(pack: Pack, file: File, progress: (p: Progress) => void): Promise<Pack> {
  const path = { id: String(pack.id) };
  let at = pack.receivedBytes;
  let current = pack;
  let retry = 0;
  let resync = false;
  while (current.state === 'uploading') {
    progress({ phase: 'upload', file: file.name, done: at, total: file.size, retry });
    try {
      if (resync) {
        // Where the appliance stopped (a piece cut off keeps what arrived); itself retried while the appliance is away.
        current = await call(api.GET('/api/v1/driver-packs/{id}', { params: { path } }));
        at = current.receivedBytes;
        resync = false;
        continue;
      }
      const piece = file.slice(at, Math.min(file.size, at + PIECE));
      current = await call(
        api.PUT('/api/v1/driver-packs/{id}/archive', {
          params: { path, query: { offset: String(at) } },
          body: piece as unknown as string,
          bodySerializer: (b: unknown) => b as Blob,
          headers: { 'Content-Type': 'application/octet-stream' },
        }),
      );
      at = current.receivedBytes;
      retry = 0;
    } catch (err) {
      if (!(err instanceof NetworkError) || ++retry > ATTEMPTS) throw err;
      progress({ phase: 'upload', file: file.name, done: at, total: file.size, retry });
      await new Promise((r) => setTimeout(r, 1000 * retry));
      resync = true;
    }
  }
  return current;
}

function ProgressLine({ p }: { p: Progress }) {
  const { t, lang } = useI18n();
  const pc = percent(p.done, p.total);
  return (
    <div role="status" data-testid="driver-pack-progress" data-phase={p.phase}>
      <progress value={p.done} max={p.total || 1} aria-label={p.phase === 'hash' ? t('drv.hashing', { file: p.file, percent: pc }) : t('drv.uploading', { file: p.file, done: formatBytes(lang, p.done), total: formatBytes(lang, p.total), percent: pc })} />{' '}
      {p.retry > 0 ? t('drv.retrying', { attempt: p.retry }) : p.phase === 'hash' ? t('drv.hashing', { file: p.file, percent: pc }) : t('drv.uploading', { file: p.file, done: formatBytes(lang, p.done), total: formatBytes(lang, p.total), percent: pc })}
    </div>
  );
}

function NewPack({ onProgress, busy }: { onProgress: (p: Progress | null) => void; busy: boolean }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const [name, setName] = useState('');
  const [vendor, setVendor] = useState('');
  const [model, setModel] = useState('');
  const [file, setFile] = useState<File | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!file) return;
    setError(null);
    setDone(null);
    try {
      const sha256 = await sha256OfFile(file, (d) => onProgress({ phase: 'hash', file: file.name, done: d, total: file.size, retry: 0 }));
      const pack = await call(api.POST('/api/v1/driver-packs', { body: { name: name.trim(), vendor: vendor.trim(), model: model.trim(), sizeBytes: file.size, sha256 } }));
      await qc.invalidateQueries({ queryKey: KEY });
      const ended = await sendArchive(pack, file, onProgress);
      setDone(t('drv.ready', { name: ended.name, count: ended.files }));
      setName('');
      setVendor('');
      setModel('');
      setFile(null);
      (e.target as HTMLFormElement).reset();
    } catch (err) {
      setError(err);
    } finally {
      onProgress(null);
      await qc.invalidateQueries({ queryKey: KEY });
    }
  };
  return (
    <form className="stack" onSubmit={(e) => void submit(e)} aria-label={t('drv.add')}>
      <label>
        {t('drv.name')}
        <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={80} />
      </label>
      <label>
        {t('drv.vendor')}
        <input value={vendor} onChange={(e) => setVendor(e.target.value)} required maxLength={128} placeholder="LENOVO" />
      </label>
      <label>
        {t('drv.model')}
        <input value={model} onChange={(e) => setModel(e.target.value)} required maxLength={128} placeholder="ThinkCentre M720*" />
      </label>
      <label>
        {t('drv.archive')}
        <input type="file" accept=".tar,.tgz,.gz,application/x-tar,application/gzip" required onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
      </label>
      <div className="actions">
        <button type="submit" disabled={busy || !file}>
          {t('drv.send')}
        </button>
      </div>
      {done && <p role="status">{done}</p>}
      {error !== null && <Problem error={error} />}
    </form>
  );
}

function PackRow({ pack, technician, busy, onProgress, onError, onSay }: { pack: Pack; technician: boolean; busy: boolean; onProgress: (p: Progress | null) => void; onError: (e: unknown) => void; onSay: (text: string | null) => void }) {
  const { t, lang } = useI18n();
  const qc = useQueryClient();
  const [confirming, setConfirming] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const remove = async () => {
    setDeleting(true);
    try {
      await call(api.DELETE('/api/v1/driver-packs/{id}', { params: { path: { id: String(pack.id) } } }));
      setConfirming(false);
      onSay(t('drv.deleted', { name: pack.name }));
    } catch (err) {
      onError(err);
    } finally {
      setDeleting(false);
      await qc.invalidateQueries({ queryKey: KEY });
    }
  };
  // The same file again: checked against the pack's size and SHA-256, then sent from the bytes held.
  const resume = async (file: File) => {
    onError(null);
    onSay(null);
    try {
      const sha = file.size === pack.sizeBytes ? await sha256OfFile(file, (d) => onProgress({ phase: 'hash', file: file.name, done: d, total: file.size, retry: 0 })) : null;
      if (sha !== pack.sha256) return onSay(t('drv.resumeWrongFile'));
      const fresh = await call(api.GET('/api/v1/driver-packs/{id}', { params: { path: { id: String(pack.id) } } }));
      await sendArchive(fresh, file, onProgress);
    } catch (err) {
      onError(err);
    } finally {
      onProgress(null);
      await qc.invalidateQueries({ queryKey: KEY });
    }
  };
  const state = pack.state === 'uploading' ? t('drv.state.uploading', { percent: percent(pack.receivedBytes, pack.sizeBytes) }) : t(`drv.state.${pack.state}`);
  return (
    <tr data-testid="driver-pack" data-state={pack.state}>
      <th scope="row">{pack.name}</th>
      <td data-label={t('drv.vendor')}>{pack.vendor}</td>
      <td data-label={t('drv.model')}>{pack.model}</td>
      <td data-label={t('drv.size')}>{formatBytes(lang, pack.sizeBytes)}</td>
      <td data-label={t('drv.state')}>{state}</td>
      <td data-label={t('drv.files')}>{pack.state === 'ready' ? pack.files : '—'}</td>
      <td data-label={t('drv.error')}>{pack.error ?? '—'}</td>
      {technician && (
        <td data-label={t('drv.actions')}>
          {confirming ? (
            <Confirm text={t('drv.deleteConfirm', { name: pack.name })} action={t('drv.deleteBtn')} busy={deleting} onConfirm={() => void remove()} onCancel={() => setConfirming(false)} />
          ) : (
            <div className="actions">
              {pack.state === 'uploading' && (
                <label>
                  {t('drv.resume', { name: pack.name })}
                  <input type="file" disabled={busy} onChange={(e) => e.target.files?.[0] && void resume(e.target.files[0])} />
                </label>
              )}
              <button type="button" className="danger" disabled={busy} onClick={() => setConfirming(true)}>
                {t('drv.delete', { name: pack.name })}…
              </button>
            </div>
          )}
        </td>
      )}
    </tr>
  );
}

export function DriverPacks() {
  const { t } = useI18n();
  const technician = useHasRole('technician');
  const packs = useQuery({ queryKey: KEY, queryFn: () => call(api.GET('/api/v1/driver-packs')) });
  const [progress, setProgress] = useState<Progress | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [said, setSaid] = useState<string | null>(null);
  return (
    <section aria-labelledby="drivers-title" data-testid="driver-packs">
      <h2 id="drivers-title">{t('drv.title')}</h2>
      <p className="meta">{t('drv.help')}</p>
      {packs.isPending && <p role="status">{t('app.loading')}</p>}
      {packs.isError && <ErrorMessage error={packs.error} onRetry={() => void packs.refetch()} />}
      {packs.data?.length === 0 && <p>{t('drv.empty')}</p>}
      {packs.data && packs.data.length > 0 && (
        <TableWrap label={t('drv.title')} cards>
          <table>
            <thead>
              <tr>
                <th scope="col">{t('drv.name')}</th>
                <th scope="col">{t('drv.vendor')}</th>
                <th scope="col">{t('drv.model')}</th>
                <th scope="col">{t('drv.size')}</th>
                <th scope="col">{t('drv.state')}</th>
                <th scope="col">{t('drv.files')}</th>
                <th scope="col">{t('drv.error')}</th>
                {technician && <th scope="col">{t('drv.actions')}</th>}
              </tr>
            </thead>
            <tbody>
              {packs.data.map((p) => (
                <PackRow key={p.id} pack={p} technician={technician} busy={progress !== null} onProgress={setProgress} onError={setError} onSay={setSaid} />
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      {said && <p role="status">{said}</p>}
      {error !== null && <Problem error={error} />}
      {progress && <ProgressLine p={progress} />}
      {technician && (
        <>
          <h3>{t('drv.add')}</h3>
          <NewPack onProgress={setProgress} busy={progress !== null} />
        </>
      )}
    </section>
  );
}
