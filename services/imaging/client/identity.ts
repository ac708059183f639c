// The restored PC's own name, written into its Windows while Windows is offline (issue 15): after a
// verified restore, the client finds the Windows system among the NTFS partitions it restored and
// writes the name from the inventory into the SYSTEM hive (hive.ts), in every ControlSet:
//
//   ControlSetNNN\Control\ComputerName\ComputerName        ComputerName   NAME (upper case: NetBIOS)
//   ControlSetNNN\Control\ComputerName\ActiveComputerName  ComputerName   NAME
//   ControlSetNNN\Services\Tcpip\Parameters                Hostname       Name (as the inventory has it)
//                                                          NV Hostname    Name
//
// Windows writes ComputerName in upper case and the host names as typed; so does this. The keys are
// made when missing (ActiveComputerName is volatile on a running Windows, so an offline hive usually
// lacks it: Windows opens the key written here at start and overwrites it with the same name).
//
// Rules:
// - The name is checked again here (the inventory already refuses an invalid one): a name Windows
//   would refuse never reaches the registry.
// - Windows is the NTFS partition that holds Windows/System32/config/SYSTEM (names matched without
//   regard to case, as Windows does). None: the image is not a Windows one, and nothing is written.
// - A hive with changes left in its transaction logs (the master was not shut down cleanly) is
//   refused with what to do: Windows would replay the logs at start and could undo the name.
// - A partition is mounted read-only to look for Windows (one without it stays byte for byte as
//   restored), then read-write with ntfs-3g only for the edit, and always unmounted.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { checkComputerName, type Manifest } from '../format.js';
import { dirty, editHive, stringValue, subkeys, type HiveEdit } from './hive.js';
import { withLoop } from './partition.js';
import { ClientError, run } from './sys.js';

export interface IdentityReport {
  computerName: string;
  /** The partition that holds Windows (its number on the disk), and the hive's path in it. */
  partition: number;
  hive: string;
  /** The control sets written, and the name each held before. */
  controlSets: Array<{ name: string; before: string | null }>;
  /** Keys that were missing and were made. */
  made: string[];
}

const SYSTEM_HIVE = ['Windows', 'System32', 'config', 'SYSTEM'];

/** The path of `parts` under `root`, each part matched without regard to case (null: not there). */
export async function findCaseless(root: string, parts: readonly string[]): Promise<string | null> {
  let dir = root;
  for (const part of parts) {
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch {
      return null;
    }
    const hit = names.find((n) => n === part) ?? names.find((n) => n.toLowerCase() === part.toLowerCase());
    if (!hit) return null;
    dir = path.join(dir, hit);
  }
  return dir;
}

/** The edits that give every control set the name. */
export function nameEdits(controlSets: readonly string[], name: string): HiveEdit[] {
  const netbios = name.toUpperCase();
  return controlSets.flatMap((cs): HiveEdit[] => [
    { key: [cs, 'Control', 'ComputerName', 'ComputerName'], strings: { ComputerName: netbios } },
    { key: [cs, 'Control', 'ComputerName', 'ActiveComputerName'], strings: { ComputerName: netbios } },
    { key: [cs, 'Services', 'Tcpip', 'Parameters'], strings: { Hostname: name, 'NV Hostname': name } },
  ]);
}

/** Writes the name into an offline SYSTEM hive. */
export async function nameSystemHive(hive: string, name: string): Promise<Pick<IdentityReport, 'controlSets' | 'made'>> {
  const check = checkComputerName(name);
  if (!check.ok) throw new ClientError(`the PC's name cannot be written into Windows: ${check.message}`, 'identity_bad_name');
  if (await dirty(hive)) {
    throw new ClientError(
      "the image's Windows registry (SYSTEM) still has changes in its transaction logs: the master PC was not shut down cleanly before the capture, and Windows could undo the PC's name at its first start. Start the master, shut it down normally, and capture it again",
      'identity_hive_dirty',
    );
  }
  const sets = ((await subkeys(hive, [])) ?? []).filter((k) => /^ControlSet\d{3}$/i.test(k)).sort();
  if (sets.length === 0) throw new ClientError(`the Windows registry ${hive} holds no ControlSet: it is not a Windows SYSTEM hive, or it is damaged`, 'identity_no_control_set');
  const before = await Promise.all(sets.map((cs) => stringValue(hive, [cs, 'Control', 'ComputerName', 'ComputerName'], 'ComputerName')));
  const made = await editHive(hive, nameEdits(sets, check.name));
  return { controlSets: sets.map((cs, i) => ({ name: cs, before: before[i] ?? null })), made };
}

/**
 * After a restore: finds Windows among the manifest's NTFS partitions on `disk` and writes the name.
 * Resolves null when no partition holds Windows (nothing is written).
 */
export async function writeIdentity(disk: string, manifest: Manifest, name: string, log: (line: string) => void): Promise<IdentityReport | null> {
  for (const p of manifest.partitions.filter((x) => x.filesystem === 'ntfs')) {
    const found = await withLoop(disk, p.startBytes, p.sizeBytes, async (loop) => {
      const mnt = await fs.mkdtemp(path.join(os.tmpdir(), 'rc-identity-'));
      try {
        // Looked for read-only first: a partition without Windows is left byte for byte as restored.
        await run('ntfs-3g', ['-o', 'ro', loop, mnt]);
        let hive: string | null;
        try {
          hive = await findCaseless(mnt, SYSTEM_HIVE);
        } finally {
          await run('umount', [mnt]);
        }
        if (!hive) return null;
        await run('ntfs-3g', [loop, mnt]);
        try {
          const done = await nameSystemHive(hive, name);
          return { computerName: name, partition: p.number, hive: path.relative(mnt, hive), ...done };
        } finally {
          await run('umount', [mnt]);
        }
      } finally {
        await fs.rm(mnt, { recursive: true, force: true });
      }
    });
    if (found) {
      const was = [...new Set(found.controlSets.map((c) => c.before ?? '(none)'))].join(', ');
      log(`roomcast: Windows on partition ${found.partition} is named ${name} (${found.controlSets.map((c) => c.name).join(', ')}; was ${was})`);
      return found;
    }
  }
  log('roomcast: no Windows system on this disk: no name written');
  return null;
}
