// Network pre-flight (issue 14), the rogue PXE answerer check as pure functions: the DISCOVER that
// looks like a BIOS PXE ROM (option 60 PXEClient:Arch:00000, option 93, a random locally
// administered MAC, the broadcast flag so that every server broadcasts its answer), and the
// classification of what came back.
//
// Rules (classifyAnswers):
// - Only replies to our DISCOVER count: op REPLY, our xid, our MAC in chaddr. Anything else on port
//   68 (other clients' traffic, garbage) is ignored.
// - A server is identified by its option 54 (server identifier), else by the source address.
// - roomcast's own proxyDHCP (its boot IP, or any address listed as its own) is recognised and left out.
// - An answer carries PXE boot information when it has option 60 "PXEClient", a boot file (the file
//   field or option 67) or a next server (siaddr) together with a boot file. A DHCP server that only
//   leases addresses (the Region's) is listed as seen, never as a rogue answerer.
// - Outcome: 'found' (at least one other PXE answerer: a warning, PCs may boot someone else's
//   program), 'none'. Every outcome has a code, parameters and a sentence in English and French.
// Never throws.
import { randomBytes } from 'node:crypto';
import { MSG, OP, OPT, buildPacket, encode, formatMac, parsePacket } from '../boot/proxydhcp/packet.js';

export interface PreflightReason {
  code: string;
  params: Record<string, string | number>;
  /** English. */
  text: string;
  /** French. */
  fr: string;
}

export interface Probe {
  xid: number;
  /** Locally administered, unicast: 02:xx:xx:xx:xx:xx. */
  mac: string;
  packet: Buffer;
}

/** A PXE DISCOVER as a BIOS PXE ROM sends it (arch 0), from a random locally administered MAC. */
export function pxeDiscover(random: (n: number) => Buffer = randomBytes): Probe {
  const r = random(9);
  const xid = r.readUInt32BE(0);
  const macBytes = Buffer.concat([Buffer.from([0x02]), r.subarray(4, 9)]);
  const mac = formatMac(macBytes);
  const guid = Buffer.concat([Buffer.from([0]), macBytes, macBytes, Buffer.alloc(4)]);
  const packet = buildPacket({
    op: OP.REQUEST,
    xid,
    flags: 0x8000,
    chaddr: macBytes,
    options: [
      [OPT.MESSAGE_TYPE, encode.u8(MSG.DISCOVER)],
      [OPT.PARAM_REQUEST, encode.bytes(1, 3, 6, 43, 54, 60, 66, 67, 128, 129, 130, 131, 132, 133, 134, 135)],
      [OPT.MAX_SIZE, encode.u16(1260)],
      [OPT.CLIENT_GUID, guid],
      [OPT.CLIENT_ARCH, encode.u16(0)],
      [OPT.CLIENT_NDI, encode.bytes(1, 2, 1)],
      [OPT.VENDOR_CLASS, encode.str('PXEClient:Arch:00000:UNDI:002001')],
    ],
  });
  return { xid, mac, packet };
}

export interface RawAnswer {
  /** Source address of the datagram. */
  from: string;
  msg: Buffer;
  /** The sender's MAC when the neighbour table knows it. */
  mac?: string | null;
}

export interface PxeAnswerer {
  server: string;
  /** Where the datagram came from (differs from server when a relay or another interface forwarded it). */
  from: string;
  mac: string | null;
  bootFile: string | null;
  /** The PXE boot menu's entries (option 43 sub-option 9), when it sends a menu instead of a file. */
  bootMenu: string[];
  nextServer: string | null;
  /** 'proxy': a proxyDHCP (no address offered); 'dhcp': a DHCP server that also hands out boot information. */
  kind: 'proxy' | 'dhcp';
}

export interface PxeCheck {
  outcome: 'found' | 'none';
  answerers: PxeAnswerer[];
  /** DHCP servers that answered with an address and no PXE information (the Region's, normally). */
  dhcpServers: string[];
  /** Whether roomcast's own proxyDHCP answered (it is left out of the answerers). */
  roomcastAnswered: boolean;
  reason: PreflightReason;
}

const ZERO = '0.0.0.0';

/** What came back on port 68 for a probe, sorted into rogue PXE answerers, plain DHCP servers and roomcast. */
export function classifyAnswers(probe: Pick<Probe, 'xid' | 'mac'>, answers: readonly RawAnswer[], own: readonly string[]): PxeCheck {
  const byServer = new Map<string, PxeAnswerer>();
  const dhcp = new Set<string>();
  let roomcastAnswered = false;
  for (const a of answers) {
    const p = parsePacket(a.msg);
    if (!p || p.op !== OP.REPLY || p.xid !== probe.xid || p.mac !== probe.mac) continue;
    if (p.messageType !== undefined && p.messageType !== MSG.OFFER && p.messageType !== MSG.ACK) continue;
    const server = p.serverId ?? a.from;
    if (own.includes(server) || own.includes(a.from)) {
      roomcastAnswered = true;
      continue;
    }
    const opt67 = p.options.get(OPT.BOOTFILE_NAME);
    const bootFile = p.file || (opt67 ? opt67.toString('latin1').replace(/\0+$/, '') : '') || null;
    const pxeClass = (p.vendorClass ?? '').startsWith('PXEClient');
    if (!pxeClass && !bootFile) {
      dhcp.add(server);
      continue;
    }
    if (byServer.has(server)) continue;
    byServer.set(server, {
      server,
      from: a.from,
      mac: a.mac ?? null,
      bootFile,
      bootMenu: pxeClass && p.vendorOptions ? bootMenu(p.vendorOptions) : [],
      nextServer: p.siaddr !== ZERO ? p.siaddr : null,
      kind: p.yiaddr === ZERO ? 'proxy' : 'dhcp',
    });
  }
  const answerers = [...byServer.values()].sort((x, y) => x.server.localeCompare(y.server));
  const dhcpServers = [...dhcp].filter((s) => !byServer.has(s)).sort();
  return { outcome: answerers.length ? 'found' : 'none', answerers, dhcpServers, roomcastAnswered, reason: pxeReason(answerers) };
}

/** The descriptions of a PXE boot menu (PXE 2.1 option 43 sub-option 9: type u16, length, text); [] when absent or malformed. */
export function bootMenu(v: Buffer): string[] {
  for (let i = 0; i + 1 < v.length && v[i] !== 255; ) {
    if (v[i] === 0) {
      i++;
      continue;
    }
    const code = v[i]!;
    const len = v[i + 1]!;
    if (i + 2 + len > v.length) return [];
    if (code === 9) {
      const out: string[] = [];
      const m = v.subarray(i + 2, i + 2 + len);
      for (let j = 0; j + 3 <= m.length; ) {
        const l = m[j + 2]!;
        if (j + 3 + l > m.length) break;
        out.push(m.subarray(j + 3, j + 3 + l).toString('latin1'));
        j += 3 + l;
      }
      return out;
    }
    i += 2 + len;
  }
  return [];
}

function describe(a: PxeAnswerer, fr: boolean): string {
  const mac = a.mac ? ` (MAC ${a.mac})` : '';
  const menu = a.bootMenu.length ? (fr ? `, menu de démarrage « ${a.bootMenu.join(' », « ')} »` : `, boot menu "${a.bootMenu.join('", "')}"`) : '';
  const file = a.bootFile ? (fr ? `, fichier de démarrage « ${a.bootFile} »` : `, boot file "${a.bootFile}"`) : menu || (fr ? ', sans fichier de démarrage' : ', no boot file');
  const kind = a.kind === 'proxy' ? 'proxyDHCP' : fr ? 'DHCP avec PXE' : 'DHCP with PXE';
  return `${a.server}${mac} (${kind}${file})`;
}

function pxeReason(answerers: readonly PxeAnswerer[]): PreflightReason {
  if (!answerers.length) {
    return {
      code: 'preflight_pxe_none',
      params: {},
      text: 'no other server answers PXE on this network: only roomcast gives PCs their boot program',
      fr: 'aucun autre serveur ne répond au PXE sur ce réseau : seul roomcast donne aux PC leur programme de démarrage',
    };
  }
  const list = (fr: boolean) => answerers.map((a) => describe(a, fr)).join('; ');
  return {
    code: 'preflight_pxe_rogue',
    params: { servers: answerers.map((a) => a.server).join(', '), count: answerers.length },
    text: `another server answers PXE on this network: ${list(false)}. PCs may boot its program instead of roomcast's: turn its PXE answers off, or restrict it to other networks`,
    fr: `un autre serveur répond au PXE sur ce réseau : ${list(true)}. Les PC risquent de démarrer son programme au lieu de celui de roomcast : désactivez ses réponses PXE ou limitez-le à d'autres réseaux`,
  };
}
