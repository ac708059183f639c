// Windows registry hives for tests, made from a readable description (never an opaque binary):
// emptyHive() writes the smallest hive hivex opens (a base block, one bin, a root key and its
// security record, laid out as the regf format documents them), and buildHive() fills it with
// Debian's hivexsh, key by key, from a description such as
//
//   { 'ControlSet001\\Control\\ComputerName\\ComputerName': { ComputerName: 'MASTER' } }
//
// Values: a string is REG_SZ; { expand }, { dword }, { multi }, { binary } (hex) the other types.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { HIVE_TYPES, regString, setvalCommand, type HiveValue } from '../../services/imaging/client/hive.js';

export type RegValue = string | { expand: string } | { dword: number } | { multi: string[] } | { binary: string };
export type HiveDescription = Record<string, Record<string, RegValue>>;

const BLOCK = 4096;

/** The value as a hive stores it. */
export function regValue(name: string, v: RegValue): HiveValue {
  if (typeof v === 'string') return { name, type: HIVE_TYPES.string, data: regString(v) };
  if ('expand' in v) return { name, type: HIVE_TYPES.expandString, data: regString(v.expand) };
  if ('multi' in v) return { name, type: HIVE_TYPES.multiString, data: Buffer.from(`${v.multi.map((s) => `${s}\0`).join('')}\0`, 'utf16le') };
  if ('binary' in v) return { name, type: HIVE_TYPES.binary, data: Buffer.from(v.binary, 'hex') };
  const data = Buffer.alloc(4);
  data.writeUInt32LE(v.dword);
  return { name, type: HIVE_TYPES.dword, data };
}

/** A cell: its size (negative: in use) then its bytes, padded to 8. */
function cell(body: Buffer): Buffer {
  const size = (4 + body.length + 7) & ~7;
  const out = Buffer.alloc(size);
  out.writeInt32LE(-size, 0);
  body.copy(out, 4);
  return out;
}

/** The smallest valid hive: base block, one 4 KiB bin with the root key (nk) and its security (sk). */
export function emptyHive(rootName = 'ROOT'): Buffer {
  const base = Buffer.alloc(BLOCK);
  base.write('regf', 0, 'latin1');
  base.writeUInt32LE(1, 4); // primary sequence number
  base.writeUInt32LE(1, 8); // secondary: equal, so the hive is clean
  base.writeUInt32LE(1, 20); // format 1.3
  base.writeUInt32LE(3, 24);
  base.writeUInt32LE(0, 28); // primary file
  base.writeUInt32LE(1, 32); // direct memory load
  base.writeUInt32LE(0x20, 36); // root cell, from the first bin
  base.writeUInt32LE(BLOCK, 40); // bins' total size
  base.writeUInt32LE(1, 44); // clustering factor
  let sum = 0;
  for (let i = 0; i < 508; i += 4) sum = (sum ^ base.readUInt32LE(i)) >>> 0;
  base.writeUInt32LE(sum, 508); // checksum: XOR of the first 127 dwords

  const rootOffset = 0x20;
  const nk = Buffer.alloc(76 + rootName.length);
  nk.write('nk', 0, 'latin1');
  nk.writeUInt16LE(0x2c, 2); // KEY_HIVE_ENTRY | KEY_NO_DELETE | KEY_COMP_NAME
  nk.writeUInt32LE(0xffffffff, 16); // parent: none
  nk.writeUInt32LE(0xffffffff, 28); // subkey list: none
  nk.writeUInt32LE(0xffffffff, 32); // volatile subkey list: none
  nk.writeUInt32LE(0xffffffff, 40); // value list: none
  nk.writeUInt32LE(0xffffffff, 48); // class name: none
  nk.writeUInt16LE(rootName.length, 72);
  nk.write(rootName, 76, 'latin1');
  const nkCell = cell(nk);
  const skOffset = rootOffset + nkCell.length;
  nkCell.writeUInt32LE(skOffset, 4 + 44); // its security record
  // A self-relative security descriptor with a null DACL (revision 1, SE_SELF_RELATIVE | SE_DACL_PRESENT).
  const sd = Buffer.alloc(20);
  sd[0] = 1;
  sd.writeUInt16LE(0x8004, 2);
  const sk = Buffer.alloc(20 + sd.length);
  sk.write('sk', 0, 'latin1');
  sk.writeUInt32LE(skOffset, 4); // the list of security records: only this one
  sk.writeUInt32LE(skOffset, 8);
  sk.writeUInt32LE(1, 12); // used by one key
  sk.writeUInt32LE(sd.length, 16);
  sd.copy(sk, 20);
  const skCell = cell(sk);

  const bin = Buffer.alloc(BLOCK);
  bin.write('hbin', 0, 'latin1');
  bin.writeUInt32LE(0, 4); // offset from the first bin
  bin.writeUInt32LE(BLOCK, 8);
  nkCell.copy(bin, rootOffset);
  skCell.copy(bin, skOffset);
  const free = skOffset + skCell.length;
  bin.writeInt32LE(BLOCK - free, free); // the rest: one free cell
  return Buffer.concat([base, bin]);
}

/** Writes a hive made from the description (keys in any order; parents are made as needed). */
export function buildHive(file: string, description: HiveDescription): void {
  fs.writeFileSync(file, emptyHive());
  const made = new Set<string>();
  const script: string[] = [];
  for (const [key, vals] of Object.entries(description)) {
    const parts = key.split('\\');
    script.push('cd \\');
    parts.forEach((p, i) => {
      const at = parts.slice(0, i + 1).join('\\').toLowerCase();
      if (!made.has(at)) script.push(`add ${p}`);
      made.add(at);
      script.push(`cd ${p}`);
    });
    script.push(setvalCommand(Object.entries(vals).map(([n, v]) => regValue(n, v))).trimEnd());
  }
  script.push('commit');
  execFileSync('hivexsh', ['-w', file], { input: `${script.join('\n')}\n` });
}

/** What a SOFTWARE hive says of its Windows (the values the capture reads; undefined: the value left out). */
export interface WindowsVersion {
  productName?: string;
  editionId?: string;
  displayVersion?: string;
  releaseId?: string;
  build?: string;
  ubr?: number;
  /** SOFTWARE Microsoft\Windows\CurrentVersion\Setup\State ImageState. */
  imageState?: string;
}

/** A SOFTWARE hive's description: Windows 11 23H2 Education, generalized by sysprep unless told otherwise. */
export function softwareHive(v: WindowsVersion = {}): HiveDescription {
  const w: WindowsVersion = { productName: 'Windows 10 Education', editionId: 'Education', displayVersion: '23H2', build: '22631', ubr: 4460, imageState: 'IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE', ...v };
  const cv: Record<string, RegValue> = { CurrentVersion: '6.3', InstallationType: 'Client', RegisteredOrganization: 'Lycée Jean Moulin', SystemRoot: 'C:\\Windows' };
  if (w.productName !== undefined) cv.ProductName = w.productName;
  if (w.editionId !== undefined) cv.EditionID = w.editionId;
  if (w.displayVersion !== undefined) cv.DisplayVersion = w.displayVersion;
  if (w.releaseId !== undefined) cv.ReleaseId = w.releaseId;
  if (w.build !== undefined) Object.assign(cv, { CurrentBuild: w.build, CurrentBuildNumber: w.build });
  if (w.ubr !== undefined) cv.UBR = { dword: w.ubr };
  return {
    'Microsoft\\Windows NT\\CurrentVersion': cv,
    'Microsoft\\Windows\\CurrentVersion\\Setup\\State': w.imageState !== undefined ? { ImageState: w.imageState } : {},
    'Microsoft\\Windows\\CurrentVersion\\Run': { SecurityHealth: { expand: '%windir%\\system32\\SecurityHealthSystray.exe' } },
  };
}

/** SYSTEM Setup as sysprep /generalize /oobe leaves it: setup (windeploy) runs at the next start. */
export const GENERALIZED_SETUP: Record<string, RegValue> = { SystemSetupInProgress: { dword: 1 }, SetupType: { dword: 2 }, CmdLine: 'oobe\\windeploy.exe', OOBEInProgress: { dword: 0 } };
