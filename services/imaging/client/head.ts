// The head of a disk: LBA 0 (boot code, disk signature, the MBR or GPT's protective MBR) and, on GPT,
// the primary header and entry array. A capture (format v2) keeps it byte for byte in the boot area;
// a restore writes it last, fitted to the target disk's size, and puts the backup GPT at the target's
// end. Only what the size forces changes: on GPT the protective entry's size (and its CHS end when
// the capturing tool computed one), the primary header's backup location and last usable LBA, and
// its CRC; on a disk of the captured size nothing changes at all.
//
// While a restore runs, the disk has no head (wipeHead): no boot signature, no GPT header. BIOS
// firmware then finds no boot sector and UEFI firmware no EFI system partition, so a restore that
// stops half-way leaves a PC that skips its disk and network-boots again (to roomcast) instead of
// starting half a Windows; the table goes back only once every byte was written and read back.
import type fs from 'node:fs/promises';
import { crc32 } from 'node:zlib'; // CRC-32 as UEFI specifies it (Node >= 20.15)
import { readFully, writeFully } from './engine.js';
import { ClientError } from './sys.js';

const GPT_SIGNATURE = 'EFI PART';
const PROTECTIVE = 0xee;
const MAX_U32 = 0xffffffff;

/** The CHS address of `lba` as GPT fdisk and most MBR tools compute it (255 heads, 63 sectors), capped at 1023/254/63. */
export function chsOf(lba: number): Buffer {
  const heads = 255;
  const sectors = 63;
  if (lba >= 1024 * heads * sectors) return Buffer.from([0xfe, 0xff, 0xff]);
  const cylinder = Math.floor(lba / (heads * sectors));
  const rest = lba - cylinder * heads * sectors;
  return Buffer.from([Math.floor(rest / sectors), ((rest % sectors) + 1) | ((cylinder >> 8) << 6), cylinder & 0xff]);
}

export interface FittedHead {
  /** What to write at byte 0. */
  head: Buffer;
  /** The backup GPT (entries, then header) and where it goes; null on MBR disks. */
  backup: { offset: number; data: Buffer } | null;
}

function setHeaderCrc(sector: Buffer): void {
  const size = sector.readUInt32LE(12);
  sector.writeUInt32LE(0, 16);
  sector.writeUInt32LE(crc32(sector.subarray(0, size)), 16);
}

/**
 * The head captured from a disk of `capturedBytes`, fitted to a disk of `targetBytes`. Throws when the
 * captured GPT header is not sound (a restore must not write a table it cannot vouch for).
 */
export function fitHead(captured: Buffer, type: 'gpt' | 'dos', sectorSize: number, capturedBytes: number, targetBytes: number): FittedHead {
  const head = Buffer.from(captured);
  if (type === 'dos') return { head, backup: null };
  const ss = sectorSize;
  const hdr = head.subarray(ss, 2 * ss);
  const size = hdr.length >= 92 ? hdr.readUInt32LE(12) : 0;
  if (hdr.toString('latin1', 0, 8) !== GPT_SIGNATURE || size < 92 || size > ss) throw new ClientError('the image holds no sound primary GPT header; capture the reference PC again', 'bad_manifest');
  const check = Buffer.from(hdr.subarray(0, size));
  check.writeUInt32LE(0, 16);
  if (crc32(check) !== hdr.readUInt32LE(16)) throw new ClientError('the primary GPT header of the image fails its CRC; capture the reference PC again', 'bad_manifest');
  const capturedLast = Math.floor(capturedBytes / ss) - 1;
  const targetLast = Math.floor(targetBytes / ss) - 1;

  // The protective entry covers the whole disk (up to 2^32-1 sectors): its size follows the target's.
  for (let e = 446; e < 510; e += 16) {
    if (head[e + 4] !== PROTECTIVE || head.readUInt32LE(e + 8) !== 1) continue;
    if (head.readUInt32LE(e + 12) === Math.min(capturedLast, MAX_U32)) head.writeUInt32LE(Math.min(targetLast, MAX_U32), e + 12);
    // Its CHS end: recomputed when the capturing tool had computed it (sgdisk), kept when it was a placeholder (ff ff ff).
    if (head.subarray(e + 5, e + 8).equals(chsOf(capturedLast))) chsOf(targetLast).copy(head, e + 5);
  }

  const alternate = Number(hdr.readBigUInt64LE(32));
  const lastUsable = Number(hdr.readBigUInt64LE(48));
  const entriesLba = Number(hdr.readBigUInt64LE(72));
  const entriesSectors = Math.ceil((hdr.readUInt32LE(80) * hdr.readUInt32LE(84)) / ss);
  if ((entriesLba + entriesSectors) * ss > head.length) throw new ClientError('the GPT entry array lies outside the captured head of the disk', 'bad_manifest');
  // The backup header on the target's last sector, the usable area ending as far before it as it did.
  const tail = Math.max(alternate - lastUsable, entriesSectors + 1);
  hdr.writeBigUInt64LE(BigInt(targetLast), 32);
  hdr.writeBigUInt64LE(BigInt(targetLast - tail), 48);
  setHeaderCrc(hdr);

  const backupHdr = Buffer.from(hdr);
  const backupEntriesLba = targetLast - entriesSectors;
  backupHdr.writeBigUInt64LE(BigInt(targetLast), 24);
  backupHdr.writeBigUInt64LE(1n, 32);
  backupHdr.writeBigUInt64LE(BigInt(backupEntriesLba), 72);
  setHeaderCrc(backupHdr);
  const entries = head.subarray(entriesLba * ss, (entriesLba + entriesSectors) * ss);
  return { head, backup: { offset: backupEntriesLba * ss, data: Buffer.concat([entries, backupHdr]) } };
}

const readAt = (fh: fs.FileHandle, offset: number, length: number) => readFully(fh, Buffer.alloc(length), offset);
export const writeAt = (fh: fs.FileHandle, offset: number, data: Buffer) => writeFully(fh, data, offset);

/**
 * Makes the disk unbootable until the restore writes its head back: zeroes LBA 0 (boot code, disk
 * signature, table, 0x55AA) and the GPT headers at LBA 1 and on the last sector when they are there
 * (the entry arrays and everything else are left: a restore that compares windows still finds what
 * it need not fetch again).
 */
export async function wipeHead(fh: fs.FileHandle, diskBytes: number, sectorSize: number): Promise<void> {
  const zero = Buffer.alloc(sectorSize);
  const last = (Math.floor(diskBytes / sectorSize) - 1) * sectorSize;
  for (const at of [sectorSize, last]) {
    if ((await readAt(fh, at, 8)).toString('latin1') === GPT_SIGNATURE) await writeAt(fh, at, zero);
  }
  await writeAt(fh, 0, zero);
  await fh.sync();
}

/** Writes the fitted head and backup GPT: the backup first, the head (what firmware reads first) last. */
export async function writeHead(fh: fs.FileHandle, fitted: FittedHead): Promise<void> {
  if (fitted.backup) await writeAt(fh, fitted.backup.offset, fitted.backup.data);
  await fh.sync();
  await writeAt(fh, 0, fitted.head);
  await fh.sync();
}

/** Whether the disk holds the fitted head and backup GPT (read it with the cache dropped). */
export async function holdsHead(fh: fs.FileHandle, fitted: FittedHead): Promise<boolean> {
  if (fitted.backup && !(await readAt(fh, fitted.backup.offset, fitted.backup.data.length)).equals(fitted.backup.data)) return false;
  return (await readAt(fh, 0, fitted.head.length)).equals(fitted.head);
}
