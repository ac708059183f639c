// The room plan: where each PC sits (row and column from 1), and the form a technician places a PC
// with (selects, so the keyboard alone does it). The page draws the placed PCs on a CSS grid.
import { useQueryClient } from '@tanstack/react-query';
import { useId, useState, type FormEvent } from 'react';
import { ApiError, api, call, type Host } from '../api/client.js';
import { keys } from '../api/queries.js';
import { useI18n } from '../i18n/react.js';
import { Problem } from './Problem.js';

/** The largest row and column (the API's limit). */
export const PLAN_MAX = 40;
const CELLS = Array.from({ length: PLAN_MAX }, (_, i) => i + 1);

export type PlacedHost = Host & { planRow: number; planCol: number };
export const isPlaced = (h: Host): h is PlacedHost => h.planRow !== null && h.planCol !== null;

/** Placed PCs in reading order (row, then column), and the plan's size. */
export function planLayout(hosts: Host[]) {
  const placed = hosts.filter(isPlaced).sort((a, b) => a.planRow - b.planRow || a.planCol - b.planCol);
  const rows = Math.max(0, ...placed.map((h) => h.planRow));
  const cols = Math.max(0, ...placed.map((h) => h.planCol));
  return { placed, unplaced: hosts.filter((h) => !isPlaced(h)), rows, cols };
}

/** The first free cell in reading order, on a plan at least 6 columns wide. */
function firstFree(hosts: Host[]): { row: number; col: number } {
  const width = Math.max(6, ...hosts.filter(isPlaced).map((h) => h.planCol));
  const taken = new Set(hosts.filter(isPlaced).map((h) => `${h.planRow}:${h.planCol}`));
  for (let row = 1; row <= PLAN_MAX; row++) for (let col = 1; col <= width; col++) if (!taken.has(`${row}:${col}`)) return { row, col };
  return { row: 1, col: 1 };
}

/** A row or column (1 to PLAN_MAX), its label beside it. */
function CellSelect({ id, label, value, onChange, testId }: { id: string; label: string; value: number; onChange: (n: number) => void; testId: string }) {
  return (
    <span className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(Number(e.target.value))} data-testid={testId}>
        {CELLS.map((n) => (
          <option key={n} value={n}>
            {n}
          </option>
        ))}
      </select>
    </span>
  );
}

export function PlanForm({ hosts }: { hosts: Host[] }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const [hostId, setHostId] = useState(() => String(hosts.find((h) => !isPlaced(h))?.id ?? hosts[0]?.id ?? ''));
  const [cell, setCell] = useState(() => firstFree(hosts));
  const [error, setError] = useState<unknown>(null);
  const [taken, setTaken] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const host = hosts.find((h) => String(h.id) === hostId);
  // Labels beside (not around) their selects: a select's name is then its label alone, not "Row 2".
  const ids = useId();

  const choose = (id: string) => {
    setHostId(id);
    const h = hosts.find((x) => String(x.id) === id);
    setCell(h && isPlaced(h) ? { row: h.planRow, col: h.planCol } : firstFree(hosts));
  };
  const save = async (place: { row: number; col: number } | null) => {
    if (!host) return;
    setError(null);
    setTaken(null);
    setDone(null);
    try {
      const body = place ? { planRow: place.row, planCol: place.col } : { planRow: null, planCol: null };
      await call(api.PATCH('/api/v1/hosts/{id}', { params: { path: { id: String(host.id) } }, body }));
      setDone(place ? t('plan.saved', { name: host.name, ...place }) : t('plan.removed', { name: host.name }));
      await qc.invalidateQueries({ queryKey: keys.allHosts });
    } catch (err) {
      // Name the PC that holds the cell when this page knows it.
      const holder = place && hosts.find((h) => h.id !== host.id && h.planRow === place.row && h.planCol === place.col);
      if (err instanceof ApiError && err.code === 'cell_taken' && holder) setTaken(t('plan.taken', { ...place, name: holder.name }));
      else setError(err);
    }
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void save(cell);
  };

  return (
    <form className="stack plan-form" onSubmit={submit} aria-labelledby="plan-form-title">
      <h3 id="plan-form-title">{t('plan.formTitle')}</h3>
      <p className="meta">{t('plan.help')}</p>
      <div className="actions bottom">
        <span className="field">
          <label htmlFor={`${ids}-pc`}>{t('plan.pc')}</label>
          <select id={`${ids}-pc`} value={hostId} onChange={(e) => choose(e.target.value)} data-testid="plan-pc">
            {hosts.map((h) => (
              <option key={h.id} value={h.id}>
                {isPlaced(h) ? t('plan.at', { name: h.name, row: h.planRow, col: h.planCol }) : t('plan.notPlaced', { name: h.name })}
              </option>
            ))}
          </select>
        </span>
        <CellSelect id={`${ids}-row`} label={t('plan.row')} value={cell.row} onChange={(row) => setCell({ ...cell, row })} testId="plan-row" />
        <CellSelect id={`${ids}-col`} label={t('plan.col')} value={cell.col} onChange={(col) => setCell({ ...cell, col })} testId="plan-col" />
        <button type="submit" disabled={!host}>
          {t('plan.submit')}
        </button>
        <button type="button" className="secondary" disabled={!host || !isPlaced(host)} onClick={() => void save(null)}>
          {t('plan.remove')}
        </button>
      </div>
      <p role="status" className="meta">
        {done}
      </p>
      {taken && (
        <div className="error" role="alert">
          <span aria-hidden="true">⚠ </span>
          {taken}
        </div>
      )}
      {error !== null && <Problem error={error} />}
    </form>
  );
}
