// The GRUB path of network boot (the Secure Boot chain: shim, then Debian's signed GRUB, which asks
// /boot/grub/<mac>): the same cases as the iPXE script (boot-http.test.ts), through the real server
// on SQLite and PostgreSQL, answered from the same decision as /boot/ipxe for the same PC.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SettingsStore } from '../../services/core/settings.js';
import { verifyToken } from '../../services/boot/http/tokens.js';
import { openDatabase } from '../../services/core/db/index.js';
import { ApiClient } from '../support/client.js';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';
import { DIALECTS } from '../support/env.js';
import { hardwareFacts } from '../support/facts.js';

const KNOWN = '02:00:00:00:00:20';
const UNKNOWN = '02:00:00:ab:cd:20';

const tokenOf = (script: string) => /roomcast\.token=(\S+)/.exec(script)?.[1];
const modeOf = (script: string) => /roomcast\.mode=(\w+)/.exec(script)?.[1] ?? 'exit';

describe.each(DIALECTS)('network boot through GRUB on %s', (dialect) => {
  let app: TestApp;
  let tech: ApiClient;
  let anon: ApiClient;

  const get = async (url: string) => {
    const r = await anon.get(url);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('text/plain');
    expect(r.headers.get('cache-control')).toBe('no-store');
    return r.body as string;
  };
  const grub = (mac: string) => get(`/boot/grub/${encodeURIComponent(mac)}`);
  /** The GRUB configuration, after checking that the iPXE script for the same PC made the same decision. */
  const same = async (mac: string) => {
    const ipxe = await get(`/boot/ipxe?mac=${encodeURIComponent(mac)}&arch=7`);
    const cfg = await grub(mac);
    expect(modeOf(cfg), mac).toBe(modeOf(ipxe));
    expect(/^echo roomcast: (.*)$/m.exec(ipxe)?.[1]).toBe(/^echo "roomcast: (.*)"$/m.exec(cfg)?.[1]);
    return cfg;
  };
  const signingKey = async () => {
    const database = openDatabase(app.databaseUrl.startsWith('sqlite:') ? { kind: 'sqlite', file: app.databaseUrl.slice('sqlite:'.length) } : { kind: 'postgres', url: app.databaseUrl });
    try {
      return Buffer.from((await new SettingsStore(database.db).get('boot.signing_key'))!, 'base64');
    } finally {
      await database.close();
    }
  };

  beforeAll(async () => {
    app = await startTestApp(dialect);
    const admin = new ApiClient(app.url);
    await admin.login('admin', TEST_ADMIN_PASSWORD);
    tech = await admin.userClient('tech', 'technician');
    anon = new ApiClient(app.url);
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('sends an unknown PC to its disk while registration is closed', async () => {
    const cfg = await same(UNKNOWN);
    expect(cfg).toContain('echo "roomcast: unknown PC and registration is closed"\n');
    expect(cfg).toContain('echo "roomcast: nothing to do for this PC, booting from disk"\n');
    expect(cfg).toMatch(/\nexit\n$/);
    expect(cfg).not.toContain('linux');
  });

  it('keeps anything that is not a clean MAC out of the configuration', async () => {
    for (const mac of [`${UNKNOWN};reboot`, '${net_default_mac}', 'x'.repeat(40), `${UNKNOWN}") reboot`]) {
      const cfg = await grub(mac);
      expect(cfg, mac).toContain('echo "roomcast: no valid MAC address in the request"');
      expect(cfg).not.toMatch(/reboot|net_default|xxx/);
    }
  });

  it('sends a known PC without a task to its disk', async () => {
    expect((await tech.post('/api/v1/hosts', { name: 'B205-PC01', mac: KNOWN })).status).toBe(201);
    expect(await same(KNOWN)).toContain('echo "roomcast: no task for this PC"');
  });

  it('boots the client for a task: kernel and initrd over HTTP, the signed task token on the command line', async () => {
    const hostId = (await tech.get('/api/v1/hosts')).body.find((h: { mac: string }) => h.mac === KNOWN).id as number;
    const created = await tech.post('/api/v1/tasks', { hostIds: [hostId], kind: 'inventory' });
    const taskId = created.body.tasks[0].id as number;
    const cfg = await same(KNOWN.toUpperCase());
    const server = app.url.slice('http://'.length);
    expect(cfg).toContain(`  if linux "(http,${server})/boot/client/vmlinuz" roomcast.api=${app.url} roomcast.token=`);
    expect(cfg).toContain(` BOOTIF=01-${KNOWN.replace(/:/g, '-')} roomcast.mode=task console=tty0 console=ttyS0,115200n8 quiet; then\n`);
    expect(cfg).toContain(`    if initrd "(http,${server})/boot/client/initrd.img"; then\n      boot\n`);
    expect(cfg).not.toContain('imaging.img');
    const token = tokenOf(cfg)!;
    expect(verifyToken(await signingKey(), token, { purpose: 'task' })).toMatchObject({ mac: KNOWN, taskId, hostId });
    // The token works for the hello exactly as the one in the iPXE script.
    const hello = await Object.assign(new ApiClient(app.url), { token }).post('/api/v1/boot/hello', hardwareFacts(KNOWN));
    expect(hello.status).toBe(200);
    expect(hello.body).toMatchObject({ action: 'poweroff', hostId, taskId, taskState: 'done' });
    expect(await same(KNOWN)).toContain('no task for this PC');
  });

  it('boots the client in registration mode for an unknown PC while the window is open', async () => {
    expect((await tech.post('/api/v1/boot/registration', { minutes: 10 })).status).toBe(200);
    const cfg = await same(UNKNOWN);
    expect(cfg).toContain(' roomcast.mode=register ');
    expect(verifyToken(await signingKey(), tokenOf(cfg)!, { purpose: 'register' })).toMatchObject({ mac: UNKNOWN });
    await tech.delete('/api/v1/boot/registration');
    expect(await same(UNKNOWN)).toContain('unknown PC and registration is closed');
  });
});
