// A PC's state: an icon and words, the colour only repeats them (never colour alone).
import type { PcState } from '../api/client.js';
import { useI18n } from '../i18n/react.js';

export type ShownState = PcState | 'idle';

const ICONS: Record<ShownState, string> = {
  idle: '○',
  queued: '◷',
  waking: '⏻',
  booted: '▶',
  restoring: '⇩',
  verifying: '⌕',
  done: '✔',
  failed: '✖',
  skipped: '↷',
  cancelled: '⊘',
};

export function StateBadge({ state }: { state: ShownState }) {
  const { t } = useI18n();
  return (
    <span className={`state state-${state}`} data-state={state}>
      <span aria-hidden="true">{ICONS[state]}</span> {t(`state.${state}`)}
    </span>
  );
}
