// One partition of the disk: reached through a loop device at its offset (the same on a PC and on
// a test's disk image; it needs no partition scanning by the kernel), its filesystem probed with
// blkid, the ranges it uses read with partclone's domain mode (-D).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { alignExtents, EXTENT_ALIGN, normalizeExtents, type Extent, type Filesystem } from '../format.js';
import { ClientError, run, tryRun } from './sys.js';

// One losetup at a time: two `--find` at once may pick the same free device (a capture scans
// partitions side by side, scan.ts).
let losetupChain: Promise<unknown> = Promise.resolve();
function serially<T>(job: () => Promise<T>): Promise<T> {
  const next = losetupChain.then(job, job);
  losetupChain = next.catch(() => {});
  return next;
}

export function attachLoop(device: string, offset: number, size: number, readOnly = false): Promise<string> {
  return serially(async () => {
    const { stdout } = await run('losetup', ['--find', '--show', ...(readOnly ? ['--read-only'] : []), '--offset', String(offset), '--sizelimit', String(size), device]);
    return stdout.trim();
  });
}

export async function detachLoop(loop: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await serially(() => run('losetup', ['--detach', loop]));
      return;
    } catch (err) {
      if (i >= 20) throw err;
      await new Promise((r) => setTimeout(r, 100)); // a program that just closed it may still hold it
    }
  }
}

/** Runs `fn` with a loop device over [offset, offset+size) of `device`, detached afterwards. */
export async function withLoop<T>(device: string, offset: number, size: number, fn: (loop: string) => Promise<T>, readOnly = false): Promise<T> {
  const loop = await attachLoop(device, offset, size, readOnly);
  try {
    return await fn(loop);
  } finally {
    await detachLoop(loop);
  }
}

export interface Probe {
  filesystem: Filesystem;
  /** What blkid called it (also for the raw ones: swap, BitLocker, none). */
  blkidType: string | null;
  label: string | null;
  uuid: string | null;
  bitlocker: boolean;
}

const FS_OF: Record<string, Filesystem> = { ntfs: 'ntfs', ext2: 'ext2', ext3: 'ext3', ext4: 'ext4', vfat: 'vfat' };

export async function probe(dev: string): Promise<Probe> {
  const out = await tryRun('blkid', ['-p', '-o', 'export', dev]);
  const kv = new Map<string, string>();
  for (const line of out?.stdout.split('\n') ?? []) {
    const i = line.indexOf('=');
    if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1));
  }
  const type = kv.get('TYPE') ?? null;
  // BitLocker: blkid says so, and the boot sector's OEM id is "-FVE-FS-" (Windows 7+).
  const fh = await fs.open(dev, 'r');
  const head = Buffer.alloc(16);
  try {
    await fh.read(head, 0, 16, 0);
  } finally {
    await fh.close();
  }
  const bitlocker = type === 'BitLocker' || head.toString('latin1', 3, 11) === '-FVE-FS-';
  return { filesystem: (type && FS_OF[type]) || 'raw', blkidType: type, label: kv.get('LABEL') ?? null, uuid: kv.get('UUID') ?? null, bitlocker };
}

const PARTCLONE: Record<Exclude<Filesystem, 'raw'>, string> = {
  ntfs: 'partclone.ntfs',
  ext2: 'partclone.extfs',
  ext3: 'partclone.extfs',
  ext4: 'partclone.extfs',
  vfat: 'partclone.fat',
};

/** Parses a ddrescue domain file (partclone -D): the ranges marked '+' (used). */
export function parseDomain(text: string): Extent[] {
  const out: Extent[] = [];
  let header = true;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const f = line.split(/\s+/);
    if (header) {
      header = false; // the first data line is "current_pos current_status"
      if (f.length === 2) continue;
    }
    if (f.length < 3) continue;
    const [pos, size, status] = f as [string, string, string];
    if (status === '+') out.push([Number.parseInt(pos, 16), Number.parseInt(size, 16)]);
  }
  return out;
}

/**
 * Always kept, whatever the filesystem says: its first and last MiB. partclone leaves out places a
 * filesystem still needs (NTFS's backup boot sector in the last sector; the ext4 domain is off by
 * 1 KiB in places), and these MiB are cheap.
 */
export const GUARD_BYTES = 1 << 20;

/** The byte ranges of the partition its filesystem uses (every byte for 'raw'). */
export async function usedExtents(dev: string, fsType: Filesystem, sizeBytes: number): Promise<Extent[]> {
  if (fsType === 'raw') return [[0, sizeBytes]];
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rc-domain-'));
  try {
    const domain = path.join(dir, 'domain');
    await run(PARTCLONE[fsType], ['-D', '-q', '-s', dev, '-o', domain, '-L', path.join(dir, 'log')]);
    const used = parseDomain(await fs.readFile(domain, 'utf8'));
    // Widen each range by a block on each side: the extfs domain is shifted by 1 KiB in places.
    const widened = used.map(([o, l]): Extent => [o - EXTENT_ALIGN, l + 2 * EXTENT_ALIGN]);
    const guards: Extent[] = [[0, GUARD_BYTES], [sizeBytes - GUARD_BYTES, GUARD_BYTES]];
    return alignExtents(normalizeExtents([...widened, ...guards], sizeBytes), EXTENT_ALIGN, sizeBytes);
  } catch (err) {
    throw new ClientError(`could not read which blocks of the ${fsType} filesystem are used (${(err as Error).message}); run a filesystem check on this PC (chkdsk /f on Windows) and retry`, 'fs_unreadable');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/**
 * Removes hiberfil.sys from an NTFS volume (a capture of a hibernated Windows would restore a
 * hibernated session on every PC, and the file is as large as the RAM). Windows' "fast startup"
 * leaves it too. Returns true when it was there.
 */
export async function removeHiberfile(dev: string): Promise<boolean> {
  const ls = await tryRun('ntfsls', [dev]);
  if (!ls || !/^hiberfil\.sys$/im.test(ls.stdout)) return false;
  const mnt = await fs.mkdtemp(path.join(os.tmpdir(), 'rc-ntfs-'));
  try {
    // remove_hiberfile lets ntfs-3g mount a hibernated volume (deleting the hibernated session);
    // a hiberfil.sys that holds no session is deleted by hand.
    await run('ntfs-3g', ['-o', 'remove_hiberfile', dev, mnt]);
    try {
      await fs.rm(path.join(mnt, 'hiberfil.sys'), { force: true });
    } finally {
      await run('umount', [mnt]);
    }
  } catch (err) {
    throw new ClientError(`Windows on this PC is hibernated and its hibernation file could not be removed (${(err as Error).message}); start Windows, shut it down with Shift+Shut down, and capture again`, 'hibernated');
  } finally {
    await fs.rm(mnt, { recursive: true, force: true });
  }
  return true;
}
