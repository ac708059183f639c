// The frame of every page: a skip link, the header (name, navigation, language, who, logout), the main area.
import { useQueryClient } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { NavLink, useNavigate } from 'react-router';
import { LANGS, type Lang } from '../i18n/index.js';
import { useI18n } from '../i18n/react.js';
import { logout, useSession } from '../session.js';

export function Layout({ children }: { children: ReactNode }) {
  const { t, lang, setLang } = useI18n();
  const session = useSession();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const user = session.data?.user;

  const onLogout = () => {
    void logout(qc)
      .catch(() => undefined)
      .then(() => navigate('/login', { replace: true, state: { loggedOut: true } }));
  };

  return (
    <>
      <a className="skip" href="#main">
        {t('app.skip')}
      </a>
      <header className="top">
        <span className="brand">{t('app.name')}</span>
        {user && !user.mustChangePassword && (
          <nav aria-label={t('nav.label')}>
            <NavLink to="/rooms">{t('nav.rooms')}</NavLink>
            <NavLink to="/runs">{t('nav.runs')}</NavLink>
            <NavLink to="/inventory">{t('nav.inventory')}</NavLink>
            <NavLink to="/images">{t('nav.images')}</NavLink>
            {user.role === 'admin' && <NavLink to="/system">{t('nav.system')}</NavLink>}
          </nav>
        )}
        <div className="top-end">
          <label className="lang">
            <span>{t('nav.language')}</span>
            <select value={lang} onChange={(e) => setLang(e.target.value as Lang)} data-testid="lang">
              {LANGS.map((l) => (
                <option key={l} value={l} lang={l}>
                  {t(`lang.${l}`)}
                </option>
              ))}
            </select>
          </label>
          {user && (
            <>
              {/* On a phone only the name shows (cut with … when long); a screen reader still hears the sentence. */}
              <span className="who" title={t('nav.user', { name: user.username })} data-testid="who">
                <span className="who-full">{t('nav.user', { name: user.username })}</span>
                <span className="who-short" aria-hidden="true">
                  {user.username}
                </span>
              </span>
              <button type="button" className="secondary" onClick={onLogout}>
                {t('nav.logout')}
              </button>
            </>
          )}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}
