// The proxyDHCP server on real sockets over loopback, unprivileged ports: unicast answers on the
// PXE port and to a client with an address, silence for garbage and for PCs the policy ignores,
// the per-MAC flood limit, one log line per answer. Broadcast answers are checked in
// proxydhcp-lab.test.ts (network namespaces).
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../services/core/logger.js';
import { biosPxeRequest, dhclientRequest, ovmfRequest } from '../../services/boot/proxydhcp/fixtures.js';
import { MSG, parsePacket, type DhcpPacket } from '../../services/boot/proxydhcp/packet.js';
import type { BootPolicy } from '../../services/boot/proxydhcp/policy.js';
import { ProxyDhcpServer } from '../../services/boot/proxydhcp/server.js';

const IGNORED_MAC = '52:54:00:00:00:99';
const logLines: Array<Record<string, unknown>> = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, cb) {
    for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line) as Record<string, unknown>);
    cb();
  },
});
const policy: BootPolicy = (mac) => Promise.resolve(mac === IGNORED_MAC ? 'ignore' : 'boot');

let server: ProxyDhcpServer;
let ports: { dhcpPort: number; pxePort: number };
let client: dgram.Socket;
const inbox: Array<{ packet: DhcpPacket; from: string }> = [];

async function exchange(msg: Buffer, port: number, waitMs = 300): Promise<Array<{ packet: DhcpPacket; from: string }>> {
  inbox.length = 0;
  await new Promise<void>((resolve, reject) => client.send(msg, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  await new Promise((r) => setTimeout(r, waitMs));
  return [...inbox];
}

describe('ProxyDhcpServer over loopback', () => {
  beforeAll(async () => {
    client = dgram.createSocket('udp4');
    client.on('message', (m, r) => {
      const packet = parsePacket(m);
      if (packet) inbox.push({ packet, from: `${r.address}:${r.port}` });
    });
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
    server = new ProxyDhcpServer({
      bindAddress: '127.0.0.1',
      dhcpPort: 0,
      pxePort: 0,
      replyPort: client.address().port,
      serverIp: '127.0.0.1',
      httpBase: 'http://127.0.0.1:8080',
      policy,
      log: createLogger('debug', sink),
      maxPerSecond: 2,
    });
    ports = await server.start();
  });

  afterAll(async () => {
    await server?.stop();
    client?.close();
  });

  it('answers a UEFI REQUEST on the PXE port with an ACK, unicast to the sender', async () => {
    const got = await exchange(ovmfRequest({ type: MSG.REQUEST, mac: '52:54:00:00:00:01', ciaddr: '127.0.0.1', xid: 7 }), ports.pxePort);
    expect(got).toHaveLength(1);
    expect(got[0]!.from).toBe(`127.0.0.1:${ports.pxePort}`);
    expect(got[0]!.packet).toMatchObject({ op: 2, xid: 7, messageType: MSG.ACK, yiaddr: '0.0.0.0', siaddr: '127.0.0.1', serverId: '127.0.0.1', file: 'snponly.efi', ciaddr: '127.0.0.1' });
    const line = logLines.find((l) => l.mac === '52:54:00:00:00:01' && l.kind === 'ack');
    expect(line).toMatchObject({ level: 30, arch: 7, firmware: 'efi64', answer: 'boot-file', file: 'snponly.efi', via: 'pxe' });
  });

  it('answers a DISCOVER on port 67 from a client with an address at ciaddr:replyPort', async () => {
    const got = await exchange(biosPxeRequest({ mac: '52:54:00:00:00:02', ciaddr: '127.0.0.1' }), ports.dhcpPort);
    expect(got.map((g) => [g.packet.messageType, g.packet.file, g.packet.vendorOptions?.toString('hex')])).toEqual([[MSG.OFFER, 'undionly.kpxe', '060108ff']]);
  });

  it('stays silent for garbage, non-PXE clients and ignored PCs, and keeps answering afterwards', async () => {
    const before = logLines.length;
    for (const junk of [Buffer.alloc(0), randomBytes(100), randomBytes(1400), Buffer.alloc(240), biosPxeRequest().subarray(0, 250)]) {
      expect(await exchange(junk, ports.dhcpPort, 50)).toEqual([]);
      expect(await exchange(junk, ports.pxePort, 50)).toEqual([]);
    }
    expect(await exchange(dhclientRequest({ ciaddr: '127.0.0.1' }), ports.dhcpPort)).toEqual([]);
    expect(await exchange(ovmfRequest({ type: MSG.REQUEST, mac: IGNORED_MAC, ciaddr: '127.0.0.1' }), ports.pxePort)).toEqual([]);
    const fresh = logLines.slice(before);
    // One warning for the garbage (rate-limited), one info line for the ignored PC.
    expect(fresh.filter((l) => l.level === 40 && /not DHCP messages/.test(String(l.msg)))).toHaveLength(1);
    expect(fresh.filter((l) => l.mac === IGNORED_MAC && l.level === 30)).toHaveLength(1);
    expect(fresh.some((l) => /not a PXE client/.test(String(l.msg)))).toBe(true);
    expect(await exchange(ovmfRequest({ type: MSG.REQUEST, mac: '52:54:00:00:00:03', ciaddr: '127.0.0.1' }), ports.pxePort)).toHaveLength(1);
  });

  it('limits a looping client (per-MAC token bucket) without affecting others', async () => {
    const loop = ovmfRequest({ type: MSG.REQUEST, mac: '52:54:00:00:00:04', ciaddr: '127.0.0.1' });
    inbox.length = 0;
    for (let i = 0; i < 40; i++) client.send(loop, ports.pxePort, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 400));
    const answered = inbox.filter((g) => g.packet.mac === '52:54:00:00:00:04').length;
    expect(answered).toBeGreaterThanOrEqual(10);
    expect(answered).toBeLessThanOrEqual(12);
    expect(logLines.some((l) => l.level === 40 && l.mac === '52:54:00:00:00:04' && /too many/.test(String(l.msg)))).toBe(true);
    expect(await exchange(ovmfRequest({ type: MSG.REQUEST, mac: '52:54:00:00:00:05', ciaddr: '127.0.0.1' }), ports.pxePort)).toHaveLength(1);
  });

  it('explains why it cannot listen', async () => {
    await expect(new ProxyDhcpServer({ bindAddress: '192.0.2.1', dhcpPort: 0, serverIp: '127.0.0.1', httpBase: 'http://x', policy, log: createLogger('silent') }).start()).rejects.toThrow(
      /192\.0\.2\.1 is not an address of this host/,
    );
    await expect(new ProxyDhcpServer({ bindAddress: '0.0.0.0', serverIp: 'boot.local', httpBase: 'http://x', policy, log: createLogger('silent') }).start()).rejects.toThrow(/ROOMCAST_BOOT_IP/);
  });
});
