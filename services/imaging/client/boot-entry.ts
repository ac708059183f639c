// The firmware's boot entry of a restored Windows (issue 15): after a verified restore on a PC
// started by UEFI firmware, the client makes sure its NVRAM holds a "Windows Boot Manager" entry (a
// Boot#### variable) for \EFI\Microsoft\Boot\bootmgfw.efi on the EFI system partition the restore
// wrote. A new or wiped disk has none (the entry lives in the PC, not on the disk): without it the
// firmware only finds the removable-media fallback \EFI\Boot\bootx64.efi.
//
// Rules:
// - Skipped, with the reason in the report: the client was not started by UEFI firmware (no
//   /sys/firmware/efi), the image has no GPT EFI system partition (type C12A7328-F81F-11D2-BA4B-00A0C93EC93B),
//   or none holds EFI/Microsoft/Boot/bootmgfw.efi (FAT names match without regard to case).
// - An entry that already points at that file (File() compared without regard to case) on that
//   partition (HD() with its GPT partition GUID) is kept: a second run makes no second entry. If it
//   is missing from BootOrder (a firmware reset, another tool), it is put back after the network
//   entries; an order that already holds it is left as the school set it.
// - `efibootmgr -c` puts the new entry first in BootOrder; the order is then rewritten: the network
//   entries (a MAC()/IPv4()/IPv6()/Uri() device path, or PXE/HTTP in the label) first, in the order
//   they had, then the new entry, then the others as they were. No entry leaves the order: roomcast
//   reaches the PC by PXE.
// - efibootmgr's output is parsed by parseBootEntries (a pure function, tested on output captured
//   from the lab's OVMF PCs); the report carries its final `efibootmgr -v` text.
import fs from 'node:fs/promises';
import type { Partition } from '../format.js';
import { ClientError, run } from './sys.js';

export const ESP_TYPE = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
export const WINDOWS_LOADER = '\\EFI\\Microsoft\\Boot\\bootmgfw.efi';
export const WINDOWS_LABEL = 'Windows Boot Manager';

export interface BootEntry {
  /** Four hex digits, as in Boot0003 and BootOrder. */
  num: string;
  active: boolean;
  label: string;
  /** The device path as efibootmgr -v prints it ('' without -v). */
  path: string;
}

export interface BootEntries {
  current: string | null;
  order: string[];
  entries: BootEntry[];
}

export interface BootEntryReport {
  state: 'created' | 'present' | 'skipped';
  /** The entry was present but out of BootOrder, and was put back. */
  reordered?: boolean;
  /** Why it was skipped. */
  reason?: string;
  /** The Windows Boot Manager entry (created or found). */
  entry?: string;
  /** The EFI system partition that holds bootmgfw.efi. */
  partition?: number;
  bootOrder?: string[];
  /** `efibootmgr -v` after the step, and before it when it wrote anything. */
  efibootmgr?: string;
  efibootmgrBefore?: string;
}

/** Reads the text of `efibootmgr` or `efibootmgr -v` (BootCurrent, BootOrder, Boot#### lines; the rest is ignored). */
export function parseBootEntries(text: string): BootEntries {
  const out: BootEntries = { current: null, order: [], entries: [] };
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trimEnd();
    let m: RegExpMatchArray | null;
    if ((m = /^BootCurrent:\s*([0-9A-Fa-f]{4})$/.exec(line))) out.current = m[1]!.toUpperCase();
    else if ((m = /^BootOrder:\s*(.*)$/.exec(line))) out.order = m[1]!.split(',').map((s) => s.trim().toUpperCase()).filter((s) => /^[0-9A-F]{4}$/.test(s));
    else if ((m = /^Boot([0-9A-Fa-f]{4})(\*?)\s(.*)$/.exec(line))) {
      const rest = m[3]!;
      // efibootmgr 17 puts a tab between the label and the device path; others, two spaces.
      const cut = rest.includes('\t') ? rest.indexOf('\t') : rest.search(/ {2,}\S/);
      const label = (cut < 0 ? rest : rest.slice(0, cut)).trim();
      const devPath = cut < 0 ? '' : rest.slice(cut).trim();
      out.entries.push({ num: m[1]!.toUpperCase(), active: m[2] === '*', label, path: devPath });
    }
  }
  return out;
}

/** Whether the entry boots from the network (PXE or HTTP boot). */
export function isNetworkEntry(e: BootEntry): boolean {
  return /(^|\/)(MAC|IPv4|IPv6|Uri)\(/.test(e.path) || /\b(PXE|HTTP)|network/i.test(e.label);
}

/** Whether the entry loads `file` from the GPT partition `partition` whose partition GUID is `uuid`. */
export function pointsAt(e: BootEntry, partition: number, uuid: string, file = WINDOWS_LOADER): boolean {
  const hd = /HD\((\d+),GPT,([0-9A-Fa-f-]{36})/.exec(e.path);
  const f = /File\(([^)]*)\)/.exec(e.path);
  const norm = (s: string) => s.replace(/\//g, '\\').replace(/^\\?/, '\\').toLowerCase();
  return !!hd && !!f && Number(hd[1]) === partition && hd[2]!.toLowerCase() === uuid.toLowerCase() && norm(f[1]!) === norm(file);
}

/**
 * The BootOrder after `created` was added: the network entries of `before` first (in their order),
 * then `created`, then the rest of `before`. Nothing of `before` is left out.
 */
export function orderWith(before: readonly string[], created: string, entries: readonly BootEntry[]): string[] {
  const byNum = new Map(entries.map((e) => [e.num, e]));
  const rest = before.filter((n) => n !== created);
  const net = rest.filter((n) => byNum.has(n) && isNetworkEntry(byNum.get(n)!));
  return [...net, created, ...rest.filter((n) => !net.includes(n))];
}

/** The BootOrder that puts an existing entry back after the network entries, or null when the order holds it already. */
export function putBack(before: BootEntries, entry: string): string[] | null {
  return before.order.includes(entry) ? null : orderWith(before.order, entry, before.entries);
}

/**
 * Whether `loader` (path parts from the root) is on the FAT filesystem at `offset` of `disk`: true,
 * false, or what mdir said when it could not read the filesystem. mtools needs no mount and no kernel
 * module (it converts names through glibc's CP850 module, which build-imaging.sh carries).
 */
export async function fatHas(disk: string, offset: number, loader: readonly string[]): Promise<boolean | string> {
  try {
    await run('mdir', ['-b', '-i', `${disk}@@${offset}`, `::/${loader.join('/')}`], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
    return true;
  } catch (err) {
    if (err instanceof ClientError && /missing from the boot client/.test(err.message)) throw err;
    const said = (err as Error).message.replace(/^mdir .*?::\/\S*: /, '');
    return /not found/.test(said) ? false : said;
  }
}

/** The GPT EFI system partition of the restored table that holds Windows' boot manager, or why there is none. */
export async function findWindowsEsp(disk: string, partitions: ReadonlyArray<Pick<Partition, 'number' | 'type' | 'uuid' | 'startBytes'>>): Promise<Pick<Partition, 'number' | 'uuid'> | string> {
  const esps = partitions.filter((p) => p.type.toUpperCase() === ESP_TYPE && p.uuid);
  if (esps.length === 0) return 'the image has no GPT EFI system partition';
  const unreadable: string[] = [];
  for (const p of esps) {
    const has = await fatHas(disk, p.startBytes, WINDOWS_LOADER.split('\\').filter(Boolean));
    if (has === true) return p;
    if (has !== false) unreadable.push(`partition ${p.number} cannot be read as FAT (${has})`);
  }
  return `no EFI system partition of the image (partition ${esps.map((p) => p.number).join(', ')}) holds EFI/Microsoft/Boot/bootmgfw.efi${unreadable.length ? `: ${unreadable.join('; ')}` : ''}`;
}

const efibootmgr = async (args: string[] = []) => (await run('efibootmgr', ['-v', ...args])).stdout;

/** Mounts efivarfs where efibootmgr reads the variables, when it is not there yet. */
async function mountEfivars(efiDir: string): Promise<void> {
  const vars = `${efiDir}/efivars`;
  const mounts = await fs.readFile('/proc/mounts', 'utf8').catch(() => '');
  if (mounts.split('\n').some((l) => l.split(' ')[1] === vars && l.split(' ')[2] === 'efivarfs')) return;
  try {
    await run('mount', ['-t', 'efivarfs', 'efivarfs', vars]);
  } catch (err) {
    throw new ClientError(`the firmware's boot entries cannot be read: efivarfs does not mount on ${vars} (${(err as Error).message})`, 'boot_entry_efivars');
  }
}

/**
 * After a restore: makes sure the UEFI firmware has a Windows Boot Manager entry for the restored
 * disk, with the network still first in BootOrder. `efiDir` is /sys/firmware/efi (a test names another).
 */
export async function writeBootEntry(
  disk: string,
  partitions: ReadonlyArray<Pick<Partition, 'number' | 'type' | 'uuid' | 'startBytes'>>,
  log: (line: string) => void,
  efiDir = '/sys/firmware/efi',
): Promise<BootEntryReport> {
  const skip = (reason: string): BootEntryReport => {
    log(`roomcast: no UEFI boot entry written: ${reason}`);
    return { state: 'skipped', reason };
  };
  if (!(await fs.stat(efiDir).then((s) => s.isDirectory(), () => false))) return skip('the PC was not started by UEFI firmware');
  const esp = await findWindowsEsp(disk, partitions);
  if (typeof esp === 'string') return skip(esp);
  await mountEfivars(efiDir);
  const text = await efibootmgr();
  const before = parseBootEntries(text);
  const found = before.entries.find((e) => pointsAt(e, esp.number, esp.uuid!));
  if (found) {
    const back = putBack(before, found.num);
    if (!back) {
      log(`roomcast: UEFI boot entry Boot${found.num} "${found.label}" already loads bootmgfw.efi from partition ${esp.number}; BootOrder ${before.order.join(',')}`);
      return { state: 'present', entry: found.num, partition: esp.number, bootOrder: before.order, efibootmgr: text };
    }
    const after = await efibootmgr(['-o', back.join(',')]);
    const final = parseBootEntries(after).order;
    log(`roomcast: UEFI boot entry Boot${found.num} "${found.label}" was out of BootOrder and is put back; BootOrder ${final.join(',')}`);
    return { state: 'present', reordered: true, entry: found.num, partition: esp.number, bootOrder: final, efibootmgr: after, efibootmgrBefore: text };
  }
  const made = parseBootEntries(await efibootmgr(['-c', '-d', disk, '-p', String(esp.number), '-L', WINDOWS_LABEL, '-l', WINDOWS_LOADER]));
  const entry = made.entries.find((e) => !before.entries.some((b) => b.num === e.num) && pointsAt(e, esp.number, esp.uuid!));
  if (!entry) throw new ClientError(`efibootmgr made no boot entry for ${WINDOWS_LOADER} on partition ${esp.number} of ${disk}`, 'boot_entry_failed');
  const order = orderWith(before.order, entry.num, made.entries);
  const after = await efibootmgr(['-o', order.join(',')]);
  const final = parseBootEntries(after).order;
  log(`roomcast: UEFI boot entry Boot${entry.num} "${WINDOWS_LABEL}" made for partition ${esp.number}; BootOrder ${final.join(',')}`);
  return { state: 'created', entry: entry.num, partition: esp.number, bootOrder: final, efibootmgr: after, efibootmgrBefore: text };
}
