// What the proxyDHCP answers, as a pure function of the request (plus the injected policy).
//
// - Only PXE clients (option 60 "PXEClient…") get an answer; everything else, including every
//   ordinary DHCP exchange with the Region's server, gets none.
// - Port 67: DISCOVER → proxy OFFER; REQUEST → ACK only when its option 54 names us (a REQUEST
//   naming another server, or none, is the client talking to the Region's DHCP).
// - Port 4011 (PXE boot server, what UEFI firmware and iPXE ask after the Region's ACK): REQUEST →
//   ACK, unless option 54 names another server.
// - INFORM is never answered, on either port, as pixiecore does: no PXE firmware or iPXE uses it in
//   the boot path, and the hosts that do send it (Windows asking for WPAD and the like) already have
//   their DHCP server; answering could only add a second, conflicting voice.
// - Replies never offer an address: yiaddr 0.0.0.0, siaddr and option 54 = the boot server.
import { MSG, OP, OPT, buildPacket, encode, type DhcpPacket } from './packet.js';
import { clientArchOf } from './options.js';
import type { BootPolicy } from './policy.js';
import { efi64FirstStage, type SecureBootChain } from './secureboot.js';

export type { BootPolicy } from './policy.js';

export interface BootFiles {
  /** Arch 0 (BIOS). */
  bios: string;
  /** Arch 7 and 9 (x86-64 UEFI). */
  efi64: string;
  /** Arch 6 (IA32 UEFI). '' = such clients are not answered (unless already in iPXE). */
  efi32: string;
  /** Arch 11 (ARM64 UEFI). '' = such clients are not answered (unless already in iPXE). */
  arm64: string;
}

/** images/ipxe/fetch.sh provides undionly.kpxe, snponly.efi and ipxe.efi: no IA32 or ARM64 binaries yet. */
export const DEFAULT_BOOT_FILES: BootFiles = { bios: 'undionly.kpxe', efi64: 'snponly.efi', efi32: '', arm64: '' };

export type ArchName = keyof BootFiles;

/** RFC 4578 / IANA processor architecture types the proxy answers. */
export const ARCHES: ReadonlyMap<number, ArchName> = new Map<number, ArchName>([
  [0, 'bios'],
  [6, 'efi32'],
  [7, 'efi64'],
  [9, 'efi64'],
  [11, 'arm64'],
]);

/** PXE vendor option 43, sub-option 6 (PXE_DISCOVERY_CONTROL) = 8: boot the file in this offer, no discovery. */
export const PXE_BOOT_FROM_OFFER = Buffer.from([6, 1, 8, 255]);

export interface DecideContext {
  serverIp: string;
  /** http://host:port of the api, no trailing slash needed; the iPXE script is at /boot/ipxe. */
  httpBase: string;
  bootFiles: BootFiles;
  policy: BootPolicy;
  /** x64 UEFI PCs: iPXE or the signed chain (shim); absent: iPXE (ROOMCAST_SECURE_BOOT=off). */
  secureBoot?: SecureBootChain;
}

export type Via = 'dhcp' | 'pxe';

export interface IncomingRequest {
  packet: DhcpPacket;
  /** The port it arrived on: the DHCP server port (67) or the PXE boot server port (4011). */
  via: Via;
}

export interface Reply {
  kind: 'offer' | 'ack';
  mac: string;
  arch: number;
  archName: ArchName;
  /** 'boot-file': the firmware's iPXE binary over TFTP; 'ipxe-script': iPXE is running, send it the HTTP script. */
  answer: 'boot-file' | 'ipxe-script';
  /** The file name or URL handed out. */
  bootFile: string;
  /** Why this file: iPXE or the Secure Boot chain (x64 UEFI), the script URL, the architecture's file. */
  why: string;
  /** The encoded reply. */
  packet: Buffer;
}

export type Decision = { reply: Reply } | { ignore: string; mac?: string; pxe: boolean };

/** The reply for a request, or null when the proxy must stay silent. Never throws. */
export async function decideReply(request: IncomingRequest, ctx: DecideContext): Promise<Reply | null> {
  const d = await decide(request, ctx);
  return 'reply' in d ? d.reply : null;
}

/** Like decideReply, with the reason when there is no reply (for the log). Never throws. */
export async function decide(request: IncomingRequest, ctx: DecideContext): Promise<Decision> {
  try {
    return await decideUnsafe(request, ctx);
  } catch (err) {
    return { ignore: `internal error: ${(err as Error).message}`, pxe: true };
  }
}

/** True when the packet comes from PXE firmware or iPXE (option 60 starts with "PXEClient"). */
export function isPxeClient(p: DhcpPacket): boolean {
  return p.op === OP.REQUEST && (p.vendorClass?.startsWith('PXEClient') ?? false);
}

async function decideUnsafe({ packet: p, via }: IncomingRequest, ctx: DecideContext): Promise<Decision> {
  if (!isPxeClient(p)) return { ignore: 'not a PXE client', pxe: false };
  const mac = p.mac;
  const no = (ignore: string): Decision => ({ ignore, mac, pxe: true });
  if (p.htype !== 1 || p.hlen !== 6) return no(`not Ethernet (htype ${p.htype}, hlen ${p.hlen})`);

  let kind: Reply['kind'];
  if (p.messageType === MSG.DISCOVER && via === 'dhcp') kind = 'offer';
  else if (p.messageType === MSG.REQUEST) {
    if (p.serverId !== undefined && p.serverId !== ctx.serverIp) return no(`request for another DHCP server (${p.serverId})`);
    if (via === 'dhcp' && p.serverId === undefined) return no('request without server identifier (for the DHCP server)');
    kind = 'ack';
  } else return no(`message type ${p.messageType ?? 'none'} on the ${via === 'dhcp' ? 'DHCP' : 'PXE'} port`);

  if (p.invalid.includes(OPT.CLIENT_ARCH)) return no('malformed option 93');
  if (p.invalid.includes(OPT.CLIENT_GUID)) return no('malformed option 97');
  const arch = clientArchOf(p);
  if (arch === undefined) return no('no client architecture (option 93)');
  const archName = ARCHES.get(arch);
  if (!archName) return no(`unsupported client architecture ${arch}`);

  const ipxe = p.userClass?.includes('iPXE') ?? false;
  let bootFile = ipxe ? ipxeScriptUrl(ctx.httpBase, mac, arch) : ctx.bootFiles[archName];
  if (!bootFile) return no(`no boot file configured for ${archName} (arch ${arch})`);

  let verdict: string;
  try {
    verdict = await ctx.policy(mac, arch);
  } catch (err) {
    return no(`policy lookup failed: ${(err as Error).message}`);
  }
  if (verdict !== 'boot') return no('policy: not to be booted');

  let why = ipxe ? 'already in iPXE: its script' : `the ${archName} boot file`;
  if (!ipxe && archName === 'efi64') {
    let reported: boolean | undefined | 'unknown';
    if (ctx.secureBoot?.mode === 'auto' && ctx.secureBoot.reported) reported = await ctx.secureBoot.reported(mac).catch(() => 'unknown' as const);
    ({ file: bootFile, why } = efi64FirstStage(bootFile, ctx.secureBoot, reported));
  }

  const options: Array<[number, Buffer]> = [
    [OPT.MESSAGE_TYPE, encode.u8(kind === 'offer' ? MSG.OFFER : MSG.ACK)],
    [OPT.SERVER_ID, encode.ip(ctx.serverIp)],
    // iPXE waits ~2 s more for proxy offers that lack it; PXE firmware needs it to take the offer.
    [OPT.VENDOR_CLASS, encode.str('PXEClient')],
  ];
  const guid = p.options.get(OPT.CLIENT_GUID);
  if (guid) options.push([OPT.CLIENT_GUID, guid]);
  // BIOS only: UEFI firmware ignores a proxy offer that bypasses discovery, and without option 43
  // it asks port 4011 instead (pixiecore's README.booting.md).
  if (arch === 0) options.push([OPT.VENDOR_OPTS, PXE_BOOT_FROM_OFFER]);
  const fitsFile = Buffer.byteLength(bootFile, 'latin1') <= 127;
  if (!fitsFile) options.push([OPT.BOOTFILE_NAME, encode.str(bootFile)]);

  const packet = buildPacket({
    op: OP.REPLY,
    htype: p.htype,
    hlen: p.hlen,
    xid: p.xid,
    flags: p.flags,
    // RFC 2131 table 3: ciaddr is 0 in an OFFER and copied from the request in an ACK.
    ciaddr: kind === 'ack' ? p.ciaddr : '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: ctx.serverIp,
    giaddr: p.giaddr,
    chaddr: p.chaddr,
    sname: ctx.serverIp,
    file: fitsFile ? bootFile : '',
    options,
  });
  return { reply: { kind, mac, arch, archName, answer: ipxe ? 'ipxe-script' : 'boot-file', bootFile, why, packet } };
}

/** The iPXE script URL handed to iPXE (user class "iPXE") instead of a binary: no chainload loop. */
export function ipxeScriptUrl(httpBase: string, mac: string, arch: number): string {
  return `${httpBase.replace(/\/+$/, '')}/boot/ipxe?mac=${mac}&arch=${arch}`;
}

export interface Destination {
  address: string;
  port: number;
  broadcast: boolean;
}

/**
 * Where a reply goes. Port 4011: back to the sender (broadcast if it has no address yet). Port 67:
 * to the relay agent's server port when relayed (giaddr), to ciaddr when the client has an address,
 * else broadcast: a client without an address cannot take unicast without an ARP entry we cannot
 * set from a UDP socket, so the broadcast flag is honoured by always broadcasting.
 */
export function replyDestination(
  p: DhcpPacket,
  via: Via,
  source: { address: string; port: number },
  ports: { replyPort: number; serverPort: number },
): Destination {
  if (via === 'pxe') {
    if (source.address !== '0.0.0.0') return { address: source.address, port: source.port, broadcast: false };
    return { address: '255.255.255.255', port: source.port, broadcast: true };
  }
  if (p.giaddr !== '0.0.0.0') return { address: p.giaddr, port: ports.serverPort, broadcast: false };
  if (p.ciaddr !== '0.0.0.0') return { address: p.ciaddr, port: ports.replyPort, broadcast: false };
  return { address: '255.255.255.255', port: ports.replyPort, broadcast: true };
}
