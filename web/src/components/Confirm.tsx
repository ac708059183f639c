// An inline confirmation for a destructive action: the question, the action, and cancel; the cancel
// button takes the focus when it appears (a keyboard user lands on the safe choice, next to the question),
// Escape cancels, and when it goes the focus goes back to the button that opened it (when it is still there)
// rather than to the page's start.
import { useEffect, useId, useRef, useState } from 'react';
import { useI18n } from '../i18n/react.js';

export function Confirm({ text, action, busy = false, onConfirm, onCancel }: { text: string; action: string; busy?: boolean; onConfirm: () => void; onCancel: () => void }) {
  const { t } = useI18n();
  const id = useId();
  const cancel = useRef<HTMLButtonElement>(null);
  // Read on the first render, before the commit that may disable the opener (and so blur it).
  const [opener] = useState(() => (document.activeElement instanceof HTMLElement && document.activeElement !== document.body ? document.activeElement : null));
  useEffect(() => {
    cancel.current?.focus();
    return () => {
      // Runs once this confirmation left the page (its buttons with it), after the opener was enabled again.
      const lost = document.activeElement === null || document.activeElement === document.body;
      if (lost && opener?.isConnected) opener.focus();
    };
  }, [opener]);
  return (
    <div
      className="notice stack"
      role="alertdialog"
      aria-labelledby={id}
      onKeyDown={(e) => {
        if (e.key !== 'Escape') return;
        e.stopPropagation();
        onCancel();
      }}
    >
      <p id={id}>{text}</p>
      <div className="actions">
        <button type="button" className="danger" disabled={busy} onClick={onConfirm}>
          {action}
        </button>
        <button type="button" className="secondary" ref={cancel} onClick={onCancel}>
          {t('app.cancel')}
        </button>
      </div>
    </div>
  );
}
