// The Windows side of detection (issue 16 item 5): the command lines that read the registry
// (`reg query`) and file versions (PowerShell), and the parsers of their output, all pure so that they
// are tested on Linux; `windowsAdapter` joins them to a process runner (execFile on the PC).
// /reg:64 reads the 64-bit view whatever the agent's bitness, so WOW6432Node is read only when named.
import { execFile } from 'node:child_process';
import type { DetectionAdapter } from './detect.js';

export interface Command {
  file: string;
  args: string[];
}

/** HKLM\… as reg.exe writes it back (HKEY_LOCAL_MACHINE\…). */
const longRoot = (key: string) => key.replace(/^HKLM\\/i, 'HKEY_LOCAL_MACHINE\\');

/** Lists a key's values and direct subkeys; exit code 1 when the key does not exist. */
export const regQueryKey = (key: string): Command => ({ file: 'reg.exe', args: ['query', key, '/reg:64'] });

/** Lists a key's values and those of every key under it (one process for the hundreds of Uninstall entries). */
export const regQueryTree = (key: string): Command => ({ file: 'reg.exe', args: ['query', key, '/s', '/reg:64'] });

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

/** A value line of reg.exe output ("    Name    REG_SZ    data"): its name and data, DWORD/QWORD in decimal, multi-strings joined by newlines. */
function valueLine(line: string): { name: string; data: string } | null {
  const m = /^ {4}(.*?) {4}(REG_[A-Z_]+)(?: {4}(.*))?$/.exec(line);
  if (!m) return null;
  const type = m[2]!;
  const raw = m[3] ?? '';
  if ((type === 'REG_DWORD' || type === 'REG_QWORD') && /^0x[0-9a-f]+$/i.test(raw)) return { name: m[1]!, data: BigInt(raw).toString() };
  if (type === 'REG_MULTI_SZ') return { name: m[1]!, data: raw.split('\\0').filter(Boolean).join('\n') };
  return { name: m[1]!, data: raw };
}

/** A value's data from `reg query KEY /v NAME` output; null when absent. */
export function parseRegValue(stdout: string, name: string): string | null {
  const wanted = name === '' ? '(default)' : name.toLowerCase();
  for (const line of stdout.split(/\r?\n/)) {
    const v = valueLine(line);
    if (!v || (v.name.toLowerCase() !== wanted && !(name === '' && v.name === '(Standard)'))) continue;
    return name === '' && v.data === '(value not set)' ? null : v.data;
  }
  return null;
}

/** The direct subkeys of `key` with their values (names lowercased), from `reg query KEY /s` output; deeper keys' values are left out. */
export function parseRegTree(stdout: string, key: string): Array<{ name: string; values: Record<string, string> }> {
  const prefix = `${longRoot(key)}\\`.toLowerCase();
  const out: Array<{ name: string; values: Record<string, string> }> = [];
  let current: { name: string; values: Record<string, string> } | null = null;
  for (const line of stdout.split(/\r?\n/)) {
    if (/^HKEY_/i.test(line)) {
      const rest = line.trim().toLowerCase().startsWith(prefix) ? line.trim().slice(prefix.length) : '';
      current = rest && !rest.includes('\\') ? { name: rest, values: {} } : null;
      if (current) out.push(current);
      continue;
    }
    const v = current && valueLine(line);
    if (current && v) current.values[v.name.toLowerCase()] = v.data;
  }
  return out;
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

/** Exec with execFile (no shell: arguments go as given), 60 s at most, 16 MB of output (a large Uninstall tree). */
export const execCommand: Exec = (cmd) =>
  new Promise((resolve, reject) => {
    execFile(cmd.file, cmd.args, { windowsHide: true, timeout: 60_000, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (err, stdout) => {
      if (err && typeof err.code !== 'number') reject(err);
      else resolve({ code: err ? Number(err.code) : 0, stdout });
    });
  });

/** The detection adapter of a Windows PC. reg.exe exits 1 for a missing key or value; anything else is an error. */
export function windowsAdapter(exec: Exec): DetectionAdapter {
  const reg = async (cmd: Command) => {
    const r = await exec(cmd);
    if (r.code !== 0 && r.code !== 1) throw new Error(`${cmd.file} ${cmd.args.join(' ')} failed (exit code ${r.code})`);
    return r;
  };
  return {
    keyExists: async (key) => (await reg(regQueryKey(key))).code === 0,
    subkeyValues: async (key) => {
      const r = await reg(regQueryTree(key));
      return r.code === 0 ? parseRegTree(r.stdout, key) : [];
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
