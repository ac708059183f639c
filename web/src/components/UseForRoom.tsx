// On the images page, one ready version: the rooms set to use it, and "use this version for room …"
// (technician): runs of that room that name no version restore it, and the restore dialog preselects it.
import { useQueryClient } from '@tanstack/react-query';
import { useId, useState, type FormEvent } from 'react';
import { api, call } from '../api/client.js';
import { keys, useRooms } from '../api/queries.js';
import { useI18n } from '../i18n/react.js';
import { Problem } from './Problem.js';

export function UseForRoom({ image, version, technician }: { image: { id: number; name: string }; version: number; technician: boolean }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const rooms = useRooms();
  const id = useId();
  const [roomId, setRoomId] = useState('');
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const list = rooms.data ?? [];
  const using = list.filter((r) => r.imageId === image.id && r.version === version);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const room = list.find((r) => String(r.id) === roomId);
    if (!room) return;
    setError(null);
    setDone(null);
    try {
      await call(api.PATCH('/api/v1/rooms/{id}', { params: { path: { id: String(room.id) } }, body: { imageId: image.id, version } }));
      setDone(t('roomImage.set', { room: room.name, image: image.name, version }));
      await Promise.all([qc.invalidateQueries({ queryKey: keys.rooms }), qc.invalidateQueries({ queryKey: keys.room(room.id) })]);
    } catch (err) {
      setError(err);
    }
  };

  return (
    <div className="stack">
      {using.length > 0 && <p className="meta" data-testid="used-by">{t('roomImage.usedBy', { rooms: using.map((r) => r.name).join(', ') })}</p>}
      {technician && list.length > 0 && (
        <form className="actions bottom" onSubmit={(e) => void submit(e)}>
          <span className="field">
            <label htmlFor={`${id}-room`}>{t('roomImage.roomFor', { version })}</label>
            <select id={`${id}-room`} value={roomId} onChange={(e) => setRoomId(e.target.value)}>
              <option value="">{t('roomImage.chooseRoom')}</option>
              {list.map((r) => (
                <option key={r.id} value={r.id}>
                  {r.name}
                </option>
              ))}
            </select>
          </span>
          <button type="submit" className="secondary" disabled={roomId === ''}>
            {t('roomImage.use', { version })}
          </button>
        </form>
      )}
      <p role="status" className="meta">
        {done}
      </p>
      {error !== null && <Problem error={error} />}
    </div>
  );
}
