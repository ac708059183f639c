// The restored PC's answer file (issue 15): after the name (identity.ts), the client asks the api for
// the unattend.xml rendered for this PC (its task token says which PC) and writes it where Windows
// setup reads it at the first start of a generalized image: Windows/Panther/unattend.xml on the
// partition identity.ts found Windows on.
//
// Rules:
// - Fetched before anything is mounted; the api's "none" (404 answer_file_none: the image has no answer
//   file) writes nothing. Any other refusal fails the task: a PC that should join a domain must not come
//   up silently out of it.
// - Written to a temporary name beside it, flushed, then renamed (an existing unattend.xml, whatever the
//   case of its name, is replaced); the partition is mounted read-write with ntfs-3g only for that.
// - The report gives its path, size and SHA-256, never its content (it holds passwords).
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Manifest } from '../format.js';
import { HttpStatusError, type ImagingApi } from './api.js';
import { findCaseless } from './identity.js';
import { withLoop } from './partition.js';
import { ClientError, run } from './sys.js';

export interface AnswerFileReport {
  partition: number;
  path: string;
  bytes: number;
  sha256: string;
}

/** Writes `xml` as `dir`/unattend.xml (temp name, fsync, rename); the name it took, relative to dir. */
export async function placeAnswerFile(windows: string, xml: Buffer): Promise<string> {
  const panther = (await findCaseless(windows, ['Panther'])) ?? path.join(windows, 'Panther');
  await fs.mkdir(panther, { recursive: true });
  const target = (await findCaseless(panther, ['unattend.xml'])) ?? path.join(panther, 'unattend.xml');
  const tmp = path.join(panther, `.unattend.xml.roomcast-${process.pid}`);
  try {
    const fh = await fs.open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(xml);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, target);
  } finally {
    await fs.rm(tmp, { force: true });
  }
  const dir = await fs.open(panther, 'r');
  await dir.sync().catch(() => undefined); // ntfs-3g may refuse a directory's fsync; the unmount flushes it
  await dir.close();
  return path.relative(path.dirname(windows), target);
}

/** Fetches this PC's answer file and writes it into the Windows of partition `number`; null when the image has none. */
export async function writeAnswerFile(api: ImagingApi, disk: string, manifest: Manifest, number: number, log: (line: string) => void): Promise<AnswerFileReport | null> {
  let xml: Buffer | null;
  try {
    xml = api.answerFile ? await api.answerFile() : null;
  } catch (err) {
    if (err instanceof HttpStatusError && err.code === 'answer_file_none') xml = null;
    else throw err;
  }
  if (!xml) {
    log('roomcast: the image has no answer file: none written');
    return null;
  }
  const p = manifest.partitions.find((x) => x.number === number);
  if (!p) throw new ClientError(`partition ${number} is not in the image`, 'answer_file_no_partition');
  const written = await withLoop(disk, p.startBytes, p.sizeBytes, async (loop) => {
    const mnt = await fs.mkdtemp(path.join(os.tmpdir(), 'rc-answer-'));
    try {
      await run('ntfs-3g', [loop, mnt]);
      try {
        const windows = await findCaseless(mnt, ['Windows']);
        if (!windows) throw new ClientError(`partition ${number} holds no Windows folder any more: the answer file cannot be written`, 'answer_file_no_windows');
        return await placeAnswerFile(windows, xml);
      } finally {
        await run('umount', [mnt]);
      }
    } finally {
      await fs.rm(mnt, { recursive: true, force: true });
    }
  });
  const report = { partition: number, path: written, bytes: xml.length, sha256: createHash('sha256').update(xml).digest('hex') };
  log(`roomcast: answer file written to ${report.path} on partition ${number} (${report.bytes} bytes, sha256 ${report.sha256.slice(0, 12)}…)`);
  return report;
}
