// roomcast's proxyDHCP next to a Region-like DHCP server, in network namespaces joined by a bridge:
//   rcp<id>r  dnsmasq as the Region's DHCP (10.99.0.2): addresses, no PXE options at all
//   rcp<id>s  roomcast's ProxyDhcpServer (10.99.0.1) on the real ports 67 and 4011, own process
//   rcp<id>c  clients, without an address (as firmware starts): busybox udhcpc, and PXE-like
//             clients (a small Node script sending what BIOS PXE, OVMF and iPXE send)
//   rcp<id>l  the bridge
// A plain DHCP client gets its lease from dnsmasq and nothing from roomcast (tcpdump in the client
// namespace sees every packet); PXE clients get a proxy OFFER (no address) on 67 and an ACK on
// 4011 with the file for their firmware. Needs root and dnsmasq, busybox (udhcpc), tcpdump.
// Nothing touches the host's own network namespace.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_GUID, biosIpxeRequest, biosPxeRequest, ovmfRequest, type RequestOpts } from '../../services/boot/proxydhcp/fixtures.js';
import { MSG, OPT, encode, parsePacket, type DhcpPacket } from '../../services/boot/proxydhcp/packet.js';

const run = promisify(execFile);
const ROOT_DIR = path.resolve(import.meta.dirname, '../..');
const TOOLS = { dnsmasq: 'dnsmasq', busybox: 'busybox-static', tcpdump: 'tcpdump', ip: 'iproute2' } as const;
const missing = Object.entries(TOOLS).filter(([bin]) => {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    return false;
  } catch {
    return true;
  }
});
const isRoot = process.getuid?.() === 0;
const skip = !isRoot || missing.length > 0;
if (!isRoot) console.warn('proxydhcp-lab: skipped, network namespaces need root (run the tests as root, as .ci/run does)');
else if (missing.length) console.warn(`proxydhcp-lab: skipped, missing ${missing.map(([b]) => b).join(', ')}: apt-get install ${missing.map(([, p]) => p).join(' ')}`);

const id = randomBytes(3).toString('hex');
const NS = { lan: `rcp${id}l`, region: `rcp${id}r`, srv: `rcp${id}s`, cli: `rcp${id}c` };
const ROOMCAST = '10.99.0.1';
const REGION = '10.99.0.2';
const HTTP = `http://${ROOMCAST}:8080`;

let dir: string;
const children: ChildProcess[] = [];
const proxyLog: Array<Record<string, unknown>> = [];
const dnsmasqLog: string[] = [];
let clientMac: string;

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/** Spawns `cmd` in a namespace; resolves once a line of its output matches `ready`. */
function start(ns: string, cmd: string[], ready: RegExp, onLine: (line: string) => void): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', ns, ...cmd], { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    const seen: string[] = [];
    const timer = setTimeout(() => reject(new Error(`${cmd[0]} did not start:\n${seen.join('\n')}`)), 20_000);
    const pending = { out: '', err: '' };
    const feed = (which: 'out' | 'err') => (b: Buffer) => {
      const lines = (pending[which] + b.toString()).split('\n');
      pending[which] = lines.pop()!;
      for (const line of lines.filter(Boolean)) {
        seen.push(line);
        onLine(line);
        if (ready.test(line)) {
          clearTimeout(timer);
          resolve(child);
        }
      }
    };
    child.stdout!.on('data', feed('out'));
    child.stderr!.on('data', feed('err'));
    child.once('exit', (code) => reject(new Error(`${cmd[0]} exited (${code}):\n${seen.join('\n')}`)));
  });
}

async function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

// The PXE-like client: binds 0.0.0.0:68 in the client namespace (no address needed), sends each
// packet, prints every DHCP message that arrives within waitMs as a JSON line.
const CLIENT_JS = `
import dgram from 'node:dgram';
const { sends, waitMs } = JSON.parse(process.argv[1]);
const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
s.on('message', (m, r) => console.log(JSON.stringify({ from: r.address + ':' + r.port, hex: m.toString('hex') })));
s.bind(68, '0.0.0.0', async () => {
  s.setBroadcast(true);
  for (const x of sends) await new Promise((res, rej) => s.send(Buffer.from(x.hex, 'hex'), x.port, x.to, (e) => (e ? rej(e) : res())));
  setTimeout(() => s.close(), waitMs);
});`;

interface Received {
  from: string;
  packet: DhcpPacket;
}

async function exchange(sends: Array<{ msg: Buffer; to: string; port: number }>, waitMs = 1500): Promise<Received[]> {
  const arg = JSON.stringify({ sends: sends.map((s) => ({ hex: s.msg.toString('hex'), to: s.to, port: s.port })), waitMs });
  // Asynchronously: the proxy's log lines keep arriving on this process's event loop meanwhile.
  const { stdout: out } = await run('ip', ['netns', 'exec', NS.cli, process.execPath, '--input-type=module', '-e', CLIENT_JS, arg], { timeout: 15_000 });
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { from: string; hex: string })
    .map((r) => ({ from: r.from, packet: parsePacket(Buffer.from(r.hex, 'hex'))! }))
    .filter((r) => r.packet && r.packet.xid !== 0);
}

/** One firmware boot: DISCOVER, REQUEST to the Region, then (with the leased address) REQUEST to roomcast:4011. */
async function pxeBoot(build: (o: RequestOpts) => Buffer, xid: number) {
  const offers = await exchange([{ msg: build({ mac: clientMac, xid }), to: '255.255.255.255', port: 67 }]);
  const regionOffer = offers.find((r) => r.from.startsWith(`${REGION}:`));
  const proxyOffer = offers.find((r) => r.from.startsWith(`${ROOMCAST}:`));
  expect(regionOffer, 'an OFFER from the Region-like DHCP').toBeDefined();
  const lease = regionOffer!.packet.yiaddr;
  const selecting = build({ mac: clientMac, xid: xid + 1, type: MSG.REQUEST, serverId: REGION, extra: [[OPT.REQUESTED_IP, encode.ip(lease)]] });
  const acks = await exchange([{ msg: selecting, to: '255.255.255.255', port: 67 }]);
  ip('-n', NS.cli, 'addr', 'add', `${lease}/24`, 'dev', 'vc');
  try {
    const pxe = await exchange([{ msg: build({ mac: clientMac, xid: xid + 2, type: MSG.REQUEST, ciaddr: lease }), to: ROOMCAST, port: 4011 }]);
    return { lease, regionOffer: regionOffer!.packet, proxyOffer, acks, pxe };
  } finally {
    // Back to no address. Removing a device's last IPv4 address also removes its routes.
    ip('-n', NS.cli, 'addr', 'flush', 'dev', 'vc');
    ip('-n', NS.cli, 'route', 'replace', 'default', 'dev', 'vc');
  }
}

describe.skipIf(skip)('proxyDHCP beside a Region-like DHCP server (network namespaces)', () => {
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-proxydhcp-lab-'));
    for (const ns of Object.values(NS)) {
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    ip('-n', NS.lan, 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0');
    ip('-n', NS.lan, 'link', 'set', 'br0', 'up');
    for (const [ns, dev] of [[NS.region, 'vr'], [NS.srv, 'vs'], [NS.cli, 'vc']] as const) {
      ip('-n', NS.lan, 'link', 'add', `p-${dev}`, 'type', 'veth', 'peer', 'name', dev, 'netns', ns);
      ip('-n', NS.lan, 'link', 'set', `p-${dev}`, 'master', 'br0', 'up');
      ip('-n', ns, 'link', 'set', dev, 'up');
    }
    ip('-n', NS.region, 'addr', 'add', `${REGION}/24`, 'brd', '+', 'dev', 'vr');
    ip('-n', NS.srv, 'addr', 'add', `${ROOMCAST}/24`, 'brd', '+', 'dev', 'vs');
    // Firmware has no address: a route is enough to send from 0.0.0.0 to 255.255.255.255.
    ip('-n', NS.cli, 'route', 'add', 'default', 'dev', 'vc');
    clientMac = /link\/ether ([0-9a-f:]{17})/.exec(ip('-n', NS.cli, 'link', 'show', 'vc'))![1]!;

    const dnsmasq = [
      'dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0', '--user=root', '--no-ping', '--log-dhcp', '--log-facility=-',
      '--interface=vr', '--dhcp-range=10.99.0.100,10.99.0.150,255.255.255.0,1h', `--dhcp-option=3,${REGION}`,
      `--dhcp-leasefile=${path.join(dir, 'leases')}`, `--pid-file=${path.join(dir, 'dnsmasq.pid')}`,
    ];
    await start(NS.region, dnsmasq, /DHCP, IP range/, (l) => dnsmasqLog.push(l));

    const code = `
      import { ProxyDhcpServer } from ${JSON.stringify(path.join(ROOT_DIR, 'services/boot/proxydhcp/server.js'))};
      import { bootEveryPxeClient } from ${JSON.stringify(path.join(ROOT_DIR, 'services/boot/proxydhcp/policy.js'))};
      import { createLogger } from ${JSON.stringify(path.join(ROOT_DIR, 'services/core/logger.js'))};
      const s = new ProxyDhcpServer({ bindAddress: '0.0.0.0', serverIp: '${ROOMCAST}', httpBase: '${HTTP}', policy: bootEveryPxeClient, log: createLogger('debug') });
      await s.start();
      console.log(JSON.stringify({ ready: true }));
      process.on('SIGTERM', () => void s.stop().then(() => process.exit(0)));`;
    await start(NS.srv, [process.execPath, '--import', 'tsx', '--input-type=module', '-e', code], /^\{"ready":true\}$/, (l) => {
      if (l.startsWith('{"level"')) proxyLog.push(JSON.parse(l) as Record<string, unknown>);
    });
  });

  afterAll(async () => {
    await Promise.all(children.map((c) => stop(c)));
    for (const ns of Object.values(NS)) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // not created
      }
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a plain DHCP client (udhcpc) gets its lease from the Region and nothing from roomcast', async () => {
    const packets: string[] = [];
    const tcpdump = await start(NS.cli, ['tcpdump', '-i', 'vc', '-n', '-l', 'udp and (port 67 or port 68 or port 4011)'], /listening on/, (l) => {
      if (/ IP /.test(` ${l}`) || /^\d/.test(l)) packets.push(l);
    });
    const script = path.join(dir, 'udhcpc.sh');
    fs.writeFileSync(script, '#!/bin/sh\necho "udhcpc $1 ip=$ip serverid=$serverid siaddr=$siaddr boot_file=$boot_file"\n', { mode: 0o755 });
    const { stdout: out } = await run('ip', ['netns', 'exec', NS.cli, 'busybox', 'udhcpc', '-q', '-n', '-f', '-i', 'vc', '-t', '3', '-T', '2', '-s', script], { timeout: 30_000 });
    await new Promise((r) => setTimeout(r, 1000)); // a late proxy answer would arrive in this time
    await stop(tcpdump, 'SIGINT');
    const lease = /udhcpc bound ip=(10\.99\.0\.\d+) serverid=([\d.]+) siaddr=(\S*) boot_file=(\S*)/.exec(out);
    expect(lease, `${out}\ndnsmasq:\n${dnsmasqLog.join('\n')}`).not.toBeNull();
    expect(lease![2]).toBe(REGION);
    expect(lease![4]).toBe('');
    const from = (host: string) => packets.filter((l) => l.includes(` ${host}.`) && l.indexOf(` ${host}.`) < l.indexOf(' > '));
    expect(from(REGION).length, packets.join('\n')).toBeGreaterThanOrEqual(2); // OFFER and ACK
    expect(from(ROOMCAST), packets.join('\n')).toEqual([]);
    // roomcast did hear it, and chose not to answer.
    expect(proxyLog.some((l) => l.mac === clientMac && /not a PXE client/.test(String(l.msg)))).toBe(true);
  });

  it('BIOS PXE: proxy OFFER (no address, undionly.kpxe, option 43), silence on the Region REQUEST, ACK on 4011', async () => {
    const b = await pxeBoot(biosPxeRequest, 0x1000);
    expect(b.regionOffer).toMatchObject({ messageType: MSG.OFFER, serverId: REGION, file: '' });
    expect(b.lease).toMatch(/^10\.99\.0\.1\d\d$/);
    expect(b.proxyOffer?.from).toBe(`${ROOMCAST}:67`);
    expect(b.proxyOffer!.packet).toMatchObject({ messageType: MSG.OFFER, xid: 0x1000, yiaddr: '0.0.0.0', siaddr: ROOMCAST, serverId: ROOMCAST, vendorClass: 'PXEClient', file: 'undionly.kpxe', clientGuid: FIXTURE_GUID, mac: clientMac });
    expect(b.proxyOffer!.packet.vendorOptions?.toString('hex')).toBe('060108ff');
    // The REQUEST selecting the Region's offer: the Region ACKs, roomcast says nothing.
    expect(b.acks.map((a) => [a.from.split(':')[0], a.packet.messageType])).toEqual([[REGION, MSG.ACK]]);
    expect(b.pxe.map((a) => a.from)).toEqual([`${ROOMCAST}:4011`]);
    expect(b.pxe[0]!.packet).toMatchObject({ messageType: MSG.ACK, ciaddr: b.lease, yiaddr: '0.0.0.0', siaddr: ROOMCAST, file: 'undionly.kpxe' });
    expect(proxyLog.some((l) => l.mac === clientMac && l.kind === 'offer' && l.file === 'undionly.kpxe' && l.to === '255.255.255.255:68')).toBe(true);
  });

  it('UEFI x64 (OVMF, arch 7): snponly.efi and no option 43, on 67 and on 4011', async () => {
    const b = await pxeBoot(ovmfRequest, 0x2000);
    expect(b.proxyOffer!.packet).toMatchObject({ yiaddr: '0.0.0.0', siaddr: ROOMCAST, serverId: ROOMCAST, file: 'snponly.efi', clientGuid: FIXTURE_GUID });
    expect(b.proxyOffer!.packet.options.has(OPT.VENDOR_OPTS)).toBe(false);
    expect(b.acks.map((a) => a.from.split(':')[0])).toEqual([REGION]);
    expect(b.pxe.map((a) => [a.from, a.packet.messageType, a.packet.file, a.packet.vendorOptions])).toEqual([[`${ROOMCAST}:4011`, MSG.ACK, 'snponly.efi', undefined]]);
  });

  it('iPXE (user class iPXE) gets the HTTP script URL instead of a binary', async () => {
    const url = `${HTTP}/boot/ipxe?mac=${clientMac}&arch=0`;
    const b = await pxeBoot(biosIpxeRequest, 0x3000);
    expect(b.proxyOffer!.packet).toMatchObject({ yiaddr: '0.0.0.0', serverId: ROOMCAST, file: url });
    expect(b.pxe.map((a) => a.packet.file)).toEqual([url]);
    expect(proxyLog.some((l) => l.answer === 'ipxe-script' && l.file === url), JSON.stringify(proxyLog.slice(-5))).toBe(true);
    // The Region-like server never hands out anything PXE-like itself: the boot data is roomcast's alone.
    expect([b.regionOffer.vendorClass, b.regionOffer.vendorOptions, b.regionOffer.file]).toEqual([undefined, undefined, '']);
  });
});
