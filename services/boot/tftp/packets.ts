// TFTP packets (RFC 1350, 2347): parsing what clients send and building what the server sends.
// Parsing never throws: anything malformed comes back as null and is ignored by the server.

export const OP = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

/** RFC 1350 / 2347 error codes the server uses. */
export const ERR = {
  NOT_DEFINED: 0,
  FILE_NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  OPTION_REFUSED: 8,
} as const;

export interface Request {
  op: typeof OP.RRQ | typeof OP.WRQ;
  /** The file name as sent, decoded as UTF-8; undefined when the bytes are not valid UTF-8. */
  filename: string | undefined;
  /** Lower-cased. */
  mode: string;
  /** Option names lower-cased; the first occurrence of a name wins. */
  options: Map<string, string>;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses an RRQ or WRQ: opcode, filename NUL, mode NUL, then option NUL value NUL pairs.
 * Returns null unless the packet is a well-formed request: an opcode of 1 or 2, a non-empty file
 * name and mode, each NUL-terminated. Trailing NUL padding (some PXE ROMs pad requests) and a
 * last option name without a value are tolerated and ignored.
 */
export function parseRequest(msg: Buffer): Request | null {
  if (msg.length < 4) return null;
  const op = msg.readUInt16BE(0);
  if (op !== OP.RRQ && op !== OP.WRQ) return null;
  const fields: Buffer[] = [];
  let start = 2;
  for (let i = 2; i < msg.length; i++) {
    if (msg[i] === 0) {
      fields.push(msg.subarray(start, i));
      start = i + 1;
    }
  }
  // Bytes after the last NUL: the packet is not terminated, so it is not a request.
  if (start !== msg.length) return null;
  // Drop trailing padding (empty fields at the end).
  while (fields.length > 0 && fields[fields.length - 1]!.length === 0) fields.pop();
  if (fields.length < 2) return null;
  const [nameBytes, modeBytes] = fields as [Buffer, Buffer];
  if (nameBytes.length === 0 || modeBytes.length === 0) return null;
  let filename: string | undefined;
  try {
    filename = utf8.decode(nameBytes);
  } catch {
    filename = undefined;
  }
  const mode = modeBytes.toString('latin1').toLowerCase();
  const options = new Map<string, string>();
  for (let i = 2; i + 1 < fields.length; i += 2) {
    const name = fields[i]!.toString('latin1').toLowerCase();
    if (name !== '' && !options.has(name)) options.set(name, fields[i + 1]!.toString('latin1'));
  }
  return { op, filename, mode, options };
}

/** The block number of an ACK (extra bytes after the 4-byte header are tolerated), or null. */
export function parseAck(msg: Buffer): number | null {
  if (msg.length < 4 || msg.readUInt16BE(0) !== OP.ACK) return null;
  return msg.readUInt16BE(2);
}

/** An ERROR packet's code and message, or null. */
export function parseError(msg: Buffer): { code: number; message: string } | null {
  if (msg.length < 4 || msg.readUInt16BE(0) !== OP.ERROR) return null;
  const end = msg.indexOf(0, 4);
  const text = msg.subarray(4, end < 0 ? msg.length : end).toString('latin1');
  // Printable ASCII only, bounded: it goes into the log.
  return { code: msg.readUInt16BE(2), message: text.replace(/[^\x20-\x7e]/g, '?').slice(0, 200) };
}

/** The 4-byte DATA header; the payload is sent alongside it (no copy). */
export function dataHeader(block: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt16BE(OP.DATA, 0);
  b.writeUInt16BE(block & 0xffff, 2);
  return b;
}

export function buildError(code: number, message: string): Buffer {
  const text = Buffer.from(message.replace(/[^\x20-\x7e]/g, '?'), 'latin1');
  const b = Buffer.alloc(4 + text.length + 1);
  b.writeUInt16BE(OP.ERROR, 0);
  b.writeUInt16BE(code, 2);
  text.copy(b, 4);
  return b;
}

export function buildOack(options: ReadonlyArray<readonly [string, string]>): Buffer {
  const parts: Buffer[] = [Buffer.from([0, OP.OACK])];
  for (const [name, value] of options) parts.push(Buffer.from(`${name}\0${value}\0`, 'latin1'));
  return Buffer.concat(parts);
}

/** Builds a request; used by tests and tools, not by the server. */
export function buildRequest(op: 1 | 2, filename: string | Buffer, mode = 'octet', options: Record<string, string | number> = {}): Buffer {
  const parts: Buffer[] = [Buffer.from([0, op]), Buffer.isBuffer(filename) ? filename : Buffer.from(filename, 'utf8'), Buffer.from([0])];
  parts.push(Buffer.from(`${mode}\0`, 'latin1'));
  for (const [k, v] of Object.entries(options)) parts.push(Buffer.from(`${k}\0${v}\0`, 'latin1'));
  return Buffer.concat(parts);
}

export function buildAck(block: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt16BE(OP.ACK, 0);
  b.writeUInt16BE(block & 0xffff, 2);
  return b;
}

/** LF → CR LF and CR → CR NUL (RFC 1350 netascii, as tftpd-hpa sends it). */
export function toNetascii(data: Buffer): Buffer {
  let extra = 0;
  for (const byte of data) if (byte === 0x0a || byte === 0x0d) extra++;
  if (extra === 0) return data;
  const out = Buffer.allocUnsafe(data.length + extra);
  let j = 0;
  for (const byte of data) {
    if (byte === 0x0a) {
      out[j++] = 0x0d;
      out[j++] = 0x0a;
    } else if (byte === 0x0d) {
      out[j++] = 0x0d;
      out[j++] = 0x00;
    } else out[j++] = byte;
  }
  return out;
}
