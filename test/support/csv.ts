// Builds host spreadsheets the way French schools produce them, with known bad lines.

const CP1252_EXTRA: Record<string, number> = { '€': 0x80, '’': 0x92, '–': 0x96, '—': 0x97, 'œ': 0x9c };

/** Encodes text as Windows-1252 (what Excel-FR writes for "CSV (séparateur: point-virgule)"). */
export function toWindows1252(text: string): Buffer {
  const bytes: number[] = [];
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (code < 0x80 || (code >= 0xa0 && code <= 0xff)) bytes.push(code);
    else if (CP1252_EXTRA[ch] !== undefined) bytes.push(CP1252_EXTRA[ch]!);
    else throw new Error(`cannot encode ${ch} in Windows-1252`);
  }
  return Buffer.from(bytes);
}

export interface SchoolCsv {
  buffer: Buffer;
  text: string;
  /** Physical line numbers of the bad rows (header is line 1). */
  badLines: number[];
  hosts: number;
}

export function roomName(r: number): string {
  return r % 2 === 0 ? `Salle Sciences Physiques – Bât. B ${r + 1}` : `Salle ${r + 1} Technologie`;
}

export function pcMac(r: number, p: number, style = p % 3): string {
  const hex = ['02', '00', '5e', '10', r.toString(16).padStart(2, '0'), p.toString(16).padStart(2, '0')];
  if (style === 0) return hex.join(':');
  if (style === 1) return hex.join('-').toUpperCase();
  return `${hex[0]}${hex[1]}.${hex[2]}${hex[3]}.${hex[4]}${hex[5]}`;
}

export function schoolCsv(opts: { rooms: number; perRoom: number; badLines: boolean; encoding: 'windows-1252' | 'utf-8-bom' | 'utf-8' }): SchoolCsv {
  const lines = ['Nom du poste;Adresse MAC;Salle;Adresse IP;Numéro de série;Remarques'];
  const rows: string[][] = [];
  for (let r = 0; r < opts.rooms; r++) {
    for (let p = 0; p < opts.perRoom; p++) {
      const name = `S${String(r + 1).padStart(2, '0')}-PC${String(p + 1).padStart(2, '0')}`;
      rows.push([name, pcMac(r, p), roomName(r), `10.${r}.${Math.floor(p / 200)}.${(p % 200) + 10}`, `SN${r}${p}X`, p === 0 ? 'poste prof, écran 24"' : '']);
    }
  }
  const badLines: number[] = [];
  if (opts.badLines) {
    const bad = [
      [10, (row: string[]) => (row[1] = '02:00:5e:zz:00:01')], // bad MAC
      [150, (row: string[]) => (row[1] = rows[3]![1]!)], // duplicate MAC of an earlier line
      [Math.min(rows.length - 1, 299), (row: string[]) => (row[0] = 'SALLE-B204-POSTE-XX')], // name too long
    ] as const;
    for (const [i, spoil] of bad) {
      spoil(rows[i]!);
      badLines.push(i + 2);
    }
  }
  for (const row of rows) lines.push(row.join(';'));
  const text = lines.join('\r\n') + '\r\n';
  const buffer = opts.encoding === 'windows-1252' ? toWindows1252(text) : Buffer.from((opts.encoding === 'utf-8-bom' ? '\ufeff' : '') + text, 'utf8');
  return { buffer, text, badLines, hosts: rows.length };
}
