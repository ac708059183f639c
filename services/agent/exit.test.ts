import { describe, expect, it } from 'vitest';
import { installOutcome, normalizeCode } from './exit.js';

const pkg = {
  exitCodes: [
    { code: 1, outcome: 'success' as const, meaning: { en: 'installed (already there)', fr: 'installé (déjà présent)' } },
    { code: 4294967295, outcome: 'retry' as const, meaning: { en: 'licence server busy', fr: 'serveur de licences occupé' } },
  ],
};
const none = { exitCodes: [] };

describe('installOutcome', () => {
  it('maps the standard codes: 0 success, 3010 reboot needed, 1641 rebooting now, 1618 retry later', () => {
    expect(installOutcome(none, { kind: 'exited', code: 0 })).toMatchObject({ outcome: 'success', code: 0, reboot: 'none', retryLater: false });
    expect(installOutcome(none, { kind: 'exited', code: 3010 })).toMatchObject({ outcome: 'reboot_required', reboot: 'needed', retryLater: false });
    expect(installOutcome(none, { kind: 'exited', code: 1641 })).toMatchObject({ outcome: 'reboot_initiated', reboot: 'in_progress' });
    expect(installOutcome(none, { kind: 'exited', code: 1618 })).toMatchObject({ outcome: 'retry', retryLater: true, reboot: 'none' });
  });

  it('any other code is a failure that names the code, in French and English', () => {
    const o = installOutcome(none, { kind: 'exited', code: 1603 });
    expect(o).toMatchObject({ outcome: 'failure', code: 1603, reboot: 'none', retryLater: false });
    expect(o.meaning.en).toContain('1603');
    expect(o.meaning.fr).toContain('1603');
  });

  it('uses the package’s extra codes, with their meaning', () => {
    expect(installOutcome(pkg, { kind: 'exited', code: 1 })).toEqual({ outcome: 'success', code: 1, meaning: pkg.exitCodes[0]!.meaning, reboot: 'none', retryLater: false });
    expect(installOutcome(none, { kind: 'exited', code: 1 }).outcome).toBe('failure');
  });

  it('finds an extra code written unsigned when the launcher gives it signed, and the reverse', () => {
    expect(installOutcome(pkg, { kind: 'exited', code: -1 })).toMatchObject({ outcome: 'retry', code: -1, meaning: { en: 'licence server busy' } });
    const signed = { exitCodes: [{ code: -2147024891, outcome: 'retry' as const, meaning: { en: 'denied', fr: 'refusé' } }] };
    expect(installOutcome(signed, { kind: 'exited', code: 2147942405 }).outcome).toBe('retry');
    expect(normalizeCode(0xffffffff)).toBe(-1);
    expect(normalizeCode(3010)).toBe(3010);
  });

  it('a timeout and a start that failed are failures without a code', () => {
    const t = installOutcome(pkg, { kind: 'timeout', minutes: 240 });
    expect(t).toMatchObject({ outcome: 'failure', code: null, reboot: 'none' });
    expect(t.meaning.en).toContain('240 minutes');
    expect(installOutcome(pkg, { kind: 'spawn_failed', message: 'ENOENT' }).meaning.en).toContain('ENOENT');
  });
});
