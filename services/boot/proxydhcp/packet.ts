// BOOTP/DHCP packets (RFC 951, 2131, 2132, 3396, 4578): parsing what clients send, building what
// the proxyDHCP sends. Parsing never throws: anything structurally malformed comes back as null.
// A known option whose value has the wrong shape is left out of the typed fields and listed in
// `invalid`, so the caller decides whether it matters (it does for 93 and 97, not for 61).
import { decodeKnownOptions, type KnownOptions } from './options.js';

export const MAGIC_COOKIE = 0x63825363;
/** The fixed BOOTP header; the magic cookie follows, then the options. */
const HEADER_LEN = 236;
const OPTIONS_AT = HEADER_LEN + 4;
const SNAME_AT = 44;
const SNAME_LEN = 64;
const FILE_AT = 108;
const FILE_LEN = 128;
/** RFC 1542 §2.1: some relays and old clients drop BOOTP messages shorter than this. */
const MIN_REPLY_LEN = 300;

export const OP = { REQUEST: 1, REPLY: 2 } as const;

export const MSG = { DISCOVER: 1, OFFER: 2, REQUEST: 3, DECLINE: 4, ACK: 5, NAK: 6, RELEASE: 7, INFORM: 8 } as const;

export const OPT = {
  PAD: 0,
  REQUESTED_IP: 50,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAM_REQUEST: 55,
  MAX_SIZE: 57,
  VENDOR_CLASS: 60,
  CLIENT_ID: 61,
  BOOTFILE_NAME: 67,
  USER_CLASS: 77,
  CLIENT_ARCH: 93,
  CLIENT_NDI: 94,
  CLIENT_GUID: 97,
  VENDOR_OPTS: 43,
  IPXE_ENCAP: 175,
  END: 255,
} as const;

export interface DhcpPacket extends KnownOptions {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** The 16-byte chaddr field as sent. */
  chaddr: Buffer;
  /** The first hlen bytes of chaddr as lower-case aa:bb:… ('' when hlen is 0). */
  mac: string;
  /** sname and file up to their first NUL (latin1); '' when the field carries options (option 52). */
  sname: string;
  file: string;
  /** Every option by code, instances concatenated in order (RFC 3396): options, then file, then sname. */
  options: Map<number, Buffer>;
}

/** Parses a BOOTP/DHCP message; null when it is not one (too short, no magic cookie, truncated options…). */
export function parsePacket(msg: Buffer): DhcpPacket | null {
  if (!Buffer.isBuffer(msg) || msg.length < OPTIONS_AT) return null;
  if (msg.readUInt32BE(HEADER_LEN) !== MAGIC_COOKIE) return null;
  const op = msg[0]!;
  const hlen = msg[2]!;
  if ((op !== OP.REQUEST && op !== OP.REPLY) || hlen > 16) return null;

  const chunks = new Map<number, Buffer[]>();
  if (!walkOptions(msg.subarray(OPTIONS_AT), chunks)) return null;
  // Option 52 (RFC 2132 §9.3) moves more options into file (1), sname (2) or both (3). It is only
  // valid in the options field, which was walked first; the others are read in RFC 3396 order.
  let overload = 0;
  const ov = chunks.get(OPT.OVERLOAD);
  if (ov) {
    const v = Buffer.concat(ov);
    if (v.length !== 1 || v[0]! < 1 || v[0]! > 3) return null;
    overload = v[0]!;
    chunks.delete(OPT.OVERLOAD);
  }
  if (overload & 1 && !walkOptions(msg.subarray(FILE_AT, FILE_AT + FILE_LEN), chunks, true)) return null;
  if (overload & 2 && !walkOptions(msg.subarray(SNAME_AT, SNAME_AT + SNAME_LEN), chunks, true)) return null;

  const options = new Map<number, Buffer>();
  for (const [code, parts] of chunks) options.set(code, Buffer.concat(parts));
  const chaddr = Buffer.from(msg.subarray(28, 44));
  return {
    op,
    htype: msg[1]!,
    hlen,
    hops: msg[3]!,
    xid: msg.readUInt32BE(4),
    secs: msg.readUInt16BE(8),
    flags: msg.readUInt16BE(10),
    ciaddr: ipAt(msg, 12),
    yiaddr: ipAt(msg, 16),
    siaddr: ipAt(msg, 20),
    giaddr: ipAt(msg, 24),
    chaddr,
    mac: formatMac(chaddr.subarray(0, hlen)),
    sname: overload & 2 ? '' : cString(msg.subarray(SNAME_AT, SNAME_AT + SNAME_LEN)),
    file: overload & 1 ? '' : cString(msg.subarray(FILE_AT, FILE_AT + FILE_LEN)),
    options,
    ...decodeKnownOptions(options),
  };
}

/**
 * Walks code/length/value triples into `chunks`. Pad is skipped and End stops the walk; a missing
 * End is tolerated (the buffer end is the end). False when an option runs past the buffer. In an
 * overloaded sname/file field, option 52 is ignored (it is only meaningful in the options field).
 */
function walkOptions(buf: Buffer, chunks: Map<number, Buffer[]>, overloaded = false): boolean {
  let i = 0;
  while (i < buf.length) {
    const code = buf[i]!;
    if (code === OPT.PAD) {
      i++;
      continue;
    }
    if (code === OPT.END) return true;
    if (i + 1 >= buf.length) return false;
    const len = buf[i + 1]!;
    if (i + 2 + len > buf.length) return false;
    if (!(overloaded && code === OPT.OVERLOAD)) {
      const list = chunks.get(code);
      const value = buf.subarray(i + 2, i + 2 + len);
      if (list) list.push(value);
      else chunks.set(code, [value]);
    }
    i += 2 + len;
  }
  return true;
}

export interface PacketFields {
  op: 1 | 2;
  htype?: number;
  hlen?: number;
  hops?: number;
  xid: number;
  secs?: number;
  flags?: number;
  ciaddr?: string;
  yiaddr?: string;
  siaddr?: string;
  giaddr?: string;
  /** A MAC as aa:bb:… (or aa-bb-…), or the raw chaddr bytes (at most 16). */
  chaddr: string | Buffer;
  sname?: string;
  file?: string;
  /** In order. A value longer than 255 bytes is split into several instances (RFC 3396). */
  options: ReadonlyArray<readonly [number, Buffer]>;
}

/** Builds a message (replies, and requests for tests). Throws RangeError on values that do not fit. */
export function buildPacket(f: PacketFields): Buffer {
  const parts: Buffer[] = [];
  for (const [code, value] of f.options) {
    if (!Number.isInteger(code) || code <= OPT.PAD || code >= OPT.END) throw new RangeError(`option code ${code}`);
    for (let at = 0; at === 0 || at < value.length; at += 255) {
      const piece = value.subarray(at, at + 255);
      parts.push(Buffer.from([code, piece.length]), piece);
    }
  }
  parts.push(Buffer.from([OPT.END]));
  const opts = Buffer.concat(parts);
  const out = Buffer.alloc(Math.max(MIN_REPLY_LEN, OPTIONS_AT + opts.length));
  const chaddr = typeof f.chaddr === 'string' ? parseMac(f.chaddr) : f.chaddr;
  if (!chaddr || chaddr.length > 16) throw new RangeError(`chaddr ${String(f.chaddr)}`);
  out[0] = f.op;
  out[1] = f.htype ?? 1;
  out[2] = f.hlen ?? chaddr.length;
  out[3] = f.hops ?? 0;
  out.writeUInt32BE(f.xid >>> 0, 4);
  out.writeUInt16BE(f.secs ?? 0, 8);
  out.writeUInt16BE(f.flags ?? 0, 10);
  writeIp(out, 12, f.ciaddr);
  writeIp(out, 16, f.yiaddr);
  writeIp(out, 20, f.siaddr);
  writeIp(out, 24, f.giaddr);
  chaddr.copy(out, 28);
  writeCString(out, SNAME_AT, SNAME_LEN, f.sname ?? '', 'sname');
  writeCString(out, FILE_AT, FILE_LEN, f.file ?? '', 'file');
  out.writeUInt32BE(MAGIC_COOKIE, HEADER_LEN);
  opts.copy(out, OPTIONS_AT);
  return out;
}

/** Option value encoders, for replies and hand-built test requests. */
export const encode = {
  u8: (v: number): Buffer => Buffer.from([v & 0xff]),
  u16: (...values: number[]): Buffer => {
    const b = Buffer.alloc(values.length * 2);
    values.forEach((v, i) => b.writeUInt16BE(v & 0xffff, i * 2));
    return b;
  },
  ip: (s: string): Buffer => {
    const b = parseIp(s);
    if (!b) throw new RangeError(`not an IPv4 address: ${s}`);
    return b;
  },
  str: (s: string): Buffer => Buffer.from(s, 'latin1'),
  bytes: (...values: number[]): Buffer => Buffer.from(values),
};

export function formatMac(b: Buffer): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export function parseMac(s: string): Buffer | null {
  if (!/^[0-9a-f]{2}([:-][0-9a-f]{2}){0,15}$/i.test(s)) return null;
  return Buffer.from(s.replace(/[:-]/g, ''), 'hex');
}

/** Strict dotted quad → 4 bytes, or null. */
export function parseIp(s: string): Buffer | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const bytes = m.slice(1).map(Number);
  return bytes.every((n) => n <= 255) ? Buffer.from(bytes) : null;
}

export function ipAt(b: Buffer, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

function writeIp(out: Buffer, at: number, ip: string | undefined): void {
  if (ip === undefined) return;
  encode.ip(ip).copy(out, at);
}

function writeCString(out: Buffer, at: number, size: number, s: string, what: string): void {
  const b = Buffer.from(s, 'latin1');
  if (b.length > size - 1) throw new RangeError(`${what} longer than ${size - 1} bytes`);
  b.copy(out, at);
}

function cString(b: Buffer): string {
  const end = b.indexOf(0);
  return b.subarray(0, end < 0 ? b.length : end).toString('latin1');
}
