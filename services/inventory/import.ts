// CSV import against the database: a dry run reports every bad line and writes nothing; a real import is
// one transaction (all or nothing). A MAC already known updates that PC; a new room name creates the room.
// PCs are written through the hosts repository (hosts.ts).
import type { Kysely } from 'kysely';
import { writeAudit, type Actor } from '../core/audit.js';
import type { DB } from '../core/db/index.js';
import type { Host } from '../core/db/schema.js';
import { AppError } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import type { HostRepository } from './hosts.js';
import type { RoomRepository } from './rooms.js';
import { hostsToCsv } from './csv-export.js';
import type { CsvHostRow, CsvLineError } from './csv-import.js';
import { parseHostsCsvOffLoop } from './csv-off-loop.js';

export interface ImportReport {
  dryRun: boolean;
  applied: boolean;
  encoding: string;
  separator: string;
  rows: number;
  errors: CsvLineError[];
  summary: { roomsCreated: string[]; hostsCreated: number; hostsUpdated: number; hostsUnchanged: number };
}

type Existing = Pick<Host, 'id' | 'mac' | 'name' | 'room_id' | 'ip' | 'serial' | 'notes'>;

type Plan = { row: CsvHostRow; existing: Existing | undefined; roomKey: string | null };

const key = (s: string) => s.toLowerCase();

export class HostImporter {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly rooms: RoomRepository,
    private readonly hosts: HostRepository,
    private readonly events: EventBus,
  ) {}

  async run(actor: Actor, file: Buffer, opts: { dryRun: boolean; fileName?: string }): Promise<ImportReport> {
    const parsed = await parseHostsCsvOffLoop(file);
    const report: ImportReport = {
      dryRun: opts.dryRun,
      applied: false,
      encoding: parsed.encoding,
      separator: parsed.separator === '\t' ? 'tab' : parsed.separator,
      rows: parsed.rows.length + new Set(parsed.errors.filter((e) => e.line > 1).map((e) => e.line)).size,
      errors: [...parsed.errors],
      summary: { roomsCreated: [], hostsCreated: 0, hostsUpdated: 0, hostsUnchanged: 0 },
    };

    // Reading and writing share one transaction so the checks hold for what is written.
    const outcome = await this.events.transaction(this.db, async (tx) => {
      const trx = tx.trx;
      const hosts: Existing[] = await this.hosts.all(trx);
      const rooms = await this.rooms.all(trx);
      const byMac = new Map(hosts.map((h) => [h.mac, h]));
      const roomIds = new Map(rooms.map((r) => [key(r.name), r.id]));
      const fileMacs = new Set(parsed.rows.map((r) => r.mac));
      // Names held by PCs that this file does not mention stay taken.
      const takenNames = new Map(hosts.filter((h) => !fileMacs.has(h.mac)).map((h) => [key(h.name), h]));

      const plans: Plan[] = [];
      for (const row of parsed.rows) {
        const holder = takenNames.get(key(row.name));
        if (holder) {
          report.errors.push({ line: row.line, code: 'duplicate_name', column: 'name', value: row.name, message: `name ${row.name} is already used by the PC with MAC ${holder.mac}, which this file does not list; rename one of them` });
          continue;
        }
        plans.push({ row, existing: byMac.get(row.mac), roomKey: row.room === null ? null : key(row.room) });
      }
      report.errors.sort((a, b) => a.line - b.line);

      const newRooms = new Map<string, string>();
      for (const p of plans) if (p.roomKey !== null && !roomIds.has(p.roomKey) && !newRooms.has(p.roomKey)) newRooms.set(p.roomKey, p.row.room!);
      report.summary.roomsCreated = [...newRooms.values()];
      for (const p of plans) {
        if (!p.existing) report.summary.hostsCreated++;
        else if (changed(p.existing, p.row, roomIds.get(p.roomKey ?? ''))) report.summary.hostsUpdated++;
        else report.summary.hostsUnchanged++;
      }
      if (opts.dryRun || report.errors.length > 0) return 'not-applied' as const;

      for (const [k, name] of newRooms) roomIds.set(k, await this.rooms.insert(trx, name, null));
      const updates = plans.filter((p) => p.existing && changed(p.existing, p.row, roomIds.get(p.roomKey ?? '')));
      // Renames may swap names between PCs: park them on unique temporary names first.
      for (const p of updates) {
        if (p.existing!.name !== p.row.name) await this.hosts.update(tx, p.existing!.id, { name: `~import~${p.existing!.id}` }, 'imported');
      }
      for (const p of updates) {
        const roomId = p.roomKey === null ? null : roomIds.get(p.roomKey)!;
        await this.hosts.update(tx, p.existing!.id, { name: p.row.name, room_id: roomId, ip: p.row.ip, serial: p.row.serial, notes: p.row.notes }, 'imported');
      }
      const inserts = plans.filter((p) => !p.existing);
      for (let i = 0; i < inserts.length; i += 200) {
        await this.hosts.insertMany(
          tx,
          inserts.slice(i, i + 200).map(({ row, roomKey }) => ({ name: row.name, mac: row.mac, room_id: roomKey === null ? null : roomIds.get(roomKey)!, ip: row.ip, serial: row.serial, notes: row.notes })),
          'imported',
        );
      }
      await writeAudit(trx, actor, {
        action: 'hosts.import',
        targetType: 'inventory',
        details: { file: opts.fileName ?? null, encoding: parsed.encoding, rows: parsed.rows.length, ...report.summary },
      });
      return 'applied' as const;
    });
    report.applied = outcome === 'applied';
    return report;
  }

  async exportCsv(): Promise<string> {
    const rows = await this.hosts.exportRows();
    return hostsToCsv(
      rows.map((r) => {
        const hw = parseHardware(r.hardware);
        return { name: r.name, mac: r.mac, ip: r.ip, serial: r.serial, room: r.room, notes: r.notes, manufacturer: hw.vendor, model: hw.model, lastSeenAt: r.last_seen_at };
      }),
    );
  }
}

function changed(e: Existing, row: CsvHostRow, roomId: number | undefined): boolean {
  return e.name !== row.name || e.room_id !== (row.room === null ? null : (roomId ?? -1)) || e.ip !== row.ip || e.serial !== row.serial || e.notes !== row.notes;
}

function parseHardware(json: string | null): { vendor: string | null; model: string | null } {
  if (!json) return { vendor: null, model: null };
  try {
    const hw = JSON.parse(json) as { system?: { vendor?: unknown; model?: unknown } };
    const s = (v: unknown) => (typeof v === 'string' ? v : null);
    return { vendor: s(hw.system?.vendor), model: s(hw.system?.model) };
  } catch {
    return { vendor: null, model: null };
  }
}

export function assertImportable(report: ImportReport): void {
  if (!report.dryRun && !report.applied) {
    throw new AppError(422, 'import_rejected', `${report.errors.length} problem(s) in the file; nothing was imported`, report.errors);
  }
}
