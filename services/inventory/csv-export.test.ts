import { describe, it, expect } from 'vitest';
import { escapeFormula, hostsToCsv, type ExportHost } from './csv-export.js';
import { parseHostsCsv } from './csv-import.js';

const hosts: ExportHost[] = [
  { name: 'B204-PC01', mac: 'aa:bb:cc:dd:ee:01', ip: '10.0.4.1', serial: 'CZC1234XYZ', room: 'Salle Sciences Physiques – Bât. B', notes: 'écran 24"; clavier QWERTY', manufacturer: 'HP', model: 'ProDesk 400 G7', lastSeenAt: '2024-09-02T07:45:00.000Z' },
  { name: 'cdi-poste3', mac: '02:00:00:00:00:03', ip: null, serial: '=HYPERLINK("http://x")', room: '-1 Sous-sol', notes: 'ligne 1\nligne 2, suite', manufacturer: '@Dell', model: '+Opti' },
  { name: 'B204-PC02', mac: 'aa:bb:cc:dd:ee:02', ip: null, serial: null, room: null, notes: null },
];

describe('hostsToCsv', () => {
  const csv = hostsToCsv(hosts);

  it('writes a UTF-8 BOM, the GLPI header, ";" separators and CRLF line ends', () => {
    expect(csv.startsWith('\uFEFFname;serial;mac;ip;location;manufacturer;model;comment;last seen\r\n')).toBe(true);
    expect(csv.endsWith('\r\n')).toBe(true);
    expect(csv.split('\r\n')[3]).toBe('B204-PC02;;aa:bb:cc:dd:ee:02;;;;;;');
  });

  it('quotes cells containing separators, quotes or newlines', () => {
    const lines = csv.split('\r\n');
    expect(lines[1]).toBe('B204-PC01;CZC1234XYZ;aa:bb:cc:dd:ee:01;10.0.4.1;Salle Sciences Physiques – Bât. B;HP;ProDesk 400 G7;"écran 24""; clavier QWERTY";2024-09-02T07:45:00.000Z');
    expect(csv).toContain('"ligne 1\nligne 2, suite"');
  });

  it('neutralises formulas in free-text cells', () => {
    const line = csv.split('\r\n')[2]!;
    expect(line).toBe(`cdi-poste3;"'=HYPERLINK(""http://x"")";02:00:00:00:00:03;;'-1 Sous-sol;'@Dell;'+Opti;"ligne 1\nligne 2, suite";`);
  });

  it('escapes exactly the dangerous first characters', () => {
    for (const c of ['=', '+', '-', '@', '\t', '\r']) expect(escapeFormula(`${c}x`)).toBe(`'${c}x`);
    for (const safe of ['x=1', '1-2', 'a@b', ' =x', "'=x"]) expect(escapeFormula(safe)).toBe(safe);
    expect(escapeFormula(null)).toBe('');
    expect(escapeFormula(undefined)).toBe('');
  });

  it('round-trips through parseHostsCsv without loss', () => {
    const result = parseHostsCsv(Buffer.from(csv, 'utf8'));
    expect(result.encoding).toBe('utf-8-bom');
    expect(result.separator).toBe(';');
    expect(result.columns).toEqual(['name', 'serial', 'mac', 'ip', 'room', 'ignored', 'ignored', 'notes', 'ignored']);
    expect(result.errors).toEqual([]);
    expect(result.rows.map(({ line: _line, ...host }) => host)).toEqual(
      hosts.map(({ name, mac, room, ip, serial, notes }) => ({ name, mac, room, ip, serial, notes })),
    );
    // the multi-line comment keeps the following host on its physical line
    expect(result.rows.map((r) => r.line)).toEqual([2, 3, 5]);
  });

  it('writes only the header for an empty list', () => {
    expect(hostsToCsv([])).toBe('\uFEFFname;serial;mac;ip;location;manufacturer;model;comment;last seen\r\n');
  });
});
