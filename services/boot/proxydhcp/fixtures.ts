// Requests as real clients send them, for tests and lab tools (not used by the server). Option
// order and contents follow captures of QEMU's iPXE ROM (SeaBIOS), OVMF's PXE stack (EDK2
// PxeBcDxe) and ISC dhclient on Debian.
import { MSG, OP, OPT, buildPacket, encode, parseMac } from './packet.js';

export interface RequestOpts {
  mac?: string;
  xid?: number;
  type?: number;
  ciaddr?: string;
  giaddr?: string;
  flags?: number;
  /** Option 54. */
  serverId?: string;
  /** Extra options appended as given. */
  extra?: Array<[number, Buffer]>;
}

const GUID = Buffer.from('8e2a4d3c1b6f4e0a9c7d5e3f2a1b0c9d', 'hex');

function base(o: RequestOpts, options: Array<[number, Buffer]>): Buffer {
  const mac = o.mac ?? '52:54:00:12:34:56';
  if (o.serverId) options.splice(1, 0, [OPT.SERVER_ID, encode.ip(o.serverId)]);
  return buildPacket({
    op: OP.REQUEST,
    xid: o.xid ?? 0x1a2b3c4d,
    flags: o.flags ?? 0x8000,
    ciaddr: o.ciaddr,
    giaddr: o.giaddr,
    chaddr: mac,
    options: [...options, ...(o.extra ?? [])],
  });
}

/** iPXE as a BIOS NIC ROM (QEMU's e1000/virtio ROMs): arch 0, user class "iPXE", option 175. */
export function biosIpxeRequest(o: RequestOpts = {}): Buffer {
  const mac = parseMac(o.mac ?? '52:54:00:12:34:56')!;
  return base(o, [
    [OPT.MESSAGE_TYPE, encode.u8(o.type ?? MSG.DISCOVER)],
    [OPT.MAX_SIZE, encode.u16(1472)],
    [OPT.CLIENT_ARCH, encode.u16(0)],
    [OPT.CLIENT_NDI, encode.bytes(1, 2, 1)],
    [OPT.VENDOR_CLASS, encode.str('PXEClient:Arch:00000:UNDI:002001')],
    [OPT.USER_CLASS, encode.str('iPXE')],
    [OPT.PARAM_REQUEST, encode.bytes(1, 3, 6, 7, 12, 15, 17, 26, 43, 60, 66, 67, 119, 128, 129, 130, 131, 132, 133, 134, 135, 175, 203)],
    // iPXE features: bus id (PCI 8086:100e), version 1.0.0, and a flag per protocol it supports.
    [OPT.IPXE_ENCAP, encode.bytes(0xb1, 5, 1, 0x80, 0x86, 0x10, 0x0e, 0xeb, 3, 1, 0, 0, 0x17, 1, 1, 0x15, 1, 1, 0x13, 1, 1, 0x11, 1, 1, 0x10, 1, 2)],
    [OPT.CLIENT_ID, Buffer.concat([encode.u8(1), mac])],
    [OPT.CLIENT_GUID, Buffer.concat([encode.u8(0), GUID])],
  ]);
}

/** A BIOS PXE ROM without iPXE (Intel Boot Agent style): arch 0, no user class. */
export function biosPxeRequest(o: RequestOpts = {}): Buffer {
  return base(o, [
    [OPT.MESSAGE_TYPE, encode.u8(o.type ?? MSG.DISCOVER)],
    [OPT.PARAM_REQUEST, encode.bytes(1, 2, 3, 5, 6, 11, 12, 13, 15, 16, 17, 18, 43, 54, 60, 67, 128, 129, 130, 131, 132, 133, 134, 135)],
    [OPT.MAX_SIZE, encode.u16(1260)],
    [OPT.CLIENT_GUID, Buffer.concat([encode.u8(0), GUID])],
    [OPT.CLIENT_ARCH, encode.u16(0)],
    [OPT.CLIENT_NDI, encode.bytes(1, 2, 1)],
    [OPT.VENDOR_CLASS, encode.str('PXEClient:Arch:00000:UNDI:002001')],
  ]);
}

/** OVMF (EDK2) PXE over IPv4: arch 7 (x64 UEFI), option 97, no user class. */
export function ovmfRequest(o: RequestOpts & { arch?: number } = {}): Buffer {
  const arch = o.arch ?? 7;
  return base(o, [
    [OPT.MESSAGE_TYPE, encode.u8(o.type ?? MSG.DISCOVER)],
    [OPT.MAX_SIZE, encode.u16(1472)],
    [OPT.PARAM_REQUEST, encode.bytes(1, 2, 3, 4, 5, 6, 12, 13, 15, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58, 59, 60, 66, 67, 97, 128, 129, 130, 131, 132, 133, 134, 135)],
    [OPT.CLIENT_GUID, Buffer.concat([encode.u8(0), GUID])],
    [OPT.CLIENT_NDI, encode.bytes(1, 3, 0)],
    [OPT.CLIENT_ARCH, encode.u16(arch)],
    [OPT.VENDOR_CLASS, encode.str(`PXEClient:Arch:${String(arch).padStart(5, '0')}:UNDI:003000`)],
  ]);
}

/** ISC dhclient on Debian: no option 60, nothing PXE about it. */
export function dhclientRequest(o: RequestOpts = {}): Buffer {
  return base({ flags: 0, ...o }, [
    [OPT.MESSAGE_TYPE, encode.u8(o.type ?? MSG.DISCOVER)],
    [OPT.REQUESTED_IP, encode.ip('10.99.0.120')],
    [12, encode.str('pc-salle-12')],
    [OPT.PARAM_REQUEST, encode.bytes(1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42)],
  ]);
}

export const FIXTURE_GUID = '8e2a4d3c-1b6f-4e0a-9c7d-5e3f2a1b0c9d';
