// The Windows agent (issue 16 item 5): what an installer's exit code means for the agent. Pure: the
// meaning comes from the shared package contract (the standard Windows Installer codes, then the
// package's own), and the agent adds what it does next. Whatever the code, the agent checks detection
// afterwards (docs/packages.md): an exit code alone is never trusted.
import { exitMeaning, type ExitOutcome, type PackageManifest } from '../software/package.js';

/** What ended an install run: an exit code, or the timeout (the process tree was killed). */
export type RunEnd = { kind: 'exited'; code: number } | { kind: 'timeout'; minutes: number } | { kind: 'spawn_failed'; message: string };

export interface InstallOutcome {
  outcome: ExitOutcome;
  /** The installer's exit code (null when it did not exit by itself). */
  code: number | null;
  meaning: { fr: string; en: string };
  /** The agent saves its state and restarts the PC before the next package (3010), or expects the restart (1641). */
  reboot: 'none' | 'needed' | 'in_progress';
  /** Try this package again later (1618: another installation runs). */
  retryLater: boolean;
}

/** Exit codes as Windows gives them to a 32-bit unsigned reader come back as negative numbers from some launchers (-2147... for 0x80...). */
export function normalizeCode(code: number): number {
  return code > 0x7fffffff && code <= 0xffffffff ? code - 0x100000000 : code;
}

/** The outcome of a run for a package: its accepted codes (exitCodes), else the standard ones, else a failure with the code. */
export function installOutcome(pkg: Pick<PackageManifest, 'exitCodes'>, end: RunEnd): InstallOutcome {
  if (end.kind === 'timeout')
    return {
      outcome: 'failure',
      code: null,
      meaning: { en: `the installer did not finish within ${end.minutes} minutes; it was stopped`, fr: `l’installeur n’a pas terminé en ${end.minutes} minutes ; il a été arrêté` },
      reboot: 'none',
      retryLater: false,
    };
  if (end.kind === 'spawn_failed')
    return { outcome: 'failure', code: null, meaning: { en: `the installer could not be started: ${end.message}`, fr: `l’installeur n’a pas pu être lancé : ${end.message}` }, reboot: 'none', retryLater: false };
  const m = meaningOf(pkg, end.code);
  return {
    outcome: m.outcome,
    code: end.code,
    meaning: m.meaning,
    reboot: m.outcome === 'reboot_required' ? 'needed' : m.outcome === 'reboot_initiated' ? 'in_progress' : 'none',
    retryLater: m.outcome === 'retry',
  };
}

function meaningOf(pkg: Pick<PackageManifest, 'exitCodes'>, code: number) {
  const direct = exitMeaning(pkg, code);
  if (direct.outcome !== 'failure' || pkg.exitCodes.some((c) => c.code === code)) return direct;
  // A package may list a code in the other notation (4294967295 or -1): both are the same code.
  const other = code < 0 ? code + 0x100000000 : normalizeCode(code);
  return other !== code && pkg.exitCodes.some((c) => c.code === other) ? exitMeaning(pkg, other) : direct;
}
