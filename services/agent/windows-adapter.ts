// The Windows side of detection (issue 16 item 5): the command lines that read the registry
// (`reg query`) and file versions (PowerShell), and the parsers of their output, all pure so that they
// are tested on Linux; `windowsAdapter` joins them to a process runner (execFile on the PC).
// /reg:64 reads the 64-bit view whatever the agent's bitness, so WOW6432Node is read only when named.
import type { DetectionAdapter } from './detect.js';

export interface Command {
  file: string;
  args: string[];
}

/** HKLM\… as reg.exe writes it back (HKEY_LOCAL_MACHINE\…). */
const longRoot = (key: string) => key.replace(/^HKLM\\/i, 'HKEY_LOCAL_MACHINE\\');

/** Lists a key's values and direct subkeys; exit code 1 when the key does not exist. */
export const regQueryKey = (key: string): Command => ({ file: 'reg.exe', args: ['query', key, '/reg:64'] });

/** Reads one value ('' is the key's default value, /ve); exit code 1 when it does not exist. */
export const regQueryValue = (key: string, name: string): Command => ({ file: 'reg.exe', args: name === '' ? ['query', key, '/ve', '/reg:64'] : ['query', key, '/v', name, '/reg:64'] });

/** A PowerShell single-quoted string. */
export const psQuote = (s: string) => `'${s.replace(/'/g, "''")}'`;

/**
 * Prints `version:<a.b.c.d>` (from the file's numeric version parts; empty when it has none) or exits 3
 * when the file does not exist. %Variables% are expanded by .NET, as Windows does.
 */
export function fileVersionCommand(path: string): Command {
  const script = [
    `$p = [Environment]::ExpandEnvironmentVariables(${psQuote(path)})`,
    'if (-not (Test-Path -LiteralPath $p -PathType Leaf)) { exit 3 }',
    '$v = (Get-Item -LiteralPath $p).VersionInfo',
    "if ($v.FileMajorPart + $v.FileMinorPart + $v.FileBuildPart + $v.FilePrivatePart -eq 0) { 'version:' } else { 'version:{0}.{1}.{2}.{3}' -f $v.FileMajorPart, $v.FileMinorPart, $v.FileBuildPart, $v.FilePrivatePart }",
  ].join('; ');
  return { file: 'powershell.exe', args: ['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command', script] };
}

/** The direct subkeys' names from `reg query KEY` output. */
export function parseSubkeys(stdout: string, key: string): string[] {
  const prefix = `${longRoot(key)}\\`.toLowerCase();
  const out: string[] = [];
  for (const line of stdout.split(/\r?\n/)) {
    const t = line.trim();
    if (!t.toLowerCase().startsWith(prefix)) continue;
    const rest = t.slice(prefix.length);
    if (rest && !rest.includes('\\')) out.push(rest);
  }
  return out;
}

/** A value's data from `reg query KEY /v NAME` output: REG_DWORD and REG_QWORD in decimal, REG_MULTI_SZ lines joined by newlines; null when absent. */
export function parseRegValue(stdout: string, name: string): string | null {
  const wanted = name === '' ? '(default)' : name.toLowerCase();
  for (const line of stdout.split(/\r?\n/)) {
    const m = /^ {4}(.*?) {4}(REG_[A-Z_]+)(?: {4}(.*))?$/.exec(line);
    if (!m) continue;
    const label = m[1]!.toLowerCase();
    if (label !== wanted && !(name === '' && m[1] === '(Standard)')) continue;
    const type = m[2]!;
    const data = m[3] ?? '';
    if ((type === 'REG_DWORD' || type === 'REG_QWORD') && /^0x[0-9a-f]+$/i.test(data)) return BigInt(data).toString();
    if (type === 'REG_MULTI_SZ') return data.split('\\0').filter(Boolean).join('\n');
    if (name === '' && data === '(value not set)') return null;
    return data;
  }
  return null;
}

/** A file version from the PowerShell command's output: the version ('' for none), or null when the file does not exist (exit 3). */
export function parseFileVersion(code: number, stdout: string): string | null {
  if (code === 3) return null;
  const m = /^version:(.*)$/m.exec(stdout);
  if (code !== 0 || !m) throw new Error(`reading a file version failed (exit code ${code})`);
  return m[1]!.trim();
}

/** Runs a command without a shell and gives its exit code and output. */
export type Exec = (cmd: Command) => Promise<{ code: number; stdout: string }>;

/** The detection adapter of a Windows PC. reg.exe exits 1 for a missing key or value; anything else is an error. */
export function windowsAdapter(exec: Exec): DetectionAdapter {
  const reg = async (cmd: Command) => {
    const r = await exec(cmd);
    if (r.code !== 0 && r.code !== 1) throw new Error(`${cmd.file} ${cmd.args.join(' ')} failed (exit code ${r.code})`);
    return r;
  };
  return {
    keyExists: async (key) => (await reg(regQueryKey(key))).code === 0,
    subkeys: async (key) => {
      const r = await reg(regQueryKey(key));
      return r.code === 0 ? parseSubkeys(r.stdout, key) : [];
    },
    readValue: async (key, name) => {
      const r = await reg(regQueryValue(key, name));
      return r.code === 0 ? parseRegValue(r.stdout, name) : null;
    },
    fileVersion: async (path) => {
      const r = await exec(fileVersionCommand(path));
      return parseFileVersion(r.code, r.stdout);
    },
  };
}
