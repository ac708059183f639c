// Driver packs, the part the api and the imaging client share (issue 15 item 3): where a pack goes in
// the restored Windows, what the api answers a restoring PC about its pack, and the tar reader both
// sides unpack a pack with (node: only, so that the client bundle needs nothing else).
//
// A pack is a tar archive (plain or gzip: `tar -czf pack.tgz folder`, which Windows 10 and later also
// make with their own tar.exe) of a folder tree holding .inf drivers. Tar rather than zip: no zip
// library is in the dependencies, and a tar is read as a stream from its first byte, where a zip must
// be read from its end (its central directory), which a download or an upload in progress does not have.
// Only regular files and folders are taken; a link, a device, an absolute name or one with `..` is refused.
//
// In the restored Windows, every pack goes under C:\Drivers\roomcast\<folder>; the answer file's
// specialize pass installs what is there with `pnputil /add-driver …\*.inf /subdirs /install`
// (unattend.ts: PnpCustomizationsNonWinPE's DriverPaths are read only in passes a sysprepped image's
// first start does not run).
import fs from 'node:fs/promises';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { z } from 'zod';

/** Where the packs go on the Windows partition (relative to its root), and the answer file's path. */
export const DRIVERS_ROOT = ['Drivers', 'roomcast'] as const;
export const ANSWER_FILE_DRIVER_PATH = '%SystemDrive%\\Drivers\\roomcast';

/** The folder a pack gets under DRIVERS_ROOT: its id and a name safe on NTFS. */
export const packFolder = (id: number, name: string) => `${id}-${name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+|[._]+$/g, '').slice(0, 60) || 'pack'}`;

export const DRIVER_MATCH_CODES = ['matched', 'matched_tie', 'no_facts', 'no_pack'] as const;

/** GET /api/v1/client/drivers: the pack for the task's PC, or none and why. */
export const DriverMatchSchema = z
  .object({
    pack: z
      .object({
        id: z.number().int(),
        name: z.string(),
        folder: z.string().describe('its folder under Drivers\\roomcast on the Windows partition'),
        sha256: z.string(),
        sizeBytes: z.number().int().nonnegative(),
        url: z.string().describe('the archive, for this task token (GET, Range supported)'),
      })
      .nullable(),
    code: z.enum(DRIVER_MATCH_CODES),
    reason: z.object({ en: z.string(), fr: z.string() }),
  })
  .meta({ id: 'DriverMatch' });
export type DriverMatch = z.infer<typeof DriverMatchSchema>;

export class TarError extends Error {
  constructor(
    message: string,
    readonly code: 'tar_unsafe_path' | 'tar_bad_entry' | 'tar_damaged',
  ) {
    super(message);
  }
}

/** A tar entry's name made relative and checked: no absolute name, drive, `..`, backslash or control character. */
export function safeEntryName(raw: string): string {
  const name = raw.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (raw.startsWith('/') || /^[A-Za-z]:/.test(raw) || name.includes('\\') || [...name].some((c) => c.charCodeAt(0) < 32 || c === ':') || parts.some((p) => p === '..')) {
    throw new TarError(`the archive holds the entry "${raw.slice(0, 200)}", which would land outside its folder: make the archive from inside the pack's folder (tar -czf pack.tgz -C folder .)`, 'tar_unsafe_path');
  }
  return parts.join('/');
}

export interface TarEntry {
  /** Relative, checked (safeEntryName); '' for the archive's root folder. */
  name: string;
  type: 'file' | 'dir';
  size: number;
}

const text = (b: Buffer, at: number, len: number) => {
  const s = b.subarray(at, at + len);
  const end = s.indexOf(0);
  return s.subarray(0, end < 0 ? len : end).toString('utf8');
};
const octal = (b: Buffer, at: number, len: number) => {
  if (b[at]! & 0x80) {
    // GNU base-256 (a file of 8 GiB or more)
    let n = b[at]! & 0x7f;
    for (let i = at + 1; i < at + len; i++) n = n * 256 + b[i]!;
    if (!Number.isSafeInteger(n)) throw new TarError('the archive is damaged or is not a tar (a header number is out of range)', 'tar_damaged');
    return n;
  }
  const s = text(b, at, len).trim();
  if (!/^[0-7]*$/.test(s)) throw new TarError('the archive is damaged or is not a tar (a header number is not octal)', 'tar_damaged');
  return s ? parseInt(s, 8) : 0;
};

/** Bytes from an async source, read exactly as asked. */
class Pull {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  constructor(private readonly it: AsyncIterator<Buffer>) {}
  private async more(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.it.next();
    if (r.done) return !(this.done = true);
    this.buf = this.buf.length ? Buffer.concat([this.buf, r.value]) : r.value;
    return true;
  }
  async exact(n: number): Promise<Buffer | null> {
    while (this.buf.length < n) if (!(await this.more())) return null;
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
  /** Up to `n` bytes as they come (at least one), for a file's data. */
  async some(n: number): Promise<Buffer | null> {
    if (!this.buf.length && !(await this.more())) return null;
    const out = this.buf.subarray(0, Math.min(n, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    return out;
  }
}

/**
 * Reads a tar (plain, or gzip by its magic bytes) as it streams, calling `onEntry` for each file and
 * folder with, for a file, its data as it arrives (`data` must be read whole before the next entry).
 * Throws TarError on an unsafe name, a link or device, a damaged header or a cut archive.
 */
export async function readTar(source: AsyncIterable<Buffer>, onEntry: (entry: TarEntry, data: AsyncIterable<Buffer>) => Promise<void>): Promise<void> {
  try {
    await walkTar(source, onEntry);
  } catch (err) {
    // A gzip stream that does not inflate: the archive is damaged (the source's own errors pass on).
    if (/^Z_/.test(String((err as { code?: unknown }).code))) throw new TarError(`the archive is damaged (its gzip data: ${(err as Error).message})`, 'tar_damaged');
    throw err;
  }
}

async function walkTar(source: AsyncIterable<Buffer>, onEntry: (entry: TarEntry, data: AsyncIterable<Buffer>) => Promise<void>): Promise<void> {
  const it = source[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) throw new TarError('the archive is empty', 'tar_damaged');
  async function* again() {
    yield first.value as Buffer;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  }
  const gz = first.value[0] === 0x1f && first.value[1] === 0x8b;
  const input: AsyncIterable<Buffer> = gz ? Readable.from(again()).pipe(createGunzip()) : again();
  const pull = new Pull(input[Symbol.asyncIterator]());
  let longName: string | null = null;
  let paxPath: string | null = null;
  for (;;) {
    const h = await pull.exact(512);
    if (!h) throw new TarError('the archive ends in the middle (it was cut short): upload the whole file', 'tar_damaged');
    if (h.every((b) => b === 0)) return; // the end-of-archive block
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    if (sum !== octal(h, 148, 8)) throw new TarError(gz || first.value.length < 262 || text(first.value, 257, 5) === 'ustar' ? 'the archive is damaged (a header checksum is wrong)' : 'the file is not a tar archive (plain or gzip): make it with tar -czf pack.tgz -C folder .', 'tar_damaged');
    const type = String.fromCharCode(h[156]!) || '0';
    const size = octal(h, 124, 12);
    const padded = Math.ceil(size / 512) * 512;
    if (type === 'L' || type === 'x' || type === 'g') {
      if (size > 1 << 20) throw new TarError('the archive has an oversized extended header', 'tar_damaged');
      const body = await pull.exact(padded);
      if (!body) throw new TarError('the archive ends in the middle (it was cut short): upload the whole file', 'tar_damaged');
      const data = body.subarray(0, size).toString('utf8');
      if (type === 'L') longName = data.replace(/\0+$/, '');
      else if (type === 'x') paxPath = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(data)?.[1] ?? paxPath;
      continue;
    }
    const prefix = text(h, 257, 6) === 'ustar' ? text(h, 345, 155) : '';
    const raw = paxPath ?? longName ?? (prefix ? `${prefix}/${text(h, 0, 100)}` : text(h, 0, 100));
    paxPath = longName = null;
    const name = safeEntryName(raw);
    if (type !== '0' && type !== '\0' && type !== '7' && type !== '5') {
      throw new TarError(`the archive holds "${raw.slice(0, 200)}", a ${type === '2' ? 'symbolic link' : type === '1' ? 'hard link' : 'special file'}: a pack holds only files and folders`, 'tar_bad_entry');
    }
    if (type === '5') {
      await onEntry({ name, type: 'dir', size: 0 }, (async function* () {})());
      if (padded) await pull.exact(padded);
      continue;
    }
    if (!name) throw new TarError('the archive holds a file with an empty name', 'tar_bad_entry');
    let left = size;
    let consumed = false;
    async function* data() {
      consumed = true;
      while (left > 0) {
        const piece = await pull.some(left);
        if (!piece) throw new TarError('the archive ends in the middle (it was cut short): upload the whole file', 'tar_damaged');
        left -= piece.length;
        yield piece;
      }
    }
    await onEntry({ name, type: 'file', size }, data());
    if (!consumed || left > 0) for await (const _ of data()) void _; // the caller skipped the data
    if (padded > size && !(await pull.exact(padded - size))) throw new TarError('the archive ends in the middle (it was cut short): upload the whole file', 'tar_damaged');
  }
}

/** fsync of a file or a folder (a folder: its entries are on the disk). */
export async function fsyncPath(p: string): Promise<void> {
  const fh = await fs.open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Unpacks a tar stream into `into` (made if missing): folders made, each file written and fsynced, then
 * every folder written to fsynced, deepest first. `check` sees each entry first (with how many came
 * before) and refuses it by throwing. Returns the files' names and their bytes.
 */
export async function unpackTar(source: AsyncIterable<Buffer>, into: string, check: (entry: TarEntry, before: number) => void = () => undefined): Promise<{ names: string[]; bytes: number }> {
  const dirs = new Set<string>([into]);
  const names: string[] = [];
  let bytes = 0;
  await fs.mkdir(into, { recursive: true });
  await readTar(source, async (e, data) => {
    check(e, names.length + dirs.size);
    const dest = path.join(into, e.name);
    if (e.type === 'dir') {
      await fs.mkdir(dest, { recursive: true });
      dirs.add(dest);
      return;
    }
    await fs.mkdir(path.dirname(dest), { recursive: true });
    dirs.add(path.dirname(dest));
    const fh = await fs.open(dest, 'w');
    try {
      for await (const piece of data) await fh.write(piece);
      await fh.sync();
    } finally {
      await fh.close();
    }
    names.push(e.name);
    bytes += e.size;
  });
  for (const d of [...dirs].sort((a, b) => b.length - a.length)) await fsyncPath(d);
  return { names, bytes };
}
