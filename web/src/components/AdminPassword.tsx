// The PC's own local Administrator password (issue 15 item 6, LAPS-like), for technicians: whether
// roomcast gave it one and when, and a button that shows it (and the one before). The server writes
// every showing to the audit log; the page says so before the button is pressed.
import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { api, call } from '../api/client.js';
import { useI18n } from '../i18n/react.js';
import { Problem } from './Problem.js';

type Reveal = Awaited<ReturnType<typeof reveal>>;
const reveal = (id: number) => call(api.POST('/api/v1/hosts/{id}/admin-password/reveal', { params: { path: { id: String(id) } } }));

export function AdminPassword({ hostId }: { hostId: number }) {
  const { t, dateTime } = useI18n();
  const status = useQuery({
    queryKey: ['hosts', 'one', hostId, 'admin-password'],
    queryFn: () => call(api.GET('/api/v1/hosts/{id}/admin-password', { params: { path: { id: String(hostId) } } })),
  });
  const [shown, setShown] = useState<Reveal | null>(null);
  const [error, setError] = useState<unknown>(null);
  if (status.isError) return <Problem error={status.error} />;
  if (!status.data) return null;
  if (!status.data.set || !status.data.setAt) return <p className="meta" data-testid="admin-password">{t('pc.adminPassword.none')}</p>;
  const show = async () => {
    setError(null);
    try {
      setShown(await reveal(hostId));
    } catch (err) {
      setError(err);
    }
  };
  return (
    <div data-testid="admin-password" className="stack">
      <p>{t('pc.adminPassword.given', { date: dateTime(status.data.setAt) })}</p>
      {shown ? (
        <>
          <dl className="facts">
            <div>
              <dt>{t('pc.adminPassword.current')}</dt>
              <dd>
                <code data-testid="admin-password-value">{shown.password}</code>
              </dd>
            </div>
            {shown.previous && (
              <div>
                <dt>{t('pc.adminPassword.previous', { date: dateTime(shown.previous.setAt) })}</dt>
                <dd>
                  <code>{shown.previous.password}</code>
                </dd>
              </div>
            )}
          </dl>
          <div className="actions">
            <button type="button" onClick={() => setShown(null)}>
              {t('pc.adminPassword.hide')}
            </button>
          </div>
        </>
      ) : (
        <div className="actions">
          <button type="button" onClick={() => void show()}>
            {t('pc.adminPassword.show')}
          </button>
        </div>
      )}
      <p className="meta">{t('pc.adminPassword.audited')}</p>
      {error !== null && <Problem error={error} />}
    </div>
  );
}
