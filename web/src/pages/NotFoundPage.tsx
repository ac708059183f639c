import { Link } from 'react-router';
import { useI18n } from '../i18n/react.js';

export function NotFoundPage() {
  const { t } = useI18n();
  return (
    <section>
      <h1>{t('problem.not_found')}</h1>
      <p>
        <Link to="/rooms">{t('nav.rooms')}</Link>
      </p>
    </section>
  );
}
