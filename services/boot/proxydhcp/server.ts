// roomcast's proxyDHCP on node:dgram: answers PXE firmware and iPXE on the DHCP port (67) and the
// PXE boot server port (4011) with the boot file or the iPXE script URL, never with an address.
//
// Sockets: each port is bound on bindAddress (0.0.0.0: the only way to hear broadcast DISCOVERs)
// and, when it can be, again on the interface address (default: serverIp) with SO_REUSEADDR.
// Replies leave from the interface socket: Linux sends a 255.255.255.255 datagram out of the
// interface that owns the socket's source address, so broadcasts reach the PCs' LAN even on a
// host with several interfaces or without a default route. Unicast to that address lands on the
// interface socket too (the kernel prefers the more specific bind), and is handled the same way.
//
// Garbage never gets an answer and never throws out of a handler; warnings about it are
// rate-limited, and a per-MAC token bucket stops a looping client from flooding the proxy and the
// api behind the boot policy.
import dgram from 'node:dgram';
import type { Logger } from '../../core/logger.js';
import { DEFAULT_BOOT_FILES, decide, isPxeClient, replyDestination, type BootFiles, type DecideContext, type Reply, type Via } from './decide.js';
import { OP, parseIp, parsePacket, type DhcpPacket } from './packet.js';
import type { BootPolicy } from './policy.js';
import type { SecureBootChain } from './secureboot.js';
import { KeyedTokenBucket, LogThrottle } from '../../core/ratelimit.js';

export interface ProxyDhcpServerOptions {
  /** Where to listen; 0.0.0.0 (the default in the role) is needed to hear broadcasts. */
  bindAddress: string;
  /** This host's address on the PCs' LAN, where replies are sent from. Default: serverIp. */
  interfaceAddress?: string;
  /** Default 67; 0 picks a free port (tests). */
  dhcpPort?: number;
  /** Default 4011; 0 picks a free port (tests). */
  pxePort?: number;
  /** The clients' port for replies to port-67 requests. Default 68. */
  replyPort?: number;
  /** The boot server: siaddr, option 54, where firmware fetches the boot file over TFTP. */
  serverIp: string;
  /** Base URL of the api for iPXE, e.g. http://10.0.0.5:8080. */
  httpBase: string;
  bootFiles?: Partial<BootFiles>;
  policy: BootPolicy;
  /** x64 UEFI PCs: iPXE or the Secure Boot chain (ROOMCAST_SECURE_BOOT); absent: iPXE. */
  secureBoot?: SecureBootChain;
  log: Logger;
  /** Requests handled per second per MAC (burst: three seconds' worth, at least 10). Default 3. */
  maxPerSecond?: number;
}

interface Bound {
  via: Via;
  socket: dgram.Socket;
}

const GLOBAL_PER_SECOND = 200;
const RECV_BUFFER_BYTES = 4 * 1024 * 1024;

export class ProxyDhcpServer {
  private readonly log: Logger;
  private readonly ctx: DecideContext;
  private readonly replyPort: number;
  private readonly perMac: KeyedTokenBucket;
  private readonly global = new KeyedTokenBucket(GLOBAL_PER_SECOND, GLOBAL_PER_SECOND * 2, 1);
  private readonly warnings = new LogThrottle(60_000);
  private readonly infos = new LogThrottle(60_000, 4096);
  /** Per kind of line, all clients together: random MACs cannot flood the log either. */
  private readonly overall = new LogThrottle(5_000);
  private readonly wildcard = new Map<Via, dgram.Socket>();
  private readonly local = new Map<Via, dgram.Socket>();
  private readonly running = new Set<Promise<void>>();
  private ports: { dhcpPort: number; pxePort: number } | undefined;
  private stopping = false;

  constructor(private readonly opts: ProxyDhcpServerOptions) {
    this.log = opts.log.child({ module: 'proxydhcp' });
    this.replyPort = opts.replyPort ?? 68;
    this.ctx = {
      serverIp: opts.serverIp,
      httpBase: opts.httpBase,
      bootFiles: { ...DEFAULT_BOOT_FILES, ...opts.bootFiles },
      policy: opts.policy,
      secureBoot: opts.secureBoot,
    };
    const rate = opts.maxPerSecond ?? 3;
    this.perMac = new KeyedTokenBucket(rate, Math.max(10, rate * 3));
  }

  async start(): Promise<{ dhcpPort: number; pxePort: number }> {
    if (this.ports) throw new Error('proxyDHCP server already started');
    const { bindAddress, serverIp } = this.opts;
    if (!parseIp(serverIp)) throw new Error(`proxyDHCP: the boot server address "${serverIp}" is not an IPv4 address (check ROOMCAST_BOOT_IP)`);
    if (!parseIp(bindAddress)) throw new Error(`proxyDHCP: cannot listen on "${bindAddress}": an IPv4 address is needed`);
    this.stopping = false;
    try {
      const dhcpPort = await this.bind('dhcp', this.wildcard, bindAddress, this.opts.dhcpPort ?? 67);
      const pxePort = await this.bind('pxe', this.wildcard, bindAddress, this.opts.pxePort ?? 4011);
      const iface = this.opts.interfaceAddress ?? serverIp;
      if (bindAddress === '0.0.0.0' && iface !== '0.0.0.0') {
        try {
          await this.bind('dhcp', this.local, iface, dhcpPort);
          await this.bind('pxe', this.local, iface, pxePort);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EADDRNOTAVAIL') throw err;
          this.closeAll(this.local);
          this.log.warn(
            { interfaceAddress: iface },
            `proxyDHCP: ${iface} is not an address of this host; replies go out from ${bindAddress}, through the interface the routing table picks for 255.255.255.255`,
          );
        }
      } else if (bindAddress !== '0.0.0.0') {
        this.log.warn({ bindAddress }, `proxyDHCP bound to ${bindAddress}: broadcast DISCOVERs from PCs are not heard; bind 0.0.0.0 to answer them`);
      }
      this.ports = { dhcpPort, pxePort };
    } catch (err) {
      this.closeAll(this.local);
      this.closeAll(this.wildcard);
      throw err;
    }
    const { dhcpPort, pxePort } = this.ports;
    this.log.info(
      { bindAddress, dhcpPort, pxePort, serverIp, httpBase: this.opts.httpBase, bootFiles: this.ctx.bootFiles, secureBoot: this.ctx.secureBoot?.mode ?? 'off' },
      `proxyDHCP listening on ${bindAddress}:${dhcpPort} and :${pxePort}, boot server ${serverIp}`,
    );
    return this.ports;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.ports = undefined;
    await Promise.allSettled([...this.running]);
    await Promise.all([...this.closeAll(this.local), ...this.closeAll(this.wildcard)]);
  }

  private async bind(via: Via, into: Map<Via, dgram.Socket>, address: string, port: number): Promise<number> {
    // A room booting at once sends its DISCOVERs within milliseconds: a receive buffer of 4 MiB (the
    // kernel caps it at net.core.rmem_max) keeps them while the handlers run.
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true, recvBufferSize: RECV_BUFFER_BYTES });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind({ port, address }, () => {
          socket.off('error', reject);
          resolve();
        });
      });
      socket.setBroadcast(true);
    } catch (err) {
      socket.close();
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'EADDRNOTAVAIL' && into === this.local) throw err; // start() falls back to the wildcard sockets
      throw new Error(bindErrorMessage(e, address, port), { cause: err });
    }
    const bound: Bound = { via, socket };
    socket.on('error', (err) => this.warn('socket', { err: err.message, via }, 'proxyDHCP: socket error'));
    socket.on('message', (msg, rinfo) => {
      try {
        this.onMessage(msg, rinfo, bound);
      } catch (err) {
        this.warn('handler', { err: (err as Error).message }, 'proxyDHCP: request handling failed');
      }
    });
    into.set(via, socket);
    return socket.address().port;
  }

  private closeAll(sockets: Map<Via, dgram.Socket>): Array<Promise<void>> {
    const closing = [...sockets.values()].map(
      (s) =>
        new Promise<void>((resolve) => {
          try {
            s.close(() => resolve());
          } catch {
            resolve(); // already closed
          }
        }),
    );
    sockets.clear();
    return closing;
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo, bound: Bound): void {
    if (this.stopping) return;
    const from = `${rinfo.address}:${rinfo.port}`;
    const packet = parsePacket(msg);
    if (!packet) {
      this.warn('garbage', { from, bytes: msg.length, via: bound.via }, 'proxyDHCP: ignored packets that are not DHCP messages');
      return;
    }
    if (packet.op !== OP.REQUEST) return; // a server's reply (the Region's, or our own echo): not for us
    if (!isPxeClient(packet)) {
      this.log.debug({ mac: packet.mac, from, via: bound.via, type: packet.messageType }, 'proxyDHCP: ignored: not a PXE client');
      return;
    }
    if (!this.perMac.take(packet.mac) || !this.global.take('all')) {
      this.warn(`rate:${packet.mac}`, { mac: packet.mac, from }, 'proxyDHCP: too many requests from this client, some ignored');
      return;
    }
    const job = this.handle(packet, rinfo, bound.via)
      .catch((err: unknown) => this.warn('handler', { err: (err as Error).message }, 'proxyDHCP: request handling failed'))
      .finally(() => this.running.delete(job));
    this.running.add(job);
  }

  private async handle(packet: DhcpPacket, rinfo: dgram.RemoteInfo, via: Via): Promise<void> {
    const d = await decide({ packet, via }, this.ctx);
    if (this.stopping) return;
    const mac = packet.mac;
    const arch = packet.clientArch?.[0];
    if (!('reply' in d)) {
      const fields = { mac, arch, via, type: packet.messageType, reason: d.ignore };
      if (d.ignore.startsWith('policy')) {
        const level = d.ignore.startsWith('policy lookup failed') ? 'warn' : 'info';
        const ok = this.infos.allow(`${mac}:${d.ignore}`) && this.overall.allow(`ignore:${d.ignore.slice(0, 40)}`);
        if (ok) this.log[level]({ ...fields, suppressedSinceLast: ok.suppressed }, `proxyDHCP: not answering ${mac}: ${d.ignore}`);
      } else this.log.debug(fields, `proxyDHCP: not answering ${mac}: ${d.ignore}`);
      return;
    }
    const dest = replyDestination(packet, via, rinfo, { replyPort: this.replyPort, serverPort: this.ports?.dhcpPort ?? 67 });
    this.send(d.reply, via, dest);
  }

  private send(reply: Reply, via: Via, dest: { address: string; port: number }): void {
    const socket = this.local.get(via) ?? this.wildcard.get(via);
    if (!socket) return;
    const fields = { mac: reply.mac, arch: reply.arch, firmware: reply.archName, kind: reply.kind, answer: reply.answer, file: reply.bootFile, why: reply.why, via, to: `${dest.address}:${dest.port}` };
    socket.send(reply.packet, dest.port, dest.address, (err) => {
      if (err) this.warn(`send:${dest.address}`, { ...fields, err: err.message }, 'proxyDHCP: could not send a reply');
      else this.log.info(fields, `proxyDHCP: ${reply.kind} ${reply.bootFile} to ${reply.mac} (arch ${reply.arch}, ${via === 'dhcp' ? 'port 67' : 'PXE port'})`);
    });
  }

  /** A warning, at most once a minute per key (a MAC, an address) and once every 5 s per message overall. */
  private warn(key: string, fields: Record<string, unknown>, msg: string): void {
    const mine = this.warnings.allow(key);
    const all = mine && this.overall.allow(msg);
    if (all) this.log.warn({ ...fields, suppressedSinceLast: mine.suppressed + all.suppressed }, msg);
  }
}

function bindErrorMessage(err: NodeJS.ErrnoException, host: string, port: number): string {
  const where = `${host}:${port}`;
  switch (err.code) {
    case 'EACCES':
      return `cannot listen for proxyDHCP on UDP ${where}: permission denied. Ports 67 and 4011 need root or the CAP_NET_BIND_SERVICE capability (for 67); for a test, use ports above 1023`;
    case 'EADDRINUSE':
      return `cannot listen for proxyDHCP on UDP ${where}: the port is already in use (a DHCP server or dnsmasq on this host? roomcast's proxyDHCP must not share a host with one that binds it exclusively)`;
    case 'EADDRNOTAVAIL':
      return `cannot listen for proxyDHCP on UDP ${where}: ${host} is not an address of this host (use 0.0.0.0)`;
    default:
      return `cannot listen for proxyDHCP on UDP ${where}: ${err.message}`;
  }
}
