import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PackageManifestSchema, placeholders } from './package.js';
import { fill, RecipeError, RecipeSchema, renderRecipe, type Recipe, type RecipeInput } from './recipe.js';
import { recipeId, recipes, RECIPE_INPUTS } from './recipes/index.js';

const byId = (id: string): Recipe => recipes().find((r) => recipeId(r) === id)!;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
/** Made-up sizes and hashes for a recipe's uploads, as the technician's browser would send them. */
const uploadsOf = (r: Recipe) => Object.fromEntries(r.uploads.map((u, i) => [u.name, { sizeBytes: 1000 + i, sha256: sha(u.name) }]));
/** A recipe's messages when refused. */
function refusals(input: unknown): string[] {
  const r = RecipeSchema.safeParse(input);
  expect(r.success, 'the recipe should be refused').toBe(false);
  return r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}
const clone = (r: RecipeInput): RecipeInput => structuredClone(r);

describe('recipes shipped with roomcast', () => {
  it('ships the seven recipes, each parsing, with detection, a timeout, what the RN uploads and what must be confirmed', () => {
    expect(recipes().map(recipeId)).toEqual(['matlab-r2025b', 'solidworks-2025', 'labview-2025', 'archiwizard', 'libreoffice', 'geogebra-classic', 'firefox-esr']);
    for (const r of recipes()) {
      const m = renderRecipe(r, requiredValues(r), uploadsOf(r)).manifest;
      // Every recipe detects its software by its Uninstall entry, an MSI ProductCode, or its program's file version.
      expect(JSON.stringify(m.detection), recipeId(r)).toMatch(/"type":"(uninstall_entry|msi_product_code|file_version)"/);
      expect(m.install.timeoutMinutes).toBeGreaterThanOrEqual(20);
      expect(r.uploads.length).toBeGreaterThan(0);
      expect(r.toConfirm.length, `${recipeId(r)} says what must be confirmed on a real PC`).toBeGreaterThan(0);
      // Only ArchiWizard, whose installer nobody has seen, has no uninstall command.
      expect(m.uninstall === undefined, recipeId(r)).toBe(recipeId(r) === 'archiwizard');
    }
  });

  it('names in its command lines and templates only properties it declares', () => {
    for (const r of recipes()) {
      const m = renderRecipe(r, requiredValues(r), uploadsOf(r)).manifest;
      const declared = new Set(m.properties.map((p) => p.name));
      const named = [m.install.command, m.uninstall?.command ?? '', ...r.templates.flatMap((t) => t.lines)].flatMap(placeholders);
      for (const n of named) expect(declared, `${recipeId(r)} names {{${n}}}`).toContain(n);
    }
  });

  it('makes MATLAB\'s network licence file from the licence server and installs the products asked for with mpm', () => {
    const r = byId('matlab-r2025b');
    const { manifest, generated } = renderRecipe(r, { licenceHost: 'licences.lycee.local', products: 'MATLAB Simulink' }, uploadsOf(r));
    const lic = 'SERVER licences.lycee.local ANY 27000\r\nUSE_SERVER\r\n';
    expect(generated).toEqual([{ name: 'network.lic', content: Buffer.from(lic) }]);
    expect(manifest.files.map((f) => f.name)).toEqual(['mpm.exe', 'matlab-source.zip', 'network.lic']);
    expect(manifest.files[2]).toEqual({ name: 'network.lic', sizeBytes: lic.length, sha256: sha(lic) });
    expect(manifest.files[1]).toEqual({ name: 'matlab-source.zip', sizeBytes: 1001, sha256: sha('matlab-source.zip') });
    expect(fill(manifest, manifest.install.command, { licenceHost: 'licences.lycee.local', products: 'MATLAB Simulink' })).toBe(
      'cmd.exe /d /s /c "tar -xf matlab-source.zip && mpm.exe install --source="%CD%\\matlab-source" --destination="%ProgramFiles%\\MATLAB\\R2025b" --products MATLAB Simulink && copy /y network.lic "%ProgramFiles%\\MATLAB\\R2025b\\licenses\\network.lic""',
    );
    expect(renderRecipe(r, { licenceHost: 'lic', licencePort: 27010 }, uploadsOf(r)).generated[0]!.content.toString()).toBe('SERVER lic ANY 27010\r\nUSE_SERVER\r\n');
  });

  it('writes SolidWorks\' SERVERLIST and waits for sldIM.exe after StartSWInstall.exe /install /now; refuses a SERVERLIST ending in ;', () => {
    const r = byId('solidworks-2025');
    const { manifest } = renderRecipe(r, { SERVERLIST: '25734@lic1.lycee.local;25734@lic2.lycee.local' }, uploadsOf(r));
    expect(manifest.install.waitForProcesses).toEqual(['sldIM.exe']);
    const cmd = fill(manifest, manifest.install.command, { SERVERLIST: '25734@lic1.lycee.local;25734@lic2.lycee.local' });
    expect(cmd).toContain('/v SW_D_LICENSE_FILE /t REG_SZ /d "25734@lic1.lycee.local;25734@lic2.lycee.local" /f');
    expect(cmd.endsWith('%SystemDrive%\\SWADMIN\\StartSWInstall.exe /install /now"')).toBe(true);
    expect(() => renderRecipe(r, { SERVERLIST: '25734@lic1;' }, uploadsOf(r))).toThrow(/SERVERLIST: does not match/);
    expect(() => renderRecipe(r, {}, uploadsOf(r))).toThrow(/SERVERLIST: required/);
  });

  it('installs LabVIEW with NI Package Manager then nipkg, treating NI\'s reboot codes as reboot needed', () => {
    const { manifest } = renderRecipe(byId('labview-2025'), {}, uploadsOf(byId('labview-2025')));
    const cmd = fill(manifest, manifest.install.command, { packages: 'ni-labview-2025-core-en ni-daqmx' });
    expect(cmd).toMatch(/^cmd\.exe \/d \/s \/c "NIPackageManager\.exe --passive --accept-eulas --prevent-reboot && /);
    expect(cmd).toContain('nipkg.exe" install --accept-eulas --prevent-reboot -y ni-labview-2025-core-en ni-daqmx"');
    expect(manifest.exitCodes.map((c) => [c.code, c.outcome])).toEqual([[-125071, 'reboot_required'], [-126300, 'reboot_required']]);
  });

  it('fills booleans as 1/0 (LibreOffice), a choice as its value (ArchiWizard, Firefox), and defaults where no value is given', () => {
    const lo = byId('libreoffice');
    const m = renderRecipe(lo, {}, uploadsOf(lo)).manifest;
    expect(fill(m, m.install.command, { openMsOffice: true })).toContain('CREATEDESKTOPLINK=1 ISCHECKFORPRODUCTUPDATES=0 RebootYesNo=No REGISTER_ALL_MSO_TYPES=1');
    const aw = byId('archiwizard');
    const am = renderRecipe(aw, { silentSwitches: '/S' }, uploadsOf(aw)).manifest;
    expect(fill(am, am.install.command, { silentSwitches: '/S' })).toBe('ArchiWIZARD-setup.exe /S');
    expect(() => renderRecipe(aw, {}, uploadsOf(aw))).toThrow(/silentSwitches: required/);
    expect(() => renderRecipe(aw, { silentSwitches: '/quiet' }, uploadsOf(aw))).toThrow(/silentSwitches: one of/);
    const ff = byId('firefox-esr');
    const fm = renderRecipe(ff, {}, uploadsOf(ff)).manifest;
    expect(fill(fm, fm.install.command, {})).toContain('DESKTOP_SHORTCUT=true ');
    expect(fill(fm, fm.install.command, { desktopShortcut: 'false' })).toContain('DESKTOP_SHORTCUT=false ');
  });

  it('needs the size and SHA-256 of every upload, and of no other file; a new version may be given', () => {
    const r = byId('geogebra-classic');
    try {
      renderRecipe(r, {}, { 'other.msi': { sizeBytes: 1, sha256: sha('x') } });
      expect.unreachable();
    } catch (err) {
      expect((err as RecipeError).problems).toEqual(['GeoGebra.msi: its size and SHA-256 are needed (GeoGebra Classic 6, MSI installer (download.geogebra.org/installers/6.0))', 'other.msi: the recipe uploads no such file']);
    }
    expect(renderRecipe(r, {}, uploadsOf(r), '6.0-2').manifest.version).toBe('6.0-2');
    expect(PackageManifestSchema.safeParse(renderRecipe(r, {}, uploadsOf(r)).manifest).success).toBe(true);
  });

  it('refuses a recipe whose command names an undeclared property, whose template names a secret, or that lists files in its manifest', () => {
    const bad = clone(RECIPE_INPUTS[0]!);
    bad.manifest.install.command = 'setup.exe -key {{installKey}}';
    expect(refusals(bad)).toContain('manifest.install.command: the command names {{installKey}}, which is not a property of the package: add it to properties, or fix its name');
    const secret = clone(RECIPE_INPUTS[0]!);
    secret.manifest.properties = [...(secret.manifest.properties ?? []), { name: 'key', type: 'string', secret: true, label: { fr: 'Clé', en: 'Key' } }];
    secret.templates = [{ name: 'input.txt', lines: ['fileInstallationKey={{key}}'] }];
    expect(refusals(secret)).toEqual(['templates.0: input.txt names the secret {{key}}: a file is stored in clear, a secret goes on the command line only']);
    const undeclared = clone(RECIPE_INPUTS[0]!);
    undeclared.templates = [{ name: 'input.txt', lines: ['x={{nope}}'] }];
    expect(refusals(undeclared)).toEqual(['templates.0: input.txt names {{nope}}, which is not a property of the package']);
    const files = clone(RECIPE_INPUTS[5]!) as RecipeInput & { manifest: { files?: unknown } };
    files.manifest.files = [];
    expect(refusals(files)).toContain('manifest.files: a recipe lists its files in uploads and templates, not in the manifest');
  });
});

/** Values for a recipe's required properties that have no default. */
function requiredValues(r: Recipe): Record<string, string> {
  const known: Record<string, string> = { licenceHost: 'lic.lycee.local', SERVERLIST: '25734@lic.lycee.local', silentSwitches: '/S' };
  const props = (r.manifest.properties ?? []) as Array<{ name: string; required?: boolean; default?: unknown }>;
  return Object.fromEntries(props.filter((p) => p.required && p.default === undefined).map((p) => [p.name, known[p.name] ?? 'x']));
}
