// Durable file writes: a crash leaves the old file or the new one, never half of one.
// Write under a temporary name, fsync the file, rename it into place, fsync the directory.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const isErrno = (err: unknown, code: string) => (err as NodeJS.ErrnoException | null)?.code === code;

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.promises.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes `data` to `final` through `tmpDir` (same filesystem as `final`, so the rename is atomic):
 * write, fsync, rename, fsync the directory. The temporary file is removed when anything fails.
 */
export async function writeDurable(tmpDir: string, final: string, data: Buffer | string, mode = 0o640): Promise<void> {
  await fs.promises.mkdir(path.dirname(final), { recursive: true });
  const tmp = path.join(tmpDir, `${path.basename(final)}.${process.pid}.${randomBytes(6).toString('hex')}`);
  try {
    const fh = await fs.promises.open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.promises.rename(tmp, final);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(path.dirname(final));
}

/** Removes a file and returns the bytes it took (0 when it was already gone). */
export async function unlinkSize(file: string): Promise<number> {
  try {
    const { size } = await fs.promises.lstat(file);
    await fs.promises.unlink(file);
    return size;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return 0;
    throw err;
  }
}

/** The names in a directory; none when it does not exist. */
export async function listDir(dir: string): Promise<string[]> {
  try {
    return await fs.promises.readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
}
