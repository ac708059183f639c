// The proxyDHCP answers a room booting at once: the api keeps the boot policy snapshot fresh in the
// real Redis, the boot side decides each PC from it (no api call, no rate limit), a change of the
// inventory or of the registration window reaches the proxy within a second, and a flood of strangers
// neither gets answers nor floods the log.
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HardwareFactsSchema } from '../../services/boot/http/facts.js';
import { BootPolicyPublisher } from '../../services/boot/http/policy-publisher.js';
import { SnapshotPolicy } from '../../services/boot/policy/snapshot.js';
import { MSG, parsePacket, type DhcpPacket } from '../../services/boot/proxydhcp/packet.js';
import { ovmfRequest, biosPxeRequest } from '../../services/boot/proxydhcp/fixtures.js';
import { ProxyDhcpServer } from '../../services/boot/proxydhcp/server.js';
import { openContainer, type Container } from '../../services/container.js';
import { loadConfig } from '../../services/core/config.js';
import { createLogger } from '../../services/core/logger.js';
import { urlRedis, type RedisHandle } from '../../services/core/redis.js';
import { REDIS_URL } from '../support/env.js';
import { hardwareFacts } from '../support/facts.js';

const actor = { userId: null, name: 'tech', ip: null };
const mac = (i: number, prefix = '02:00:00:aa') => `${prefix}:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
const until = async (what: string, ok: () => boolean | Promise<boolean>, ms = 5000) => {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`not within ${ms} ms: ${what}`);
};

describe('boot policy snapshot', () => {
  let dir: string;
  let api: Container;
  let publisher: BootPolicyPublisher;
  let bootRedis: RedisHandle;
  let snapshot: SnapshotPolicy;
  let proxy: ProxyDhcpServer;
  let ports: { dhcpPort: number; pxePort: number };
  let client: dgram.Socket;
  let fallbackCalls = 0;
  const inbox: DhcpPacket[] = [];
  const logLines: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-policy-'));
    const prefix = `rcpol${randomBytes(4).toString('hex')}`;
    api = await openContainer(loadConfig({ ROOMCAST_DATA_DIR: dir, ROOMCAST_REDIS_URL: REDIS_URL, ROOMCAST_REDIS_PREFIX: prefix, ROOMCAST_ROLES: 'api' }), pino({ level: 'silent' }));
    for (let i = 0; i < 100; i++) await api.inventory.createHost(actor, { name: `B204-${String(i).padStart(3, '0')}`, mac: mac(i) });
    publisher = new BootPolicyPublisher(api.redis, api.hosts, api.registration, api.events, pino({ level: 'silent' }));
    await publisher.start();

    // The boot role's side, on its own Redis connections, as in a separate container.
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line) as Record<string, unknown>);
        cb();
      },
    });
    const log = createLogger('info', sink);
    bootRedis = urlRedis(REDIS_URL, prefix);
    snapshot = new SnapshotPolicy(bootRedis, async () => {
      fallbackCalls++;
      return 'ignore';
    }, log);
    await snapshot.start();
    client = dgram.createSocket('udp4');
    client.on('message', (m) => {
      const p = parsePacket(m);
      if (p) inbox.push(p);
    });
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
    proxy = new ProxyDhcpServer({ bindAddress: '127.0.0.1', dhcpPort: 0, pxePort: 0, replyPort: client.address().port, serverIp: '127.0.0.1', httpBase: 'http://127.0.0.1:8080', policy: snapshot.policy, log });
    ports = await proxy.start();
  });
  afterAll(async () => {
    await proxy?.stop();
    client?.close();
    await snapshot?.stop();
    await bootRedis?.stop();
    await publisher?.stop();
    await api?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const send = (buf: Buffer, port: number) => new Promise<void>((resolve) => client.send(buf, port, '127.0.0.1', () => resolve()));

  it('answers 100 PCs booting in the same second, and none of 200 strangers, from the snapshot alone', async () => {
    expect(snapshot.snapshotAt).toBeDefined();
    inbox.length = 0;
    const sends: Array<Promise<void>> = [];
    for (let i = 0; i < 100; i++) {
      sends.push(send(biosPxeRequest({ mac: mac(i), ciaddr: '127.0.0.1', xid: i + 1 }), ports.dhcpPort));
      sends.push(send(ovmfRequest({ mac: mac(i, '02:00:00:bb'), ciaddr: '127.0.0.1' }), ports.dhcpPort));
      sends.push(send(ovmfRequest({ type: MSG.REQUEST, mac: mac(i, '02:00:00:cc'), ciaddr: '127.0.0.1' }), ports.pxePort));
    }
    await Promise.all(sends);
    // Sent as one burst (a few milliseconds): the receive buffers (4 MiB) must hold it.
    await until('100 offers', () => inbox.length >= 100, 4000);
    await new Promise((r) => setTimeout(r, 300));
    expect(new Set(inbox.map((p) => p.mac)).size).toBe(100);
    expect(inbox.every((p) => p.messageType === MSG.OFFER && p.mac.startsWith('02:00:00:aa'))).toBe(true);
    expect(fallbackCalls).toBe(0);
    // 200 strangers: a few log lines, not 200.
    const quiet = logLines.filter((l) => /not answering/.test(String(l.msg)));
    expect(quiet.length).toBeGreaterThan(0);
    expect(quiet.length).toBeLessThanOrEqual(3);
  });

  it('follows the inventory and the registration window within a second', async () => {
    const stranger = '02:00:00:dd:00:01';
    const ask = async (m: string) => {
      inbox.length = 0;
      await send(ovmfRequest({ type: MSG.REQUEST, mac: m, ciaddr: '127.0.0.1', xid: Math.floor(Math.random() * 1e9) }), ports.pxePort);
      await new Promise((r) => setTimeout(r, 100));
      return inbox.some((p) => p.mac === m);
    };
    expect(await ask(stranger)).toBe(false);
    const added = await api.inventory.createHost(actor, { name: 'B204-NEW', mac: stranger });
    await until('the new PC answered', () => ask(stranger), 2000);
    await api.inventory.deleteHost(actor, added.id);
    await until('the deleted PC ignored', async () => !(await ask(stranger)), 2000);
    await api.registration.open(actor, 5);
    await until('an unknown PC answered while registration is open', () => ask('02:00:00:dd:00:02'), 2000);
    await api.registration.close(actor);
    await until('unknown PCs ignored again', async () => !(await ask('02:00:00:dd:00:03')), 2000);
    expect(fallbackCalls).toBe(0);
  });

  it('ROOMCAST_SECURE_BOOT=auto: shim to the PCs whose last hello said Secure Boot on, iPXE to those that said off', async () => {
    const [on, off, silent] = ['02:00:00:ee:00:01', '02:00:00:ee:00:02', '02:00:00:ee:00:03'];
    await api.registration.open(actor, 5);
    const exp = Math.floor(Date.now() / 1000) + 600;
    for (const [m, secureBoot] of [[on, true], [off, false], [silent, undefined]] as const) {
      const facts = HardwareFactsSchema.parse({ ...hardwareFacts(m), ...(secureBoot === undefined ? {} : { secureBoot }) });
      await api.hello.hello({ purpose: 'register', mac: m, exp, actor: { userId: null, name: `machine:${m}`, ip: null } }, facts);
    }
    await api.registration.close(actor);
    expect(JSON.parse((await api.hosts.byMac(on))!.hardware!)).toMatchObject({ secureBoot: true });
    // Facts arrive with 'seen' changes; the periodic write (here: now) carries them to the boot side.
    await publisher.publish();
    await until('the snapshot carries the reports', async () => (await snapshot.reported(off)) === false);
    expect([await snapshot.reported(on), await snapshot.reported(silent), await snapshot.reported('02:00:00:aa:00:00')]).toEqual([true, undefined, undefined]);

    const auto = new ProxyDhcpServer({
      bindAddress: '127.0.0.1', dhcpPort: 0, pxePort: 0, replyPort: client.address().port, serverIp: '127.0.0.1', httpBase: 'http://127.0.0.1:8080',
      policy: snapshot.policy, secureBoot: { mode: 'auto', reported: snapshot.reported }, log: createLogger('silent'),
    });
    const autoPorts = await auto.start();
    try {
      const fileFor = async (m: string) => {
        inbox.length = 0;
        await send(ovmfRequest({ type: MSG.REQUEST, mac: m, ciaddr: '127.0.0.1', xid: Math.floor(Math.random() * 1e9) }), autoPorts.pxePort);
        await until(`an answer to ${m}`, () => inbox.some((p) => p.mac === m), 2000);
        return inbox.find((p) => p.mac === m)!.file;
      };
      expect(await fileFor(on)).toBe('shimx64.efi');
      expect(await fileFor(off)).toBe('snponly.efi');
      expect(await fileFor(silent)).toBe('shimx64.efi');
    } finally {
      await auto.stop();
    }
  });
});
