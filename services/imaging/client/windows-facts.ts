// What a capture reads from the Windows it holds (issue 15), before anything is sent: its edition and
// build, whether it was generalized (services/imaging/windows-facts.ts decides), and Fast Startup.
//
// Rules:
// - Windows is an NTFS partition holding Windows/System32/config/SYSTEM (names matched without regard to
//   case, identity.ts). It is mounted read-only: the capture never changes a partition to look at it.
// - Fast Startup on (SYSTEM ControlSetNNN\Control\Session Manager\Power HiberbootEnabled 1, in the control
//   set Select\Current names) refuses the capture: every shutdown of such a Windows is a hibernation of
//   its kernel session, so a restored PC would start a session that is not its own, and the volume is
//   left "in use". The hiberfil.sys check (partition.ts) catches a hibernated Windows; this value catches
//   Fast Startup even when hiberfil.sys is absent or small (reduced), before it is.
// - A hive left dirty (changes only in its logs), missing or unreadable gives facts marked unknown, with
//   the reason: never a failed capture (the Fast Startup value is still read from a dirty SYSTEM).
// - A partition that ntfs-3g cannot mount read-only is said in the log and has no facts.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { decideGeneralized, type WindowsFacts } from '../windows-facts.js';
import { dirty, HIVE_TYPES, values, type HiveValue } from './hive.js';
import { findCaseless } from './identity.js';
import { ClientError, run } from './sys.js';

const CONFIG = ['Windows', 'System32', 'config'];
const CURRENT_VERSION = ['Microsoft', 'Windows NT', 'CurrentVersion'];
const SETUP_STATE = ['Microsoft', 'Windows', 'CurrentVersion', 'Setup', 'State'];

const find = (vs: readonly HiveValue[] | null, name: string) => vs?.find((v) => v.name.toLowerCase() === name.toLowerCase()) ?? null;

/** A REG_DWORD value (null: missing or another type). */
export function dwordOf(vs: readonly HiveValue[] | null, name: string): number | null {
  const v = find(vs, name);
  return v && v.type === HIVE_TYPES.dword && v.data.length >= 4 ? v.data.readUInt32LE(0) : null;
}

/** A string value, up to its first NUL (null: missing, empty or not a string). */
export function stringOf(vs: readonly HiveValue[] | null, name: string): string | null {
  const v = find(vs, name);
  if (!v || ![HIVE_TYPES.string, HIVE_TYPES.expandString].includes(v.type as 1)) return null;
  const s = v.data.toString('utf16le').split('\0')[0]!.trim();
  return s || null;
}

/** Reads a key's values; null when the key or the hive cannot be read. */
const tryValues = (hive: string, key: readonly string[]) => values(hive, key).catch(() => null);

/** Whether Fast Startup is on in an offline SYSTEM hive (null: the value is not there). */
export async function fastStartup(system: string): Promise<boolean | null> {
  const current = dwordOf(await tryValues(system, ['Select']), 'Current');
  if (current === null) return null;
  const cs = `ControlSet${String(current).padStart(3, '0')}`;
  const on = dwordOf(await tryValues(system, [cs, 'Control', 'Session Manager', 'Power']), 'HiberbootEnabled');
  return on === null ? null : on === 1;
}

/** The facts of the Windows whose hives these are (software: null when the file is missing). */
export async function hiveFacts(partition: number, system: string, software: string | null): Promise<WindowsFacts> {
  const blank = { partition, productName: null, editionId: null, displayVersion: null, build: null, imageState: null };
  if (!software) return { ...blank, generalized: 'unknown', reason: 'hive_unreadable' };
  try {
    if ((await dirty(system)) || (await dirty(software))) return { ...blank, generalized: 'unknown', reason: 'hive_dirty' };
    const cv = await values(software, CURRENT_VERSION);
    const state = await values(software, SETUP_STATE);
    const setup = await values(system, ['Setup']);
    const build = stringOf(cv, 'CurrentBuildNumber') ?? stringOf(cv, 'CurrentBuild');
    const ubr = dwordOf(cv, 'UBR');
    const imageState = stringOf(state, 'ImageState');
    const decided = decideGeneralized({
      imageState,
      systemSetupInProgress: dwordOf(setup, 'SystemSetupInProgress'),
      oobeInProgress: dwordOf(setup, 'OOBEInProgress'),
      setupType: dwordOf(setup, 'SetupType'),
      cmdLine: stringOf(setup, 'CmdLine'),
    });
    return {
      partition,
      productName: stringOf(cv, 'ProductName')?.slice(0, 200) ?? null,
      editionId: stringOf(cv, 'EditionID')?.slice(0, 100) ?? null,
      displayVersion: (stringOf(cv, 'DisplayVersion') ?? stringOf(cv, 'ReleaseId'))?.slice(0, 50) ?? null,
      build: build ? `${build}${ubr !== null ? `.${ubr}` : ''}`.slice(0, 50) : null,
      imageState: imageState?.slice(0, 100) ?? null,
      ...decided,
    };
  } catch {
    return { ...blank, generalized: 'unknown', reason: 'hive_unreadable' };
  }
}

export const FAST_STARTUP_MESSAGE = (partition: number) =>
  `partition ${partition}: le démarrage rapide de Windows est activé : chaque arrêt met la session de Windows en veille prolongée, et chaque PC restauré la reprendrait. ` +
  'Sur le PC maître, lancez "powercfg /h off" dans une invite de commandes administrateur (ou décochez "Activer le démarrage rapide" dans Options d\'alimentation > Choisir l\'action des boutons), arrêtez Windows et capturez à nouveau. / ' +
  `Windows Fast Startup is on (partition ${partition}): every shutdown hibernates the Windows session, and every restored PC would resume it. ` +
  'On the master PC run "powercfg /h off" in an administrator command prompt (or untick "Turn on fast startup" in Power Options > Choose what the power buttons do), shut Windows down and capture again';

/**
 * Looks for Windows on an NTFS partition (its loop device), read-only. Resolves null when it holds no
 * Windows or cannot be mounted; throws 'fast_startup' when Fast Startup is on.
 */
export async function windowsFactsOf(dev: string, partition: number, log: (line: string) => void): Promise<WindowsFacts | null> {
  const mnt = await fs.mkdtemp(path.join(os.tmpdir(), 'rc-facts-'));
  try {
    try {
      await run('ntfs-3g', ['-o', 'ro', dev, mnt]);
    } catch (err) {
      log(`roomcast: partition ${partition}: cannot be mounted read-only to look for Windows (${(err as Error).message}); no Windows facts`);
      return null;
    }
    try {
      const system = await findCaseless(mnt, [...CONFIG, 'SYSTEM']);
      if (!system) return null;
      if (await fastStartup(system)) throw new ClientError(FAST_STARTUP_MESSAGE(partition), 'fast_startup');
      const facts = await hiveFacts(partition, system, await findCaseless(mnt, [...CONFIG, 'SOFTWARE']));
      const what = [facts.productName, facts.editionId && `(${facts.editionId})`, facts.displayVersion, facts.build && `build ${facts.build}`].filter(Boolean).join(' ');
      log(`roomcast: partition ${partition}: ${what || 'Windows'}; generalized: ${facts.generalized} (${facts.reason}${facts.imageState ? `, ${facts.imageState}` : ''})`);
      return facts;
    } finally {
      await run('umount', [mnt]);
    }
  } finally {
    await fs.rm(mnt, { recursive: true, force: true });
  }
}
