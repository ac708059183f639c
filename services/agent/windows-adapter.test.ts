import { describe, expect, it } from 'vitest';
import { execCommand, fileVersionCommand, parseFileVersion, parseRegValue, parseRegTree, psQuote, regQueryKey, regQueryTree, regQueryValue } from './windows-adapter.js';

const U64 = 'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall';
const LONG = 'HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall';
// `reg query … /s` output as Windows 11 prints it (CRLF, four-space separators, a blank line after each key).
const TREE_OUTPUT = [
  '',
  LONG,
  '',
  `${LONG}\\7-Zip`,
  '    DisplayName    REG_SZ    7-Zip 24.08 (x64)',
  '    DisplayVersion    REG_SZ    24.08',
  '    NoModify    REG_DWORD    0x1',
  '',
  `${LONG}\\7-Zip\\Deeper`,
  '    DisplayName    REG_SZ    not an entry',
  '',
  `${LONG}\\{23170F69-40C1-2702-2408-000001000000}`,
  '    DisplayName    REG_SZ    Other',
  '',
  'End of search: 5 match(es) found.',
  '',
].join('\r\n');

describe('Windows adapter command lines (pure; run only on Windows)', () => {
  it('reg query reads the 64-bit view, a value by name or the default value', () => {
    expect(regQueryKey(U64)).toEqual({ file: 'reg.exe', args: ['query', U64, '/reg:64'] });
    expect(regQueryValue(`${U64}\\7-Zip`, 'DisplayVersion')).toEqual({ file: 'reg.exe', args: ['query', `${U64}\\7-Zip`, '/v', 'DisplayVersion', '/reg:64'] });
    expect(regQueryValue('HKLM\\SOFTWARE\\X', '').args).toEqual(['query', 'HKLM\\SOFTWARE\\X', '/ve', '/reg:64']);
  });

  it('the file version command expands variables, quotes the path for PowerShell, and exits 3 for a missing file', () => {
    const c = fileVersionCommand("%ProgramFiles%\\O'Brien\\app.exe");
    expect(c.file).toBe('powershell.exe');
    expect(c.args.slice(0, 5)).toEqual(['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command']);
    expect(c.args[5]).toContain("[Environment]::ExpandEnvironmentVariables('%ProgramFiles%\\O''Brien\\app.exe')");
    expect(c.args[5]).toContain('exit 3');
    expect(c.args[5]).toContain('FileMajorPart');
    expect(psQuote("a'b")).toBe("'a''b'");
  });

  it('reads the Uninstall entries in one reg query /s and parses each direct subkey with its values, not deeper keys', () => {
    expect(regQueryTree(U64)).toEqual({ file: 'reg.exe', args: ['query', U64, '/s', '/reg:64'] });
    expect(parseRegTree(TREE_OUTPUT, U64)).toEqual([
      { name: '7-Zip', values: { displayname: '7-Zip 24.08 (x64)', displayversion: '24.08', nomodify: '1' } },
      { name: '{23170F69-40C1-2702-2408-000001000000}', values: { displayname: 'Other' } },
    ]);
    expect(parseRegTree(TREE_OUTPUT, 'hklm\\software\\microsoft\\windows\\currentversion\\uninstall')).toHaveLength(2);
  });

  it('parses values: text, DWORD in decimal, multi-string, values with spaces, the default value', () => {
    const out = [
      '',
      'HKEY_LOCAL_MACHINE\\SOFTWARE\\X',
      '    DisplayName    REG_SZ    7-Zip 24.08 (x64)',
      '    Version Major    REG_DWORD    0x18',
      '    Servers    REG_MULTI_SZ    a@1\\0b@2',
      '    Empty    REG_SZ    ',
      '',
    ].join('\r\n');
    expect(parseRegValue(out, 'displayname')).toBe('7-Zip 24.08 (x64)');
    expect(parseRegValue(out, 'Version Major')).toBe('24');
    expect(parseRegValue(out, 'Servers')).toBe('a@1\nb@2');
    expect(parseRegValue(out, 'Empty')).toBe('');
    expect(parseRegValue(out, 'Other')).toBeNull();
    expect(parseRegValue('HKEY_LOCAL_MACHINE\\SOFTWARE\\X\r\n    (Default)    REG_SZ    hello\r\n', '')).toBe('hello');
    expect(parseRegValue('HKEY_LOCAL_MACHINE\\SOFTWARE\\X\r\n    (Default)    REG_SZ    (value not set)\r\n', '')).toBeNull();
  });

  it('parses the file version output: a version, none, a missing file, a failure', () => {
    expect(parseFileVersion(0, 'version:33.1.0.85\r\n')).toBe('33.1.0.85');
    expect(parseFileVersion(0, 'version:\r\n')).toBe('');
    expect(parseFileVersion(3, '')).toBeNull();
    expect(() => parseFileVersion(1, 'Access denied')).toThrow(/exit code 1/);
  });

  it('execCommand runs a real process without a shell and gives its exit code and output (sh here)', async () => {
    expect(await execCommand({ file: 'sh', args: ['-c', 'echo "$0"; exit 1', 'a b;c'] })).toEqual({ code: 1, stdout: 'a b;c\n' });
    expect(await execCommand({ file: 'sh', args: ['-c', 'printf ok'] })).toEqual({ code: 0, stdout: 'ok' });
    await expect(execCommand({ file: 'no-such-program-roomcast', args: [] })).rejects.toThrow(/ENOENT/);
  });
});
