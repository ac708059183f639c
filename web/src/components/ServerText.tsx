// Words the server gives only in English (a version's damage, a task's error): shown as they are, after a
// label that says so, marked lang="en" for screen readers. With a problem code the catalogues know, its
// sentence in the current language comes first.
import { problemKey } from '../api/problems.js';
import { useI18n } from '../i18n/react.js';

export function ServerText({ text, code }: { text: string; code?: unknown }) {
  const { t } = useI18n();
  const key = typeof code === 'string' ? problemKey(code) : null;
  return (
    <>
      {key && <>{t(key)} </>}
      <span className="server-text">
        {t('server.text')} <span lang="en">{text}</span>
      </span>
    </>
  );
}
