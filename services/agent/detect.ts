// Detection (issue 16 item 5): whether a package is installed, from its detection rules
// (services/software/package.ts), read through an adapter so that the evaluation is pure of Windows.
// The Windows adapter (windows-adapter.ts) reads with `reg query` and PowerShell; tests use a fake view.
// Every answer carries the reason, as the agent reports it.
import { UNINSTALL_KEYS, type DetectionRule } from '../software/package.js';
import { atLeast } from './version.js';

/** What detection reads on the PC. Keys are full paths under HKLM (HKLM\SOFTWARE\…), case-insensitive as in Windows. */
export interface DetectionAdapter {
  /** Whether the key exists. */
  keyExists(key: string): Promise<boolean>;
  /** The key's direct subkeys, each with its values (names lowercased; REG_DWORD in decimal), in one read: Uninstall holds hundreds. Empty when the key does not exist. */
  subkeyValues(key: string): Promise<Array<{ name: string; values: Record<string, string> }>>;
  /** A value's data as text (REG_DWORD as a decimal number), or null when the key or value does not exist. */
  readValue(key: string, name: string): Promise<string | null>;
  /** A file's version (FileVersion), '' when the file exists without one, null when it does not exist. Variables (%ProgramFiles%) are expanded. */
  fileVersion(path: string): Promise<string | null>;
}

export interface Detection {
  installed: boolean;
  reason: string;
}

/** Evaluates a rule; `all` stops at the first rule not met, `any` at the first one met. */
export async function detect(rule: DetectionRule, io: DetectionAdapter): Promise<Detection> {
  switch (rule.type) {
    case 'msi_product_code': {
      for (const root of UNINSTALL_KEYS) if (await io.keyExists(`${root}\\${rule.productCode}`)) return yes(`${rule.productCode} is under ${root}`);
      return no(`${rule.productCode} is under neither Uninstall key`);
    }
    case 'uninstall_entry':
      return uninstallEntry(rule.displayName, rule.minVersion, io);
    case 'file_version': {
      const v = await io.fileVersion(rule.path);
      if (v === null) return no(`${rule.path} does not exist`);
      if (rule.minVersion === undefined) return yes(`${rule.path} exists`);
      return atLeast(v, rule.minVersion) ? yes(`${rule.path} is version ${v} ≥ ${rule.minVersion}`) : no(`${rule.path} is version ${v || '(none)'}, not ≥ ${rule.minVersion}`);
    }
    case 'registry_value': {
      const v = await io.readValue(rule.key, rule.value);
      const where = `${rule.key} ${rule.value || '(default)'}`;
      if (v === null) return no(`${where} does not exist`);
      if (rule.equals !== undefined) return v === rule.equals ? yes(`${where} is ${v}`) : no(`${where} is ${v}, not ${rule.equals}`);
      if (rule.minVersion !== undefined) return atLeast(v, rule.minVersion) ? yes(`${where} is ${v} ≥ ${rule.minVersion}`) : no(`${where} is ${v}, not ≥ ${rule.minVersion}`);
      return yes(`${where} exists`);
    }
    case 'all': {
      const reasons: string[] = [];
      for (const r of rule.rules) {
        const d = await detect(r, io);
        if (!d.installed) return no(d.reason);
        reasons.push(d.reason);
      }
      return yes(reasons.join('; '));
    }
    case 'any': {
      const reasons: string[] = [];
      for (const r of rule.rules) {
        const d = await detect(r, io);
        if (d.installed) return yes(d.reason);
        reasons.push(d.reason);
      }
      return no(`none met: ${reasons.join('; ')}`);
    }
  }
}

async function uninstallEntry(displayName: string, minVersion: string | undefined, io: DetectionAdapter): Promise<Detection> {
  const pattern = wildcard(displayName);
  let below: string | null = null;
  for (const root of UNINSTALL_KEYS) {
    for (const sub of await io.subkeyValues(root)) {
      const name = sub.values['displayname'];
      if (name === undefined || !pattern.test(name)) continue;
      if (minVersion === undefined) return yes(`${name} is under ${root}`);
      const version = sub.values['displayversion'] ?? '';
      if (atLeast(version, minVersion)) return yes(`${name} ${version} ≥ ${minVersion} is under ${root}`);
      below = `${name} ${version || '(no version)'}`;
    }
  }
  return no(below ? `${below} is installed, not ≥ ${minVersion}` : `no Uninstall entry is named ${displayName}`);
}

/** A DisplayName pattern: * any text, ? one character, case-insensitive, the whole name. */
export function wildcard(pattern: string): RegExp {
  const body = [...pattern].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`, 'is');
}

const yes = (reason: string): Detection => ({ installed: true, reason });
const no = (reason: string): Detection => ({ installed: false, reason });
