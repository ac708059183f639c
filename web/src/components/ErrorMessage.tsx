// An API problem as a readable sentence in the current language, with an optional retry button.
import { problemMessage } from '../api/problems.js';
import { useI18n } from '../i18n/react.js';

export function ErrorMessage({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const { t } = useI18n();
  const m = problemMessage(error);
  return (
    <div className="error" role="alert">
      <span aria-hidden="true">⚠ </span>
      {t(m.key, m.params)}
      {onRetry && (
        <button type="button" className="secondary" onClick={onRetry}>
          {t('app.retry')}
        </button>
      )}
    </div>
  );
}
