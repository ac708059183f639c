// The HTTP side of network boot through the real server, on SQLite and PostgreSQL: iPXE scripts per
// MAC, the proxyDHCP policy, tasks, the registration window, the client's hello with its boot token,
// the client files with Range, and the per-address rate limit.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SettingsStore } from '../../services/core/settings.js';
import { signToken, verifyToken, type TokenPayload } from '../../services/boot/http/tokens.js';
import { openDatabase } from '../../services/core/db/index.js';
import { ApiClient } from '../support/client.js';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';
import { DIALECTS } from '../support/env.js';
import { hardwareFacts } from '../support/facts.js';

const KNOWN = '02:00:00:00:00:10';
const UNKNOWN = '02:00:00:ab:cd:ef';
const UNKNOWN_SAME_SUFFIX = '02:00:01:ab:cd:ef';

const facts = hardwareFacts;

/** A GET with a Host header of our choosing (fetch does not let a caller set it). */
function getWithHost(url: string, host: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: { host } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      })
      .on('error', reject);
  });
}

const tokenOf = (script: string) => /roomcast\.token=(\S+)/.exec(script)?.[1];
const payloadOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as TokenPayload;

describe.each(DIALECTS)('network boot over HTTP on %s', (dialect) => {
  let app: TestApp;
  let tech: ApiClient;
  let admin: ApiClient;
  let anon: ApiClient;
  let clientDir: string;
  let kernel: Buffer;

  const script = async (query: string) => {
    const r = await anon.get(`/boot/ipxe?${query}`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('text/plain');
    expect(r.headers.get('cache-control')).toBe('no-store');
    return r.body as string;
  };
  const policy = async (mac: string) => (await anon.get(`/boot/policy?mac=${encodeURIComponent(mac)}&arch=7`)).body.action as string;
  const machine = (token: string) => Object.assign(new ApiClient(app.url), { token });
  const signingKey = async () => {
    const database = openDatabase(app.databaseUrl.startsWith('sqlite:') ? { kind: 'sqlite', file: app.databaseUrl.slice('sqlite:'.length) } : { kind: 'postgres', url: app.databaseUrl });
    try {
      return Buffer.from((await new SettingsStore(database.db).get('boot.signing_key'))!, 'base64');
    } finally {
      await database.close();
    }
  };

  beforeAll(async () => {
    clientDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-client-'));
    kernel = randomBytes(64 * 1024);
    fs.writeFileSync(path.join(clientDir, 'vmlinuz'), kernel); // no initrd.img: the 404 case
    app = await startTestApp(dialect, { ROOMCAST_CLIENT_DIR: clientDir });
    admin = new ApiClient(app.url);
    await admin.login('admin', TEST_ADMIN_PASSWORD);
    tech = await admin.userClient('tech', 'technician');
    anon = new ApiClient(app.url);
  });
  afterAll(async () => {
    await app?.stop();
    if (clientDir) fs.rmSync(clientDir, { recursive: true, force: true });
  });

  it('sends an unknown PC to its disk while registration is closed, and the proxy ignores it', async () => {
    const s = await script(`mac=${UNKNOWN}&arch=7`);
    expect(s).toMatch(/^#!ipxe\n/);
    expect(s).toContain('echo roomcast: nothing to do for this PC, booting from disk');
    expect(s).toMatch(/\nexit\n$/);
    expect(s).not.toContain('kernel');
    expect(await policy(UNKNOWN)).toBe('ignore');
    expect((await tech.get('/api/v1/boot/registration')).body).toEqual({ open: false, until: null });
  });

  it('keeps anything that is not a clean MAC, arch or Host out of the script', async () => {
    for (const q of [`mac=${encodeURIComponent(`${UNKNOWN};shell`)}`, 'mac=', '', `mac=${encodeURIComponent('${net0/mac}')}`, `mac=${UNKNOWN}&arch=${encodeURIComponent('7 || shell')}`]) {
      const s = await script(q);
      expect(s).toContain('booting from disk');
      expect(s).not.toMatch(/shell|net0/);
    }
    const badPolicy = await anon.get(`/boot/policy?mac=${encodeURIComponent(`${KNOWN};x`)}`);
    expect(badPolicy.status).toBe(400);
    expect(badPolicy.body.code).toBe('validation_failed');
  });

  it('sends a known PC without a task to its disk, but the proxy answers it', async () => {
    const host = await tech.post('/api/v1/hosts', { name: 'B204-PC01', mac: KNOWN.toUpperCase() });
    expect(host.status).toBe(201);
    expect(await script(`mac=${KNOWN}&arch=0`)).toContain('nothing to do for this PC');
    expect(await policy(KNOWN)).toBe('boot');
    expect((await anon.get(`/boot/policy?mac=${KNOWN}&arch=11`)).body.action).toBe('ignore');
  });

  it('boots the client for an inventory task, and the hello completes it', async () => {
    const hostId = (await tech.get('/api/v1/hosts')).body.find((h: { mac: string }) => h.mac === KNOWN).id as number;
    const created = await tech.post('/api/v1/tasks', { hostIds: [hostId], kind: 'inventory' });
    expect(created.status).toBe(201);
    expect(created.body.created).toHaveLength(1);
    const task = created.body.tasks[0];
    expect(task).toMatchObject({ hostId, hostName: 'B204-PC01', kind: 'inventory', state: 'pending', createdBy: 'tech' });
    const again = await tech.post('/api/v1/tasks', { hostIds: [hostId], kind: 'inventory' });
    expect(again.body).toMatchObject({ created: [], tasks: [{ id: task.id, state: 'pending' }] });

    const s = await script(`mac=${KNOWN.replace(/:/g, '-')}&arch=7&uuid=4c4c4544-0035`);
    expect(s).toContain(`kernel ${app.url}/boot/client/vmlinuz initrd=initrd.img roomcast.api=${app.url} roomcast.token=`);
    expect(s).toContain(' roomcast.mode=task console=tty0 console=ttyS0,115200n8 quiet || goto kernel_failed');
    expect(s).toContain(`initrd ${app.url}/boot/client/initrd.img || goto initrd_failed`);
    expect(s).toMatch(/sleep \d+\ngoto kernel\n/);
    const token = tokenOf(s)!;
    expect(verifyToken(await signingKey(), token, { purpose: 'task' })).toMatchObject({ v: 1, mac: KNOWN, taskId: task.id, hostId });
    const lifetime = payloadOf(token).exp - Date.now() / 1000;
    expect(lifetime).toBeGreaterThan(7000);
    expect(lifetime).toBeLessThanOrEqual(7200);

    // The origin comes from the configuration (ROOMCAST_BOOT_IP and the api's port), never from the
    // Host header a client chose.
    for (const host of ['roomcast.lan:8080', 'evil.example:80', 'evil;shell']) {
      const viaHost = await getWithHost(`${app.url}/boot/ipxe?mac=${KNOWN}`, host);
      expect(viaHost.text, host).toContain(`kernel ${app.url}/boot/client/vmlinuz`);
      expect(viaHost.text, host).not.toContain(host.split(':')[0]!);
    }

    const wrongMac = await machine(token).post('/api/v1/boot/hello', facts('02:00:00:00:00:99'));
    expect(wrongMac.status).toBe(403);
    expect(wrongMac.body.code).toBe('mac_mismatch');

    const hello = await machine(token).post('/api/v1/boot/hello', facts(KNOWN, { unexpected: 'dropped' }));
    expect(hello.status).toBe(200);
    expect(hello.body).toEqual({ action: 'poweroff', hostId, hostName: 'B204-PC01', registered: false, taskId: task.id, taskState: 'done' });

    const host = (await tech.get(`/api/v1/hosts/${hostId}`)).body;
    expect(host.lastSeenAt).toEqual(expect.any(String));
    expect(host.serial).toBe('5XYZ123');
    expect(host.hardware).toMatchObject({ firmware: 'uefi', system: { model: 'OptiPlex 7010' }, memoryBytes: 8 * 2 ** 30, nics: [{ mac: KNOWN, speedMbps: 1000 }] });
    expect(host.hardware.reportedAt).toEqual(expect.any(String));
    expect(host.hardware).not.toHaveProperty('unexpected');
    expect(host.hardware).not.toHaveProperty('mac');
    const done = (await tech.get(`/api/v1/tasks?hostId=${hostId}`)).body;
    expect(done).toMatchObject([{ id: task.id, state: 'done', result: { facts: true } }]);
    expect(done[0].finishedAt).toEqual(expect.any(String));
    expect(await script(`mac=${KNOWN}`)).toContain('nothing to do for this PC');
    const audit = (await admin.get('/api/v1/audit?action=task.done')).body;
    expect(audit[0]).toMatchObject({ actor: `machine:${KNOWN}`, targetType: 'task', targetId: String(task.id) });
  });

  it('refuses expired, forged and garbage boot tokens', async () => {
    const key = await signingKey();
    const base: TokenPayload = { v: 1, purpose: 'register', mac: UNKNOWN, exp: Math.floor(Date.now() / 1000) - 1 };
    const expired = signToken(key, base);
    const genuine = signToken(key, { ...base, exp: base.exp + 3600 });
    const forged = `${Buffer.from(JSON.stringify({ ...base, exp: base.exp + 3600, mac: KNOWN })).toString('base64url')}.${genuine.split('.')[1]}`;
    const otherKey = signToken(randomBytes(32), { ...base, exp: base.exp + 3600 });
    for (const token of [expired, forged, otherKey, 'garbage', `${genuine}x`]) {
      const r = await machine(token).post('/api/v1/boot/hello', facts(UNKNOWN));
      expect(r.status, token).toBe(401);
      expect(r.body.code).toBe('invalid_token');
    }
  });

  it('registers unknown PCs as unassigned while the window is open', async () => {
    const opened = await tech.post('/api/v1/boot/registration', { minutes: 30 });
    expect(opened.status).toBe(200);
    expect(opened.body.open).toBe(true);
    expect(Date.parse(opened.body.until) - Date.now()).toBeGreaterThan(29 * 60_000);
    expect((await tech.post('/api/v1/boot/registration', { minutes: 0 })).status).toBe(400);
    expect(await policy(UNKNOWN)).toBe('boot');

    const s = await script(`mac=${UNKNOWN}&arch=9`);
    expect(s).toContain(' roomcast.mode=register ');
    const token = tokenOf(s)!;
    expect(verifyToken(await signingKey(), token, { purpose: 'register' })).toMatchObject({ mac: UNKNOWN });
    const hello = await machine(token).post('/api/v1/boot/hello', facts(UNKNOWN, { firmware: 'bios' }));
    expect(hello.status).toBe(200);
    expect(hello.body).toMatchObject({ action: 'poweroff', hostName: 'PC-ABCDEF', registered: true, taskId: null });
    const again = await machine(token).post('/api/v1/boot/hello', facts(UNKNOWN));
    expect(again.body).toMatchObject({ hostId: hello.body.hostId, registered: false });

    const twin = tokenOf(await script(`mac=${UNKNOWN_SAME_SUFFIX}`))!;
    expect((await machine(twin).post('/api/v1/boot/hello', facts(UNKNOWN_SAME_SUFFIX))).body.hostName).toBe('PC-ABCDEF-2');

    const unassigned = (await tech.get('/api/v1/hosts?room=unassigned')).body as Array<{ name: string; mac: string; hardware: { firmware: string }; roomId: null }>;
    expect(unassigned.map((h) => h.name).sort()).toEqual(['B204-PC01', 'PC-ABCDEF', 'PC-ABCDEF-2']);
    expect(unassigned.find((h) => h.mac === UNKNOWN)!.hardware.firmware).toBe('uefi');
    const audit = (await admin.get('/api/v1/audit?action=host.register')).body;
    expect(audit.map((a: { actor: string }) => a.actor).sort()).toEqual([`machine:${UNKNOWN_SAME_SUFFIX}`, `machine:${UNKNOWN}`].sort());
    expect(audit.find((a: { actor: string }) => a.actor === `machine:${UNKNOWN}`).details).toMatchObject({ name: 'PC-ABCDEF', model: 'OptiPlex 7010' });
  });

  it('closes the registration window at once', async () => {
    const late = tokenOf(await script('mac=02:00:00:00:77:77'))!;
    const closed = await tech.delete('/api/v1/boot/registration');
    expect(closed.body).toEqual({ open: false, until: null });
    expect(await policy('02:00:00:00:77:88')).toBe('ignore');
    expect(await script('mac=02:00:00:00:77:88')).toContain('nothing to do');
    const r = await machine(late).post('/api/v1/boot/hello', facts('02:00:00:00:77:77'));
    expect(r.status).toBe(403);
    expect(r.body.code).toBe('registration_closed');
    const actions = (await admin.get('/api/v1/audit?targetType=setting')).body.map((a: { action: string }) => a.action);
    expect(actions).toEqual(['boot.registration_close', 'boot.registration_open']);
  });

  it('lists and cancels tasks', async () => {
    const hosts = (await tech.get('/api/v1/hosts')).body as Array<{ id: number; name: string }>;
    const ids = hosts.map((h) => h.id);
    const created = await tech.post('/api/v1/tasks', { hostIds: ids, kind: 'inventory' });
    expect(created.body.tasks.map((t: { hostId: number }) => t.hostId)).toEqual(ids);
    expect((await tech.post('/api/v1/tasks', { hostIds: [...ids, 99999], kind: 'inventory' })).body.code).toBe('unknown_host');
    expect((await tech.get('/api/v1/tasks?state=pending')).body).toHaveLength(ids.length);
    expect((await tech.get('/api/v1/tasks?room=unassigned&state=done')).body).toHaveLength(1);

    const first = created.body.tasks[0];
    const cancelled = await tech.post(`/api/v1/tasks/${first.id}/cancel`);
    expect(cancelled.body).toMatchObject({ id: first.id, state: 'cancelled' });
    expect((await tech.post(`/api/v1/tasks/${first.id}/cancel`)).body.code).toBe('task_finished');
    expect((await tech.post('/api/v1/tasks/99999/cancel')).status).toBe(404);
    expect(await script(`mac=${first.mac}`)).toContain('nothing to do');
    expect((await admin.get('/api/v1/audit?action=task.cancel')).body[0]).toMatchObject({ actor: 'tech', targetId: String(first.id) });
  });

  it('serves the client kernel with Range, and says how to get a missing file (answer and /api/health)', async () => {
    const full = await fetch(`${app.url}/boot/client/vmlinuz`);
    expect(full.status).toBe(200);
    expect(full.headers.get('accept-ranges')).toBe('bytes');
    expect(full.headers.get('last-modified')).toBeTruthy();
    expect(Buffer.from(await full.arrayBuffer()).equals(kernel)).toBe(true);

    const part = await fetch(`${app.url}/boot/client/vmlinuz`, { headers: { range: 'bytes=1000-1999' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 1000-1999/${kernel.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(kernel.subarray(1000, 2000))).toBe(true);

    const missing = await anon.get('/boot/client/initrd.img');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('application/problem+json');
    expect(missing.body.code).toBe('client_missing');
    expect(missing.body.detail).toContain(`boot client incomplete in ${clientDir}: initrd.img missing`);
    expect(missing.body.detail).toContain('docker compose build');
    expect((await anon.get('/boot/client/..%2fvmlinuz')).status).toBe(404);

    // The RN sees it without a PC: /api/health names the missing files (and stays ok: the api works).
    const health = await anon.get('/api/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'ok', bootClient: { status: 'incomplete', missing: ['initrd.img', 'imaging.img'] } });
    expect(health.body.bootClient.detail).toMatch(/PCs cannot start the roomcast client/);
    // The iPXE binaries of the TFTP root, checked against their pins: none here.
    expect(health.body.ipxe).toMatchObject({ status: 'incomplete', files: [{ name: 'undionly.kpxe', state: 'missing' }, { name: 'ipxe.efi', state: 'missing' }, { name: 'snponly.efi', state: 'missing' }] });
    expect(health.body.ipxe.detail).toMatch(/images\/ipxe\/fetch\.sh/);
  });

  it('answers 429 to an address that floods the firmware routes', async () => {
    const replies = await Promise.all(Array.from({ length: 120 }, () => fetch(`${app.url}/boot/policy?mac=${KNOWN}`)));
    const limited = replies.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(replies.filter((r) => r.status === 200).length).toBeGreaterThan(0);
    expect(limited[0]!.headers.get('retry-after')).toBe('1');
    const bodies = await Promise.all(replies.map((r) => r.text()));
    expect(JSON.parse(bodies[replies.indexOf(limited[0]!)]!).code).toBe('rate_limited');
  });
});
