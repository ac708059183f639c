// Option negotiation for a read request (RFC 2347): blksize (2348), tsize and timeout (2349),
// windowsize (7440). Unknown options are ignored. A known option with a value we cannot use (not a
// number, out of the RFC's range) is ignored too, as RFC 2347 allows: the client then gets the RFC
// 1350 behaviour for it, which every client handles, whereas ERROR 8 would end its boot.
// Values above our limits are answered with the limit (the RFCs let the server lower them).

/** RFC 1350's block size: what a client gets when it asks for none. Fits any Ethernet MTU. */
export const DEFAULT_BLKSIZE = 512;
export const MIN_BLKSIZE = 8;
export const MAX_BLKSIZE = 65464;
export const MAX_WINDOWSIZE = 65535;

export interface Limits {
  maxBlksize: number;
  maxWindowsize: number;
  /** The server's retransmission timeout when the client asks none. */
  timeoutMs: number;
}

export interface Negotiated {
  blksize: number;
  windowsize: number;
  timeoutMs: number;
  tsizeAsked: boolean;
  /** What goes into the OACK, in the client's order; empty means no OACK (plain RFC 1350). */
  accepted: Array<[string, string]>;
}

function integer(value: string): number | undefined {
  const v = value.trim();
  if (!/^\d{1,10}$/.test(v)) return undefined;
  return Number(v);
}

export function negotiate(requested: ReadonlyMap<string, string>, size: number, limits: Limits): Negotiated {
  const out: Negotiated = { blksize: DEFAULT_BLKSIZE, windowsize: 1, timeoutMs: limits.timeoutMs, tsizeAsked: false, accepted: [] };
  for (const [name, raw] of requested) {
    // tsize in a read request carries no information (RFC 2349 says "0"; atftp sends "enable").
    if (name === 'tsize') {
      out.tsizeAsked = true;
      // curl (7.88 at least) fails an OACK with "tsize 0" as invalid; leaving the option out for
      // an empty file is allowed and every client then reads the single empty block.
      if (size > 0) out.accepted.push([name, String(size)]);
      continue;
    }
    const value = integer(raw);
    if (value === undefined) continue;
    switch (name) {
      case 'blksize':
        if (value < MIN_BLKSIZE) break;
        out.blksize = Math.min(value, MAX_BLKSIZE, limits.maxBlksize);
        out.accepted.push([name, String(out.blksize)]);
        break;
      case 'timeout':
        if (value < 1 || value > 255) break;
        out.timeoutMs = value * 1000;
        out.accepted.push([name, String(value)]);
        break;
      case 'windowsize':
        if (value < 1 || value > MAX_WINDOWSIZE) break;
        out.windowsize = Math.min(value, limits.maxWindowsize);
        out.accepted.push([name, String(out.windowsize)]);
        break;
      default:
        break;
    }
  }
  return out;
}
