// Messages chosen at runtime (t(`audit.${action}`), t(`state.${state}`)…) exist for every value the
// server can give: the values are read from the server's source and the API's enums.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AUDIT_ACTIONS, AUDIT_TARGETS } from '../../web/src/api/audit-words.js';
import { CATALOGUES } from '../../web/src/i18n/index.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function sources(dir: string, ext: RegExp): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p, ext);
    return ext.test(p) && !p.endsWith('.test.ts') ? [p] : [];
  });
}
const serverSources = () => sources(path.join(repo, 'services'), /\.ts$/).map((f) => fs.readFileSync(f, 'utf8'));

/** What the server writes to the audit log: writeAudit(…, { action: 'x' | cond ? 'a' : 'b' }), and the alerts' kinds. */
function serverAuditCodes(): { actions: Set<string>; targets: Set<string> } {
  const actions = new Set<string>();
  const targets = new Set<string>();
  for (const src of serverSources()) {
    for (const m of src.matchAll(/writeAudit\([^;]*?\baction:\s*([^,}]+)/g)) for (const l of m[1]!.matchAll(/'([a-z][a-z0-9_]*\.[a-z0-9_.]+)'/g)) actions.add(l[1]!);
    for (const m of src.matchAll(/raise(?:In)?\([^;]*?\bkind:\s*'([a-z0-9_.]+)'/g)) actions.add(m[1]!);
    for (const m of src.matchAll(/_ALERT = '([a-z0-9_.]+)'/g)) actions.add(m[1]!);
    for (const m of src.matchAll(/targetType:\s*([^,}]+)/g)) for (const l of m[1]!.matchAll(/'([a-z][a-z0-9_]*)'/g)) targets.add(l[1]!);
  }
  return { actions, targets };
}

const both = (key: string) => key in CATALOGUES.fr && key in CATALOGUES.en;

describe('runtime message families', () => {
  it('name every audit action and target the server writes', () => {
    const { actions, targets } = serverAuditCodes();
    expect(actions.size).toBeGreaterThan(40);
    expect(actions).toContain('user.create');
    expect(actions).toContain('boot.token_elsewhere');
    expect([...actions].filter((a) => !(AUDIT_ACTIONS as readonly string[]).includes(a)).sort(), 'actions missing from web/src/api/audit-words.ts').toEqual([]);
    expect([...targets].filter((a) => !(AUDIT_TARGETS as readonly string[]).includes(a)).sort(), 'targets missing from web/src/api/audit-words.ts').toEqual([]);
    expect([...AUDIT_ACTIONS.map((a) => `audit.${a}`), ...AUDIT_TARGETS.map((a) => `auditTarget.${a}`)].filter((k) => !both(k))).toEqual([]);
  });
});
