// Catches a page that throws while rendering (say, an answer of an unexpected shape): instead of an empty
// screen or a stack, a sentence in the current language and a reload button, under the header that stays.
// Going to another page tries again (the guard is keyed by the path).
import { Component, type ReactNode } from 'react';
import { useLocation } from 'react-router';
import { useI18n } from '../i18n/react.js';

class Guard extends Component<{ children: ReactNode }, { failed: boolean }> {
  override state = { failed: false };

  static getDerivedStateFromError(): { failed: boolean } {
    return { failed: true };
  }

  override render() {
    return this.state.failed ? <Crashed /> : this.props.children;
  }
}

function Crashed() {
  const { t } = useI18n();
  return (
    <div className="error" role="alert" data-testid="page-crashed">
      <span aria-hidden="true">⚠ </span>
      {t('crash.text')}
      <button type="button" className="secondary" onClick={() => window.location.reload()}>
        {t('crash.reload')}
      </button>
    </div>
  );
}

export function PageGuard({ children }: { children: ReactNode }) {
  const { pathname } = useLocation();
  return <Guard key={pathname}>{children}</Guard>;
}
