// One PC of a room's grid: a checkbox to select it (for those who can restore), its state (icon and words), its restore progress
// and time left during a run, and when it was last seen.
import type { CSSProperties } from 'react';
import { Link } from 'react-router';
import type { Host, RunPc } from '../api/client.js';
import type { PcLastResult } from '../api/runs-queries.js';
import type { Eta } from '../api/useLive.js';
import { useI18n } from '../i18n/react.js';
import type { DragProps } from './PlanDrop.js';
import { StateBadge } from './StateBadge.js';

export interface PcCardProps {
  host: Host;
  pc: RunPc | undefined;
  eta: Eta | undefined;
  /** Why the PC needs a person, in the current language (from the run's report). */
  reason: string | undefined;
  selected: boolean;
  /** Selects it for a restore; without it (a viewer), no checkbox. */
  onToggle?: () => void;
  /** Its newest result in an earlier run, when the room's newest run did not include it. */
  last?: PcLastResult;
  /** Its cell on the room plan (grid-row and grid-column), when placed. */
  style?: CSSProperties;
  /** Draggable onto the room plan (./PlanDrop.tsx), for those who may place PCs. */
  drag?: DragProps;
}

export function PcCard({ host, pc, eta, reason, selected, onToggle, last, style, drag }: PcCardProps) {
  const { t, relative, duration } = useI18n();
  const state = pc?.state ?? 'idle';
  const moving = (state === 'restoring' || state === 'verifying') && pc !== undefined && pc.bytesTotal > 0;
  const percent = moving ? Math.min(100, Math.round((pc.bytesDone / pc.bytesTotal) * 100)) : 0;
  const id = `pc-${host.id}`;
  return (
    <li {...drag} className={selected ? 'pc selected' : 'pc'} style={style} data-testid="pc" data-host={host.name} data-state={state} data-row={host.planRow ?? undefined} data-col={host.planCol ?? undefined}>
      {onToggle ? (
        <label className="check">
          <input type="checkbox" checked={selected} onChange={onToggle} aria-label={t('room.select', { name: host.name })} />
          <span className="name" id={id}>
            {host.name}
          </span>
        </label>
      ) : (
        <span className="name" id={id}>
          {host.name}
        </span>
      )}
      <StateBadge state={state} />
      {host.planRow !== null && host.planCol !== null && <span className="meta">{t('plan.place', { row: host.planRow, col: host.planCol })}</span>}
      {moving && (
        <>
          <progress max={100} value={percent} aria-label={t('room.progress', { name: host.name })}>
            {percent} %
          </progress>
          <span className="meta">
            {percent} %{eta?.etaSeconds != null ? ` · ${t('room.eta', { duration: duration(eta.etaSeconds) })}` : ''}
          </span>
        </>
      )}
      {reason && <span className="meta">{reason}</span>}
      {last && (
        <span className="meta" data-testid="pc-last" data-state={last.state}>
          {t('room.lastResult')} <StateBadge state={last.state} /> <Link to={`/runs/${last.runId}`}>{t('runs.open', { id: last.runId })}</Link>
        </span>
      )}
      <span className="meta">{host.lastSeenAt ? t('room.lastSeen', { when: relative(host.lastSeenAt) }) : t('room.neverSeen')}</span>
      <Link to={`/pcs/${host.id}`} className="meta" aria-label={t('pc.open', { name: host.name })}>
        {t('pc.details')}
      </Link>
    </li>
  );
}
