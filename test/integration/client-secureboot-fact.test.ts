// The boot client's secureBoot fact (images/client/rootfs/roomcast/lib/facts.sh): read from the
// SecureBoot EFI variable as efivarfs shows it (4 attribute bytes, then the value byte), run by
// busybox sh as in the client, and accepted by the hello's schema.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HardwareFactsSchema } from '../../services/boot/http/facts.js';

const LIB = path.resolve(import.meta.dirname, '../../images/client/rootfs/roomcast/lib');
const VAR = 'SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c';
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** Runs `script` in busybox sh with the client's libraries loaded and RC_EFI_DIR = efiDir. */
function sh(script: string, efiDir: string): string {
  return execFileSync('busybox', ['sh', '-c', `. ${LIB}/common.sh; . ${LIB}/json.sh; . ${LIB}/facts.sh; ${script}`], { env: { PATH: process.env.PATH ?? '', RC_EFI_DIR: efiDir }, encoding: 'utf8' });
}

function efiDir(value: number[] | null): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-efi-'));
  dirs.push(d);
  fs.mkdirSync(path.join(d, 'efivars'));
  if (value) fs.writeFileSync(path.join(d, 'efivars', VAR), Buffer.from([0x06, 0, 0, 0, ...value]));
  return d;
}

describe('the client\'s secureBoot fact', () => {
  it('reads the SecureBoot variable: 1 → true, 0 → false, absent or BIOS → nothing', () => {
    expect(sh('secure_boot', efiDir([1]))).toBe('true');
    expect(sh('secure_boot', efiDir([0]))).toBe('false');
    expect(sh('secure_boot', efiDir(null))).toBe('');
    expect(sh('secure_boot', path.join(os.tmpdir(), 'rc-no-efi-here'))).toBe('');
  });

  it('puts it in the hello body, which the api accepts', () => {
    const on = JSON.parse(sh('facts_json 52:54:00:12:34:56', efiDir([1]))) as Record<string, unknown>;
    expect(on.secureBoot).toBe(true);
    expect(HardwareFactsSchema.parse(on).secureBoot).toBe(true);
    const unknown = JSON.parse(sh('facts_json 52:54:00:12:34:56', efiDir(null))) as Record<string, unknown>;
    expect(unknown).not.toHaveProperty('secureBoot');
    expect(HardwareFactsSchema.safeParse(unknown).success).toBe(true);
  });
});
