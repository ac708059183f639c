// ErrorMessage for the inventory, images and system pages: also knows their API codes (../api/admin.ts).
import { adminProblem } from '../api/admin.js';
import { useI18n } from '../i18n/react.js';

export function Problem({ error }: { error: unknown }) {
  const { t } = useI18n();
  const m = adminProblem(error);
  return (
    <div className="error" role="alert">
      <span aria-hidden="true">⚠ </span>
      {t(m.key, m.params)}
    </div>
  );
}
