// A run: its PCs with their state and the reason in the current language, failures first (the
// morning report's data, live), a link to the printable report, and (technician role) retry the
// failed PCs, cancel the run or one PC; a run that did not start says why.
import { useState } from 'react';
import { Link, useParams } from 'react-router';
import { useReport, useRun } from '../api/queries.js';
import { useRunLive } from '../api/useLive.js';
import { ErrorMessage } from '../components/ErrorMessage.js';
import { LiveBadge } from '../components/LiveBadge.js';
import { CancelPcButton, RunActions } from '../components/RunActions.js';
import { StateBadge } from '../components/StateBadge.js';
import { useI18n, useTitle } from '../i18n/react.js';
import { useSession } from '../session.js';
import { FINAL_STATES, PC_STATE_ORDER } from '../states.js';
import { TableWrap } from '../components/TableWrap.js';
import { useWho } from '../who.js';

export function RunPage() {
  const { t, lang, relative, dateTime } = useI18n();
  const id = Number(useParams().id);
  const report = useReport(id);
  useTitle(t('run.title', { id }));
  const view = useRun(id);
  const live = useRunLive(id);
  const who = useWho();
  const canAct = useSession().data?.user.role !== 'viewer';
  const [pcError, setPcError] = useState<unknown>(null);

  if (report.error) return <ErrorMessage error={report.error} onRetry={() => void report.refetch()} />;
  if (!report.data) return <p role="status">{t('app.loading')}</p>;
  const { run, totals, pcs } = report.data;
  const rank = (s: (typeof pcs)[number]['state']) => PC_STATE_ORDER.indexOf(s);
  const sorted = [...pcs].sort((a, b) => Number(b.needsAPerson) - Number(a.needsAPerson) || rank(a.state) - rank(b.state) || a.hostName.localeCompare(b.hostName, undefined, { numeric: true }));
  const roomId = view.data?.roomId ?? null;

  return (
    <section>
      <h1>{t('run.title', { id: run.id })}</h1>
      <p>{t('run.summary', { room: run.room ?? '—', image: run.image, version: run.version, who: who(run.createdBy), when: relative(run.startedAt ?? view.data?.createdAt ?? new Date().toISOString()) })}</p>
      <p data-testid="run-state" data-state={run.state}>
        {t('run.state', { state: t(`runState.${run.state}`) })} · {t('run.counts', { done: totals.done, failed: totals.failed, open: totals.open, total: totals.pcs })}
      </p>
      {run.state === 'running' && (
        <p>
          <LiveBadge status={live} />
        </p>
      )}
      {report.data.plan && <PlanLine plan={report.data.plan} />}
      {view.data?.multicast?.outcome?.preflight && <PreflightLine preflight={view.data.multicast.outcome.preflight} />}
      {run.why && (
        <p className="notice" data-testid="run-why">
          {run.state === 'not_started' ? t('runActions.notStarted', { why: lang === 'fr' ? run.why.fr : run.why.en }) : lang === 'fr' ? run.why.fr : run.why.en}
        </p>
      )}
      {canAct && run.state !== 'not_started' && <RunActions runId={run.id} state={run.state} failed={pcs.filter((p) => p.state === 'failed').length} />}
      {pcError !== null && <ErrorMessage error={pcError} />}
      <div className="actions">
        <a href={`/api/v1/runs/${run.id}/report.html?lang=${lang}`} target="_blank" rel="noopener">
          {t('run.report')}
        </a>
        {roomId !== null && <Link to={`/rooms/${roomId}`}>{t('run.toRoom')}</Link>}
      </div>
      <TableWrap label={t('run.title', { id: run.id })} cards>
        <table>
          <thead>
            <tr>
              <th scope="col">{t('run.pc')}</th>
              <th scope="col">{t('run.pcState')}</th>
              <th scope="col">{t('run.reason')}</th>
              <th scope="col">{t('run.path')}</th>
              <th scope="col">{t('run.windows')}</th>
              <th scope="col">{t('run.ended')}</th>
              {canAct && run.state === 'running' && <th scope="col">{t('runActions.actions')}</th>}
            </tr>
          </thead>
          <tbody>
            {sorted.map((pc) => (
              <tr key={pc.id} data-testid="run-pc" data-state={pc.state}>
                <th scope="row">{pc.hostName}</th>
                <td data-label={t('run.pcState')}>
                  <StateBadge state={pc.state} />
                </td>
                <td data-label={t('run.reason')}>{pc.reason ? (lang === 'fr' ? pc.reason.fr : pc.reason.en) : t('run.noReason')}</td>
                <td data-label={t('run.path')} data-testid="run-pc-path" data-path={pc.delivery?.path ?? ''}>
                  {pc.delivery ? <PathCell delivery={pc.delivery} /> : t('run.noReason')}
                </td>
                <td data-label={t('run.windows')} data-testid="run-pc-windows">
                  {pc.windows ? <WindowsCell windows={pc.windows} /> : t('run.noReason')}
                </td>
                <td data-label={t('run.ended')}>{pc.endedAt ? dateTime(pc.endedAt) : t('run.noReason')}</td>
                {canAct && run.state === 'running' && (
                  <td data-label={t('runActions.actions')}>{!(FINAL_STATES as readonly string[]).includes(pc.state) && <CancelPcButton runId={run.id} pcId={pc.id} name={pc.hostName} onError={setPcError} />}</td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
    </section>
  );
}

type Words = { fr: string; en: string };

/** The run's bandwidth plan: how long it should take and what limits it; once ended, planned against what it took. */
function PlanLine({ plan }: { plan: { plannedSeconds: number; fits: boolean | null; totalBytes: number; words: { bound: Words; rate: Words; window: Words; overflow: Words | null; actual: Words | null } } }) {
  const { t, lang, duration } = useI18n();
  const say = (w: Words) => (lang === 'fr' ? w.fr : w.en);
  const w = plan.words;
  const size = plan.totalBytes >= 1e9 ? `${(plan.totalBytes / 1e9).toFixed(1)} GB` : mb(plan.totalBytes);
  return (
    <p data-testid="run-plan" data-fits={plan.fits === null ? '' : String(plan.fits)} className={plan.fits === false && !w.actual ? 'notice' : undefined}>
      {t('run.plan', { duration: duration(plan.plannedSeconds), size })}
      {' · '}
      {say(w.actual ?? w.window)}
      <br />
      <small>
        {[w.actual ? w.window : null, w.bound, w.rate, w.overflow].flatMap((x) => (x ? [say(x)] : [])).join(' · ')}
      </small>
    </p>
  );
}

/** The network pre-flight before the run's multicast session: why the run set multicast aside, and what to look at. */
function PreflightLine({ preflight }: { preflight: { verdict: 'multicast' | 'unicast'; fallback: { text: string; fr: string } | null; warnings: Array<{ text: string; fr: string }> } }) {
  const { t, lang } = useI18n();
  const lines = [...(preflight.fallback ? [preflight.fallback] : []), ...preflight.warnings].map((w) => (lang === 'fr' ? w.fr : w.text));
  if (!lines.length) return null;
  return (
    <div data-testid="run-preflight" data-verdict={preflight.verdict} className={preflight.verdict === 'unicast' ? 'notice' : undefined}>
      <p>{t(preflight.verdict === 'unicast' ? 'run.preflightUnicast' : 'run.preflightWarnings')}</p>
      <ul>
        {lines.map((l) => (
          <li key={l}>{l}</li>
        ))}
      </ul>
    </div>
  );
}

/** What the restore did to the PC's Windows: its name, answer file, driver pack (or why none), UEFI boot entry. */
function WindowsCell({ windows }: { windows: Partial<Record<'name' | 'answerFile' | 'drivers' | 'bootEntry', (Words & { code: string }) | null>> }) {
  const { lang } = useI18n();
  const lines = [windows.name, windows.answerFile, windows.drivers, windows.bootEntry].flatMap((x) => (x ? [x] : []));
  return (
    <small>
      {lines.map((x, i) => (
        <span key={x.code} data-code={x.code}>
          {i > 0 && <br />}
          {lang === 'fr' ? x.fr : x.en}
        </span>
      ))}
    </small>
  );
}

const mb = (b: number) => `${(b / 1e6).toFixed(b >= 1e8 ? 0 : 1)} MB`;

/** A PC's path (differential, multicast, unicast), why, and its bytes by multicast and by repair. */
function PathCell({ delivery }: { delivery: { path: 'differential' | 'multicast' | 'unicast'; fr: string; en: string; multicastBytes: number; repairBytes: number } }) {
  const { t, lang } = useI18n();
  const path = t(`run.path.${delivery.path}`);
  const moved = delivery.multicastBytes > 0 || delivery.repairBytes > 0;
  return (
    <>
      <strong>{moved ? t('run.pathBytes', { path, multicast: mb(delivery.multicastBytes), repair: mb(delivery.repairBytes) }) : path}</strong>
      <br />
      <small>{lang === 'fr' ? delivery.fr : delivery.en}</small>
    </>
  );
}

