// Drag-and-drop placement on the room plan, for a mouse: a PC card (placed or not) dropped on a free
// cell of the plan goes there. The form below the plan (./RoomPlan.tsx) stays, for the keyboard.
import { useQueryClient } from '@tanstack/react-query';
import { useState, type DragEvent, type HTMLAttributes } from 'react';
import { ApiError, api, call, type Host } from '../api/client.js';
import { keys } from '../api/queries.js';
import { useI18n } from '../i18n/react.js';
import { Problem } from './Problem.js';
import { isPlaced, PLAN_MAX, type PlacedHost } from './RoomPlan.js';

const TYPE = 'application/x-roomcast-host';
export type DragProps = Pick<HTMLAttributes<HTMLLIElement>, 'draggable' | 'onDragStart' | 'onDragEnd'>;

/** The plan's size with one more row and column to drop into (within the API's limit). */
export const dropSize = (rows: number, cols: number) => ({ rows: Math.min(PLAN_MAX, rows + 1), cols: Math.min(PLAN_MAX, cols + 1) });

/** The free cells of a plan of that size. */
export function freeCells(placed: PlacedHost[], rows: number, cols: number): Array<{ row: number; col: number }> {
  const taken = new Set(placed.map((h) => `${h.planRow}:${h.planCol}`));
  const cells: Array<{ row: number; col: number }> = [];
  for (let row = 1; row <= rows; row++) for (let col = 1; col <= cols; col++) if (!taken.has(`${row}:${col}`)) cells.push({ row, col });
  return cells;
}

export function usePlanDrop(hosts: Host[]) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const [dragging, setDragging] = useState<number | null>(null);
  const [over, setOver] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  const place = async (hostId: number, row: number, col: number) => {
    const host = hosts.find((h) => h.id === hostId);
    if (!host || (isPlaced(host) && host.planRow === row && host.planCol === col)) return;
    setError(null);
    setDone(null);
    try {
      await call(api.PATCH('/api/v1/hosts/{id}', { params: { path: { id: String(host.id) } }, body: { planRow: row, planCol: col } }));
      setDone(t('plan.saved', { name: host.name, row, col }));
      await qc.invalidateQueries({ queryKey: keys.allHosts });
    } catch (err) {
      const holder = hosts.find((h) => h.id !== host.id && h.planRow === row && h.planCol === col);
      if (err instanceof ApiError && err.code === 'cell_taken' && holder) setDone(t('plan.taken', { row, col, name: holder.name }));
      else setError(err);
    }
  };

  const source = (h: Host): DragProps => ({
    draggable: true,
    onDragStart: (e) => {
      e.dataTransfer.setData(TYPE, String(h.id));
      e.dataTransfer.effectAllowed = 'move';
      setDragging(h.id);
    },
    onDragEnd: () => {
      setDragging(null);
      setOver(null);
    },
  });

  const target = (row: number, col: number) => ({
    'data-over': over === `${row}:${col}` || undefined,
    onDragOver: (e: DragEvent) => {
      if (dragging === null && !e.dataTransfer.types.includes(TYPE)) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = 'move';
      setOver(`${row}:${col}`);
    },
    onDragLeave: () => setOver(null),
    onDrop: (e: DragEvent) => {
      e.preventDefault();
      const id = Number(e.dataTransfer.getData(TYPE)) || dragging;
      setDragging(null);
      setOver(null);
      if (id) void place(id, row, col);
    },
  });

  const status = (
    <>
      <p className="meta">{t('plan.dragHelp')}</p>
      <p role="status" className="meta" data-testid="plan-drop-status">
        {done}
      </p>
      {error !== null && <Problem error={error} />}
    </>
  );
  return { source, target, status };
}
