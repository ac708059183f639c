// The partition table of a disk: read with sfdisk (util-linux), written back from its dump.
import fs from 'node:fs/promises';
import type { Extent } from '../format.js';
import { ClientError, run } from './sys.js';

export interface TablePartition {
  number: number;
  startBytes: number;
  sizeBytes: number;
  type: string;
  uuid: string | null;
  name: string | null;
  bootable: boolean;
}

export interface Layout {
  type: 'gpt' | 'dos';
  id: string;
  sectorSize: number;
  /** `sfdisk --dump` text. */
  dump: string;
  partitions: TablePartition[];
  /** Start of the first partition: the boot area is [0, this). */
  firstStartBytes: number;
  /** The parts of the boot area a restore writes back: all of it (the head, then the gap after the table). */
  bootWrite: Extent[];
  /** LBA 0 and, on GPT, the primary header and entry array: restored byte for byte, last. */
  headBytes: number;
  /** End of the last partition, plus the backup GPT. */
  minDiskBytes: number;
}

interface SfdiskJson {
  partitiontable: {
    label: string;
    id: string;
    sectorsize?: number;
    partitions?: Array<{ node: string; start: number; size: number; type: string; uuid?: string; name?: string; bootable?: boolean }>;
  };
}


function partNumber(node: string): number {
  const m = /(\d+)$/.exec(node);
  if (!m) throw new ClientError(`cannot tell the partition number of ${node}`, 'bad_table');
  return Number(m[1]);
}

/** Where the GPT partition entry array ends (bytes), from the primary header at LBA 1. */
async function gptEntriesEnd(disk: string, sectorSize: number): Promise<number> {
  const fh = await fs.open(disk, 'r');
  try {
    const hdr = Buffer.alloc(sectorSize);
    await fh.read(hdr, 0, sectorSize, sectorSize);
    if (hdr.toString('latin1', 0, 8) !== 'EFI PART') throw new ClientError(`${disk}: no primary GPT header at LBA 1`, 'bad_table');
    const entriesLba = Number(hdr.readBigUInt64LE(72));
    const count = hdr.readUInt32LE(80);
    const size = hdr.readUInt32LE(84);
    return entriesLba * sectorSize + Math.ceil((count * size) / sectorSize) * sectorSize;
  } finally {
    await fh.close();
  }
}

export async function readLayout(disk: string, diskBytes: number): Promise<Layout> {
  let json: SfdiskJson;
  try {
    json = JSON.parse((await run('sfdisk', ['--json', disk])).stdout) as SfdiskJson;
  } catch (err) {
    if (err instanceof ClientError) throw new ClientError(`${disk} has no partition table that sfdisk can read; capture needs a partitioned disk (${err.message})`, 'no_table');
    throw err;
  }
  const t = json.partitiontable;
  if (t.label !== 'gpt' && t.label !== 'dos') throw new ClientError(`${disk}: partition table type ${t.label} is not supported (GPT or MBR only)`, 'bad_table');
  const sectorSize = t.sectorsize ?? 512;
  const dump = (await run('sfdisk', ['--dump', disk])).stdout;
  const partitions = (t.partitions ?? []).map((p) => ({
    number: partNumber(p.node),
    startBytes: p.start * sectorSize,
    sizeBytes: p.size * sectorSize,
    type: p.type.toLowerCase() === p.type ? p.type : p.type.toUpperCase(),
    uuid: p.uuid ?? null,
    name: p.name ?? null,
    bootable: p.bootable === true,
  }));
  if (!partitions.length) throw new ClientError(`${disk} has a partition table but no partition; there is nothing to capture`, 'no_partitions');
  // Logical partitions live inside the extended one: only primaries bound the boot area.
  const firstStartBytes = Math.min(...partitions.map((p) => p.startBytes));
  const tableEnd = t.label === 'gpt' ? await gptEntriesEnd(disk, sectorSize) : sectorSize;
  if (tableEnd > firstStartBytes) throw new ClientError(`${disk}: the first partition starts at byte ${firstStartBytes}, inside the partition table (which ends at ${tableEnd})`, 'bad_table');
  // Everything before the first partition, the table included: a restore gives it back byte for byte.
  const bootWrite: Extent[] = [[0, firstStartBytes]];
  const lastEnd = Math.max(...partitions.map((p) => p.startBytes + p.sizeBytes));
  const backupGpt = t.label === 'gpt' ? tableEnd - sectorSize : 0; // entries + header
  return {
    type: t.label,
    id: t.id,
    sectorSize,
    dump,
    partitions,
    firstStartBytes,
    bootWrite,
    headBytes: tableEnd,
    minDiskBytes: Math.min(lastEnd + backupGpt, Math.max(diskBytes, lastEnd)),
  };
}

/** The dump to replay on another disk: without the device name and last-lba (a larger disk keeps its own). */
export function portableDump(dump: string): string {
  return dump
    .split('\n')
    .filter((l) => !/^(device|last-lba):/.test(l))
    .join('\n');
}

/** Compares two dumps on what a restore writes: the table's id, type and partitions (not device names). */
export function sameTable(a: string, b: string): boolean {
  const norm = (d: string) =>
    portableDump(d)
      .split('\n')
      .map((l) => l.replace(/^\S+\s*:\s*start=/, 'start=').replace(/\s+/g, ' ').trim())
      .filter(Boolean)
      .sort()
      .join('\n');
  return norm(a) === norm(b);
}

/** Writes the image's partition table to `disk` (nothing else: partitions' contents stay as they are). */
export async function writeTable(disk: string, dump: string): Promise<void> {
  await run('sfdisk', ['--quiet', '--no-reread', '--no-tell-kernel', '--wipe', 'never', '--wipe-partitions', 'never', disk], { input: portableDump(dump) });
}

/** At most this many EBRs are followed (a loop in a damaged chain stops there). */
const MAX_EBRS = 1024;

/**
 * The sectors of an MBR extended partition's EBR chain, as extents relative to its start: the first
 * EBR at its start, each next one where the previous one's second entry points (relative to the
 * extended partition's start). A restore writes them byte for byte, as the other used extents (the
 * boot code some loaders keep in an EBR included), so no sfdisk replay recreates them.
 */
export async function ebrExtents(disk: string, ext: Pick<TablePartition, 'number' | 'startBytes' | 'sizeBytes'>, sectorSize: number): Promise<Extent[]> {
  const fh = await fs.open(disk, 'r');
  try {
    const out: Extent[] = [];
    const sector = Buffer.alloc(sectorSize);
    let at = 0;
    while (out.length < MAX_EBRS) {
      if (at + sectorSize > ext.sizeBytes || out.some(([o]) => o === at)) throw new ClientError(`${disk}: the EBR chain of extended partition ${ext.number} points outside it or loops (at byte ${at} of it)`, 'bad_table');
      const { bytesRead } = await fh.read(sector, 0, sectorSize, ext.startBytes + at);
      if (bytesRead !== sectorSize || sector.readUInt16LE(510) !== 0xaa55) throw new ClientError(`${disk}: no EBR signature at byte ${at} of extended partition ${ext.number}: its chain of logical partitions is damaged`, 'bad_table');
      out.push([at, sectorSize]);
      const nextType = sector[462 + 4]!;
      const nextLba = sector.readUInt32LE(462 + 8);
      if (nextType === 0 || nextLba === 0) break;
      at = nextLba * sectorSize;
    }
    return out.sort((a, b) => a[0] - b[0]);
  } finally {
    await fh.close();
  }
}
