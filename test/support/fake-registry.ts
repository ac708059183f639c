// A fake view of a PC for detection tests (the real registry and file versions are Windows-only):
// keys with their values, and files with their versions. Case-insensitive, as Windows is.
import type { DetectionAdapter } from '../../services/agent/detect.js';

export interface FakePc {
  /** Full key path (HKLM\SOFTWARE\…) → value name → data ('' for the default value). */
  keys?: Record<string, Record<string, string>>;
  /** Path as written in rules (variables unexpanded) → file version ('' for none). */
  files?: Record<string, string>;
}

export function fakeAdapter(pc: FakePc): DetectionAdapter & { reads: string[] } {
  const keys = new Map(Object.entries(pc.keys ?? {}).map(([k, v]) => [k.toLowerCase(), new Map(Object.entries(v).map(([n, d]) => [n.toLowerCase(), d]))]));
  const files = new Map(Object.entries(pc.files ?? {}).map(([p, v]) => [p.toLowerCase(), v]));
  const reads: string[] = [];
  // A key exists when it is listed or when a listed key is under it.
  const exists = (key: string) => [...keys.keys()].some((k) => k === key.toLowerCase() || k.startsWith(`${key.toLowerCase()}\\`));
  return {
    reads,
    async keyExists(key) {
      reads.push(`key ${key}`);
      return exists(key);
    },
    async subkeyValues(key) {
      reads.push(`subkeys ${key}`);
      const prefix = `${key.toLowerCase()}\\`;
      const names = new Map<string, string>();
      for (const original of Object.keys(pc.keys ?? {})) {
        if (!original.toLowerCase().startsWith(prefix)) continue;
        const name = original.slice(prefix.length).split('\\')[0]!;
        names.set(name.toLowerCase(), name);
      }
      return [...names.entries()].map(([lower, name]) => ({ name, values: Object.fromEntries(keys.get(`${key.toLowerCase()}\\${lower}`) ?? []) }));
    },
    async readValue(key, name) {
      reads.push(`value ${key} ${name}`);
      return keys.get(key.toLowerCase())?.get(name.toLowerCase()) ?? null;
    },
    async fileVersion(path) {
      reads.push(`file ${path}`);
      return files.get(path.toLowerCase()) ?? null;
    },
  };
}
