// A room: its PCs as a grid with live state (socket.io), the current or last run, selection, and the
// restore dialog for the whole room or the selected PCs.
import { useState } from 'react';
import { Link, useParams } from 'react-router';
import type { Run } from '../api/client.js';
import { useLatestRun, useReport, useRoom, useRoomHosts, useRun } from '../api/queries.js';
import { useLatestByPc } from '../api/runs-queries.js';
import { useRoomRunsLive } from '../api/runs-live.js';
import { useRoomLive } from '../api/useLive.js';
import { ErrorMessage } from '../components/ErrorMessage.js';
import { LiveBadge } from '../components/LiveBadge.js';
import { PcCard } from '../components/PcCard.js';
import { dropSize, freeCells, usePlanDrop } from '../components/PlanDrop.js';
import { PlanForm, planLayout } from '../components/RoomPlan.js';
import { RestoreDialog, type RestoreTarget } from '../components/RestoreDialog.js';
import { RoomSchedules } from '../components/RoomSchedules.js';
import { useI18n, useTitle } from '../i18n/react.js';
import { useSession } from '../session.js';

function RunBanner({ run }: { run: Run }) {
  const { t, relative } = useI18n();
  const text =
    run.state === 'running'
      ? t('room.running', { image: run.image.name, version: run.version.number })
      : t('room.lastRun', { result: t(`runState.${run.state}`), when: relative(run.endedAt ?? run.createdAt) });
  return (
    <p className="banner" role="status" data-testid="run-banner" data-run-state={run.state}>
      {text} — <Link to={`/runs/${run.id}`}>{t('room.openRun')}</Link>
    </p>
  );
}

export function RoomPage() {
  const { t, lang } = useI18n();
  const roomId = Number(useParams().id);
  const room = useRoom(roomId);
  useTitle(room.data?.name);
  const hosts = useRoomHosts(roomId);
  const latest = useLatestRun(roomId);
  const run = useRun(latest.data?.id);
  // The reasons of PCs that need a person, in French and English, come with the run's report.
  const needsReasons = ['failed', 'skipped', 'cancelled'].some((s) => (run.data?.counts[s] ?? 0) > 0);
  const report = useReport(latest.data?.id, needsReasons);
  const canRestore = useSession().data?.user.role !== 'viewer';
  const { etas, status } = useRoomLive(roomId);
  useRoomRunsLive(roomId);
  // Each PC's newest result, for the PCs the room's newest run did not include.
  const lastByPc = useLatestByPc(roomId);
  const [selected, setSelected] = useState<ReadonlySet<number>>(new Set());
  const [dialog, setDialog] = useState<RestoreTarget | null>(null);
  const drop = usePlanDrop(hosts.data ?? []);

  const error = room.error ?? hosts.error;
  if (error) return <ErrorMessage error={error} onRetry={() => void Promise.all([room.refetch(), hosts.refetch()])} />;
  if (!room.data || !hosts.data) return <p role="status">{t('app.loading')}</p>;

  const list = hosts.data;
  const pcOf = new Map((run.data?.pcs ?? []).map((p) => [p.hostId, p]));
  const lastOf = new Map((lastByPc.data ?? []).map((p) => [p.hostId, p]));
  const reasonOf = new Map((report.data?.pcs ?? []).filter((p) => p.needsAPerson && p.reason).map((p) => [p.id, lang === 'fr' ? p.reason!.fr : p.reason!.en]));
  const toggle = (id: number) =>
    setSelected((s) => {
      const n = new Set(s);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });
  const chosen = list.filter((h) => selected.has(h.id));
  const plan = planLayout(list);
  // Who may place PCs also gets one more row and column to drag a PC into.
  const size = canRestore ? dropSize(plan.rows, plan.cols) : { rows: plan.rows, cols: plan.cols };
  const card = (h: (typeof list)[number], style?: { gridRow: number; gridColumn: number }) => {
    const pc = pcOf.get(h.id);
    return <PcCard key={h.id} host={h} pc={pc} eta={pc ? etas.get(pc.id) : undefined} last={pc ? undefined : lastOf.get(h.id)} reason={pc ? reasonOf.get(pc.id) : undefined} selected={selected.has(h.id)} onToggle={canRestore ? () => toggle(h.id) : undefined} style={style} drag={canRestore ? drop.source(h) : undefined} />;
  };
  const open = (whole: boolean) =>
    setDialog({ roomId, roomName: room.data.name, hosts: whole ? list : chosen, whole, defaultImageId: room.data.imageId ?? run.data?.image.id ?? null, defaultVersion: room.data.imageId !== null ? room.data.version : null });

  return (
    <section>
      <h1>{room.data.name}</h1>
      {room.data.description && <p>{room.data.description}</p>}
      <p data-testid="room-image">
        {room.data.image === null ? t('roomImage.none') : room.data.version === null ? t('roomImage.newest', { image: room.data.image }) : t('roomImage.version', { image: room.data.image, version: room.data.version })}
      </p>
      {run.data && <RunBanner run={run.data} />}
      {canRestore && (
        <div className="actions">
          <button type="button" onClick={() => open(true)} disabled={list.length === 0}>
            {t('room.restoreAll')}
          </button>
          <button type="button" className="secondary" onClick={() => open(false)} disabled={chosen.length === 0}>
            {t('room.restoreSelected')}
          </button>
          <button type="button" className="secondary" onClick={() => setSelected(new Set(chosen.length === list.length ? [] : list.map((h) => h.id)))} disabled={list.length === 0}>
            {chosen.length === list.length && list.length > 0 ? t('room.selectNone') : t('room.selectAll')}
          </button>
          <span aria-live="polite">{t('room.selected', { count: chosen.length })}</span>
        </div>
      )}
      <h2>
        {t('room.pcs')}{' '}
        <LiveBadge status={status} />
      </h2>
      {list.length === 0 ? (
        <p>{t('room.noPcs')}</p>
      ) : (
        <>
          {plan.placed.length > 0 && (
            // Wider than a phone: the plan scrolls inside a labelled region the keyboard can reach.
            <div className="plan-scroll" role="region" aria-label={t('plan.region')} tabIndex={0} data-testid="plan">
              <ul className="plan" aria-label={t('plan.title')} style={{ gridTemplateColumns: `repeat(${size.cols}, minmax(9.5rem, 13rem))`, gridTemplateRows: `repeat(${size.rows}, auto)` }}>
                {plan.placed.map((h) => card(h, { gridRow: h.planRow, gridColumn: h.planCol }))}
                {canRestore &&
                  freeCells(plan.placed, size.rows, size.cols).map(({ row, col }) => (
                    <li key={`${row}:${col}`} className="plan-cell" aria-hidden="true" data-testid="plan-cell" data-row={row} data-col={col} style={{ gridRow: row, gridColumn: col }} {...drop.target(row, col)} />
                  ))}
              </ul>
            </div>
          )}
          {canRestore && plan.placed.length > 0 && drop.status}
          {plan.unplaced.length > 0 && (
            <>
              {plan.placed.length > 0 && <h3>{t('plan.unplaced')}</h3>}
              <ul className="grid" aria-label={plan.placed.length > 0 ? t('plan.unplaced') : t('room.pcs')} data-testid="unplaced">
                {plan.unplaced.map((h) => card(h))}
              </ul>
            </>
          )}
          {canRestore && <PlanForm key={list.map((h) => h.id).join()} hosts={list} />}
        </>
      )}
      <RoomSchedules roomId={roomId} canEdit={canRestore} />
      {dialog && (
        <RestoreDialog
          target={dialog}
          onClose={() => setDialog(null)}
          onStarted={() => {
            setDialog(null);
            setSelected(new Set());
          }}
          onScheduled={() => setDialog(null)}
        />
      )}
    </section>
  );
}
