// Offline Windows registry hives (SYSTEM, SOFTWARE), read and edited with Debian's hivex tools
// (hivexsh, package libhivex-bin), which the boot client's imaging part carries.
//
// hivexsh edits a key's values only as a whole: `setval N` replaces every value of the current key.
// So an edit reads the key's values first (`lsval`), changes or adds the ones asked for, and writes
// them all back, each as `hex:<type>:<bytes>` so that every value keeps its type.
//
// Rules:
// - What lsval prints is parsed exactly (parseLsval): names and strings are quoted with `\"` and `\\`
//   escaped, and a string may span lines. Values that are not strings come as raw bytes (hex(N)) or
//   as dword:, and go back unchanged. A string value (types 1, 2, 6) comes decoded: it goes back as
//   UTF-16LE with one NUL, which is what Windows writes; bytes after a first NUL, or a missing NUL,
//   are not kept (hivex does not show them). A big-endian DWORD (type 5) comes back as type 4.
// - A value name with a line break cannot be written back (hivexsh reads lines): the edit refuses.
// - The hive is never written in place: hivexsh commits to a temporary file beside it, which is
//   flushed to the disk and then renamed over the hive. A failure leaves the hive as it was.
// - A hive whose two sequence numbers differ was not written cleanly (Windows keeps changes in its
//   .LOG1/.LOG2 files and replays them at start, which could undo an edit): dirty() tells.
import fs from 'node:fs/promises';
import path from 'node:path';
import { ClientError, run } from './sys.js';

export const HIVE_TYPES = { none: 0, string: 1, expandString: 2, binary: 3, dword: 4, dwordBigEndian: 5, link: 6, multiString: 7, qword: 11 } as const;

export interface HiveValue {
  /** '@' is the key's default value. */
  name: string;
  type: number;
  data: Buffer;
}

/** A key of the hive, from its root: ['ControlSet001', 'Control', 'ComputerName']. */
export type KeyPath = readonly string[];

export interface HiveEdit {
  key: KeyPath;
  /** String values (REG_SZ) set to these, the key's other values kept; the key is made when missing. */
  strings: Record<string, string>;
}

/** UTF-16LE with the terminating NUL, as Windows stores REG_SZ. */
export const regString = (s: string): Buffer => Buffer.from(`${s}\0`, 'utf16le');

/** The values of `hivexsh lsval` output. Throws on anything it does not recognise. */
export function parseLsval(text: string): HiveValue[] {
  const out: HiveValue[] = [];
  let i = 0;
  const fail = (what: string): never => {
    throw new ClientError(`hivexsh printed a value this client cannot read (${what} at character ${i}: ${JSON.stringify(text.slice(i, i + 40))})`, 'hive_unreadable');
  };
  const quoted = (): string => {
    if (text[i] !== '"') fail('expected "');
    let s = '';
    for (i++; i < text.length; i++) {
      const c = text[i]!;
      if (c === '"') {
        i++;
        return s;
      }
      if (c === '\\') {
        i++;
        if (i >= text.length) break;
        s += text[i];
      } else s += c;
    }
    return fail('unterminated string');
  };
  const until = (end: string): string => {
    const j = text.indexOf(end, i);
    const part = text.slice(i, j < 0 ? text.length : j);
    i = j < 0 ? text.length : j;
    return part;
  };
  while (i < text.length) {
    if (text[i] === '\n') {
      i++;
      continue;
    }
    const name = quoted();
    if (text[i++] !== '=') fail('expected =');
    let value: HiveValue;
    if (text[i] === '"') value = { name, type: HIVE_TYPES.string, data: regString(quoted()) };
    else if (text.startsWith('str(', i)) {
      i += 4;
      const type = Number(until(')'));
      i += 2; // '):'
      value = { name, type, data: regString(quoted()) };
    } else if (text.startsWith('dword:', i)) {
      i += 6;
      const hex = until('\n');
      if (!/^[0-9a-f]{1,8}$/i.test(hex)) fail('bad dword');
      const data = Buffer.alloc(4);
      data.writeUInt32LE(Number.parseInt(hex, 16));
      value = { name, type: HIVE_TYPES.dword, data };
    } else if (text.startsWith('hex(', i)) {
      i += 4;
      const type = Number(until(')'));
      i += 2;
      const bytes = until('\n');
      if (!/^([0-9a-f]{2}(,[0-9a-f]{2})*)?$/i.test(bytes)) fail('bad hex bytes');
      value = { name, type, data: Buffer.from(bytes.replaceAll(',', ''), 'hex') };
    } else value = fail('unknown value format');
    if (!Number.isInteger(value.type) || value.type < 0) fail('bad type');
    out.push(value);
    if (i < text.length && text[i] !== '\n') fail('expected the end of the line');
  }
  return out;
}

/** The `setval` command that gives the current key exactly these values. */
export function setvalCommand(values: readonly HiveValue[]): string {
  const lines = [`setval ${values.length}`];
  for (const v of values) {
    if (/[\r\n]/.test(v.name)) throw new ClientError(`the registry value name ${JSON.stringify(v.name)} holds a line break: hivexsh cannot write it back`, 'hive_unwritable');
    lines.push(v.name, `hex:${v.type}:${[...v.data].map((b) => b.toString(16).padStart(2, '0')).join(',')}`);
  }
  return `${lines.join('\n')}\n`;
}

function cdCommand(key: KeyPath): string {
  for (const k of key) {
    if (k.trim() !== k || k === '' || /[\\\r\n]/.test(k)) throw new ClientError(`registry key name ${JSON.stringify(k)} cannot be reached with hivexsh`, 'hive_unwritable');
  }
  return `cd \\${key.join('\\')}`;
}

/** Runs a hivexsh script; resolves null when it stopped on a key that is not there. */
async function hivexsh(hive: string, script: string, write = false): Promise<string | null> {
  try {
    return (await run('hivexsh', [...(write ? ['-w'] : []), hive], { input: script })).stdout;
  } catch (err) {
    if (/subkey '.*' not found/.test((err as Error).message)) return null;
    throw err;
  }
}

/** The subkeys of a key (null: no such key). */
export async function subkeys(hive: string, key: KeyPath): Promise<string[] | null> {
  const out = await hivexsh(hive, `${cdCommand(key)}\nls\n`);
  return out === null ? null : out.split('\n').filter(Boolean);
}

/** The values of a key (null: no such key). */
export async function values(hive: string, key: KeyPath): Promise<HiveValue[] | null> {
  const out = await hivexsh(hive, `${cdCommand(key)}\nlsval\n`);
  return out === null ? null : parseLsval(out);
}

/** A string value of a key (null: no such key or value, or not a string). */
export async function stringValue(hive: string, key: KeyPath, name: string): Promise<string | null> {
  const v = (await values(hive, key))?.find((x) => x.name.toLowerCase() === name.toLowerCase());
  if (!v || ![HIVE_TYPES.string, HIVE_TYPES.expandString, HIVE_TYPES.link].includes(v.type as 1)) return null;
  const s = v.data.toString('utf16le');
  const nul = s.indexOf('\0');
  return nul < 0 ? s : s.slice(0, nul);
}

/** Whether the hive was left with changes only in its transaction logs (its sequence numbers differ). */
export async function dirty(hive: string): Promise<boolean> {
  const fh = await fs.open(hive, 'r');
  try {
    const head = Buffer.alloc(12);
    await fh.read(head, 0, 12, 0);
    if (head.toString('latin1', 0, 4) !== 'regf') throw new ClientError(`${hive} is not a registry hive`, 'hive_unreadable');
    return head.readUInt32LE(4) !== head.readUInt32LE(8);
  } finally {
    await fh.close();
  }
}

/**
 * How deep `key` exists and, when it exists whole, its values: ONE hivexsh run (`cd` to the whole
 * path, then `lsval`). hivexsh stops at the first subkey it cannot find and names it; the depth is
 * the place of that name in the path (names compare without case, as Windows does). A name that
 * appears twice in the path (…\Parameters\Parameters) is checked again one level at a time.
 */
async function probeKey(hive: string, key: KeyPath): Promise<{ depth: number; values: HiveValue[] | null }> {
  try {
    const out = (await run('hivexsh', [hive], { input: `${cdCommand(key)}\nlsval\n` })).stdout;
    return { depth: key.length, values: parseLsval(out) };
  } catch (err) {
    const missing = /subkey '(.*)' not found/.exec((err as Error).message)?.[1];
    if (missing === undefined) throw err;
    const at = key.map((k) => k.toLowerCase()).filter((k) => k === missing.toLowerCase()).length === 1 ? key.findIndex((k) => k.toLowerCase() === missing.toLowerCase()) : -1;
    if (at >= 0) return { depth: at, values: null };
    let depth = 0;
    while (depth < key.length && (await subkeys(hive, key.slice(0, depth + 1))) !== null) depth++;
    return { depth, values: depth === key.length ? await values(hive, key) : null };
  }
}

/**
 * Applies the edits in one hivexsh session, keeping every other value; missing keys are made.
 * Returns the keys it made. The hive is replaced only once the new one is on the disk. Reading costs
 * one hivexsh run per edit (probeKey), writing one more.
 */
export async function editHive(hive: string, edits: readonly HiveEdit[]): Promise<string[]> {
  const keys = edits.map((e) => e.key.join('\\').toLowerCase());
  if (new Set(keys).size !== keys.length) throw new Error('editHive: one edit per key');
  const made: string[] = [];
  const script: string[] = [];
  for (const edit of edits) {
    // The deepest key that exists, in the hive or made by an earlier edit of this session; the rest is made.
    const probe = await probeKey(hive, edit.key);
    let have = probe.depth;
    while (have < edit.key.length && made.includes(edit.key.slice(0, have + 1).join('\\'))) have++;
    const current = probe.depth === edit.key.length ? (probe.values ?? []) : [];
    script.push(have ? cdCommand(edit.key.slice(0, have)) : 'cd \\');
    for (let depth = have; depth < edit.key.length; depth++) {
      const k = edit.key[depth]!;
      cdCommand([k]);
      script.push(`add ${k}`, `cd ${k}`);
      made.push(edit.key.slice(0, depth + 1).join('\\'));
    }
    const next = current.filter((v) => !Object.keys(edit.strings).some((n) => n.toLowerCase() === v.name.toLowerCase()));
    for (const [name, s] of Object.entries(edit.strings)) next.push({ name, type: HIVE_TYPES.string, data: regString(s) });
    script.push(setvalCommand(next).trimEnd());
  }
  const tmp = path.join(path.dirname(hive), `.${path.basename(hive)}.roomcast-${process.pid}`);
  script.push(`commit ${tmp}`);
  try {
    await hivexsh(hive, `${script.join('\n')}\n`, true);
    const fh = await fs.open(tmp, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, hive);
    const dir = await fs.open(path.dirname(hive), 'r');
    await dir.sync().catch(() => undefined); // ntfs-3g may refuse a directory's fsync; the unmount flushes it
    await dir.close();
  } finally {
    await fs.rm(tmp, { force: true });
  }
  return made;
}
