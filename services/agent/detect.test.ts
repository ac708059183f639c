import { describe, expect, it } from 'vitest';
import { DetectionRuleSchema, UNINSTALL_KEYS, type DetectionRule } from '../software/package.js';
import { detect, wildcard } from './detect.js';
import { fakeAdapter } from '../../test/support/fake-registry.js';
import { atLeast, compareVersions, parseVersion } from './version.js';

const [U64, U32] = UNINSTALL_KEYS;
const CODE = '{23170F69-40C1-2702-2408-000001000000}';
const rule = (r: unknown) => DetectionRuleSchema.parse(r) as DetectionRule;

describe('version comparison', () => {
  it('compares number by number, missing parts are 0, trailing text ignored', () => {
    expect(compareVersions(parseVersion('25.2')!, parseVersion('25.10')!)).toBe(-1);
    expect(compareVersions(parseVersion('31.0')!, parseVersion('31.0.0.0')!)).toBe(0);
    expect(atLeast('24.1.0 (x64)', '24.1')).toBe(true);
    expect(atLeast('9.9', '10')).toBe(false);
    expect(atLeast('', '1')).toBe(false);
    expect(atLeast('unknown', '0')).toBe(false);
  });
  it('DisplayName wildcards: * and ?, case-insensitive, the whole name', () => {
    expect(wildcard('7-Zip *').test('7-zip 24.08 (x64)')).toBe(true);
    expect(wildcard('GeoGebra ?').test('GeoGebra 6')).toBe(true);
    expect(wildcard('GeoGebra').test('GeoGebra Classic')).toBe(false);
    expect(wildcard('a.b (c)').test('aXb (c)')).toBe(false);
  });
});

describe('detection against a fake registry view (the real one is Windows-only)', () => {
  it('fake registry: finds an MSI ProductCode under the 64-bit key and under WOW6432Node, not elsewhere', async () => {
    expect(await detect(rule({ type: 'msi_product_code', productCode: CODE }), fakeAdapter({ keys: { [`${U64}\\${CODE}`]: {} } }))).toMatchObject({ installed: true });
    const wow = await detect(rule({ type: 'msi_product_code', productCode: CODE }), fakeAdapter({ keys: { [`${U32}\\${CODE.toLowerCase()}`]: { DisplayName: '7-Zip' } } }));
    expect(wow.installed).toBe(true);
    expect(wow.reason).toContain('WOW6432Node');
    const none = await detect(rule({ type: 'msi_product_code', productCode: CODE }), fakeAdapter({ keys: { [`HKLM\\SOFTWARE\\${CODE}`]: {} } }));
    expect(none).toEqual({ installed: false, reason: `${CODE} is under neither Uninstall key` });
  });

  it('fake registry: DisplayName + minimum version compares versions as numbers, in both keys', async () => {
    const pc = fakeAdapter({
      keys: {
        [`${U64}\\Other`]: { DisplayName: 'Something else', DisplayVersion: '99' },
        [`${U32}\\GeoGebra`]: { DisplayName: 'GeoGebra Classic', DisplayVersion: '6.0.10' },
      },
    });
    expect((await detect(rule({ type: 'uninstall_entry', displayName: 'GeoGebra*', minVersion: '6.0.9' }), pc)).installed).toBe(true);
    const old = await detect(rule({ type: 'uninstall_entry', displayName: 'GeoGebra*', minVersion: '6.0.100' }), pc);
    expect(old).toEqual({ installed: false, reason: 'GeoGebra Classic 6.0.10 is installed, not ≥ 6.0.100' });
    expect((await detect(rule({ type: 'uninstall_entry', displayName: 'GeoGebra Classic' }), pc)).installed).toBe(true);
    expect((await detect(rule({ type: 'uninstall_entry', displayName: 'Scratch*' }), pc)).reason).toBe('no Uninstall entry is named Scratch*');
  });

  it('fake registry: an entry without DisplayVersion does not meet a minimum version', async () => {
    const pc = fakeAdapter({ keys: { [`${U64}\\X`]: { DisplayName: 'Tool' } } });
    expect((await detect(rule({ type: 'uninstall_entry', displayName: 'Tool', minVersion: '1' }), pc)).installed).toBe(false);
  });

  it('fake file view: file version present, too old, missing, or without a version', async () => {
    const path = '%ProgramFiles%\\SOLIDWORKS Corp\\SOLIDWORKS\\SLDWORKS.exe';
    const pc = fakeAdapter({ files: { [path]: '33.1.0.85', 'C:\\noversion.txt': '' } });
    expect((await detect(rule({ type: 'file_version', path, minVersion: '33.1' }), pc)).installed).toBe(true);
    expect((await detect(rule({ type: 'file_version', path, minVersion: '33.10' }), pc)).installed).toBe(false);
    expect((await detect(rule({ type: 'file_version', path: 'C:\\missing.exe' }), pc)).reason).toBe('C:\\missing.exe does not exist');
    expect((await detect(rule({ type: 'file_version', path: 'C:\\noversion.txt' }), pc)).installed).toBe(true);
    expect((await detect(rule({ type: 'file_version', path: 'C:\\noversion.txt', minVersion: '1' }), pc)).installed).toBe(false);
  });

  it('fake registry: a registry value exists, equals a text, or is a version ≥ a minimum', async () => {
    const key = 'HKLM\\SOFTWARE\\FLEXlm License Manager';
    const pc = fakeAdapter({ keys: { [key]: { SW_D_LICENSE_FILE: '25734@srv', Build: '2025.1.3' } } });
    expect((await detect(rule({ type: 'registry_value', key, value: 'SW_D_LICENSE_FILE' }), pc)).installed).toBe(true);
    expect((await detect(rule({ type: 'registry_value', key, value: 'sw_d_license_file', equals: '25734@srv' }), pc)).installed).toBe(true);
    expect(await detect(rule({ type: 'registry_value', key, value: 'SW_D_LICENSE_FILE', equals: '25734@other' }), pc)).toEqual({ installed: false, reason: `${key} SW_D_LICENSE_FILE is 25734@srv, not 25734@other` });
    expect((await detect(rule({ type: 'registry_value', key, value: 'Build', minVersion: '2025.1' }), pc)).installed).toBe(true);
    expect((await detect(rule({ type: 'registry_value', key, value: 'Build', minVersion: '2025.2' }), pc)).installed).toBe(false);
    expect((await detect(rule({ type: 'registry_value', key, value: 'Missing' }), pc)).installed).toBe(false);
  });

  it('fake registry: all needs every rule and stops at the first one not met; any needs one and stops at it', async () => {
    const pc = fakeAdapter({ keys: { [`${U64}\\${CODE}`]: {} }, files: { 'C:\\a.exe': '2.0' } });
    const code = { type: 'msi_product_code', productCode: CODE };
    const missing = { type: 'file_version', path: 'C:\\b.exe' };
    const allRule = rule({ type: 'all', rules: [missing, code] });
    expect((await detect(allRule, pc)).installed).toBe(false);
    expect(pc.reads).toEqual(['file C:\\b.exe']);
    expect((await detect(rule({ type: 'all', rules: [code, { type: 'file_version', path: 'C:\\a.exe', minVersion: '2' }] }), pc)).installed).toBe(true);
    pc.reads.length = 0;
    expect((await detect(rule({ type: 'any', rules: [code, missing] }), pc)).installed).toBe(true);
    expect(pc.reads).toHaveLength(1);
    const none = await detect(rule({ type: 'any', rules: [missing, { type: 'all', rules: [missing] }] }), pc);
    expect(none.installed).toBe(false);
    expect(none.reason).toMatch(/^none met: /);
  });
});
