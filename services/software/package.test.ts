import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exitMeaning, matchesPattern, PackageManifestSchema, secretNames, valueProblems, type PackageManifestInput } from './package.js';
import { installOrder } from './order.js';

/** The full example of docs/packages.md (its first ```json block): the documentation stays a valid package. */
const example = (): PackageManifestInput => JSON.parse(/```json\n([\s\S]*?)\n```/.exec(fs.readFileSync(path.join(__dirname, '../../docs/packages.md'), 'utf8'))![1]!);

/** The messages of a refused manifest, each with its path. */
function refusals(input: unknown): string[] {
  const r = PackageManifestSchema.safeParse(input);
  expect(r.success, 'the manifest should be refused').toBe(false);
  return r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('package manifest', () => {
  it('takes the documented SolidWorks example, with its defaults filled in', () => {
    const m = PackageManifestSchema.parse(example());
    expect(m.id).toBe('solidworks-2025');
    expect(m.install.waitForProcesses).toEqual(['sldIM.exe']);
    expect(m.detection.type).toBe('any');
    expect([...secretNames(m)]).toEqual(['serialNumber']);
    expect(m.properties.find((p) => p.name === 'licenceServer')).toMatchObject({ type: 'string', secret: false, required: true });
  });

  it('refuses a secret with a default, an unknown property type, and secret on a number', () => {
    const m = example();
    m.properties = [
      { name: 'key', type: 'string', secret: true, default: 'AAAA-BBBB', label: { fr: 'Clé', en: 'Key' } },
      { name: 'colour', type: 'colour', label: { fr: 'Couleur', en: 'Colour' } } as never,
      { name: 'seats', type: 'number', secret: true, label: { fr: 'Postes', en: 'Seats' } } as never,
    ];
    m.install.command = 'setup.exe';
    const got = refusals(m);
    expect(got).toContain('properties.0: a secret property has no default: a default is written in the package in clear; the technician sets the value');
    expect(got).toContain('properties.1.type: a property is of type string, number, boolean or choice');
    expect(got).toContain('properties.2.secret: secret: true only on a string property (an install key, a serial number)');
  });

  it('refuses a command naming an unknown property, a choice default outside its choices, and twice the same property', () => {
    const m = example();
    m.install.command = 'StartSWInstall.exe /install /now /licence {{licenseServer}}';
    m.properties!.push({ name: 'lang', type: 'choice', choices: [{ value: 'fr', label: { fr: 'Français', en: 'French' } }], default: 'de', label: { fr: 'Langue', en: 'Language' } });
    m.properties!.push({ name: 'lang', type: 'boolean', label: { fr: 'x', en: 'x' } });
    const got = refusals(m);
    expect(got).toContain('install.command: the command names {{licenseServer}}, which is not a property of the package: add it to properties, or fix its name');
    expect(got).toContain(`properties.${m.properties!.length - 2}: the default is not one of the choices`);
    expect(got).toContain(`properties.${m.properties!.length - 1}.name: two properties are named lang`);
  });

  it('refuses bad installer files: none, a folder in the name, a wrong hash, two names differing by case', () => {
    expect(refusals({ ...example(), files: [] })).toEqual(['files: files: a package has at least one installer file']);
    const got = refusals({
      ...example(),
      files: [
        { name: 'sub\\setup.exe', sizeBytes: 10, sha256: 'a'.repeat(64) },
        { name: 'Setup.exe', sizeBytes: 0, sha256: 'ABC' },
        { name: 'setup.EXE', sizeBytes: 1, sha256: 'b'.repeat(64) },
        { name: 'bell\x07.exe', sizeBytes: 1, sha256: 'c'.repeat(64) },
        { name: '..', sizeBytes: 1, sha256: 'c'.repeat(64) },
      ],
    });
    expect(got).toContain('files.0.name: a file name without folder or any of \\ / : * ? " < > |');
    expect(got).toContain('files.1.sizeBytes: sizeBytes: the file size in bytes, more than 0');
    expect(got).toContain('files.1.sha256: sha256: the SHA-256 of the file in lowercase hexadecimal (sha256sum, or Get-FileHash in PowerShell then lowercase)');
    expect(got).toContain('files.2.name: two files are named setup.EXE (Windows does not tell case apart)');
    expect(got.filter((g) => /^files\.[34]\.name: a file name without folder/.test(g))).toHaveLength(2);
  });

  it('refuses detection rules that cannot be evaluated', () => {
    const bad = (detection: unknown) => refusals({ ...example(), detection });
    expect(bad({ type: 'msi_product_code', productCode: '7A1E1C6B-0000-0000-0000-000000000000' })).toEqual(['detection.productCode: productCode: the MSI ProductCode with its braces, {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}']);
    expect(bad({ type: 'file_version', path: 'sldworks.exe', minVersion: '33' })).toEqual(['detection.path: path: a full Windows path, from a drive (C:\\) or a variable (%ProgramFiles%\\)']);
    expect(bad({ type: 'uninstall_entry', displayName: 'SOLIDWORKS*', minVersion: '2025 SP1' })).toEqual(['detection.minVersion: minVersion: dotted numbers such as 25.2 or 31.0.1.5']);
    expect(bad({ type: 'registry_value', key: 'HKCU\\Software\\x', value: 'v' })).toEqual(['detection.key: key: a key under HKLM, written HKLM\\SOFTWARE\\…']);
    expect(bad({ type: 'all', rules: [] })).toEqual(['detection.rules: all: list at least one rule']);
    expect(bad({ type: 'wmi', query: 'x' })).toEqual(['detection.type: a detection rule has the type msi_product_code, uninstall_entry, file_version, registry_value, all or any']);
    const deep = { type: 'any', rules: [{ type: 'all', rules: [{ type: 'any', rules: [{ type: 'all', rules: [{ type: 'any', rules: [{ type: 'uninstall_entry', displayName: 'x' }] }] }] }] }] };
    expect(bad(deep)).toEqual(['detection: detection rules nest at most 4 levels of all/any']);
  });

  it('refuses changing a standard exit code or listing one twice, and maps codes to their meaning', () => {
    const m = example();
    m.exitCodes = [{ code: 3010, outcome: 'success', meaning: { fr: 'x', en: 'x' } }, { code: 1605, outcome: 'success', meaning: { fr: 'x', en: 'x' } }, { code: 1605, outcome: 'failure', meaning: { fr: 'y', en: 'y' } }];
    const got = refusals(m);
    expect(got).toContain('exitCodes.0: exit code 3010 is standard (0 success, 3010 reboot needed, 1641 rebooting now, 1618 retry later): a package cannot change it');
    expect(got).toContain('exitCodes.2.code: exit code 1605 is listed twice');

    const ok = PackageManifestSchema.parse(example());
    expect([0, 3010, 1641, 1618, 1603, -2147023293].map((c) => exitMeaning(ok, c).outcome)).toEqual(['success', 'reboot_required', 'reboot_initiated', 'retry', 'failure', 'failure']);
    expect(exitMeaning(ok, 1)).toEqual({ outcome: 'failure', meaning: ok.exitCodes[0]!.meaning });
    expect(exitMeaning(ok, 1603).meaning.fr).toBe('l’installeur a échoué (code de sortie 1603)');
  });

  it('refuses a timeout of 0 or over a day, a process with a folder, a self-dependency, unknown fields', () => {
    const m = example();
    m.install = { command: 'setup.exe', timeoutMinutes: 0, waitForProcesses: ['C:\\x\\sldIM.exe'] };
    m.dependsOn = ['solidworks-2025'];
    (m as Record<string, unknown>).silentArgs = '/S';
    const got = refusals(m);
    expect(got).toContain('install.timeoutMinutes: timeoutMinutes: at least 1');
    expect(got).toContain('install.waitForProcesses.0: waitForProcesses: process names such as sldIM.exe (no folder)');
    expect(got).toContain('dependsOn: solidworks-2025 cannot depend on itself');
    expect(got.some((g) => g.includes('silentArgs'))).toBe(true);
    expect(refusals({ ...example(), install: { command: 'x', timeoutMinutes: 1441 } })).toEqual(['install.timeoutMinutes: timeoutMinutes: at most 1440 (24 hours)']);
  });

  it('checks property values by type', () => {
    const m = PackageManifestSchema.parse(example());
    expect(valueProblems(m, { licenceServer: '25734@licences.lycee.local', serialNumber: '9000 0000 0000 0000 XXXX XXXX', language: 'fr', installToolbox: true })).toEqual([]);
    expect(valueProblems(m, { language: 'de', installToolbox: 'yes', colour: 1 })).toEqual([
      'colour: the package has no such property',
      'licenceServer: required (Licence server (port@host))',
      'serialNumber: required (Serial number)',
      'language: one of fr, en',
      'installToolbox: true or false',
    ]);
    expect(valueProblems(m, { licenceServer: 'licences' }, true)).toEqual(['licenceServer: does not match \\d+@[A-Za-z0-9.-]+']);
  });

  it('stops a pattern with catastrophic backtracking within its time limit instead of stalling the api', () => {
    const slow = PackageManifestSchema.parse({ ...example(), properties: [{ name: 'site', label: { fr: 'Site', en: 'Site' }, type: 'string', pattern: '(a+)+' }], install: { ...example().install, command: 'setup.exe {{site}}' } });
    // Without the limit this takes about 2^40 steps (hours): the test would time out.
    expect(valueProblems(slow, { site: `${'a'.repeat(40)}!` }, true)).toEqual(['site: its pattern (a+)+ takes too long to check (nested repetition such as (a+)+): simplify the package\'s pattern']);
    expect(valueProblems(slow, { site: 'aaaa' }, true)).toEqual([]);
    expect(matchesPattern('[a-z]+', 'abc')).toBe(true);
    expect(matchesPattern('[a-z]+', 'abc1')).toBe(false);
  });
});

describe('install order', () => {
  it('puts dependencies first, otherwise keeps the given order', () => {
    expect(installOrder([{ id: 'solidworks', dependsOn: ['vcredist', 'dotnet'] }, { id: 'firefox', dependsOn: [] }, { id: 'dotnet', dependsOn: [] }, { id: 'vcredist', dependsOn: ['dotnet'] }])).toEqual({
      ok: true,
      order: ['dotnet', 'vcredist', 'solidworks', 'firefox'],
    });
  });

  it('refuses a cycle, naming it, and a dependency that is not there', () => {
    expect(installOrder([{ id: 'a', dependsOn: ['b'] }, { id: 'b', dependsOn: ['c'] }, { id: 'c', dependsOn: ['a'] }])).toEqual({
      ok: false,
      code: 'package_dependency_cycle',
      ids: ['a', 'b', 'c', 'a'],
      message: 'the dependencies go round in a circle: a → b → c → a; remove one of them so that one package can be installed first',
    });
    expect(installOrder([{ id: 'matlab', dependsOn: ['vcredist'] }])).toMatchObject({ ok: false, code: 'package_dependency_missing', message: 'matlab depends on vcredist, which is not in the store: add vcredist first, or remove it from dependsOn' });
  });
});
