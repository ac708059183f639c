// A PC: its hardware facts, the history of its tasks (captures, restores, reports; a room run's restore
// links to its run), its last error with the reason, and actions: restore (the room's restore dialog on
// this one PC) and capture (technician).
import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useParams } from 'react-router';
import { formatBytes, useHasRole, useHost, useHostTasks, type Task } from '../api/admin.js';
import { api, call, type Host } from '../api/client.js';
import { useRoom } from '../api/queries.js';
import { AdminPassword } from '../components/AdminPassword.js';
import { CaptureForm } from '../components/CaptureForm.js';
import { Problem } from '../components/Problem.js';
import { RestoreDialog } from '../components/RestoreDialog.js';
import type { MessageKey } from '../i18n/index.js';
import { useI18n, useTitle } from '../i18n/react.js';
import { ServerText } from '../components/ServerText.js';
import { TableWrap } from '../components/TableWrap.js';
import { useWho } from '../who.js';

interface Facts {
  system?: { vendor?: string; model?: string; serial?: string };
  cpu?: { model?: string; cores?: number; threads?: number };
  memoryBytes?: number;
  disks?: Array<{ name?: string; model?: string; sizeBytes?: number }>;
}

const TASK_ICONS: Record<Task['state'], string> = { pending: '◷', running: '▶', done: '✔', failed: '✖', cancelled: '⊘' };

function useKindName() {
  const { t } = useI18n();
  return (kind: string) => (['capture', 'restore', 'inventory'].includes(kind) ? t(`task.${kind}` as MessageKey) : t('task.other', { kind }));
}

/** The driver pack the PC gets at its next restore (by its DMI vendor and model), or why none. */
const useDriverPack = (id: number) =>
  useQuery({ queryKey: ['hosts', 'one', id, 'driver-pack'], queryFn: () => call(api.GET('/api/v1/hosts/{id}/driver-pack', { params: { path: { id: String(id) } } })) });

function HardwareFacts({ host }: { host: Host }) {
  const { t, lang, relative } = useI18n();
  const pack = useDriverPack(host.id).data;
  const f = (host.hardware ?? null) as Facts | null;
  const disk = f?.disks?.[0];
  const rows: Array<[string, string | null | undefined]> = [
    [t('pc.mac'), host.mac],
    [t('pc.ip'), host.ip],
    [t('pc.lastSeen'), host.lastSeenAt ? relative(host.lastSeenAt) : t('room.neverSeen')],
  ];
  if (f) {
    rows.push(
      [t('pc.model'), [f.system?.vendor, f.system?.model].filter(Boolean).join(' ')],
      [t('pc.cpu'), f.cpu?.model ? `${f.cpu.model}${f.cpu.cores ? ` (${f.cpu.cores}/${f.cpu.threads ?? f.cpu.cores})` : ''}` : null],
      [t('pc.ram'), typeof f.memoryBytes === 'number' ? formatBytes(lang, f.memoryBytes) : null],
      [t('pc.disk'), disk ? [disk.model, typeof disk.sizeBytes === 'number' ? formatBytes(lang, disk.sizeBytes) : null].filter(Boolean).join(', ') : null],
      [t('pc.serial'), f.system?.serial ?? host.serial],
      [t('pc.driverPack'), pack ? (lang === 'fr' ? pack.reason.fr : pack.reason.en) : null],
    );
  } else rows.push([t('pc.serial'), host.serial]);
  return (
    <section aria-labelledby="facts-title">
      <h2 id="facts-title">{t('pc.facts')}</h2>
      {!f && <p className="meta">{t('pc.noFacts')}</p>}
      <dl className="facts" data-testid="facts">
        {rows.map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{v || t('common.none')}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}

function TaskHistory({ tasks }: { tasks: Task[] }) {
  const { t, dateTime } = useI18n();
  const kindName = useKindName();
  const who = useWho();
  if (tasks.length === 0) return <p>{t('pc.noHistory')}</p>;
  return (
    <TableWrap label={t('pc.history')} cards>
      <table data-testid="pc-tasks">
        <thead>
          <tr>
            <th scope="col">{t('pc.kind')}</th>
            <th scope="col">{t('pc.state')}</th>
            <th scope="col">{t('pc.when')}</th>
            <th scope="col">{t('pc.by')}</th>
          </tr>
        </thead>
        <tbody>
          {tasks.map((task) => (
            <tr key={task.id}>
              <td data-label={t('pc.kind')}>
                {kindName(task.kind)}
                {typeof task.params?.image === 'string' ? ` — ${task.params.image}` : ''}
                {task.runId !== null && (
                  <>
                    {' · '}
                    <Link to={`/runs/${task.runId}`} data-testid="task-run">
                      {t('history.run', { id: task.runId })}
                    </Link>
                  </>
                )}
              </td>
              <td data-label={t('pc.state')}>
                <span aria-hidden="true">{TASK_ICONS[task.state]} </span>
                {t(`taskState.${task.state}`)}
              </td>
              <td data-label={t('pc.when')}>{dateTime(task.finishedAt ?? task.startedAt ?? task.createdAt)}</td>
              <td data-label={t('pc.by')}>{who(task.createdBy)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableWrap>
  );
}

export function PcPage() {
  const { t, dateTime } = useI18n();
  const id = Number(useParams().id);
  const host = useHost(id);
  const tasks = useHostTasks(id);
  const technician = useHasRole('technician');
  const kindName = useKindName();
  const [restoring, setRestoring] = useState(false);
  useTitle(host.data ? t('pc.title', { name: host.data.name }) : undefined);

  if (host.isError) return <Problem error={host.error} />;
  if (!host.data) return <p role="status">{t('app.loading')}</p>;
  const h = host.data;
  const lastFailed = (tasks.data ?? []).find((x) => x.state === 'failed' && x.error);
  return (
    <section>
      <h1>{t('pc.title', { name: h.name })}</h1>
      <p>
        {h.room ? t('pc.room', { room: h.room }) : t('pc.noRoom')}
        {h.roomId !== null && (
          <>
            {' — '}
            <Link to={`/rooms/${h.roomId}`}>{t('pc.back')}</Link>
          </>
        )}
      </p>
      {lastFailed && (
        <section aria-labelledby="error-title">
          <h2 id="error-title">{t('pc.lastError')}</h2>
          <p className="error" data-testid="last-error">
            <span aria-hidden="true">✖ </span>
            {t('pc.lastErrorText', { kind: kindName(lastFailed.kind), date: dateTime(lastFailed.finishedAt ?? lastFailed.createdAt) })} <ServerText text={lastFailed.error ?? ''} code={(lastFailed.result?.details as { code?: unknown } | undefined)?.code} />
          </p>
        </section>
      )}
      <HardwareFacts host={h} />
      {technician && (
        <section aria-labelledby="actions-title">
          <h2 id="actions-title">{t('pc.actions')}</h2>
          {h.roomId !== null && (
            <div className="actions">
              <button type="button" className="danger" onClick={() => setRestoring(true)}>
                {t('pc.restore')}
              </button>
            </div>
          )}
          <h3>{t('pc.capture')}</h3>
          <CaptureForm host={h} />
          <h3>{t('pc.adminPasswordTitle')}</h3>
          <AdminPassword hostId={h.id} />
        </section>
      )}
      <section aria-labelledby="history-title">
        <h2 id="history-title">{t('pc.history')}</h2>
        {tasks.isError && <Problem error={tasks.error} />}
        {tasks.data && <TaskHistory tasks={tasks.data} />}
      </section>
      {restoring && h.roomId !== null && (
        <PcRestore
          host={h}
          roomId={h.roomId}
          onClose={() => setRestoring(false)}
          onStarted={() => {
            setRestoring(false);
            void tasks.refetch();
          }}
        />
      )}
    </section>
  );
}

/** The restore dialog on this one PC, with the image and version its room uses preselected, as on the room page. */
function PcRestore({ host, roomId, onClose, onStarted }: { host: Host; roomId: number; onClose: () => void; onStarted: () => void }) {
  const { t } = useI18n();
  const room = useRoom(roomId);
  if (room.isError) return <Problem error={room.error} />;
  if (!room.data) return <p role="status">{t('app.loading')}</p>;
  const r = room.data;
  return (
    <RestoreDialog
      target={{ roomId, roomName: r.name, hosts: [host], whole: false, defaultImageId: r.imageId ?? null, defaultVersion: r.imageId !== null ? r.version : null }}
      onClose={onClose}
      onStarted={onStarted}
    />
  );
}
