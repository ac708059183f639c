// The chunk-record stream of a multicast session (issue 14): what the server's udp-sender sends once
// to a room and every PC's udp-receiver hands to its restore. Shared by the server (the sender,
// services/imaging/multicast/) and the boot client (client/multicast.ts); it lives here because the
// client imports nothing from the server side but the image format and its codec.
//
// Rules of the format (version 1, all integers big-endian):
// - Every record starts with a 12-byte head: magic 'RCMC' (4), format version (1), type (1), two
//   zero bytes (2), and the length of its body (4).
// - The stream is: one SESSION record (body: UTF-8 JSON, SessionHeader: the version, and the ids of
//   the chunks that follow, in order, so a PC knows at once what it must fetch over HTTP), then
//   CHUNK records in disk order (body: the chunk id, 32 raw bytes of the SHA-256 the manifest names
//   it by, then the stored bytes of the chunk exactly as GET /api/v1/client/chunks/<hash> answers
//   them), then one END record (body: UTF-8 JSON, { chunks, bytes } as sent): the stream is complete.
// - A head with another magic, an unknown version or type, non-zero reserved bytes, or a body longer
//   than MAX_BODY is malformed: the decoder throws a RecordError saying what and at which byte of the
//   stream, and decodes nothing after it (the stream cannot be resynchronised: the PC repairs the rest
//   over HTTP). A stream that ends inside a record, or without END, is truncated: end() says so.
// - The decoder is incremental: any split of the input (one byte at a time, several records in one
//   piece) gives the same records.
// - The record format checks framing, not content: a CHUNK's bytes are trusted only once the consumer
//   checked them against the id (verifiedChunks: decompressed, SHA-256 equal to the id); a chunk that
//   fails is dropped and counted, never used.
import { Readable } from 'node:stream';
import { distinctChunks, type Manifest } from '../format.js';

export const RECORD_MAGIC = 0x52434d43; // 'RCMC'
export const RECORD_VERSION = 1;
export const HEAD_BYTES = 12;
export const ID_BYTES = 32;
/** Longest body accepted: a chunk of the largest chunk size the manifest allows (64 MiB), stored worse than raw, plus its id. */
export const MAX_BODY = 64 * 1024 * 1024 + 1024 * 1024;

export const RecordType = { session: 1, chunk: 2, end: 3 } as const;

export interface SessionHeader {
  /** The image version streamed (its id on the server). */
  versionId: number;
  /** The ids of the chunks that follow, in their order: a PC fetches any other chunk over HTTP at once. */
  ids: string[];
  /** Chunk records that follow, and the sum of their stored bytes. */
  chunks: number;
  bytes: number;
}

export type StreamRecord =
  | { type: 'session'; header: SessionHeader }
  | { type: 'chunk'; id: string; bytes: Buffer }
  | { type: 'end'; chunks: number; bytes: number };

export class RecordError extends Error {
  constructor(
    message: string,
    readonly code: 'malformed' | 'truncated',
  ) {
    super(message);
  }
}

function head(type: number, bodyLength: number): Buffer {
  const h = Buffer.alloc(HEAD_BYTES);
  h.writeUInt32BE(RECORD_MAGIC, 0);
  h.writeUInt8(RECORD_VERSION, 4);
  h.writeUInt8(type, 5);
  h.writeUInt32BE(bodyLength, 8);
  return h;
}

function jsonRecord(type: number, value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value));
  return Buffer.concat([head(type, body.length), body]);
}

export const sessionRecord = (h: SessionHeader) => jsonRecord(RecordType.session, h);
export const endRecord = (chunks: number, bytes: number) => jsonRecord(RecordType.end, { chunks, bytes });

/**
 * The order of a session's stream, the same on both sides: the distinct chunks of `m` in disk order
 * (boot area, then partitions; a chunk that appears again later is sent once, where it first
 * appears), restricted to `need` when given (the chunks the room's PCs lack).
 */
export function streamOrder(m: Manifest, need?: ReadonlySet<string>): Array<{ id: string; length: number; storedSize: number }> {
  const out: Array<{ id: string; length: number; storedSize: number }> = [];
  for (const [id, c] of distinctChunks(m)) if (!need || need.has(id)) out.push({ id, length: c.length, storedSize: c.storedSize ?? 0 });
  return out;
}

/** The head and id of a CHUNK record (its bytes follow, unchanged: no copy of a 4 MiB chunk). */
export function chunkRecordHead(id: string, length: number): Buffer {
  if (!/^[0-9a-f]{64}$/.test(id)) throw new RecordError(`chunk id ${id.slice(0, 70)} is not a SHA-256 in lowercase hex`, 'malformed');
  if (length + ID_BYTES > MAX_BODY) throw new RecordError(`chunk ${id.slice(0, 12)} has ${length} bytes, more than a record holds`, 'malformed');
  return Buffer.concat([head(RecordType.chunk, ID_BYTES + length), Buffer.from(id, 'hex')]);
}

/**
 * The record stream of a session: the header, every chunk of `ids` in the order given (disk order,
 * each id once) read with `read` when the stream gets to it (back-pressure: one chunk in memory ahead
 * of the reader), and END. A chunk that cannot be read fails the stream with the reason.
 */
export function encodeSession(versionId: number, ids: Array<{ id: string; storedSize: number }>, read: (id: string) => Promise<Buffer>): Readable {
  const header: SessionHeader = { versionId, ids: ids.map((c) => c.id), chunks: ids.length, bytes: ids.reduce((s, c) => s + c.storedSize, 0) };
  async function* records(): AsyncGenerator<Buffer> {
    yield sessionRecord(header);
    let bytes = 0;
    for (const { id } of ids) {
      const data = await read(id);
      yield chunkRecordHead(id, data.length);
      yield data;
      bytes += data.length;
    }
    yield endRecord(ids.length, bytes);
  }
  return Readable.from(records(), { objectMode: false, highWaterMark: 1 });
}

/** Incremental decoder of a record stream (the rules above). */
export class RecordDecoder {
  private parts: Buffer[] = [];
  private buffered = 0;
  /** Bytes of the stream consumed by complete records. */
  private offset = 0;
  private sawSession = false;
  private ended = false;
  private failed: RecordError | null = null;

  /** Feeds the next piece of the stream; returns the records it completes, in order. */
  push(piece: Buffer): StreamRecord[] {
    if (this.failed) throw this.failed;
    if (piece.length) {
      this.parts.push(piece);
      this.buffered += piece.length;
    }
    const out: StreamRecord[] = [];
    for (;;) {
      if (this.buffered < HEAD_BYTES) return out;
      const h = this.peek(HEAD_BYTES);
      const len = this.checkHead(h);
      if (this.buffered < HEAD_BYTES + len) return out;
      this.take(HEAD_BYTES);
      const body = this.take(len);
      out.push(this.record(h.readUInt8(5), body));
      this.offset += HEAD_BYTES + len;
    }
  }

  /** The stream ended: throws when it stopped inside a record or before END. */
  end(): void {
    if (this.failed) throw this.failed;
    if (this.buffered) this.fail(`the stream stops inside a record at byte ${this.offset} (${this.buffered} bytes of it arrived)`, 'truncated');
    if (!this.ended) this.fail(`the stream stops at byte ${this.offset} before its END record`, 'truncated');
  }

  get complete(): boolean {
    return this.ended;
  }

  private fail(message: string, code: 'malformed' | 'truncated'): never {
    this.failed = new RecordError(message, code);
    this.parts = [];
    this.buffered = 0;
    throw this.failed;
  }

  private checkHead(h: Buffer): number {
    const at = `at byte ${this.offset}`;
    if (h.readUInt32BE(0) !== RECORD_MAGIC) this.fail(`not a chunk record ${at} (magic ${h.subarray(0, 4).toString('hex')})`, 'malformed');
    if (h.readUInt8(4) !== RECORD_VERSION) this.fail(`record format version ${h.readUInt8(4)} ${at}; this client reads version ${RECORD_VERSION}`, 'malformed');
    const type = h.readUInt8(5);
    if (type < RecordType.session || type > RecordType.end) this.fail(`unknown record type ${type} ${at}`, 'malformed');
    if (h.readUInt16BE(6) !== 0) this.fail(`reserved bytes are not zero ${at}`, 'malformed');
    const len = h.readUInt32BE(8);
    if (len > MAX_BODY) this.fail(`a record of ${len} bytes ${at}, more than ${MAX_BODY}`, 'malformed');
    if (type === RecordType.chunk && len <= ID_BYTES) this.fail(`a chunk record without bytes ${at}`, 'malformed');
    if (this.ended) this.fail(`a record after END ${at}`, 'malformed');
    if ((type === RecordType.session) === this.sawSession) this.fail(type === RecordType.session ? `a second SESSION record ${at}` : `a record before the SESSION record ${at}`, 'malformed');
    return len;
  }

  private record(type: number, body: Buffer): StreamRecord {
    if (type === RecordType.chunk) return { type: 'chunk', id: body.subarray(0, ID_BYTES).toString('hex'), bytes: body.subarray(ID_BYTES) };
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    } catch {
      return this.fail(`the ${type === RecordType.session ? 'SESSION' : 'END'} record at byte ${this.offset} is not JSON`, 'malformed');
    }
    const n = (k: string) => (Number.isSafeInteger(v?.[k]) && (v[k] as number) >= 0 ? (v[k] as number) : this.fail(`the record at byte ${this.offset} lacks a count "${k}"`, 'malformed'));
    if (type === RecordType.session) {
      this.sawSession = true;
      const ids = v?.ids;
      const chunks = n('chunks');
      if (!Array.isArray(ids) || ids.length !== chunks || !ids.every((x) => typeof x === 'string' && /^[0-9a-f]{64}$/.test(x))) this.fail(`the SESSION record at byte ${this.offset} does not list its ${chunks} chunk ids`, 'malformed');
      return { type: 'session', header: { versionId: n('versionId'), ids: ids as string[], chunks, bytes: n('bytes') } };
    }
    this.ended = true;
    return { type: 'end', chunks: n('chunks'), bytes: n('bytes') };
  }

  /** The first n buffered bytes, without consuming them. */
  private peek(n: number): Buffer {
    if (this.parts[0]!.length >= n) return this.parts[0]!.subarray(0, n);
    const out = Buffer.alloc(n);
    for (let i = 0, got = 0; got < n; i++) got += this.parts[i]!.copy(out, got, 0, Math.min(this.parts[i]!.length, n - got));
    return out;
  }

  /** Consumes n buffered bytes (a view of the piece when it holds them all, else one copy). */
  private take(n: number): Buffer {
    const first = this.parts[0];
    let out: Buffer;
    if (n === 0) return Buffer.alloc(0);
    if (first && first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.parts.shift();
      else this.parts[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let got = 0;
      while (got < n) {
        const p = this.parts[0]!;
        const k = Math.min(p.length, n - got);
        p.copy(out, got, 0, k);
        got += k;
        if (k === p.length) this.parts.shift();
        else this.parts[0] = p.subarray(k);
      }
    }
    this.buffered -= n;
    return out;
  }
}

export interface VerifyCounts {
  /** Chunks whose bytes matched their id, and their stored bytes. */
  goodChunks: number;
  goodBytes: number;
  /** Chunks dropped: their bytes did not match their id. */
  badChunks: number;
  badBytes: number;
}

/**
 * The chunks of a record stream whose bytes `verify` accepts (the client decompresses them and checks
 * the SHA-256 against the id), in stream order, each with its id. Up to `ahead` chunks are checked at
 * once while the stream is read on (the order given stays the stream's). A chunk `verify` refuses
 * (false, or a thrown error) is dropped and counted in `counts`. Ends with the stream; throws the
 * decoder's RecordError on a malformed or truncated stream (after the chunks before it).
 */
export async function* verifiedChunks(
  input: AsyncIterable<Buffer>,
  verify: (id: string, bytes: Buffer) => Promise<boolean>,
  counts: VerifyCounts,
  onSession?: (h: SessionHeader) => void,
  ahead = 2,
): AsyncGenerator<{ id: string; bytes: Buffer }> {
  const d = new RecordDecoder();
  const pending: Array<{ id: string; bytes: Buffer; ok: Promise<boolean> }> = [];
  const check = async (id: string, bytes: Buffer) => {
    try {
      return await verify(id, bytes);
    } catch {
      return false;
    }
  };
  async function* settle(keep: number): AsyncGenerator<{ id: string; bytes: Buffer }> {
    while (pending.length > keep) {
      const r = pending.shift()!;
      if (await r.ok) {
        counts.goodChunks++;
        counts.goodBytes += r.bytes.length;
        yield { id: r.id, bytes: r.bytes };
      } else {
        counts.badChunks++;
        counts.badBytes += r.bytes.length;
      }
    }
  }
  try {
    for await (const piece of input) {
      for (const r of d.push(piece)) {
        if (r.type === 'session') onSession?.(r.header);
        if (r.type !== 'chunk') continue;
        pending.push({ id: r.id, bytes: r.bytes, ok: check(r.id, r.bytes) });
        yield* settle(Math.max(0, ahead - 1));
      }
    }
    yield* settle(0);
  } finally {
    for (const r of pending.splice(0)) await r.ok; // no check left running behind the caller
  }
  d.end();
}
