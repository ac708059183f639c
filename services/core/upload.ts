// Resumable uploads of large files, shared by driver packs (services/drivers) and software packages
// (services/software): a file grows in pieces sent at an offset (?offset=N or Content-Range), each
// piece written as it arrives (never a whole file in memory) and fsynced; an interrupted piece keeps
// what arrived, and the next one resumes from the bytes held. Hashing reads the file as a stream.
import type { Request, Response } from 'express';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { AppError, conflict } from './errors.js';

/** Whether an error is a full disk (or quota). */
export const diskFull = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOSPC' || (err as NodeJS.ErrnoException).code === 'EDQUOT';

/** The 507 answer for a full disk, with what to do. */
export const noSpace = (dir: string, what: string) =>
  new AppError(507, 'insufficient_storage', `the appliance's disk is full (${dir}): ${what}. Free some space (old image versions, packs no longer used), then resume the upload`);

/** The bytes free for an unprivileged writer on the file system holding `dir` (its nearest existing parent). */
export async function freeBytes(dir: string): Promise<number> {
  let at = dir;
  for (;;) {
    try {
      const s = await fs.promises.statfs(at);
      return s.bavail * s.bsize;
    } catch (err) {
      const up = path.dirname(at);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || up === at) throw err;
      at = up;
    }
  }
}

/** The offset of a piece: ?offset=N, or Content-Range: bytes N-M/SIZE (both: they must agree). */
export function pieceOffset(query: number | undefined, contentRange: string | undefined): number {
  let fromRange: number | undefined;
  if (contentRange !== undefined) {
    const m = /^bytes (\d{1,16})-(\d{1,16})\/(\d{1,16}|\*)$/.exec(contentRange.trim());
    if (!m || Number(m[2]) < Number(m[1])) throw new AppError(400, 'bad_content_range', 'Content-Range: give bytes START-END/SIZE (END included), or use ?offset=START');
    fromRange = Number(m[1]);
  }
  if (query !== undefined && fromRange !== undefined && query !== fromRange) throw new AppError(400, 'bad_content_range', `?offset=${query} and Content-Range (from ${fromRange}) disagree`);
  const offset = query ?? fromRange;
  if (offset === undefined) throw new AppError(400, 'bad_content_range', 'say where this piece goes: ?offset=N or Content-Range: bytes N-M/SIZE (GET the upload for the bytes held)');
  return offset;
}

/**
 * Writes the piece a PUT carries at its ?offset or Content-Range (pieceOffset) with `write`. A piece
 * refused before its body was all read (past the end, a full disk, a wrong offset) closes the
 * connection after the answer rather than wait for the rest of a body nobody will read.
 */
export async function receivePiece<T>(req: Request, res: Response, queryOffset: number | undefined, write: (offset: number) => Promise<T>): Promise<T> {
  try {
    return await write(pieceOffset(queryOffset, req.headers['content-range']));
  } catch (err) {
    if (!req.complete) res.set('Connection', 'close');
    throw err;
  }
}

/** The bytes a partial file holds (0 when it does not exist). */
export const heldBytes = (file: string) => fs.promises.stat(file).then((s) => s.size, () => 0);

/**
 * Writes `body` into `file` at `offset` (at most `held`, the bytes it holds; a smaller one drops what
 * followed: a piece sent again), refusing bytes past `size`. A body cut off keeps what arrived,
 * fsynced; a full disk drops the piece (507). Returns the file's new length. `what` names the file in
 * errors ("driver pack 3").
 */
export async function appendPiece(file: string, what: string, size: number, held: number, offset: number, body: AsyncIterable<Buffer>): Promise<number> {
  if (offset > held) throw conflict('upload_offset_mismatch', `the appliance holds ${held} bytes of ${what}: send the bytes from offset ${held}`);
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  const fh = await fs.promises.open(file, held === 0 ? 'w' : 'r+');
  let at = offset;
  try {
    await fh.truncate(offset);
    for await (const piece of body) {
      if (at + piece.length > size) {
        await fh.truncate(offset);
        throw new AppError(413, 'upload_past_end', `${what} was declared ${size} bytes long: this piece goes past its end (from ${offset}); check the declared size`);
      }
      await fh.write(piece, 0, piece.length, at);
      at += piece.length;
    }
    await fh.sync();
  } catch (err) {
    if (diskFull(err)) {
      await fh.truncate(offset).catch(() => {});
      throw noSpace(path.dirname(file), `the piece from byte ${offset} was dropped`);
    }
    await fh.sync().catch(() => {}); // a body cut off: what arrived is kept for the resume
    throw err;
  } finally {
    await fh.close();
  }
  return at;
}

/** The SHA-256 of a file, read as a stream. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const piece of fs.createReadStream(file)) hash.update(piece as Buffer);
  return hash.digest('hex');
}

/**
 * One operation at a time per key, in this process (the api's only one): a resumed piece waits for a
 * cut-off one to have written what it got, then takes over from its own offset.
 */
export class PerKey<K> {
  private readonly busy = new Map<K, Promise<unknown>>();
  async run<T>(key: K, fn: () => Promise<T>): Promise<T> {
    const before = this.busy.get(key) ?? Promise.resolve();
    const mine = before.catch(() => {}).then(fn);
    this.busy.set(key, mine);
    try {
      return await mine;
    } finally {
      if (this.busy.get(key) === mine) this.busy.delete(key);
    }
  }
}
