// System (admin): the server's health (database, Redis, workers, the boot client's files and the iPXE
// binaries of the TFTP root from /api/health), the containers view, users and API tokens
// (../components/SystemAccounts.tsx), and the audit log, paged.
import { useAudit, useContainers, useHasRole, useHealth } from '../api/admin.js';
import { auditActionKey, auditTargetKey } from '../api/audit-words.js';
import { Problem } from '../components/Problem.js';
import { getTimeZone } from '../i18n/index.js';
import { Tokens, Users } from '../components/SystemAccounts.js';
import { useI18n, useTitle } from '../i18n/react.js';
import { TableWrap } from '../components/TableWrap.js';
import { isContainerState } from '../states.js';
import { useWho } from '../who.js';

function Health() {
  const { t } = useI18n();
  const health = useHealth();
  const h = health.data;
  return (
    <section aria-labelledby="health-title">
      <h2 id="health-title">{t('sys.health')}</h2>
      {health.isError && <Problem error={health.error} />}
      {h && (
        <ul data-testid="health">
          <li>{t('sys.overall', { status: h.status === 'ok' ? t('sys.ok') : t('sys.degraded') })}</li>
          <li>
            {t('sys.database', { dialect: h.database.dialect })} — {h.database.status === 'up' ? t('sys.up') : t('sys.down')}
          </li>
          <li>
            {t('sys.redis')} — {h.redis.status === 'up' ? t('sys.up') : t('sys.down')}
          </li>
          <li>{t('sys.workers', { count: h.workers })}</li>
          <li>{t('sys.version', { version: h.version })}</li>
          <li data-testid="time-zone">{t('tz.school', { zone: getTimeZone() })}</li>
        </ul>
      )}
      <h3>{t('sys.bootClient')}</h3>
      {h && (
        <p className={h.bootClient.status === 'complete' ? '' : 'error'} data-testid="boot-client">
          {h.bootClient.status === 'complete' ? t('sys.bootComplete') : t('sys.bootMissing', { files: h.bootClient.missing.join(', ') })}
        </p>
      )}
      <h3>{t('ipxe.title')}</h3>
      {h && (
        <div data-testid="ipxe" data-status={h.ipxe.status}>
          <p className={h.ipxe.status === 'complete' ? '' : 'error'}>{h.ipxe.status === 'complete' ? t('ipxe.complete') : t('ipxe.incomplete')}</p>
          <ul>
            {h.ipxe.files.map((f) => (
              <li key={f.name} data-state={f.state}>
                <span aria-hidden="true">{f.state === 'ok' ? '✔ ' : '✖ '}</span>
                {t(`ipxe.${f.state}`, { name: f.name })}
              </li>
            ))}
          </ul>
          <p className="meta">{t('ipxe.root', { root: h.ipxe.root })}</p>
        </div>
      )}
    </section>
  );
}

function Containers() {
  const { t, relative } = useI18n();
  const c = useContainers();
  return (
    <section aria-labelledby="containers-title">
      <h2 id="containers-title">{t('sys.containers')}</h2>
      {c.isError && <Problem error={c.error} />}
      {c.data && !c.data.available && <p data-testid="containers-off">{t('sys.containersOff')}</p>}
      {c.data?.available && (
        <TableWrap label={t('sys.containers')} cards>
          <table>
            <thead>
              <tr>
                <th scope="col">{t('sys.container')}</th>
                <th scope="col">{t('sys.cState')}</th>
                <th scope="col">{t('sys.cHealth')}</th>
                <th scope="col">{t('sys.cRestarts')}</th>
              </tr>
            </thead>
            <tbody>
              {c.data.containers.map((x) => (
                <tr key={x.id}>
                  <td data-label={t('sys.container')}>{x.service ?? x.name}</td>
                  <td data-label={t('sys.cState')}>
                    {isContainerState(x.state) ? t(`containerState.${x.state}`) : x.state}
                    {x.startedAt && <span className="meta"> ({relative(x.startedAt)})</span>}
                  </td>
                  <td data-label={t('sys.cHealth')}>{t(`containerHealth.${x.health}`)}</td>
                  <td data-label={t('sys.cRestarts')}>{x.restarts}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
    </section>
  );
}

function Audit() {
  const { t, dateTime } = useI18n();
  const who = useWho();
  const audit = useAudit();
  const entries = audit.data?.pages.flat() ?? [];
  return (
    <section aria-labelledby="audit-title">
      <h2 id="audit-title">{t('sys.audit')}</h2>
      {audit.isError && <Problem error={audit.error} />}
      {entries.length > 0 && (
        <TableWrap label={t('sys.audit')} cards>
          <table data-testid="audit">
            <thead>
              <tr>
                <th scope="col">{t('sys.auditWhen')}</th>
                <th scope="col">{t('sys.auditWho')}</th>
                <th scope="col">{t('sys.auditAction')}</th>
                <th scope="col">{t('sys.auditTarget')}</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => (
                <tr key={e.id}>
                  <td data-label={t('sys.auditWhen')}>{dateTime(e.at)}</td>
                  <td data-label={t('sys.auditWho')}>{who(e.actor)}</td>
                  <td data-label={t('sys.auditAction')}>{auditActionKey(e.action) ? t(auditActionKey(e.action)!) : <code>{e.action}</code>}</td>
                  <td data-label={t('sys.auditTarget')}>{e.targetType ? `${auditTargetKey(e.targetType) ? t(auditTargetKey(e.targetType)!) : e.targetType}${e.targetId ? ` ${e.targetId}` : ''}` : t('common.none')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      {audit.hasNextPage ? (
        <div className="actions">
          <button type="button" className="secondary" disabled={audit.isFetchingNextPage} onClick={() => void audit.fetchNextPage()}>
            {t('sys.auditMore')}
          </button>
        </div>
      ) : (
        audit.data && <p className="meta">{t('sys.auditEnd')}</p>
      )}
    </section>
  );
}

export function SystemPage() {
  const { t } = useI18n();
  useTitle(t('sys.title'));
  const admin = useHasRole('admin');
  if (!admin) return <p className="error" role="alert">{t('problem.forbidden')}</p>;
  return (
    <section>
      <h1>{t('sys.title')}</h1>
      <Health />
      <Containers />
      <Users />
      <Tokens />
      <Audit />
    </section>
  );
}
