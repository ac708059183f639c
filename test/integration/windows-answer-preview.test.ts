// Issue 15, the technicians' preview of an answer file: GET /api/v1/images/:id/answer-file/preview?hostId=
// renders the image's answer file for a chosen PC as its restore would get it, every password replaced
// by ******** (domain join, local Administrator, the PC's own one). The test compares it with what the
// boot client gets (GET /api/v1/client/answer-file with a real task token for that PC, a ready version
// written as a capture leaves it), checks the preview makes no per-PC password and no audit entry, and
// searches every preview, the api's log lines (pino at trace) and the audit log for the passwords.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnswerFiles, SECRET_MASK } from '../../services/imaging/answer-files.js';
import { xmlEscape } from '../../services/imaging/xml.js';
import { TEST_ADMIN_PASSWORD } from '../support/app.js';
import { ApiClient } from '../support/client.js';
import { ImagingPc } from '../support/imaging-pc.js';
import { publishVersion } from '../support/runs.js';

const JOIN_PASSWORD = 'Pr3view-J0in&<"dom">';
const ADMIN_PASSWORD = "Pr3view'Adm1n-élève";

/** The machine's file with these secrets (as XML-escaped in it) replaced by the mask. */
const masked = (xml: string, secrets: string[]) => secrets.reduce((x, s) => x.split(xmlEscape(s)).join(SECRET_MASK), xml);

describe('the answer file preview for technicians', () => {
  const pc = new ImagingPc('02:5e:15:00:00:31', 64 * 1024 * 1024);
  const logLines: string[] = [];
  const previews: unknown[] = [];
  let admin: ApiClient;
  let url = '';
  const preview = async (hostId = pc.hostId, client = pc.tech) => {
    const r = await client.get(`${url}/preview?hostId=${hostId}`);
    previews.push(r.body);
    return r;
  };
  const clientGet = async (token: string) => {
    const res = await fetch(`${pc.app.url}/api/v1/client/answer-file`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, text: await res.text() };
  };
  const countRows = async (table: 'host_admin_passwords' | 'audit_log') =>
    Number((await pc.app.container.database.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

  beforeAll(async () => {
    await pc.start('Windows 11 B206', {}, { log: pino({ level: 'trace' }, { write: (s: string) => void logLines.push(s) }) });
    url = `/api/v1/images/${pc.imageId}/answer-file`;
    await publishVersion(pc.app.container, pc.imageId, { id: pc.hostId, mac: pc.mac });
    admin = new ApiClient(pc.app.url);
    await admin.login('admin', TEST_ADMIN_PASSWORD);
  }, 60_000);
  afterAll(() => pc.stop());

  it("equals the PC's own answer file with the passwords masked, and says which ones it masked", async () => {
    const set = await pc.tech.request('PUT', url, {
      enabled: true,
      domain: { name: 'lycee.local', ou: 'OU=B206,DC=lycee,DC=local', joinUser: 'LYCEE\\joiner', joinPassword: JOIN_PASSWORD },
      adminPassword: ADMIN_PASSWORD,
      agentCommand: 'C:\\roomcast\\agent.cmd',
    });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    const { taskId, token } = await pc.bootForTask({ kind: 'restore', imageId: pc.imageId });
    const machine = await clientGet(token);
    expect(machine.status, machine.text).toBe(200);
    expect(machine.text).toContain(xmlEscape(JOIN_PASSWORD));
    expect(machine.text).toContain(xmlEscape(ADMIN_PASSWORD));

    const p = await preview();
    expect(p.status, JSON.stringify(p.body)).toBe(200);
    expect(p.headers.get('cache-control')).toBe('no-store');
    expect(p.body).toMatchObject({ imageId: pc.imageId, hostId: pc.hostId, hostName: 'PC-31', enabled: true, masked: ['domainJoinPassword', 'adminPassword'] });
    expect(p.body.xml).toBe(masked(machine.text, [JOIN_PASSWORD, ADMIN_PASSWORD]));
    // Domain join, Administrator, auto-logon: three places, each masked.
    expect(p.body.xml.split(SECRET_MASK)).toHaveLength(4);
    // The inventory's name at that moment, as the client would get it.
    expect((await pc.tech.patch(`/api/v1/hosts/${pc.hostId}`, { name: 'B206-PC31' })).status).toBe(200);
    expect((await preview()).body.xml).toBe(masked((await clientGet(token)).text, [JOIN_PASSWORD, ADMIN_PASSWORD]));
    expect((await preview()).body.xml).toContain('<ComputerName>B206-PC31</ComputerName>');
    await pc.tech.post(`/api/v1/tasks/${taskId}/cancel`);
  });

  it("masks the PC's own Administrator password without making one, and still equals what the PC gets", async () => {
    expect((await pc.tech.request('PUT', url, { enabled: true, workgroup: 'SALLE-B206', adminPasswordPerPc: true })).status).toBe(200);
    const audits = await countRows('audit_log');
    const p = await preview();
    expect(p.body).toMatchObject({ enabled: true, masked: ['perPcAdminPassword'] });
    expect(p.body.xml).toContain('<JoinWorkgroup>SALLE-B206</JoinWorkgroup>');
    // No side effect: no password made for the PC, nothing written to the audit.
    expect(await countRows('host_admin_passwords')).toBe(0);
    expect((await pc.tech.get(`/api/v1/hosts/${pc.hostId}/admin-password`)).body).toMatchObject({ set: false });
    expect(await countRows('audit_log')).toBe(audits);

    const { taskId, token } = await pc.bootForTask({ kind: 'restore', imageId: pc.imageId });
    const machine = await clientGet(token);
    expect(machine.status, machine.text).toBe(200);
    const own = (await pc.tech.post(`/api/v1/hosts/${pc.hostId}/admin-password/reveal`)).body.password as string;
    expect(own).toMatch(/^.{20}$/);
    expect(machine.text).toContain(xmlEscape(own));
    expect((await preview()).body.xml).toBe(masked(machine.text, [own]));
    // A preview after the restore keeps the PC's password as it was (no new one, none moved to "previous").
    const after = await pc.tech.post(`/api/v1/hosts/${pc.hostId}/admin-password/reveal`);
    expect(after.body).toMatchObject({ password: own, taskId, previous: null });
    await pc.tech.post(`/api/v1/tasks/${taskId}/cancel`);

    // Searched everywhere a password could leak: every preview, the api's log, the audit log.
    const audit = JSON.stringify((await admin.get('/api/v1/audit?limit=1000')).body);
    expect(audit).toContain('image.answer_file.update');
    expect(logLines.length).toBeGreaterThan(10);
    expect(logLines.join('\n')).toContain('/answer-file/preview');
    for (const secret of [JOIN_PASSWORD, ADMIN_PASSWORD, own, xmlEscape(JOIN_PASSWORD), xmlEscape(ADMIN_PASSWORD)]) {
      expect(JSON.stringify(previews), `${secret} in a preview`).not.toContain(secret.slice(0, 10));
      expect(logLines.join('\n'), `${secret} in the api's log`).not.toContain(secret.slice(0, 10));
      expect(audit, `${secret} in the audit`).not.toContain(secret.slice(0, 10));
    }
  });

  it('shows the file a PC would get once answer files are on, while the client gets none', async () => {
    expect((await pc.tech.request('PUT', url, { enabled: false, workgroup: 'SALLE-B206', adminPassword: null })).status).toBe(200);
    const p = await preview();
    expect(p.body).toMatchObject({ enabled: false, masked: [] });
    expect(p.body.xml).toContain('<JoinWorkgroup>SALLE-B206</JoinWorkgroup>');
    const { taskId, token } = await pc.bootForTask({ kind: 'restore', imageId: pc.imageId });
    expect((await clientGet(token)).status).toBe(404);
    await pc.tech.post(`/api/v1/tasks/${taskId}/cancel`);
    // An image whose answer file was never set: the built-in template with the defaults.
    const bare = await pc.newImage('Windows 11 nu');
    const none = await pc.tech.get(`/api/v1/images/${bare}/answer-file/preview?hostId=${pc.hostId}`);
    expect(none.body).toMatchObject({ enabled: false, masked: [] });
    expect(none.body.xml).toContain('<TimeZone>Romance Standard Time</TimeZone>');
    expect(none.body.xml).toContain('<JoinWorkgroup>WORKGROUP</JoinWorkgroup>');
  });

  it('is for technicians only, refuses unknown PCs and images, and passwords sealed with another key', async () => {
    expect((await preview(pc.hostId, new ApiClient(pc.app.url))).status).toBe(401);
    const viewer = await admin.userClient('preview-viewer', 'viewer');
    expect((await preview(pc.hostId, viewer)).status).toBe(403);
    expect((await preview(pc.hostId, admin)).status).toBe(200);
    expect((await preview(999_999)).body).toMatchObject({ status: 404, code: 'not_found' });
    expect((await pc.tech.get(`/api/v1/images/999999/answer-file/preview?hostId=${pc.hostId}`)).body).toMatchObject({ status: 404, code: 'not_found' });
    expect((await pc.tech.get(`${url}/preview`)).body).toMatchObject({ status: 400, code: 'validation_failed' });
    expect((await pc.tech.get(`${url}/preview?hostId=abc`)).body).toMatchObject({ status: 400, code: 'validation_failed' });
    // The client could not get this file (409): the preview says so rather than masking what cannot be opened.
    expect((await pc.tech.request('PUT', url, { enabled: true, adminPassword: ADMIN_PASSWORD })).status).toBe(200);
    const c = pc.app.container;
    const elsewhere = new AnswerFiles(c.database.db, c.tasks, async () => 'PC-31', () => Buffer.alloc(32, 1));
    await expect(elsewhere.preview(pc.imageId, pc.hostId)).rejects.toMatchObject({ status: 409, code: 'secret_undecryptable' });
  });
});
