/**
 * Import of host spreadsheets (CSV) as French schools export them:
 * Excel-FR "CSV (séparateur: point-virgule)" in Windows-1252, "CSV UTF-8"
 * with a BOM, LibreOffice exports, hand-written files, and our own export.
 *
 * Line numbers in errors are physical lines, as shown by a text editor or
 * Excel: the header is line 1, blank lines count, and a quoted cell that
 * spans several lines counts all of them.
 */
import { parse } from 'csv-parse/sync';
import { checkComputerName } from './computer-name.js';
import { explainInvalidMac, MAC_PATTERN_HELP, normalizeMac } from './mac.js';

export type CsvEncoding = 'utf-8' | 'utf-8-bom' | 'windows-1252';
export type CsvSeparator = ';' | ',' | '\t';
export type CsvColumn = 'name' | 'mac' | 'room' | 'ip' | 'serial' | 'notes' | 'ignored';

export interface CsvHostRow {
  line: number;
  name: string;
  /** normalised, `aa:bb:cc:dd:ee:ff` */
  mac: string;
  room: string | null;
  ip: string | null;
  serial: string | null;
  notes: string | null;
}

export type CsvErrorCode =
  | 'bad_mac' | 'duplicate_mac' | 'duplicate_name' | 'name_too_long' | 'name_invalid' | 'name_empty'
  | 'unknown_column' | 'missing_column' | 'duplicate_column' | 'missing_value' | 'bad_ip' | 'bad_row'
  | 'empty_file' | 'too_many_rows' | 'not_csv';

export interface CsvLineError {
  line: number;
  code: CsvErrorCode;
  /** The header as written in the file (the expected column name for `missing_column`). */
  column?: string;
  value?: string;
  message: string;
}

export interface CsvParseResult {
  encoding: CsvEncoding;
  separator: CsvSeparator;
  columns: CsvColumn[];
  rows: CsvHostRow[];
  errors: CsvLineError[];
}

export const DEFAULT_MAX_ROWS = 10_000;
export const ROOM_MAX_LENGTH = 64;

const ALIASES: Record<CsvColumn, string[]> = {
  name: ['nom', 'name', 'hostname', 'nom du poste', 'poste', 'ordinateur', 'computer', 'computer name',
    'nom netbios', "nom de l'ordinateur"],
  mac: ['mac', 'adresse mac', 'mac address', 'adresse physique'],
  room: ['salle', 'room', 'local', 'lieu', 'location'],
  ip: ['ip', 'adresse ip', 'ip address'],
  serial: ['serial', 'numéro de série', 'n° de série', 'serial number', 'sn'],
  notes: ['notes', 'note', 'remarque', 'remarques', 'commentaire', 'commentaires', 'comment', 'comments'],
  ignored: ['manufacturer', 'fabricant', 'model', 'modèle', 'last seen', 'dernière connexion'],
};

/** "N° de série", "No. série", "Numéro de série" all start with a "number" word. */
const NUMBER_PREFIXES = new Set(['n', 'no', 'nr', 'num', 'numero']);

/**
 * Comparison key of a header: case-, accent- and punctuation-insensitive,
 * with a leading "n°"/"no"/"num"/"numéro" (and a following "de") dropped.
 */
export function headerKey(header: string): string {
  const words = header
    .normalize('NFKD') // "é" → "e" + accent, "º" → "o"
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');
  if (words.length > 1 && NUMBER_PREFIXES.has(words[0]!)) {
    words.shift();
    if (words.length > 1 && (words[0] === 'de' || words[0] === 'd')) words.shift();
  }
  return words.join('');
}

const COLUMN_BY_KEY = new Map<string, CsvColumn>(
  (Object.entries(ALIASES) as Array<[CsvColumn, string[]]>).flatMap(([column, aliases]) =>
    aliases.map((alias): [string, CsvColumn] => [headerKey(alias), column]),
  ),
);

const ACCEPTED_HEADERS = (Object.entries(ALIASES) as Array<[CsvColumn, string[]]>)
  .filter(([column]) => column !== 'ignored')
  .map(([, aliases]) => aliases.join('/'))
  .join('; ');

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** Our export prefixes free text starting with = + - @ tab CR with "'" (formula injection); undo it. */
const ESCAPED_FORMULA = /^'[=+\-@\t\r]/;

interface RawRecord {
  /** physical line where the record starts */
  line: number;
  cells: string[];
}

/**
 * Windows-1252 characters of bytes 0x80–0x9F (WHATWG index; the five unassigned
 * bytes stay C1 controls). Node 20.18.3+ TextDecoder('windows-1252') wrongly
 * returns U+0080–U+009F for them (nodejs/node#60888), so we map them back.
 */
const CP1252_C1 =
  '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f' +
  '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

function decodeWindows1252(input: Uint8Array): string {
  return new TextDecoder('windows-1252')
    .decode(input)
    .replace(/[\u0080-\u009f]/g, (c) => CP1252_C1[c.charCodeAt(0) - 0x80]!);
}

function decode(input: Buffer): { text: string; encoding: CsvEncoding } {
  if (input[0] === 0xef && input[1] === 0xbb && input[2] === 0xbf) {
    return { text: new TextDecoder('utf-8', { ignoreBOM: true }).decode(input.subarray(3)), encoding: 'utf-8-bom' };
  }
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(input), encoding: 'utf-8' };
  } catch {
    return { text: decodeWindows1252(input), encoding: 'windows-1252' };
  }
}

/** The separator occurring most, outside quotes, in the first non-blank line; ";" wins ties. */
function detectSeparator(text: string): CsvSeparator {
  const counts = new Map<CsvSeparator, number>([[';', 0], [',', 0], ['\t', 0]]);
  let inQuotes = false;
  let content = false;
  for (const ch of text) {
    if (ch === '"') inQuotes = !inQuotes;
    else if (inQuotes) continue;
    else if (ch === '\n' && content) break;
    else if (counts.has(ch as CsvSeparator)) counts.set(ch as CsvSeparator, counts.get(ch as CsvSeparator)! + 1);
    if (ch.trim() !== '') content = true;
  }
  let best: CsvSeparator = ';';
  for (const [sep, n] of counts) if (n > counts.get(best)!) best = sep;
  return best;
}

const countNewlines = (s: string): number => s.split('\n').length - 1;
const isBlank = (cells: string[]): boolean => cells.every((c) => c.trim() === '');

/** Parse CSV text (newlines already normalised to "\n") into records tagged with their start line. */
function readRecords(text: string, separator: CsvSeparator, errors: CsvLineError[]): RawRecord[] {
  const records: RawRecord[] = [];
  let lastEnd = 0;
  try {
    parse(text, {
      delimiter: separator,
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
      trim: true,
      // context.lines is the line where the record ENDS; cells keep their quoted newlines.
      on_record: (cells: string[], context) => {
        lastEnd = context.lines;
        records.push({ line: context.lines - cells.reduce((n, c) => n + countNewlines(c), 0), cells });
        return null;
      },
    });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'CSV_QUOTE_NOT_CLOSED') {
      const lines = text.split('\n');
      let line = lastEnd + 1;
      while (line < lines.length && lines[line - 1]!.trim() === '') line++;
      errors.push({ line, code: 'bad_row', message: `a quoted cell starting on line ${line} is never closed (missing '"'); the rest of the file could not be read` });
    } else {
      const reported = (err as { lines?: unknown }).lines;
      const line = typeof reported === 'number' ? reported : lastEnd + 1;
      const what = code === 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE' || code === 'CSV_INVALID_CLOSING_QUOTE'
        ? 'text follows a closing quote, as in "a"b'
        : (err as Error).message;
      errors.push({ line, code: 'bad_row', message: `the line is not valid CSV (${what}); put the whole cell in quotes and double the quotes inside it (""); the rest of the file could not be read` });
    }
  }
  return records;
}

function mapHeader(header: RawRecord, data: RawRecord[], errors: CsvLineError[]): CsvColumn[] {
  const line = header.line;
  const known = header.cells.map((cell) => COLUMN_BY_KEY.get(headerKey(cell)));
  const dataLike = header.cells.find((cell) => normalizeMac(cell) !== null);
  if (known.every((c) => c === undefined) && dataLike !== undefined) {
    errors.push({ line, code: 'empty_file', value: dataLike, message: `line ${line} contains the MAC "${dataLike}", so it looks like a host rather than a header; add a first line naming the columns, e.g. "nom;mac;salle"` });
    return header.cells.map(() => 'ignored');
  }
  const seen = new Map<CsvColumn, string>();
  const columns = header.cells.map((cell, i): CsvColumn => {
    if (cell === '') {
      const withData = data.find((r) => (r.cells[i] ?? '').trim() !== '');
      if (withData) {
        errors.push({ line, code: 'unknown_column', column: '', value: withData.cells[i]!, message: `column ${i + 1} has no header but contains data (first on line ${withData.line}, "${withData.cells[i]}"); name it (accepted: ${ACCEPTED_HEADERS}) or delete it` });
      }
      return 'ignored';
    }
    const column = known[i];
    if (column === undefined) {
      errors.push({ line, code: 'unknown_column', column: cell, value: cell, message: `unknown column "${cell}"; accepted column names are: ${ACCEPTED_HEADERS}` });
      return 'ignored';
    }
    const previous = seen.get(column);
    if (column !== 'ignored' && previous !== undefined) {
      errors.push({ line, code: 'duplicate_column', column: cell, value: cell, message: `columns "${previous}" and "${cell}" both give the ${column}; keep only one of them` });
      return 'ignored';
    }
    seen.set(column, cell);
    return column;
  });
  for (const required of ['name', 'mac'] as const) {
    if (!seen.has(required)) {
      errors.push({ line, code: 'missing_column', column: required, message: `the header has no ${required} column; add one named ${ALIASES[required].map((a) => `"${a}"`).join(', ')}` });
    }
  }
  return columns;
}

/** Options of {@link parseHostsCsv}. */
export interface ParseHostsCsvOptions {
  /** Maximum number of (non-empty) data rows; default 10 000. */
  maxRows?: number;
}

/** Recognises files people upload instead of a CSV: Excel workbooks and UTF-16 text. */
function notCsv(input: Buffer): string | null {
  const hex = input.subarray(0, 4).toString('hex');
  if (hex === '504b0304') return 'this is an Excel workbook (.xlsx) or another ZIP file, not a CSV; in Excel choose "Enregistrer sous" → "CSV (séparateur: point-virgule)"';
  if (hex === 'd0cf11e0') return 'this is an old Excel workbook (.xls), not a CSV; in Excel choose "Enregistrer sous" → "CSV (séparateur: point-virgule)"';
  if (hex.startsWith('fffe') || hex.startsWith('feff')) return 'this file is UTF-16 text ("Texte Unicode"); save it as "CSV (séparateur: point-virgule)" or "CSV UTF-8" instead';
  if (input.subarray(0, 4096).includes(0)) return 'this is a binary file, not a CSV text file';
  return null;
}

/** Line breaks in a buffer, counted on the bytes (no decoding). */
function countLines(input: Buffer): number {
  let n = 1;
  for (let i = input.indexOf(0x0a); i !== -1; i = input.indexOf(0x0a, i + 1)) n++;
  return n;
}

export function parseHostsCsv(input: Buffer, opts: ParseHostsCsvOptions = {}): CsvParseResult {
  const maxRows = opts.maxRows ?? DEFAULT_MAX_ROWS;
  const wrongKind = notCsv(input);
  if (wrongKind) return { encoding: 'utf-8', separator: ';', columns: [], rows: [], errors: [{ line: 1, code: 'not_csv', message: wrongKind }] };
  // Far too many lines is refused before any decoding or parsing (a few ms for a huge file, where
  // parsing it would block the server for seconds). The bound is generous: quoted cells may hold
  // line breaks, and blank lines do not count; the exact count is checked after parsing.
  const lines = countLines(input);
  if (lines > 2 * maxRows + 10) {
    return { encoding: 'utf-8', separator: ';', columns: [], rows: [], errors: [{ line: 2 * maxRows + 11, code: 'too_many_rows', message: `the file has ${lines} lines; at most ${maxRows} computers can be imported at once, split it into several files` }] };
  }
  const decoded = decode(input);
  // csv-parse counts a "\r\n" inside a quoted cell as two lines; normalise first.
  const text = decoded.text.replace(/\r\n?/g, '\n');
  const separator = detectSeparator(text);
  const errors: CsvLineError[] = [];
  const result: CsvParseResult = { encoding: decoded.encoding, separator, columns: [], rows: [], errors };
  const done = (): CsvParseResult => {
    errors.sort((a, b) => a.line - b.line);
    return result;
  };

  const records = readRecords(text, separator, errors);
  const headerIndex = records.findIndex((r) => !isBlank(r.cells));
  if (headerIndex < 0) {
    if (errors.length === 0) errors.push({ line: 1, code: 'empty_file', message: 'the file is empty; it needs a header line (e.g. "nom;mac;salle") and one line per computer' });
    return done();
  }
  const header = records[headerIndex]!;
  const data = records.slice(headerIndex + 1).filter((r) => !isBlank(r.cells));
  result.columns = mapHeader(header, data, errors);
  if (errors.some((e) => e.line === header.line)) return done();

  if (data.length === 0 && errors.length === 0) {
    errors.push({ line: header.line, code: 'empty_file', message: 'the file has a header but no computers; add one line per computer below the header' });
    return done();
  }
  if (data.length > maxRows) {
    errors.push({ line: data[maxRows]!.line, code: 'too_many_rows', message: `the file has ${data.length} computers; at most ${maxRows} can be imported at once, split it into several files` });
    return done();
  }

  const index = new Map(result.columns.map((c, i) => [c, i]));
  const headerOf = (column: CsvColumn): string => header.cells[index.get(column)!] ?? column;
  const macLines = new Map<string, number>();
  const nameLines = new Map<string, number>();

  for (const record of data) {
    const { line, cells } = record;
    const rowErrors: CsvLineError[] = [];
    const fail = (code: CsvErrorCode, column: CsvColumn | undefined, value: string | undefined, message: string): void => {
      rowErrors.push({ line, code, ...(column ? { column: headerOf(column) } : {}), ...(value !== undefined ? { value } : {}), message });
    };
    const cell = (column: CsvColumn): string => {
      const i = index.get(column);
      return i === undefined ? '' : (cells[i] ?? '').trim();
    };
    const freeText = (column: CsvColumn): string | null => {
      const v = cell(column);
      return v === '' ? null : ESCAPED_FORMULA.test(v) ? v.slice(1) : v;
    };

    const extras = cells.slice(header.cells.length).filter((c) => c.trim() !== '');
    if (extras.length > 0) {
      fail('bad_row', undefined, extras[0], `the line has ${cells.length} cells but the header only ${header.cells.length} columns (extra value "${extras[0]}"); put cells containing "${separator === '\t' ? '\\t' : separator}" in quotes`);
    }

    const nameCheck = checkComputerName(cell('name'));
    if (!nameCheck.ok) {
      fail(nameCheck.code, 'name', cell('name'), nameCheck.message);
    } else {
      const key = nameCheck.name.toLowerCase();
      const first = nameLines.get(key);
      if (first !== undefined) fail('duplicate_name', 'name', nameCheck.name, `name "${nameCheck.name}" already on line ${first} (names are compared ignoring case)`);
      else nameLines.set(key, line);
    }

    const rawMac = cell('mac');
    const mac = normalizeMac(rawMac);
    if (rawMac === '') {
      fail('missing_value', 'mac', '', `the MAC address is empty; every computer needs its MAC (${MAC_PATTERN_HELP})`);
    } else if (mac === null) {
      fail('bad_mac', 'mac', rawMac, explainInvalidMac(rawMac)!);
    } else {
      const first = macLines.get(mac);
      if (first !== undefined) fail('duplicate_mac', 'mac', rawMac, `MAC ${mac} already on line ${first}; each computer must have its own MAC`);
      else macLines.set(mac, line);
    }

    const ip = cell('ip');
    if (ip !== '' && !IPV4.test(ip)) {
      fail('bad_ip', 'ip', ip, `IP "${ip}" is not a valid IPv4 address such as 10.0.12.34; leave the cell empty if the computer gets its address by DHCP`);
    }

    const room = freeText('room');
    if (room !== null && [...room].length > ROOM_MAX_LENGTH) {
      fail('bad_row', 'room', room, `room "${room}" is ${[...room].length} characters; a room name has at most ${ROOM_MAX_LENGTH}`);
    }

    if (rowErrors.length > 0) {
      errors.push(...rowErrors);
    } else {
      result.rows.push({ line, name: nameCheck.ok ? nameCheck.name : '', mac: mac!, room, ip: ip === '' ? null : ip, serial: freeText('serial'), notes: freeText('notes') });
    }
  }
  return done();
}
