import { describe, it, expect } from 'vitest';
import { headerKey, parseHostsCsv, type CsvErrorCode } from './csv-import.js';

const utf8 = (...lines: string[]): Buffer => Buffer.from(lines.join('\n'), 'utf8');
/** Windows-1252 bytes: latin1 for é, â, ..., plus the 0x80–0x9F punctuation Excel uses. */
const cp1252 = (text: string): Buffer =>
  Buffer.from(text.replace(/–/g, '\x96').replace(/’/g, '\x92').replace(/€/g, '\x80'), 'latin1');
const codes = (buf: Buffer): Array<[number, CsvErrorCode]> => parseHostsCsv(buf).errors.map((e) => [e.line, e.code]);
const mac = (i: number): string => `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;

describe('header aliases', () => {
  const families: Record<string, string[]> = {
    name: ['nom', 'Name', 'HOSTNAME', 'Nom du poste', 'poste', 'Ordinateur', 'computer', 'Computer Name', 'computer_name', 'Nom NetBIOS', "Nom de l'ordinateur"],
    mac: ['mac', 'Adresse MAC', 'adresse-mac', 'MAC Address', 'mac_address', 'Adresse physique'],
    room: ['salle', 'Room', 'LOCAL', 'lieu', 'Location'],
    ip: ['ip', 'Adresse IP', 'IP address', 'adresse.ip'],
    serial: ['serial', 'Numéro de série', 'numero de serie', 'N° de série', 'No. série', 'Nº série', 'Num. de série', 'Serial Number', 'SN', 'S/N'],
    notes: ['notes', 'Note', 'Remarque', 'remarques', 'Commentaire', 'commentaires', 'comment', 'Comments'],
  };
  for (const [field, aliases] of Object.entries(families)) {
    it.each(aliases)(`maps %j to ${field}`, (alias) => {
      const header = field === 'name' ? `${alias};mac` : field === 'mac' ? `nom;${alias}` : `nom;mac;${alias}`;
      const extra = field === 'name' || field === 'mac' ? '' : field === 'ip' ? ';10.1.2.3' : ';value';
      const row = `PC01;aa:bb:cc:dd:ee:f0${extra}`;
      const result = parseHostsCsv(utf8(header, row));
      expect(result.errors).toEqual([]);
      expect(result.columns).toContain(field);
      const host = result.rows[0]!;
      expect(host.name).toBe('PC01');
      expect(host.mac).toBe('aa:bb:cc:dd:ee:f0');
      if (field !== 'name' && field !== 'mac') expect(host[field as 'room' | 'ip' | 'serial' | 'notes']).toBe(field === 'ip' ? '10.1.2.3' : 'value');
    });
  }

  it.each(['manufacturer', 'Fabricant', 'model', 'Modèle', 'modele', 'Last seen', 'Dernière connexion'])('ignores our export column %j', (alias) => {
    const result = parseHostsCsv(utf8(`nom;mac;${alias}`, 'PC01;aa:bb:cc:dd:ee:f0;whatever'));
    expect(result.errors).toEqual([]);
    expect(result.columns).toEqual(['name', 'mac', 'ignored']);
    expect(result.rows).toHaveLength(1);
  });

  it('normalises case, accents, punctuation and number prefixes but keeps "nom" intact', () => {
    expect(headerKey('  N° de Série ')).toBe('serie');
    expect(headerKey('Numéro-de-série')).toBe('serie');
    expect(headerKey('NOM')).toBe('nom');
    expect(headerKey('No')).toBe('no');
  });
});

describe('encodings', () => {
  const text = 'Nom;MAC;Salle;Numéro de série\r\nPC01;aa:bb:cc:dd:ee:f0;Salle Sciences Physiques – Bât. B;SN-é1\r\n';

  it('reads UTF-8 without BOM', () => {
    const result = parseHostsCsv(Buffer.from(text, 'utf8'));
    expect(result.encoding).toBe('utf-8');
    expect(result.rows[0]).toMatchObject({ room: 'Salle Sciences Physiques – Bât. B', serial: 'SN-é1' });
  });

  it('strips a UTF-8 BOM', () => {
    const result = parseHostsCsv(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text, 'utf8')]));
    expect(result.encoding).toBe('utf-8-bom');
    expect(result.errors).toEqual([]);
    expect(result.columns[0]).toBe('name');
  });

  it('falls back to Windows-1252 (Excel-FR "CSV séparateur: point-virgule")', () => {
    const buf = cp1252(text);
    expect(buf.includes(0x96)).toBe(true); // the en dash is the single byte 0x96
    expect(buf.includes(0xe9)).toBe(true); // é is the single byte 0xE9
    const result = parseHostsCsv(buf);
    expect(result.encoding).toBe('windows-1252');
    expect(result.errors).toEqual([]);
    expect(result.columns).toEqual(['name', 'mac', 'room', 'serial']);
    expect(result.rows[0]).toMatchObject({ room: 'Salle Sciences Physiques – Bât. B', serial: 'SN-é1' });
  });

  it('decodes every Windows-1252 byte from 0x80 to 0x9F to its real character', () => {
    const c1 = Buffer.from(Array.from({ length: 32 }, (_, i) => 0x80 + i));
    const buf = Buffer.concat([Buffer.from('nom;mac;notes\nPC01;aa:bb:cc:dd:ee:f0;'), c1]);
    expect(parseHostsCsv(buf).rows[0]!.notes).toBe(
      '€\u0081‚ƒ„…†‡ˆ‰Š‹Œ\u008dŽ\u008f\u0090‘’“”•–—˜™š›œ\u009džŸ',
    );
  });
});

describe('separators and quoting', () => {
  it.each([
    [';', 'nom;mac;notes\nPC01;aa:bb:cc:dd:ee:f0;a, b, c'],
    [',', 'nom,mac,notes\nPC01,aa:bb:cc:dd:ee:f0,"a, b, c"'],
    ['\t', 'nom\tmac\tnotes\nPC01\taa:bb:cc:dd:ee:f0\ta, b, c'],
  ])('detects %j from the header', (separator, text) => {
    const result = parseHostsCsv(Buffer.from(text));
    expect(result.separator).toBe(separator);
    expect(result.rows[0]).toMatchObject({ name: 'PC01', notes: 'a, b, c' });
  });

  it('ignores separators inside quoted headers and prefers ";" on ties', () => {
    expect(parseHostsCsv(utf8('"nom";"mac";"remarques, notes"')).separator).toBe(';');
    expect(parseHostsCsv(utf8('nom,salle;mac')).separator).toBe(';');
  });

  it('keeps physical line numbers after quoted multi-line cells and blank lines (LF and CRLF)', () => {
    const lines = [
      'nom;mac;notes',
      'PC01;aa:bb:cc:dd:ee:01;"first; line',
      'second line',
      'third line"',
      '',
      'PC02;aa:bb:cc:dd:ee:02;',
      ';;',
      'PC03;aa:bb:cc:dd:ee:03;"a ""quoted"" word"',
      'PC04;bad-mac;',
    ];
    for (const eol of ['\n', '\r\n']) {
      const result = parseHostsCsv(Buffer.from(lines.join(eol) + eol));
      expect(result.rows.map((r) => [r.line, r.name])).toEqual([[2, 'PC01'], [6, 'PC02'], [8, 'PC03']]);
      expect(result.rows[0]!.notes).toBe('first; line\nsecond line\nthird line');
      expect(result.rows[2]!.notes).toBe('a "quoted" word');
      expect(result.errors.map((e) => [e.line, e.code])).toEqual([[9, 'bad_mac']]);
    }
  });

  it('counts leading blank lines, trims cells and turns empty optional cells into null', () => {
    const result = parseHostsCsv(utf8('', '  ', 'nom;mac;salle;ip;serial', '  PC01 ; AA-BB-CC-DD-EE-F0 ;  ; ;'));
    expect(result.rows).toEqual([{ line: 4, name: 'PC01', mac: 'aa:bb:cc:dd:ee:f0', room: null, ip: null, serial: null, notes: null }]);
  });

  it("undoes the export's formula-injection prefix on free text", () => {
    const result = parseHostsCsv(utf8('nom;mac;salle;notes', "PC01;aa:bb:cc:dd:ee:f0;'-1er étage;'=SUM(A1)"));
    expect(result.rows[0]).toMatchObject({ room: '-1er étage', notes: '=SUM(A1)' });
  });
});

describe('header errors', () => {
  it('reports unknown, duplicate and missing columns on line 1 and skips the rows', () => {
    const result = parseHostsCsv(utf8('Nom;Poste;Bâtiment', 'PC01;PC02;A'));
    expect(result.rows).toEqual([]);
    expect(result.errors.map((e) => [e.line, e.code, e.column])).toEqual([
      [1, 'duplicate_column', 'Poste'],
      [1, 'unknown_column', 'Bâtiment'],
      [1, 'missing_column', 'mac'],
    ]);
    expect(result.errors[0]!.message).toContain('"Nom" and "Poste"');
    expect(result.errors[1]!.message).toContain('unknown column "Bâtiment"');
    expect(result.errors[1]!.message).toContain('salle/room/local/lieu/location');
  });

  it('reports a missing name column', () => {
    expect(codes(utf8('mac;salle', 'aa:bb:cc:dd:ee:f0;B204'))).toEqual([[1, 'missing_column']]);
  });

  it('flags an unnamed column only when it holds data', () => {
    expect(parseHostsCsv(utf8('nom;mac;;', 'PC01;aa:bb:cc:dd:ee:f0;;')).errors).toEqual([]);
    const result = parseHostsCsv(utf8('nom;mac;', 'PC01;aa:bb:cc:dd:ee:f0;', 'PC02;aa:bb:cc:dd:ee:f2;oops'));
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toMatchObject({ line: 1, code: 'unknown_column' });
    expect(result.errors[0]!.message).toContain('column 3 has no header but contains data (first on line 3, "oops")');
  });
});

describe('row errors', () => {
  it('reports every problem of a row, names the value, and leaves the row out', () => {
    const result = parseHostsCsv(utf8('nom;mac;ip', 'pc é1;aa:bb:cc:zz:ee:f0;10.0.0.256', 'PC02;aa:bb:cc:dd:ee:f2;10.0.0.2'));
    expect(result.rows.map((r) => r.name)).toEqual(['PC02']);
    expect(result.errors.map((e) => [e.line, e.code, e.column, e.value])).toEqual([
      [2, 'name_invalid', 'nom', 'pc é1'],
      [2, 'bad_mac', 'mac', 'aa:bb:cc:zz:ee:f0'],
      [2, 'bad_ip', 'ip', '10.0.0.256'],
    ]);
    expect(result.errors[1]!.message).toBe('MAC "aa:bb:cc:zz:ee:f0" is not a valid MAC address; write it as aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF or aabb.ccdd.eeff');
    expect(result.errors[2]!.message).toContain('IP "10.0.0.256" is not a valid IPv4 address');
  });

  it('reports name_empty, name_too_long, missing_value and bad IPs', () => {
    expect(codes(utf8('nom;mac;ip', ';aa:bb:cc:dd:ee:01;', 'SALLE-B204-POSTE-01;aa:bb:cc:dd:ee:02;', 'PC03;;', 'PC04;aa:bb:cc:dd:ee:04;10.0.0', 'PC05;aa:bb:cc:dd:ee:05;010.0.0.1'))).toEqual([
      [2, 'name_empty'], [3, 'name_too_long'], [4, 'missing_value'], [5, 'bad_ip'], [6, 'bad_ip'],
    ]);
  });

  it('reports duplicate MACs and names (ignoring case) on the later line, naming the earlier one', () => {
    const result = parseHostsCsv(utf8('nom;mac', 'PC01;aa:bb:cc:dd:ee:01', 'PC02;AABB.CCDD.EE01', 'pc01;aa:bb:cc:dd:ee:03'));
    expect(result.rows.map((r) => r.line)).toEqual([2]);
    expect(result.errors).toEqual([
      expect.objectContaining({ line: 3, code: 'duplicate_mac', message: 'MAC aa:bb:cc:dd:ee:01 already on line 2; each computer must have its own MAC' }),
      expect.objectContaining({ line: 4, code: 'duplicate_name', message: 'name "pc01" already on line 2 (names are compared ignoring case)' }),
    ]);
  });

  it('reports extra non-empty cells and over-long rooms as bad_row, ignores empty extras', () => {
    const longRoom = 'R'.repeat(65);
    const result = parseHostsCsv(utf8('nom;mac;salle', 'PC01;aa:bb:cc:dd:ee:01;B204;;', 'PC02;aa:bb:cc:dd:ee:02;B204;x', `PC03;aa:bb:cc:dd:ee:03;${longRoom}`, `PC04;aa:bb:cc:dd:ee:04;${'R'.repeat(64)}`));
    expect(result.rows.map((r) => r.name)).toEqual(['PC01', 'PC04']);
    expect(result.errors.map((e) => [e.line, e.code, e.value])).toEqual([[3, 'bad_row', 'x'], [4, 'bad_row', longRoom]]);
    expect(result.errors[0]!.message).toContain('extra value "x"');
    expect(result.errors[1]!.message).toContain('is 65 characters');
  });

  it('reports broken quoting as bad_row on the right line and keeps the rows before it', () => {
    const unclosed = parseHostsCsv(utf8('nom;mac;notes', 'PC01;aa:bb:cc:dd:ee:01;ok', '', 'PC02;aa:bb:cc:dd:ee:02;"never closed', 'PC03;aa:bb:cc:dd:ee:03;'));
    expect(unclosed.rows.map((r) => r.name)).toEqual(['PC01']);
    expect(unclosed.errors.map((e) => [e.line, e.code])).toEqual([[4, 'bad_row']]);
    expect(unclosed.errors[0]!.message).toContain('never closed');
    expect(codes(utf8('nom;mac;notes', 'PC01;aa:bb:cc:dd:ee:01;ok', 'PC02;aa:bb:cc:dd:ee:02;"a"b'))).toEqual([[3, 'bad_row']]);
  });

  it('accepts a stray quote inside an unquoted cell', () => {
    expect(parseHostsCsv(utf8('nom;mac;notes', 'PC01;aa:bb:cc:dd:ee:01;écran 24"')).rows[0]!.notes).toBe('écran 24"');
  });
});

describe('file-level errors', () => {
  it.each([
    ['an empty file', Buffer.alloc(0)],
    ['blank lines only', utf8('', '   ', '')],
    ['separators only', utf8(';;;', ';;')],
    ['a header without hosts', utf8('nom;mac;salle', ';;')],
    ['a host instead of a header', utf8('PC01;aa:bb:cc:dd:ee:01', 'PC02;aa:bb:cc:dd:ee:02')],
  ])('reports empty_file for %s', (_label, buf) => {
    const result = parseHostsCsv(buf);
    expect(result.rows).toEqual([]);
    expect(result.errors.map((e) => e.code)).toEqual(['empty_file']);
  });

  it('refuses more than maxRows hosts with a single error on the first row over the limit', () => {
    const lines = ['nom;mac', ...Array.from({ length: 6 }, (_, i) => `PC${i};${mac(i + 1)}`)];
    expect(parseHostsCsv(utf8(...lines), { maxRows: 6 }).errors).toEqual([]);
    const result = parseHostsCsv(utf8(...lines, 'PC99;aa:bb:cc:dd:ee:99'), { maxRows: 6 });
    expect(result.rows).toEqual([]);
    expect(result.errors).toEqual([expect.objectContaining({ line: 8, code: 'too_many_rows' })]);
    expect(result.errors[0]!.message).toContain('7 computers; at most 6');
  });

  it('refuses a file of far too many lines before decoding or parsing it', () => {
    const huge = Buffer.from(`nom;mac\n${'PC;aa:bb:cc:dd:ee:01\n'.repeat(400_000)}`);
    const result = parseHostsCsv(huge);
    expect(result.errors).toEqual([expect.objectContaining({ code: 'too_many_rows', message: expect.stringContaining('400002 lines; at most 10000 computers') })]);
    expect(result.rows).toEqual([]);
  });

  it('defaults maxRows to 10 000', () => {
    const lines = ['nom;mac', ...Array.from({ length: 10_001 }, (_, i) => `PC${i};${mac(i + 1)}`)];
    expect(codes(utf8(...lines))).toEqual([[10_002, 'too_many_rows']]);
  });
});

it('finds exactly the three bad lines of a generated 300-row file', () => {
  const lines = ['Nom du poste;Adresse MAC;Salle;Adresse IP'];
  for (let i = 1; i <= 300; i++) lines.push(`B204-PC${String(i).padStart(3, '0')};${mac(i)};B204;10.0.${i >> 8}.${i & 0xff}`);
  // file line = index + 1 (header is line 1, host i is on line i + 1)
  lines[41] = `B204-PC041;02:00:00:00:00:zz;B204;`; // line 42: bad MAC
  lines[150] = `B204-PC150;${mac(7)};B204;`; // line 151: duplicate of host 7 (line 8)
  lines[287] = 'SALLE-B204-POSTE-287;02:00:00:00:01:1f;B204;'; // line 288: 20 characters
  const result = parseHostsCsv(cp1252(lines.join('\r\n') + '\r\n'));
  expect(result.errors.map((e) => [e.line, e.code])).toEqual([[42, 'bad_mac'], [151, 'duplicate_mac'], [288, 'name_too_long']]);
  expect(result.errors[1]!.message).toContain('already on line 8');
  expect(result.rows).toHaveLength(297);
  expect(result.rows.at(-1)).toEqual({ line: 301, name: 'B204-PC300', mac: '02:00:00:00:01:2c', room: 'B204', ip: '10.0.1.44', serial: null, notes: null });
});

describe('files that are not CSV', () => {
  it.each([
    ['an .xlsx workbook', Buffer.from('504b030414000600080000002100', 'hex'), /Excel workbook \(\.xlsx\)/],
    ['an .xls workbook', Buffer.from('d0cf11e0a1b11ae1000000000000', 'hex'), /old Excel workbook/],
    ['UTF-16 text', Buffer.from('\ufeffnom;mac', 'utf16le'), /UTF-16/],
    ['a binary file', Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x00, 0x00]), /binary file/],
  ])('refuses %s with one clear error', (_what, buf, message) => {
    const r = parseHostsCsv(buf);
    expect(r.rows).toEqual([]);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatchObject({ line: 1, code: 'not_csv' });
    expect(r.errors[0]!.message).toMatch(message);
  });
});
