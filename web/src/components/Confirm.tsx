// An inline confirmation for a destructive action: the question, the action, and cancel; the cancel
// button takes the focus when it appears (a keyboard user lands on the safe choice, next to the question).
import { useEffect, useId, useRef } from 'react';
import { useI18n } from '../i18n/react.js';

export function Confirm({ text, action, busy = false, onConfirm, onCancel }: { text: string; action: string; busy?: boolean; onConfirm: () => void; onCancel: () => void }) {
  const { t } = useI18n();
  const id = useId();
  const cancel = useRef<HTMLButtonElement>(null);
  useEffect(() => cancel.current?.focus(), []);
  return (
    <div className="notice stack" role="alertdialog" aria-labelledby={id}>
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
