// A run's buttons (technician role): retry its failed PCs in a new run (POST /runs/{id}/retry), cancel
// the whole run (POST /runs/{id}/cancel), or one PC (POST /runs/{id}/pcs/{pcId}/cancel). A refusal is
// said as a sentence in the current language; each action is asked first (<Confirm>).
import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'react-router';
import { api, call, type Run } from '../api/client.js';
import { keys } from '../api/queries.js';
import { useI18n } from '../i18n/react.js';
import { Confirm } from './Confirm.js';
import { ErrorMessage } from './ErrorMessage.js';

export function RunActions({ runId, state, failed }: { runId: number; state: Run['state']; failed: number }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const [busy, setBusy] = useState<'retry' | 'cancel' | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [retried, setRetried] = useState<number | null>(null);
  const [asking, setAsking] = useState<'retry' | 'cancel' | null>(null);
  const path = { params: { path: { id: String(runId) } } };

  const retry = async () => {
    setAsking(null);
    setBusy('retry');
    setError(null);
    try {
      const run = await call(api.POST('/api/v1/runs/{id}/retry', path));
      qc.setQueryData(keys.run(run.id), run);
      setRetried(run.id);
      void qc.invalidateQueries({ queryKey: ['runs'] });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };
  const cancel = async () => {
    setAsking(null);
    setBusy('cancel');
    setError(null);
    try {
      await call(api.POST('/api/v1/runs/{id}/cancel', path));
      await qc.invalidateQueries({ queryKey: keys.run(runId) });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };

  return (
    <div className="stack">
      <div className="actions">
        {state !== 'running' && failed > 0 && (
          <button type="button" disabled={busy !== null || asking !== null} onClick={() => setAsking('retry')}>
            {busy === 'retry' ? t('runActions.retryBusy') : t('runActions.retry', { count: failed })}
          </button>
        )}
        {state === 'running' && (
          <button type="button" className="danger" disabled={busy !== null || asking !== null} onClick={() => setAsking('cancel')}>
            {t('runActions.cancel')}
          </button>
        )}
      </div>
      {/* Retrying erases the failed PCs' disks again: asked first, as every other erasing action is. */}
      {asking === 'retry' && (
        <Confirm text={t('runActions.retryConfirm', { count: failed })} action={t('runActions.retry', { count: failed })} onConfirm={() => void retry()} onCancel={() => setAsking(null)} />
      )}
      {asking === 'cancel' && <Confirm text={t('runActions.cancelConfirm', { id: runId })} action={t('runActions.cancel')} onConfirm={() => void cancel()} onCancel={() => setAsking(null)} />}
      {retried !== null && (
        <p role="status" data-testid="retried">
          {t('runActions.retried', { id: retried })} <Link to={`/runs/${retried}`}>{t('runActions.openRetry')}</Link>
        </p>
      )}
      {error !== null && <ErrorMessage error={error} />}
    </div>
  );
}

/** Cancels one PC of a running run. */
export function CancelPcButton({ runId, pcId, name, onError }: { runId: number; pcId: number; name: string; onError: (e: unknown) => void }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const [busy, setBusy] = useState(false);
  const [asking, setAsking] = useState(false);
  const cancel = async () => {
    setAsking(false);
    setBusy(true);
    try {
      await call(api.POST('/api/v1/runs/{id}/pcs/{pcId}/cancel', { params: { path: { id: String(runId), pcId: String(pcId) } } }));
      await qc.invalidateQueries({ queryKey: keys.run(runId) });
    } catch (err) {
      onError(err);
    } finally {
      setBusy(false);
    }
  };
  // The button stays (disabled) while the question is asked, so the focus can come back to it.
  return (
    <>
      <button type="button" className="secondary" disabled={busy || asking} onClick={() => setAsking(true)}>
        {t('runActions.cancelPc', { name })}
      </button>
      {asking && <Confirm text={t('runActions.cancelPcConfirm', { name })} action={t('runActions.cancelPc', { name })} onConfirm={() => void cancel()} onCancel={() => setAsking(false)} />}
    </>
  );
}
