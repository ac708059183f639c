/**
 * Export of hosts as a CSV that GLPI's Data Injection plugin and Excel-FR
 * open directly (UTF-8 with BOM, ";" separator, CRLF line ends), and that
 * `parseHostsCsv` re-imports losslessly: location → room, comment → notes,
 * manufacturer / model / last seen → ignored.
 */
import { stringify } from 'csv-stringify/sync';

export interface ExportHost {
  name: string;
  mac: string;
  ip: string | null;
  serial: string | null;
  room: string | null;
  notes: string | null;
  manufacturer?: string | null;
  model?: string | null;
  lastSeenAt?: string | null;
}

export const EXPORT_HEADER = ['name', 'serial', 'mac', 'ip', 'location', 'manufacturer', 'model', 'comment', 'last seen'] as const;

const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * Protect a free-text cell against CSV/formula injection: a spreadsheet would
 * evaluate a cell starting with = + - @ (or tab/CR before one), so prefix it with "'".
 * Names, MACs and IPs are validated on input and cannot start with these.
 */
export function escapeFormula(value: string | null | undefined): string {
  if (value === null || value === undefined) return '';
  return FORMULA_START.test(value) ? `'${value}` : value;
}

export function hostsToCsv(hosts: ExportHost[]): string {
  const records = hosts.map((h) => [
    h.name,
    escapeFormula(h.serial),
    h.mac,
    h.ip ?? '',
    escapeFormula(h.room),
    escapeFormula(h.manufacturer),
    escapeFormula(h.model),
    escapeFormula(h.notes),
    escapeFormula(h.lastSeenAt),
  ]);
  return stringify([[...EXPORT_HEADER], ...records], {
    bom: true,
    delimiter: ';',
    record_delimiter: '\r\n',
    // Quote cells holding a bare "\n" or "\r" too (only "\r\n" is quoted by default once record_delimiter is set).
    quote_record_delimiter: true,
  });
}
