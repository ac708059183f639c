// The boot chain's policy end to end on loopback: the real proxyDHCP asks the real api (/boot/policy)
// what each MAC may boot, and the iPXE URL it hands out returns the script the api decided on.
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiBootPolicy } from '../../services/boot/role.js';
import { biosIpxeRequest, ovmfRequest } from '../../services/boot/proxydhcp/fixtures.js';
import { MSG, parsePacket, type DhcpPacket } from '../../services/boot/proxydhcp/packet.js';
import { cachedPolicy } from '../../services/boot/proxydhcp/policy.js';
import { ProxyDhcpServer } from '../../services/boot/proxydhcp/server.js';
import { createLogger } from '../../services/core/logger.js';
import { ApiClient } from '../support/client.js';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';

describe('proxyDHCP asks the api', () => {
  let app: TestApp;
  let tech: ApiClient;
  let proxy: ProxyDhcpServer;
  let pxePort: number;
  let client: dgram.Socket;
  const inbox: DhcpPacket[] = [];

  const ask = async (msg: Buffer): Promise<DhcpPacket[]> => {
    inbox.length = 0;
    await new Promise<void>((resolve, reject) => client.send(msg, pxePort, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
    await new Promise((r) => setTimeout(r, 400));
    return [...inbox];
  };

  beforeAll(async () => {
    app = await startTestApp('sqlite');
    const admin = new ApiClient(app.url);
    await admin.login('admin', TEST_ADMIN_PASSWORD);
    tech = await admin.userClient('tech', 'technician');
    client = dgram.createSocket('udp4');
    client.on('message', (m) => {
      const p = parsePacket(m);
      if (p) inbox.push(p);
    });
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
    const port = new URL(app.url).port;
    proxy = new ProxyDhcpServer({
      bindAddress: '127.0.0.1',
      dhcpPort: 0,
      pxePort: 0,
      serverIp: '127.0.0.1',
      httpBase: `http://127.0.0.1:${port}`,
      policy: cachedPolicy(apiBootPolicy(app.url)),
      log: createLogger('silent'),
    });
    pxePort = (await proxy.start()).pxePort;
  });
  afterAll(async () => {
    await proxy?.stop();
    client?.close();
    await app?.stop();
  });

  it('stays silent for a PC the inventory does not know while registration is closed', async () => {
    expect(await ask(ovmfRequest({ type: MSG.REQUEST, mac: '52:54:00:aa:00:01', ciaddr: '127.0.0.1' }))).toEqual([]);
  });

  it('answers a known PC, and its iPXE stage gets a script URL whose script exits to the disk', async () => {
    const host = await tech.post('/api/v1/hosts', { name: 'B204-PC01', mac: '52-54-00-AA-00-02' });
    expect(host.status).toBe(201);
    const [ack] = await ask(ovmfRequest({ type: MSG.REQUEST, mac: '52:54:00:aa:00:02', ciaddr: '127.0.0.1' }));
    expect(ack).toMatchObject({ messageType: MSG.ACK, yiaddr: '0.0.0.0', file: 'snponly.efi' });

    const [ipxe] = await ask(biosIpxeRequest({ type: MSG.REQUEST, mac: '52:54:00:aa:00:02', ciaddr: '127.0.0.1' }));
    expect(ipxe!.file).toBe(`${app.url}/boot/ipxe?mac=52:54:00:aa:00:02&arch=0`);
    const script = await (await fetch(ipxe!.file)).text();
    expect(script.startsWith('#!ipxe')).toBe(true);
    expect(script).toContain('exit');
    expect(script).not.toContain('kernel ');

    // With an inventory task, the same URL boots the roomcast client with a signed token.
    const task = await tech.post('/api/v1/tasks', { hostIds: [host.body.id], kind: 'inventory' });
    expect(task.status).toBe(201);
    const withTask = await (await fetch(ipxe!.file)).text();
    expect(withTask).toContain(`kernel ${app.url}/boot/client/vmlinuz`);
    expect(withTask).toMatch(/roomcast\.token=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/);
  });

  it('answers unknown PCs while registration is open', async () => {
    expect((await tech.post('/api/v1/boot/registration', { minutes: 30 })).status).toBe(200);
    const [ack] = await ask(biosIpxeRequest({ type: MSG.REQUEST, mac: '52:54:00:aa:00:03', ciaddr: '127.0.0.1' }));
    const script = await (await fetch(ack!.file)).text();
    expect(script).toContain('roomcast.mode=register');
  });
});
