// Inventory: the CSV import (a dry run first: its problems by line, in the current language, before
// anything is written; then the import), the export, and the PCs registered at network boot "to sort".
import { useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { importCsv, useHasRole, type ImportReport } from '../api/admin.js';
import { keys } from '../api/queries.js';
import { Problem } from '../components/Problem.js';
import { UnassignedPcs } from '../components/UnassignedPcs.js';
import type { MessageKey } from '../i18n/index.js';
import { useI18n, useTitle } from '../i18n/react.js';
import { TableWrap } from '../components/TableWrap.js';

type LineError = ImportReport['errors'][number];
const CSV_CODES = new Set([
  'bad_mac', 'duplicate_mac', 'duplicate_name', 'name_too_long', 'name_invalid', 'name_empty', 'unknown_column', 'missing_column', 'duplicate_column', 'missing_value', 'bad_ip',
  'bad_row', 'empty_file', 'too_many_rows', 'not_csv',
]);

function LineErrors({ errors }: { errors: LineError[] }) {
  const { t } = useI18n();
  const sentence = (e: LineError) =>
    CSV_CODES.has(e.code) ? t(`csv.${e.code}` as MessageKey, { value: e.value ?? '', column: e.column ?? '' }) : t('csv.other');
  return (
    <div className="stack" data-testid="import-errors">
      <p className="error" role="alert">
        <span aria-hidden="true">✖ </span>
        {t('inv.errorsTitle', { count: errors.length })}
      </p>
      <p>{t('inv.errorsHelp')}</p>
      <TableWrap label={t('inv.problem')} cards>
        <table>
          <thead>
            <tr>
              <th scope="col">{t('inv.line')}</th>
              <th scope="col">{t('inv.column')}</th>
              <th scope="col">{t('inv.problem')}</th>
            </tr>
          </thead>
          <tbody>
            {errors.map((e, i) => (
              <tr key={i} data-testid="import-error" data-line={e.line}>
                <td data-label={t('inv.line')}>{e.line}</td>
                <td data-label={t('inv.column')}>{e.column || t('common.none')}</td>
                <td data-label={t('inv.problem')}>{sentence(e)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
    </div>
  );
}

function CsvImport() {
  const { t } = useI18n();
  const qc = useQueryClient();
  const [file, setFile] = useState<File | null>(null);
  const [report, setReport] = useState<ImportReport | null>(null);
  const [done, setDone] = useState<ImportReport | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [missing, setMissing] = useState(false);

  const run = async (dryRun: boolean) => {
    if (!file) return setMissing(true);
    setBusy(true);
    setError(null);
    try {
      const r = await importCsv(file, file.name, dryRun);
      if (dryRun) setReport(r);
      else {
        setDone(r);
        setReport(null);
        await Promise.all([qc.invalidateQueries({ queryKey: keys.rooms }), qc.invalidateQueries({ queryKey: ['room'] }), qc.invalidateQueries({ queryKey: ['hosts'] })]);
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const check = (e: FormEvent) => {
    e.preventDefault();
    void run(true);
  };
  const s = report?.summary;
  return (
    <section aria-labelledby="import-title">
      <h2 id="import-title">{t('inv.import')}</h2>
      <p className="meta">{t('inv.importHelp')}</p>
      <form className="stack" onSubmit={check}>
        <label>
          {t('inv.file')}
          <input
            type="file"
            accept=".csv,.txt,text/csv,text/plain"
            onChange={(e) => {
              setFile(e.target.files?.[0] ?? null);
              setReport(null);
              setDone(null);
              setMissing(false);
              setError(null);
            }}
          />
        </label>
        {missing && <p className="error" role="alert">{t('inv.noFile')}</p>}
        <div className="actions">
          <button type="submit" disabled={busy}>
            {busy && !report ? t('inv.checking') : t('inv.check')}
          </button>
        </div>
      </form>
      {error !== null && <Problem error={error} />}
      {report && report.errors.length > 0 && <LineErrors errors={report.errors} />}
      {report && report.errors.length === 0 && s && (
        <div className="notice stack" role="status" data-testid="import-ready">
          <p>
            <span aria-hidden="true">✔ </span>
            {t('inv.ready', { count: report.rows })} {t('inv.summary', { created: s.hostsCreated, updated: s.hostsUpdated, unchanged: s.hostsUnchanged })}
          </p>
          {s.roomsCreated.length > 0 && <p>{t('inv.roomsCreated', { rooms: s.roomsCreated.join(', ') })}</p>}
          <div className="actions">
            <button type="button" disabled={busy} onClick={() => void run(false)}>
              {busy ? t('inv.applying') : t('inv.apply')}
            </button>
          </div>
        </div>
      )}
      {done && (
        <p className="notice" role="status" data-testid="import-done">
          <span aria-hidden="true">✔ </span>
          {t('inv.imported', { created: done.summary.hostsCreated, updated: done.summary.hostsUpdated })}
        </p>
      )}
    </section>
  );
}

export function InventoryPage() {
  const { t } = useI18n();
  useTitle(t('inv.title'));
  const technician = useHasRole('technician');
  return (
    <section>
      <h1>{t('inv.title')}</h1>
      {technician && <CsvImport />}
      <section aria-labelledby="export-title">
        <h2 id="export-title">{t('inv.export')}</h2>
        <p className="meta">{t('inv.exportHelp')}</p>
        <p>
          <a href="/api/v1/hosts/export.csv" download data-testid="export">
            {t('inv.exportLink')}
          </a>
        </p>
      </section>
      <UnassignedPcs />
    </section>
  );
}
