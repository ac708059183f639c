// The PCs registered at network boot and in no room yet ("à classer"): choose some, move them to a
// room; and the registration window (open for some minutes, close), for technicians.
import { useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { adminKeys, useHasRole, useHosts, useRegistration } from '../api/admin.js';
import { api, call } from '../api/client.js';
import { keys, useRooms } from '../api/queries.js';
import { useI18n } from '../i18n/react.js';
import { Problem } from './Problem.js';

const DURATIONS = [15, 60, 240];

function Registration({ canChange }: { canChange: boolean }) {
  const { t, dateTime } = useI18n();
  const qc = useQueryClient();
  const reg = useRegistration();
  const [minutes, setMinutes] = useState(60);
  const [error, setError] = useState<unknown>(null);
  const change = async (open: boolean) => {
    setError(null);
    try {
      const r = await call(open ? api.POST('/api/v1/boot/registration', { body: { minutes } }) : api.DELETE('/api/v1/boot/registration'));
      qc.setQueryData(adminKeys.registration, r);
    } catch (err) {
      setError(err);
    }
  };
  const open = reg.data?.open === true;
  return (
    <div className="stack">
      <h3>{t('inv.registration')}</h3>
      {reg.isError && <Problem error={reg.error} />}
      {reg.data && (
        <p data-testid="registration" data-open={open}>
          <span aria-hidden="true">{open ? '● ' : '○ '}</span>
          {open && reg.data.until ? t('inv.regOpen', { until: dateTime(reg.data.until) }) : t('inv.regClosed')}
        </p>
      )}
      {canChange && reg.data && (
        <div className="actions bottom">
          {open ? (
            <button type="button" className="secondary" onClick={() => void change(false)}>
              {t('inv.regCloseBtn')}
            </button>
          ) : (
            <>
              <label>
                {t('inv.regMinutes')}
                <select value={minutes} onChange={(e) => setMinutes(Number(e.target.value))}>
                  {DURATIONS.map((m) => (
                    <option key={m} value={m}>
                      {t('inv.regFor', { minutes: m })}
                    </option>
                  ))}
                </select>
              </label>
              <button type="button" onClick={() => void change(true)}>
                {t('inv.regOpenBtn')}
              </button>
            </>
          )}
        </div>
      )}
      {error !== null && <Problem error={error} />}
    </div>
  );
}

export function UnassignedPcs() {
  const { t, relative } = useI18n();
  const qc = useQueryClient();
  const technician = useHasRole('technician');
  // While registration is open, PCs that network-boot appear here without a reload.
  const registrationOpen = useRegistration().data?.open === true;
  const hosts = useHosts('unassigned', registrationOpen ? 5_000 : false);
  const rooms = useRooms();
  const [chosen, setChosen] = useState<ReadonlySet<number>>(new Set());
  const [roomId, setRoomId] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [moved, setMoved] = useState<{ count: number; room: string } | null>(null);

  const move = async (e: FormEvent) => {
    e.preventDefault();
    const ids = [...chosen];
    if (!ids.length || !roomId) return;
    setError(null);
    try {
      await call(api.POST('/api/v1/hosts/move', { body: { hostIds: ids, roomId: Number(roomId) } }));
      setMoved({ count: ids.length, room: rooms.data?.find((r) => r.id === Number(roomId))?.name ?? '' });
      setChosen(new Set());
      await Promise.all([qc.invalidateQueries({ queryKey: ['hosts'] }), qc.invalidateQueries({ queryKey: keys.rooms }), qc.invalidateQueries({ queryKey: ['room'] })]);
    } catch (err) {
      setError(err);
    }
  };
  const toggle = (id: number) =>
    setChosen((s) => {
      const n = new Set(s);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });
  const list = hosts.data ?? [];
  return (
    <section aria-labelledby="unassigned-title">
      <h2 id="unassigned-title">{t('inv.unassigned')}</h2>
      <p className="meta">{t('inv.unassignedHelp')}</p>
      <Registration canChange={technician} />
      {hosts.isError && <Problem error={hosts.error} />}
      {hosts.data && list.length === 0 && <p>{t('inv.noUnassigned')}</p>}
      {list.length > 0 && (
        <form className="stack" onSubmit={(e) => void move(e)}>
          <ul className="grid" aria-label={t('inv.unassigned')}>
            {list.map((h) => (
              <li key={h.id} className={chosen.has(h.id) ? 'pc selected' : 'pc'} data-testid="unassigned-pc">
                {technician ? (
                  <label className="check">
                    <input type="checkbox" checked={chosen.has(h.id)} onChange={() => toggle(h.id)} aria-label={t('inv.selectPc', { name: h.name })} />
                    <span className="name">{h.name}</span>
                  </label>
                ) : (
                  <span className="name">{h.name}</span>
                )}
                <span className="meta">{h.mac}</span>
                <Link to={`/pcs/${h.id}`} className="meta" aria-label={t('pc.open', { name: h.name })}>
                  {t('pc.details')}
                </Link>
                <span className="meta">{h.lastSeenAt ? t('room.lastSeen', { when: relative(h.lastSeenAt) }) : t('room.neverSeen')}</span>
              </li>
            ))}
          </ul>
          {technician && (
            <div className="actions bottom">
              <label>
                {t('inv.moveTo')}
                <select value={roomId} onChange={(e) => setRoomId(e.target.value)}>
                  <option value="">{t('inv.chooseRoom')}</option>
                  {(rooms.data ?? []).map((r) => (
                    <option key={r.id} value={r.id}>
                      {r.name}
                    </option>
                  ))}
                </select>
              </label>
              <button type="submit" disabled={chosen.size === 0 || !roomId}>
                {t('inv.move', { count: chosen.size })}
              </button>
            </div>
          )}
        </form>
      )}
      {moved && (
        <p className="notice" role="status">
          {t('inv.moved', moved)}
        </p>
      )}
      {error !== null && <Problem error={error} />}
    </section>
  );
}
