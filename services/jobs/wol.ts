// Wake-on-LAN: the magic packet, where it may go, and one sender.
//
// - The packet: 6 × 0xFF, then the PC's MAC 16 times (102 bytes); no SecureOn password.
// - It goes only where a setting says (ROOMCAST_WOL_INTERFACES, ROOMCAST_WOL_ADDRESSES), never by
//   default: an interface gives the directed broadcast of each of its IPv4 subnets; an address is
//   used as it is (a room's directed broadcast, a relay, or 255.255.255.255). A room's subnet adds its
//   directed broadcast. The limited broadcast 255.255.255.255 leaves a Linux host only through the
//   default route's interface (and fails with ENETUNREACH without one), so it is sent only when an
//   address setting names it: on a server whose PCs are not behind the default route it would wake
//   nobody, or the wrong network.
// - To UDP ports 9 (discard) and 7 (echo), each packet repeated (default 3 times, 100 ms apart):
//   one lost packet must not leave a PC off until the next attempt. Staggering PCs (so that a room
//   does not draw power in the same second) is the caller's: this sends for one PC.
import dgram from 'node:dgram';
import os from 'node:os';
import { explainInvalidMac, normalizeMac } from '../inventory/mac.js';

export const WOL_PORTS = [9, 7] as const;
export const MAGIC_PACKET_BYTES = 102;

export interface WolTarget {
  address: string;
  port: number;
}

/** The magic packet for a MAC (any of the usual spellings). Throws on a malformed MAC. */
export function magicPacket(mac: string): Buffer {
  const canonical = normalizeMac(mac);
  if (!canonical) throw new Error(explainInvalidMac(mac) ?? `not a MAC address: ${JSON.stringify(mac)}`);
  const bytes = Buffer.from(canonical.replace(/:/g, ''), 'hex');
  const packet = Buffer.alloc(MAGIC_PACKET_BYTES, 0xff);
  for (let i = 0; i < 16; i++) bytes.copy(packet, 6 + i * 6);
  return packet;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
function ipv4ToInt(a: string): number | null {
  const m = IPV4.exec(a);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}
const intToIpv4 = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/** 10.1.2.0/24 → 10.1.2.255; null when it is not an IPv4 CIDR with a prefix of 1 to 30. */
export function directedBroadcast(cidr: string): string | null {
  const [addr, bits] = cidr.split('/');
  const base = ipv4ToInt(addr ?? '');
  const prefix = Number(bits);
  if (base === null || !/^\d{1,2}$/.test(bits ?? '') || prefix < 1 || prefix > 30) return null;
  const host = (2 ** (32 - prefix) - 1) >>> 0;
  return intToIpv4((base | host) >>> 0);
}

export interface WolSettings {
  /** Interface names whose IPv4 subnets get their directed broadcast. */
  interfaces: readonly string[];
  /** Addresses sent to as they are. */
  addresses: readonly string[];
  /** UDP ports (default 9 and 7; a test's listener may use its own). */
  ports?: readonly number[];
}

/**
 * Where a PC's magic packets go: every (address, port) pair, deduplicated, and a sentence for each
 * setting that gives nothing (an interface that does not exist or has no IPv4 address, a malformed
 * address or subnet). Pure: the interfaces are passed in (os.networkInterfaces() by default).
 */
export function wolTargets(
  settings: WolSettings,
  roomSubnets: readonly string[] = [],
  ifaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces(),
): { targets: WolTarget[]; problems: string[] } {
  const addresses = new Set<string>();
  const problems: string[] = [];
  for (const name of settings.interfaces) {
    const v4 = (ifaces[name] ?? []).filter((i) => i.family === 'IPv4' && !i.internal && i.cidr);
    if (!ifaces[name]) problems.push(`interface ${name} does not exist on this server`);
    else if (!v4.length) problems.push(`interface ${name} has no IPv4 address`);
    for (const i of v4) {
      const b = directedBroadcast(i.cidr!);
      if (b) addresses.add(b);
    }
  }
  for (const a of settings.addresses) {
    if (ipv4ToInt(a) === null) problems.push(`${JSON.stringify(a)} is not an IPv4 address`);
    else addresses.add(a);
  }
  for (const s of roomSubnets) {
    const b = directedBroadcast(s);
    if (b) addresses.add(b);
    else problems.push(`the room's subnet ${JSON.stringify(s)} is not an IPv4 subnet such as 10.1.2.0/24`);
  }
  const targets = [...addresses].flatMap((address) => (settings.ports ?? WOL_PORTS).map((port) => ({ address, port })));
  return { targets, problems };
}

export interface WakeResult {
  /** Datagrams the kernel accepted. */
  sent: number;
  /** One sentence per target that failed (each failure once). */
  errors: string[];
}

/** Sends one PC's magic packet to every target, `repeat` times `gapMs` apart. Never throws for a send error. */
export async function sendMagicPacket(mac: string, targets: readonly WolTarget[], opts: { repeat?: number; gapMs?: number } = {}): Promise<WakeResult> {
  const packet = magicPacket(mac);
  const repeat = Math.max(1, opts.repeat ?? 3);
  const gapMs = opts.gapMs ?? 100;
  const result: WakeResult = { sent: 0, errors: [] };
  if (!targets.length) return { sent: 0, errors: ['no Wake-on-LAN target is configured (ROOMCAST_WOL_INTERFACES or ROOMCAST_WOL_ADDRESSES)'] };
  const socket = dgram.createSocket('udp4');
  const failed = new Set<string>();
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, () => {
        socket.off('error', reject);
        socket.setBroadcast(true);
        resolve();
      });
    });
    for (let round = 0; round < repeat; round++) {
      if (round > 0) await new Promise((r) => setTimeout(r, gapMs));
      for (const t of targets) {
        const key = `${t.address}:${t.port}`;
        try {
          await new Promise<void>((resolve, reject) => socket.send(packet, t.port, t.address, (err) => (err ? reject(err) : resolve())));
          result.sent++;
        } catch (err) {
          if (!failed.has(key)) result.errors.push(`${key}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
          failed.add(key);
        }
      }
    }
  } catch (err) {
    result.errors.push(`could not open a UDP socket: ${(err as Error).message}`);
  } finally {
    socket.close();
  }
  return result;
}
