// The network pre-flight (issue 14 item 4) in network namespaces joined by a bridge (BridgeLab):
//   <p>s  roomcast (10.96.0.1): its real ProxyDhcpServer, a redis-server, the boot role (services/main.ts,
//         ROOMCAST_ROLES=boot) that runs the probes, and the worker's pre-flight (network/service.ts)
//         that asks it through Redis, as under Docker (both on the host's network)
//   <p>r  dnsmasq as the Region's DHCP (10.96.0.2): addresses, no PXE
//   <p>x  dnsmasq as a rogue PXE server (10.96.0.9): proxyDHCP with a pxe-service (another imaging tool)
//   <p>w  a boot role and a worker on another host of the LAN (10.96.0.5), on roomcast's Redis: the
//         probe hears roomcast's proxyDHCP answer, and leaves it out
//   <p>b  the bridge; its IGMP querier is turned on for the querier case (mcast_querier 1)
// The probe really broadcasts a PXE DISCOVER from port 68 and tcpdump really listens for queries.
// Needs root, dnsmasq, tcpdump, iproute2, redis-server. Nothing touches the host's own network namespace.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenForQuerier } from '../../services/network/igmp.js';
import type { PreflightResult } from '../../services/network/preflight.js';
import { missingTools } from '../support/disks.js';
import { BridgeLab, ip } from '../support/netns.js';

const run = promisify(execFile);
const ROOT_DIR = path.resolve(import.meta.dirname, '../..');
const missing = missingTools({ dnsmasq: 'dnsmasq', tcpdump: 'tcpdump', ip: 'iproute2', 'redis-server': 'redis-server' });
const isRoot = process.getuid?.() === 0;
const skip = !isRoot || missing.length > 0;
if (!isRoot) console.warn('network-preflight-lab: skipped, network namespaces need root (run the tests as root, as .ci/run does)');
else if (missing.length) console.warn(`network-preflight-lab: skipped, missing ${missing.join(', ')}`);

const lab = new BridgeLab(`rpf${randomBytes(2).toString('hex')}`);
const ROOMCAST = '10.96.0.1';
const REGION = '10.96.0.2';
const ROGUE = '10.96.0.9';
let dir: string;
let srv: string;
let region: string;
let rogue: string;
let worker: string;
const children: ChildProcess[] = [];
/** The Redis in roomcast's namespace, reached from the other host at ROOMCAST. */
const REDIS_PORT = 20000 + (randomBytes(2).readUInt16BE() % 20000);
const redisUrl = (ns: string) => `redis://${ns === srv ? '127.0.0.1' : ROOMCAST}:${REDIS_PORT}`;
/** One Redis prefix per host: each worker asks its own boot role. */
const prefixOf = (ns: string) => `rpf-${ns}`;
/** How long the boot roles listen for a querier (ROOMCAST_PREFLIGHT_QUERIER_SECONDS). */
const QUERIER_SECONDS = 8;
let otherBoot: ChildProcess;

/** Spawns `cmd` in a namespace; resolves once a line of its output matches `ready`. */
function start(ns: string, cmd: string[], ready: RegExp, env?: Record<string, string>): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', ns, ...cmd], { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env: { ...process.env, ...env } } : {}) });
  children.push(child);
  return new Promise((resolve, reject) => {
    const seen: string[] = [];
    const timer = setTimeout(() => reject(new Error(`${cmd[0]} did not start:\n${seen.join('\n')}`)), 30_000);
    const feed = (b: Buffer) => {
      for (const line of b.toString().split('\n').filter(Boolean)) {
        seen.push(line);
        if (ready.test(line)) {
          clearTimeout(timer);
          resolve(child);
        }
      }
    };
    child.stdout!.on('data', feed);
    child.stderr!.on('data', feed);
    child.once('exit', (code) => reject(new Error(`${cmd[0]} exited (${code}):\n${seen.join('\n')}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

const dnsmasq = (name: string, iface: string, extra: string[]) => [
  'dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0', '--user=root', '--no-ping', '--log-dhcp', '--log-facility=-', `--interface=${iface}`, '--bind-interfaces',
  `--dhcp-leasefile=${path.join(dir, `${name}.leases`)}`, `--pid-file=${path.join(dir, `${name}.pid`)}`, ...extra,
];

/** The boot role as the appliance starts it (services/main.ts), on the namespace's Redis; proxyDHCP off (the script above answers). */
function bootRole(ns: string): Promise<ChildProcess> {
  return start(ns, [process.execPath, '--import', 'tsx', path.join(ROOT_DIR, 'services/main.ts')], /network pre-flight probes ready/, {
    ROOMCAST_ROLES: 'boot',
    ROOMCAST_DATA_DIR: path.join(dir, ns),
    ROOMCAST_REDIS_URL: redisUrl(ns),
    ROOMCAST_REDIS_PREFIX: prefixOf(ns),
    ROOMCAST_PROXYDHCP: 'off',
    ROOMCAST_TFTP_HOST: '127.0.0.1',
    ROOMCAST_TFTP_PORT: '0',
    ROOMCAST_API_URL: 'http://127.0.0.1:9',
    ROOMCAST_PREFLIGHT_QUERIER_SECONDS: String(QUERIER_SECONDS),
    ROOMCAST_LOG_LEVEL: 'info',
  });
}

/** The pre-flight as the worker's on-demand job runs it (network/service.ts), asking the boot role through Redis. */
async function preflight(o: { iface?: string; ns?: string; waitQuerier?: boolean } = {}): Promise<{ result: PreflightResult; ms: number }> {
  const ns = o.ns ?? srv;
  const code = `
    import { urlRedis } from ${JSON.stringify(path.join(ROOT_DIR, 'services/core/redis.js'))};
    import { BootProbes } from ${JSON.stringify(path.join(ROOT_DIR, 'services/network/ask-boot.js'))};
    import { Preflight } from ${JSON.stringify(path.join(ROOT_DIR, 'services/network/service.js'))};
    const redis = urlRedis(${JSON.stringify(redisUrl(ns))}, ${JSON.stringify(prefixOf(ns))});
    const p = new Preflight({ interface: ${JSON.stringify(o.iface ?? 'v0')}, own: [${JSON.stringify(ROOMCAST)}], probes: new BootProbes(redis, { pickMs: 2000 }) });
    const start = Date.now();
    const result = await p.check({ force: true, waitQuerier: ${o.waitQuerier ?? true} });
    console.log(JSON.stringify({ result, ms: Date.now() - start }));
    await p.close();
    await redis.stop();
    process.exit(0);`;
  const { stdout } = await run('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT_DIR, timeout: 60_000 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as { result: PreflightResult; ms: number };
}

describe.skipIf(skip)('network pre-flight (network namespaces)', () => {
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-preflight-lab-'));
    lab.up();
    srv = lab.join('s', ROOMCAST);
    region = lab.join('r', REGION);
    rogue = lab.join('x', ROGUE);
    worker = lab.join('w', '10.96.0.5');
    await start(region, dnsmasq('region', 'v0', ['--dhcp-range=10.96.0.100,10.96.0.150,255.255.255.0,1h', `--dhcp-option=3,${REGION}`]), /DHCP, IP range/);
    const code = `
      import { ProxyDhcpServer } from ${JSON.stringify(path.join(ROOT_DIR, 'services/boot/proxydhcp/server.js'))};
      import { bootEveryPxeClient } from ${JSON.stringify(path.join(ROOT_DIR, 'services/boot/proxydhcp/policy.js'))};
      import { createLogger } from ${JSON.stringify(path.join(ROOT_DIR, 'services/core/logger.js'))};
      const s = new ProxyDhcpServer({ bindAddress: '0.0.0.0', serverIp: '${ROOMCAST}', httpBase: 'http://${ROOMCAST}:8080', policy: bootEveryPxeClient, log: createLogger('warn') });
      await s.start();
      console.log(JSON.stringify({ ready: true }));
      process.on('SIGTERM', () => void s.stop().then(() => process.exit(0)));`;
    await start(srv, [process.execPath, '--import', 'tsx', '--input-type=module', '-e', code], /^\{"ready":true\}$/);
    await start(srv, ['redis-server', '--port', String(REDIS_PORT), '--bind', '0.0.0.0', '--protected-mode', 'no', '--save', '', '--appendonly', 'no', '--dir', dir], /Ready to accept connections/);
    await bootRole(srv);
    otherBoot = await bootRole(worker);
  });

  afterAll(async () => {
    await Promise.all(children.map((c) => stop(c)));
    lab.remove();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a network with only the Region DHCP and roomcast, and no querier: no rogue PXE answerer, no querier (said plainly), multicast kept', async () => {
    const { result: r } = await preflight();
    expect(r.verdict, JSON.stringify(r)).toBe('multicast');
    expect(r.address).toBe(ROOMCAST);
    expect(r.pxe).toMatchObject({ outcome: 'none', answerers: [], dhcpServers: [REGION] });
    expect(r.querier).toMatchObject({ outcome: 'absent', querier: null });
    expect(r.warnings.map((w) => w.code)).toEqual(['preflight_querier_absent']);
    expect(r.warnings[0]!.text).toContain('Turn on the IGMP querier on the switch or the router');
  });

  it("roomcast's own proxyDHCP, heard from another host, is recognised by its address and not reported", async () => {
    // Without waiting for the querier (a run starting): its boot role has not listened yet.
    const { result: r } = await preflight({ ns: worker, waitQuerier: false });
    expect(r.pxe, JSON.stringify(r)).toMatchObject({ outcome: 'none', answerers: [], roomcastAnswered: true, dhcpServers: [REGION] });
    expect(r.querier).toBeNull();
    expect(r.warnings).toEqual([]);
  });

  it('a rogue PXE server and a querier on the bridge: the rogue is named with its MAC and boot menu, the querier is heard', async () => {
    const rogueMac = /link\/ether ([0-9a-f:]{17})/.exec(ip('-n', rogue, 'link', 'show', 'v0'))![1]!;
    const d = await start(rogue, dnsmasq('rogue', 'v0', ['--dhcp-range=10.96.0.0,proxy', '--pxe-service=x86PC,Other imaging tool,pxelinux', '--pxe-service=x86-64_EFI,Other imaging tool,grubx64.efi']), /proxy on subnet/);
    ip('-n', lab.bridge, 'link', 'set', 'br0', 'type', 'bridge', 'mcast_snooping', '1', 'mcast_querier', '1', 'mcast_query_interval', '200', 'mcast_startup_query_interval', '100');
    try {
      const { result: r } = await preflight();
      expect(r.verdict, JSON.stringify(r)).toBe('multicast');
      expect(r.pxe).toMatchObject({ outcome: 'found', dhcpServers: [REGION] });
      if (r.pxe?.outcome !== 'found') throw new Error('unreachable');
      expect(r.pxe.answerers).toHaveLength(1);
      expect(r.pxe.answerers[0]).toMatchObject({ server: ROGUE, mac: rogueMac, kind: 'proxy' });
      // dnsmasq's pxe-service answers with a boot menu (the file comes after the choice, on port 4011).
      expect(r.pxe.answerers[0]!.bootMenu).toContain('Other imaging tool');
      // roomcast's own proxyDHCP is not a rogue, whether or not its broadcast came back to this host.
      expect(r.pxe.answerers.map((a) => a.server)).not.toContain(ROOMCAST);
      expect(r.querier).toMatchObject({ outcome: 'present' });
      expect(r.warnings.map((w) => w.code)).toEqual(['preflight_pxe_rogue']);
      expect(r.warnings[0]!.text).toContain(ROGUE);
      expect(r.warnings[0]!.text).toContain('Other imaging tool');
      expect(r.warnings[0]!.fr).toContain(ROGUE);
      console.log(`network-preflight-lab: ${r.warnings[0]!.text} (roomcast's own answer heard: ${r.pxe.roomcastAnswered})`);
    } finally {
      ip('-n', lab.bridge, 'link', 'set', 'br0', 'type', 'bridge', 'mcast_querier', '0');
      await stop(d);
    }
  });

  it('a querier listen that is cancelled (the boot role stops) ends its tcpdump at once', async () => {
    const abort = new AbortController();
    const listen = listenForQuerier({ interface: 'v0', listenMs: 600_000, prefix: BridgeLab.exec(srv), signal: abort.signal });
    const running = () => execFileSync('ip', ['netns', 'pids', srv]).toString().split('\n').filter(Boolean).map((pid) => fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
    for (let i = 0; i < 100 && !running().includes('tcpdump'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(running()).toContain('tcpdump');
    abort.abort();
    await expect(listen).rejects.toThrow('cancelled');
    expect(running()).not.toContain('tcpdump');
  });

  it('an interface that does not exist: multicast falls back to unicast with the reason', async () => {
    const { result: r } = await preflight({ iface: 'nosuch0' });
    expect(r.verdict).toBe('unicast');
    expect(r.fallback?.code).toBe('preflight_no_interface');
    expect(r.fallback?.text).toContain('nosuch0');
  });

  it('a host whose boot role stopped: both checks could not run, the boot service is not answering, said within the bound', async () => {
    await stop(otherBoot);
    const { result: r, ms } = await preflight({ ns: worker });
    expect(ms).toBeLessThan(5000);
    expect(r).toMatchObject({ verdict: 'multicast', pxe: { outcome: 'not_checked' }, querier: { outcome: 'not_checked' } });
    expect(r.warnings.map((w) => w.text)).toEqual([
      'the check for other PXE servers could not run: the boot service is not answering (is the boot role running and connected to Redis?)',
      'the IGMP querier check could not run: the boot service is not answering (is the boot role running and connected to Redis?)',
    ]);
  });
});
