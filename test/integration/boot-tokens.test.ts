// Boot tokens only their PC can use. Loopback gives every 127.0.0.0/8 address to this machine, so
// each address below is a machine on the LAN: the PC, and a stranger who knows its MAC.
// - A token works from the address that fetched the script only; from another it is refused,
//   audited and raised as an alert.
// - The first hello claims a running task for its address; a second client's hello is refused,
//   audited and alerted, and the task stays the first client's.
// - A hello whose disks are not the PC's (pinned or known serial) starts nothing and raises an alert.
// - A captured version records the PC that produced it (MAC, serial, address).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/client.js';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';
import { hardwareFacts } from '../support/facts.js';
import { buildImage } from '../support/images.js';
import { from } from '../support/run-procs.js';

const PC = '02:00:00:00:70:01';
const PC_IP = '127.0.0.3';
const STRANGER_IP = '127.0.0.66';

const tokenOf = (script: string) => /roomcast\.token=(\S+)/.exec(script)?.[1];
const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as Record<string, unknown>;

describe('boot tokens bound to their PC', () => {
  let app: TestApp;
  let admin: ApiClient;
  let hostId: number;
  let imageId: number;

  beforeAll(async () => {
    app = await startTestApp('sqlite');
    admin = new ApiClient(app.url);
    await admin.login('admin', TEST_ADMIN_PASSWORD);
    hostId = (await admin.post('/api/v1/hosts', { name: 'B204-07', mac: PC })).body.id;
    imageId = (await admin.post('/api/v1/images', { name: 'Windows 11 B204' })).body.id;
  });
  afterAll(async () => {
    await app?.stop();
  });

  const script = async (address: string) => (await from(address, app.url, 'GET', `/boot/ipxe?mac=${PC}&arch=7`)).body as string;
  const alerts = async (kind: string) => ((await admin.get('/api/v1/alerts?open=true')).body as Array<{ kind: string; hostId: number; count: number; message: string; details: Record<string, unknown> }>).filter((a) => a.kind === kind);
  const audit = async (action: string) => ((await admin.get(`/api/v1/audit?action=${action}`)).body as Array<{ action: string; ip: string }>);

  it('refuses a token used from another address than the one that fetched the script, and reports it', async () => {
    await admin.post('/api/v1/tasks', { kind: 'inventory', hostIds: [hostId] });
    const token = tokenOf(await script(PC_IP))!;
    expect(claimsOf(token)).toMatchObject({ mac: PC, ip: PC_IP });
    const stolen = await from(STRANGER_IP, app.url, 'POST', '/api/v1/boot/hello', { token, json: hardwareFacts(PC) });
    expect(stolen.status).toBe(403);
    expect(stolen.body.code).toBe('token_elsewhere');
    const [alert] = await alerts('boot.token_elsewhere');
    expect(alert).toMatchObject({ hostId, details: { issuedTo: PC_IP, usedFrom: STRANGER_IP } });
    expect((await audit('boot.token_elsewhere'))[0]).toMatchObject({ ip: STRANGER_IP });
    // The PC itself: its inventory hello completes (and records its disks for the checks below).
    const own = await from(PC_IP, app.url, 'POST', '/api/v1/boot/hello', { token, json: hardwareFacts(PC) });
    expect(own.body).toMatchObject({ action: 'poweroff', taskState: 'done' });
  });

  it('lets the first hello claim a capture, refuses and reports a second client, and records the PC in the version', async () => {
    const task = (await admin.post('/api/v1/tasks', { kind: 'capture', hostIds: [hostId], imageId })).body.tasks[0];
    const hello = await from(PC_IP, app.url, 'POST', '/api/v1/boot/hello', { token: tokenOf(await script(PC_IP))!, json: hardwareFacts(PC) });
    expect(hello.body).toMatchObject({ action: 'capture', taskId: task.id, taskState: 'running' });
    expect(claimsOf(hello.body.token)).toMatchObject({ ip: PC_IP, taskId: task.id });

    // A stranger who knows the MAC gets a script of its own, but not the task.
    const second = await from(STRANGER_IP, app.url, 'POST', '/api/v1/boot/hello', { token: tokenOf(await script(STRANGER_IP))!, json: hardwareFacts(PC) });
    expect(second.status).toBe(409);
    expect(second.body.code).toBe('task_claimed');
    expect((await alerts('boot.claim_refused'))[0]).toMatchObject({ hostId, details: { ip: STRANGER_IP, claimedBy: PC_IP } });
    expect((await audit('boot.claim_refused')).length).toBe(1);
    // Nor can it use the PC's task token.
    expect((await from(STRANGER_IP, app.url, 'GET', '/api/v1/client/task', { token: hello.body.token })).body.code).toBe('token_elsewhere');
    // The PC goes on: the PC's client, again from its address, after a reboot: still its task.
    const again = await from(PC_IP, app.url, 'POST', '/api/v1/boot/hello', { token: tokenOf(await script(PC_IP))!, json: hardwareFacts(PC) });
    expect(again.body).toMatchObject({ action: 'capture', taskId: task.id });

    const { manifest } = await buildImage(['a', 'b']);
    const posted = await from(PC_IP, app.url, 'POST', '/api/v1/client/capture', { token: hello.body.token, body: Buffer.from(JSON.stringify(manifest)) });
    expect(posted.status).toBe(200);
    const image = (await admin.get(`/api/v1/images/${imageId}`)).body;
    expect(image.versions[0]).toMatchObject({ number: posted.body.number, state: 'capturing', sourceHostId: hostId, source: { mac: PC, serial: '5XYZ123', ip: PC_IP } });
    expect((await admin.post(`/api/v1/tasks/${task.id}/cancel`)).status).toBe(200);
  });

  it("starts nothing on a PC whose disks are not its own, until a technician pins the new disk", async () => {
    await admin.post('/api/v1/tasks', { kind: 'capture', hostIds: [hostId], imageId });
    const swapped = hardwareFacts(PC, { disks: [{ name: 'sda', model: 'Samsung SSD 870', serial: 'S6PNNX0T123456', sizeBytes: 500107862016 }] });
    const refused = await from(PC_IP, app.url, 'POST', '/api/v1/boot/hello', { token: tokenOf(await script(PC_IP))!, json: swapped });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'not_this_pc', detail: expect.stringContaining('Z3TABCDE') });
    expect((await alerts('boot.identity_mismatch'))[0]).toMatchObject({ hostId, details: { disks: ['S6PNNX0T123456'] } });
    expect((await admin.get(`/api/v1/tasks?hostId=${hostId}&state=pending`)).body).toHaveLength(1);

    expect((await admin.patch(`/api/v1/hosts/${hostId}`, { diskSerial: 'S6PNNX0T123456' })).status).toBe(200);
    const accepted = await from(PC_IP, app.url, 'POST', '/api/v1/boot/hello', { token: tokenOf(await script(PC_IP))!, json: swapped });
    expect(accepted.body).toMatchObject({ action: 'capture', taskState: 'running' });
  });

  it('lets a technician acknowledge an alert', async () => {
    const [alert] = (await admin.get('/api/v1/alerts?open=true')).body as Array<{ id: number }>;
    expect((await admin.post(`/api/v1/alerts/${alert!.id}/ack`)).body).toMatchObject({ id: alert!.id, acknowledgedBy: 'admin' });
    expect(((await admin.get('/api/v1/alerts?open=true')).body as Array<{ id: number }>).some((a) => a.id === alert!.id)).toBe(false);
    expect((await admin.post(`/api/v1/alerts/${alert!.id}/ack`)).status).toBe(409);
  });
});
