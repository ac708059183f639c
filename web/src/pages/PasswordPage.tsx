// The first-run password change, forced while the session says the password must change.
import { useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router';
import { api, call } from '../api/client.js';
import { ErrorMessage } from '../components/ErrorMessage.js';
import { useI18n, useTitle } from '../i18n/react.js';
import { SESSION_KEY } from '../session.js';

/** The server's rule (services/accounts/passwords.ts): at least 10 characters. */
const MIN_LENGTH = 10;

export function PasswordPage() {
  const { t } = useI18n();
  const qc = useQueryClient();
  const navigate = useNavigate();
  useTitle(t('password.title'));
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [again, setAgain] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [local, setLocal] = useState<'tooShort' | 'mismatch' | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    if (next.length < MIN_LENGTH) return setLocal('tooShort');
    if (next !== again) return setLocal('mismatch');
    setLocal(null);
    setBusy(true);
    try {
      await call(api.POST('/api/v1/auth/password', { body: { currentPassword: current, newPassword: next } }));
      await qc.invalidateQueries({ queryKey: SESSION_KEY });
      navigate('/rooms', { replace: true });
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <section className="narrow">
      <h1>{t('password.title')}</h1>
      <p>{t('password.intro')}</p>
      <form onSubmit={(e) => void submit(e)} className="stack">
        <label>
          {t('password.current')}
          <input name="current" type="password" autoComplete="current-password" required value={current} onChange={(e) => setCurrent(e.target.value)} />
        </label>
        <label>
          {t('password.new')}
          <input name="new" type="password" autoComplete="new-password" required aria-describedby="pw-rule" value={next} onChange={(e) => setNext(e.target.value)} />
        </label>
        <p id="pw-rule" className="hint">
          {t('password.rule', { min: MIN_LENGTH })}
        </p>
        <label>
          {t('password.confirm')}
          <input name="again" type="password" autoComplete="new-password" required value={again} onChange={(e) => setAgain(e.target.value)} />
        </label>
        {local && (
          <p className="error" role="alert">
            {t(local === 'tooShort' ? 'password.tooShort' : 'password.mismatch', { min: MIN_LENGTH })}
          </p>
        )}
        {error !== null && <ErrorMessage error={error} />}
        <button type="submit" disabled={busy}>
          {t('password.submit')}
        </button>
      </form>
    </section>
  );
}
