// File names from TFTP clients → files inside the boot directory, and nothing else.
// Two gates: the name is normalised without touching the disk (backslashes, leading slashes, "."),
// and refused outright when it holds "..", NUL or control characters; then the resolved real path
// (symlinks followed) must still be inside the real root, and must be a regular file.
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

export const MAX_NAME_LENGTH = 1024;

export type Normalised = { ok: true; relative: string } | { ok: false; reason: string };

/**
 * Turns a requested name into a relative POSIX path: `\` becomes `/` (Windows-style PXE clients),
 * leading `/` are dropped (names are relative to the boot directory, as with `tftpd -s`), empty and
 * `.` segments are dropped. Any `..` segment, NUL or control character is refused: a boot ROM has
 * no reason to send one.
 */
export function normaliseName(name: string): Normalised {
  if (name.length === 0) return { ok: false, reason: 'empty file name' };
  if (name.length > MAX_NAME_LENGTH) return { ok: false, reason: 'file name too long' };
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) return { ok: false, reason: 'control character in file name' };
  const segments = name.replace(/\\/g, '/').split('/').filter((s) => s !== '' && s !== '.');
  if (segments.some((s) => s === '..')) return { ok: false, reason: 'parent directory (..) in file name' };
  if (segments.length === 0) return { ok: false, reason: 'no file name' };
  return { ok: true, relative: segments.join('/') };
}

/** What identifies an opened file: a replaced file (new inode) or a rewritten one (new size or times) differs. */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export type Opened =
  | { ok: true; handle: fs.FileHandle; stat: FileIdentity; realPath: string }
  | { ok: false; code: 'not_found' | 'access'; reason: string };

/**
 * Opens the file `relative` (already normalised) from inside `root`. The real path of the file must
 * lie inside the real path of the root: a symlink that leaves the boot directory is refused. The
 * file is opened once, without following a last-moment symlink and without blocking on a FIFO, and
 * checked to be a regular file no larger than `maxBytes`. The caller owns the returned handle.
 */
export async function openInsideRoot(root: string, relative: string, maxBytes: number): Promise<Opened> {
  let realRoot: string;
  try {
    realRoot = await fs.realpath(root);
  } catch {
    return { ok: false, code: 'not_found', reason: `boot directory ${root} does not exist` };
  }
  let real: string;
  try {
    real = await fs.realpath(path.join(realRoot, relative));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES') return { ok: false, code: 'access', reason: 'permission denied' };
    return { ok: false, code: 'not_found', reason: 'no such file' };
  }
  if (!isInside(realRoot, real)) return { ok: false, code: 'access', reason: `resolves outside the boot directory (to ${real})` };
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { ok: false, code: 'not_found', reason: 'no such file' };
    if (code === 'EISDIR') return { ok: false, code: 'not_found', reason: 'is a directory' };
    return { ok: false, code: 'access', reason: `cannot open (${code ?? 'error'})` };
  }
  let problem: Opened | undefined;
  try {
    // bigint: exact device and inode numbers (the data pump checks them), nanosecond times.
    const st = await handle.stat({ bigint: true });
    if (st.isDirectory()) problem = { ok: false, code: 'not_found', reason: 'is a directory' };
    else if (!st.isFile()) problem = { ok: false, code: 'access', reason: 'not a regular file' };
    else if (st.size > BigInt(maxBytes)) problem = { ok: false, code: 'access', reason: `file too large (${st.size} bytes, limit ${maxBytes})` };
    else return { ok: true, handle, stat: { dev: st.dev, ino: st.ino, size: Number(st.size), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs }, realPath: real };
  } catch (err) {
    problem = { ok: false, code: 'access', reason: `cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  await handle.close().catch(() => undefined);
  return problem;
}

export function isInside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}
