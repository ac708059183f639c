// Rooms: each room as a card with its PC count, the PCs of its last run by state, and that run's result.
import { Link } from 'react-router';
import type { Room } from '../api/client.js';
import { useLatestRun, useRooms, useRun } from '../api/queries.js';
import { ErrorMessage } from '../components/ErrorMessage.js';
import { StateBadge } from '../components/StateBadge.js';
import { useI18n, useTitle } from '../i18n/react.js';
import { PC_STATE_ORDER } from '../states.js';

function RoomCard({ room }: { room: Room }) {
  const { t, relative } = useI18n();
  const latest = useLatestRun(room.id);
  const run = useRun(latest.data?.id);
  const counts = run.data?.counts ?? {};
  const last = latest.data;
  return (
    <li className="card" data-testid="room-card">
      <h2>
        <Link to={`/rooms/${room.id}`}>{room.name}</Link>
      </h2>
      <p className="meta">{t('rooms.pcs', { count: room.hostCount })}</p>
      {run.data && (
        <ul className="counts" aria-label={t('rooms.counts')}>
          {PC_STATE_ORDER.filter((s) => (counts[s] ?? 0) > 0).map((s) => (
            <li key={s}>
              <StateBadge state={s} /> {counts[s]}
            </li>
          ))}
        </ul>
      )}
      <p className="meta">{last ? t('rooms.lastRun', { when: relative(last.endedAt ?? last.createdAt), result: t(`runState.${last.state}`) }) : t('rooms.noRun')}</p>
      {latest.isError && <ErrorMessage error={latest.error} />}
    </li>
  );
}

export function RoomsPage() {
  const { t } = useI18n();
  const rooms = useRooms();
  useTitle(t('rooms.title'));
  return (
    <section>
      <h1>{t('rooms.title')}</h1>
      {rooms.isPending && <p role="status">{t('app.loading')}</p>}
      {rooms.isError && <ErrorMessage error={rooms.error} onRetry={() => void rooms.refetch()} />}
      {rooms.data?.length === 0 && <p>{t('rooms.empty')}</p>}
      {rooms.data && rooms.data.length > 0 && (
        <ul className="cards">
          {rooms.data.map((r) => (
            <RoomCard key={r.id} room={r} />
          ))}
        </ul>
      )}
    </section>
  );
}
