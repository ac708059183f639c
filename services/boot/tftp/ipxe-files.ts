// The iPXE binaries PXE firmware loads over TFTP, with the SHA-256 each must have: the pins of
// images/ipxe/SHA256SUMS (fetch.sh checks a download against that file; a test checks this copy
// against it, since the appliance image does not carry images/). /api/health says whether the TFTP
// root holds each file, and whether it is the pinned one.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** images/ipxe/SHA256SUMS, file by file. */
export const IPXE_PINS = {
  'undionly.kpxe': 'f09cfbe9bbd39c3f5eb9cdf7386b520a4f5858bbc4438960c5b870c7a8930a7f',
  'ipxe.efi': '67c7f1f8e062968209ca055283ca782f21faf6a18f55dd19848601bbaf8ed7aa',
  'snponly.efi': '18fc84b69172b9f7d1e6b5274c81121dde429fdacfdc984747f687cfb4f8090b',
} as const;
export type IpxeFile = keyof typeof IPXE_PINS;
export const IPXE_FILES = Object.keys(IPXE_PINS) as IpxeFile[];

export type IpxeFileState = 'ok' | 'missing' | 'mismatch';
export interface IpxeStatus {
  status: 'complete' | 'incomplete';
  root: string;
  files: Array<{ name: IpxeFile; state: IpxeFileState }>;
  detail?: string;
}

// A file is hashed again only when its size or modification time changed (health is asked often).
const hashed = new Map<string, { size: number; mtimeMs: number; sha256: string }>();

async function sha256Of(file: string, stat: fs.Stats): Promise<string> {
  const known = hashed.get(file);
  if (known && known.size === stat.size && known.mtimeMs === stat.mtimeMs) return known.sha256;
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  const sha256 = hash.digest('hex');
  hashed.set(file, { size: stat.size, mtimeMs: stat.mtimeMs, sha256 });
  return sha256;
}

async function stateOf(root: string, name: IpxeFile): Promise<IpxeFileState> {
  const file = path.join(root, name);
  const stat = await fs.promises.stat(file).catch(() => null);
  if (!stat?.isFile()) return 'missing';
  const sha = await sha256Of(file, stat).catch(() => null);
  return sha === IPXE_PINS[name] ? 'ok' : 'mismatch';
}

/** Each iPXE binary in the TFTP root: present and the pinned one, missing, or another file. */
export async function ipxeStatus(root: string): Promise<IpxeStatus> {
  const files = await Promise.all(IPXE_FILES.map(async (name) => ({ name, state: await stateOf(root, name) })));
  const bad = files.filter((f) => f.state !== 'ok');
  if (bad.length === 0) return { status: 'complete', root, files };
  const missing = bad.filter((f) => f.state === 'missing').map((f) => f.name);
  const wrong = bad.filter((f) => f.state === 'mismatch').map((f) => f.name);
  const detail = [
    missing.length ? `${missing.join(', ')} missing` : '',
    wrong.length ? `${wrong.join(', ')} not the pinned file (SHA-256 differs from images/ipxe/SHA256SUMS)` : '',
  ].filter(Boolean).join('; ');
  return { status: 'incomplete', root, files, detail: `iPXE binaries in ${root}: ${detail}; PCs cannot network-boot reliably: run \`bash images/ipxe/fetch.sh ${root}\` (\`npm run ipxe\` for the default directory)` };
}
