// Recent runs, newest first: when and by whom, room, image and version, state in words; filter by
// state; each links to its page (report, retry, cancel).
import { useState } from 'react';
import { Link } from 'react-router';
import { useRuns, type RunState } from '../api/runs-queries.js';
import { ErrorMessage } from '../components/ErrorMessage.js';
import { useI18n, useTitle } from '../i18n/react.js';
import { TableWrap } from '../components/TableWrap.js';
import { useWho } from '../who.js';

const STATES: RunState[] = ['running', 'done', 'cancelled', 'not_started'];
const ICONS: Record<RunState, string> = { running: '▶', done: '✔', cancelled: '⊘', not_started: '✖' };

export function RunsPage() {
  const { t, relative, dateTime } = useI18n();
  useTitle(t('runs.title'));
  const who = useWho();
  const [state, setState] = useState<RunState | ''>('');
  const runs = useRuns(state);
  return (
    <section>
      <h1>{t('runs.title')}</h1>
      <label className="inline">
        {t('runs.filter')}{' '}
        <select value={state} onChange={(e) => setState(e.target.value as RunState | '')}>
          <option value="">{t('runs.all')}</option>
          {STATES.map((s) => (
            <option key={s} value={s}>
              {t(`runState.${s}`)}
            </option>
          ))}
        </select>
      </label>
      {runs.isPending && <p role="status">{t('app.loading')}</p>}
      {runs.isError && <ErrorMessage error={runs.error} onRetry={() => void runs.refetch()} />}
      {runs.data?.length === 0 && <p>{t('runs.none')}</p>}
      {runs.data && runs.data.length > 0 && (
        <TableWrap label={t('runs.title')} cards>
          <table>
            <thead>
              <tr>
                <th scope="col">{t('runs.when')}</th>
                <th scope="col">{t('runs.room')}</th>
                <th scope="col">{t('runs.state')}</th>
              </tr>
            </thead>
            <tbody>
              {runs.data.map((r) => (
                <tr key={r.id} data-testid="run-row" data-state={r.state}>
                  <th scope="row">
                    <Link to={`/runs/${r.id}`}>{t('runs.open', { id: r.id })}</Link>
                    <br />
                    <time dateTime={r.createdAt} title={dateTime(r.createdAt)}>
                      {relative(r.createdAt)}
                    </time>
                    <span className="meta"> · {r.createdBy.startsWith('schedule:') ? t('runs.bySchedule') : t('runs.byWho', { who: who(r.createdBy) })}</span>
                  </th>
                  <td data-label={t('runs.room')}>
                    {r.room ?? t('runs.noRoom')}
                    <br />
                    <span className="meta">{r.version > 0 ? `${r.image} v${r.version}` : r.image}</span>
                  </td>
                  <td data-label={t('runs.state')}>
                    <span aria-hidden="true">{ICONS[r.state]} </span>
                    {t(`runState.${r.state}`)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
    </section>
  );
}
