// Messages chosen at runtime (t(`audit.${action}`), t(`state.${state}`)…) exist for every value the
// server can give: the values are read from the server's source and the API's enums (openapi.json). And
// no message is unused: each key is named in the UI's source, or is a runtime family's value.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AUDIT_ACTIONS, AUDIT_TARGETS } from '../../web/src/api/audit-words.js';
import { PROBLEM_CODES } from '../../web/src/api/problems.js';
import { CATALOGUES, LANGS } from '../../web/src/i18n/index.js';
import { CONTAINER_STATES, PC_STATE_ORDER } from '../../web/src/states.js';

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

  it('have a message for every value of every family the UI builds at runtime, and no message is unused', () => {
    const families = runtimeFamilies();
    for (const [prefix, values] of Object.entries(families)) expect(values.length, `values of ${prefix}`).toBeGreaterThan(1);
    // Every t(`prefix.${…}`) in the UI is a family this test knows.
    const built = new Set([...uiSource().matchAll(/`([a-zA-Z0-9_.]+\.)\$\{/g)].map((m) => m[1]!));
    expect([...built].filter((p) => !(p in families)).sort(), 'a runtime family this test does not know: add its values').toEqual([]);
    const missing = Object.entries(families).flatMap(([prefix, values]) => values.map((v) => `${prefix}${v}`).filter((k) => !both(k)));
    expect(missing, 'runtime messages missing from a catalogue').toEqual([]);

    const src = uiSource();
    const familyKeys = new Set(Object.entries(families).flatMap(([prefix, values]) => values.map((v) => `${prefix}${v}`)));
    const unused = Object.keys(CATALOGUES.fr).filter((k) => !familyKeys.has(k) && !src.includes(`'${k}'`));
    expect(unused, 'messages no code uses: delete them').toEqual([]);
  });
});

/** The web UI's source, its catalogues left out. */
function uiSource(): string {
  return sources(path.join(repo, 'web', 'src'), /\.tsx?$/)
    .filter((f) => !/[/\\]i18n[/\\](fr|en)(-[a-z]+)?\.ts$/.test(f) && !f.endsWith('schema.d.ts'))
    .map((f) => fs.readFileSync(f, 'utf8'))
    .join('\n');
}

type Schema = { properties?: Record<string, { enum?: string[] }> };
const enumOf = (schema: string, prop: string): string[] => {
  const doc = JSON.parse(fs.readFileSync(path.join(repo, 'openapi', 'openapi.json'), 'utf8')) as { components: { schemas: Record<string, Schema> } };
  const values = doc.components.schemas[schema]?.properties?.[prop]?.enum;
  if (!values?.length) throw new Error(`openapi.json has no enum ${schema}.${prop}`);
  return values;
};
const deliveryPaths = (): string[] => {
  const doc = JSON.parse(fs.readFileSync(path.join(repo, 'openapi', 'openapi.json'), 'utf8')) as { components: { schemas: Record<string, { properties: { delivery: { properties: { path: { enum: string[] } } } } }> } };
  return doc.components.schemas.RunPc!.properties.delivery.properties.path.enum;
};
const unionOf = (file: string, type: string): string[] => {
  const m = new RegExp(`type ${type}\\s*=([^;]+);`).exec(fs.readFileSync(path.join(repo, file), 'utf8'));
  if (!m) throw new Error(`${file} has no type ${type}`);
  return [...m[1]!.matchAll(/'([a-z][a-z0-9_]*)'/g)].map((x) => x[1]!);
};

const literalsOf = (file: string, re: RegExp): string[] => {
  const m = re.exec(fs.readFileSync(path.join(repo, file), 'utf8'));
  if (!m) throw new Error(`${file} does not match ${re}`);
  return [...m[1]!.matchAll(/'([a-z][a-z0-9_]*)'/g)].map((x) => x[1]!);
};

/** prefix → every value the UI can put after it. */
function runtimeFamilies(): Record<string, readonly string[]> {
  const pcStates = enumOf('RunPc', 'state');
  expect([...PC_STATE_ORDER].sort()).toEqual([...pcStates].sort());
  return {
    'problem.': PROBLEM_CODES,
    'audit.': AUDIT_ACTIONS,
    'auditTarget.': AUDIT_TARGETS,
    'lang.': LANGS,
    'state.': [...pcStates, 'idle'], // idle: a PC in no run (StateBadge's ShownState)
    'runState.': enumOf('Run', 'state'),
    'taskState.': enumOf('Task', 'state'),
    'task.': enumOf('Task', 'kind'),
    'img.vstate.': enumOf('ImageVersion', 'state'),
    'drv.state.': enumOf('DriverPack', 'state'),
    'role.': enumOf('User', 'role'),
    'estimate.': enumOf('RunEstimate', 'basis'),
    'run.path.': deliveryPaths(), // each PC's way in a run (RunPc.delivery.path)
    'when.': unionOf('web/src/components/WhenFields.tsx', 'When').filter((w) => w !== 'now'), // 'now' is restore.now
    'containerState.': CONTAINER_STATES,
    'containerHealth.': literalsOf('services/system/docker.ts', /\bhealth: ('[^;]+);/),
    'ipxe.': unionOf('services/boot/tftp/ipxe-files.ts', 'IpxeFileState'),
    'csv.': [...unionOf('services/inventory/csv-import.ts', 'CsvErrorCode'), ...unionOf('services/inventory/computer-name.ts', 'ComputerNameErrorCode')],
  };
}
