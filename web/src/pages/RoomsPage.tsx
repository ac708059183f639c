// Rooms: each room as a card with its PC count, the PCs of its last run by state, and that run's result.
// Two requests for the whole page: the rooms, and every room's newest run with its counts; then live
// (socket.io): the counts move with each PC's state, the result with each run's change.
import { Link } from 'react-router';
import type { Room } from '../api/client.js';
import { useRooms } from '../api/queries.js';
import { useRoomsLive } from '../api/runs-live.js';
import { useLatestByRoom, type RoomLastRun } from '../api/runs-queries.js';
import { ErrorMessage } from '../components/ErrorMessage.js';
import { StateBadge } from '../components/StateBadge.js';
import { useI18n, useTitle } from '../i18n/react.js';
import { PC_STATE_ORDER } from '../states.js';

function RoomCard({ room, last }: { room: Room; last: RoomLastRun | undefined }) {
  const { t, relative } = useI18n();
  const counts = last?.counts ?? {};
  return (
    <li className="card" data-testid="room-card" data-room={room.name}>
      <h2>
        <Link to={`/rooms/${room.id}`}>{room.name}</Link>
      </h2>
      <p className="meta">{t('rooms.pcs', { count: room.hostCount })}</p>
      {last && (
        <ul className="counts" aria-label={t('rooms.counts')}>
          {PC_STATE_ORDER.filter((s) => (counts[s] ?? 0) > 0).map((s) => (
            <li key={s}>
              <StateBadge state={s} /> {counts[s]}
            </li>
          ))}
        </ul>
      )}
      <p className="meta">{last ? t('rooms.lastRun', { when: relative(last.run.endedAt ?? last.run.createdAt), result: t(`runState.${last.run.state}`) }) : t('rooms.noRun')}</p>
    </li>
  );
}

export function RoomsPage() {
  const { t } = useI18n();
  const rooms = useRooms();
  const latest = useLatestByRoom();
  const lastOf = new Map((latest.data ?? []).map((l) => [l.roomId, l]));
  useRoomsLive((rooms.data ?? []).map((r) => r.id));
  useTitle(t('rooms.title'));
  return (
    <section>
      <h1>{t('rooms.title')}</h1>
      {rooms.isPending && <p role="status">{t('app.loading')}</p>}
      {rooms.isError && <ErrorMessage error={rooms.error} onRetry={() => void rooms.refetch()} />}
      {latest.isError && <ErrorMessage error={latest.error} onRetry={() => void latest.refetch()} />}
      {rooms.data?.length === 0 && <p>{t('rooms.empty')}</p>}
      {rooms.data && rooms.data.length > 0 && (
        <ul className="cards">
          {rooms.data.map((r) => (
            <RoomCard key={r.id} room={r} last={lastOf.get(r.id)} />
          ))}
        </ul>
      )}
    </section>
  );
}
