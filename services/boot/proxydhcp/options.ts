// Typed views of the DHCP options a proxyDHCP cares about (RFC 2132, 3004, 4578). Never throws:
// a value of the wrong shape leaves its field undefined and its code in `invalid`.

export interface ClientNdi {
  /** 1 = UNDI. */
  type: number;
  major: number;
  minor: number;
}

export interface KnownOptions {
  /** Option 53. */
  messageType?: number;
  /** Option 54 as a dotted quad. */
  serverId?: string;
  /** Option 60 (latin1), e.g. "PXEClient:Arch:00000:UNDI:002001". */
  vendorClass?: string;
  /** Option 93: one or more architecture types (RFC 4578 §2.1); the first is the one used. */
  clientArch?: number[];
  /** Option 94. */
  clientNdi?: ClientNdi;
  /** Option 97 (type 0 + 16 bytes) as 8-4-4-4-12 hex, bytes in the order sent (no SMBIOS swapping). */
  clientGuid?: string;
  /** Option 77: RFC 3004 instances, or the raw value as one class (iPXE sends "iPXE" raw). */
  userClass?: string[];
  /** Option 55. */
  paramRequest?: number[];
  /** Option 61 (type byte + identifier). */
  clientId?: Buffer;
  /** Option 43, undecoded (its meaning depends on option 60). */
  vendorOptions?: Buffer;
  /** Option 175: iPXE's encapsulated feature flags, undecoded (tolerated, not used). */
  ipxeEncap?: Buffer;
  /** Known option codes present with a malformed value (they are left out of the fields above). */
  invalid: number[];
}

export function decodeKnownOptions(options: Map<number, Buffer>): KnownOptions {
  const k: KnownOptions = { invalid: [] };
  const bad = (code: number) => k.invalid.push(code);
  for (const [code, v] of options) {
    switch (code) {
      case 53:
        if (v.length === 1) k.messageType = v[0]!;
        else bad(code);
        break;
      case 54:
        if (v.length === 4) k.serverId = `${v[0]}.${v[1]}.${v[2]}.${v[3]}`;
        else bad(code);
        break;
      case 60:
        if (v.length > 0) k.vendorClass = v.toString('latin1');
        else bad(code);
        break;
      case 93:
        if (v.length >= 2 && v.length % 2 === 0) k.clientArch = Array.from({ length: v.length / 2 }, (_, i) => v.readUInt16BE(i * 2));
        else bad(code);
        break;
      case 94:
        if (v.length === 3) k.clientNdi = { type: v[0]!, major: v[1]!, minor: v[2]! };
        else bad(code);
        break;
      case 97:
        if (v.length === 17 && v[0] === 0) k.clientGuid = formatGuid(v.subarray(1));
        else bad(code);
        break;
      case 77: {
        const classes = decodeUserClass(v);
        if (classes) k.userClass = classes;
        else bad(code);
        break;
      }
      case 55:
        if (v.length > 0) k.paramRequest = [...v];
        else bad(code);
        break;
      case 61:
        if (v.length >= 2) k.clientId = v;
        else bad(code);
        break;
      case 43:
        k.vendorOptions = v;
        break;
      case 175:
        k.ipxeEncap = v;
        break;
    }
  }
  return k;
}

/**
 * RFC 3004 user class: one or more (length ≥ 1, data) instances filling the option exactly. Many
 * clients (iPXE, Windows) send a bare string instead; whatever does not parse as RFC 3004 is taken
 * as one class. Null only for an empty option.
 */
export function decodeUserClass(v: Buffer): string[] | null {
  if (v.length === 0) return null;
  const classes: string[] = [];
  let i = 0;
  while (i < v.length) {
    const len = v[i]!;
    if (len === 0 || i + 1 + len > v.length) return [v.toString('latin1')];
    classes.push(v.subarray(i + 1, i + 1 + len).toString('latin1'));
    i += 1 + len;
  }
  return classes;
}

function formatGuid(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The client architecture: option 93's first entry, else the NNNNN of "PXEClient:Arch:NNNNN". */
export function clientArchOf(p: Pick<KnownOptions, 'clientArch' | 'vendorClass'>): number | undefined {
  if (p.clientArch && p.clientArch.length > 0) return p.clientArch[0];
  const m = /^PXEClient:Arch:(\d{5})/.exec(p.vendorClass ?? '');
  return m ? Number(m[1]) : undefined;
}
