// Login: username and password; on success to the rooms (or to the forced password change).
import { useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Navigate, useLocation, useNavigate } from 'react-router';
import { ErrorMessage } from '../components/ErrorMessage.js';
import { useI18n, useTitle } from '../i18n/react.js';
import { login, sessionExpired, useSession } from '../session.js';

export function LoginPage() {
  const { t } = useI18n();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const location = useLocation();
  const session = useSession();
  useTitle(t('login.title'));
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const expired = sessionExpired();

  if (session.data) return <Navigate to={session.data.user.mustChangePassword ? '/password' : '/rooms'} replace />;
  const loggedOut = (location.state as { loggedOut?: boolean } | null)?.loggedOut === true;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const s = await login(qc, username.trim(), password);
      navigate(s.user.mustChangePassword ? '/password' : '/rooms', { replace: true });
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <section className="narrow">
      <h1>{t('login.title')}</h1>
      <p>{t('login.intro')}</p>
      {expired && !error && (
        <p className="notice" role="status">
          {t('problem.unauthenticated')}
        </p>
      )}
      {loggedOut && !error && (
        <p className="notice" role="status">
          {t('logout.done')}
        </p>
      )}
      <form onSubmit={(e) => void submit(e)} className="stack">
        <label>
          {t('login.username')}
          <input name="username" autoComplete="username" required value={username} onChange={(e) => setUsername(e.target.value)} autoCapitalize="none" />
        </label>
        <label>
          {t('login.password')}
          <input name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        {error !== null && <ErrorMessage error={error} />}
        <button type="submit" disabled={busy}>
          {busy ? t('login.busy') : t('login.submit')}
        </button>
      </form>
    </section>
  );
}
