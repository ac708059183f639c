// Issue 15 item 6, per-PC local Administrator passwords (LAPS-like): an image's answer file may give
// each PC a random password of its own. The test captures a small disk with the real client (a restore
// task needs a ready version), renders answer files through the machine route with real task tokens,
// and shows the passwords through the API as a technician: each showing is audited, a viewer and an
// anonymous caller are refused, and no password is in the database file, the audit or another answer.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeAdminPassword } from '../../services/imaging/admin-passwords.js';
import { childrenNamed, parseXml } from '../../services/imaging/xml.js';
import { TEST_ADMIN_PASSWORD } from '../support/app.js';
import { ApiClient } from '../support/client.js';
import { buildDisk, missingDiskTools, mixedContent, type PartSpec } from '../support/disks.js';
import { ImagingPc } from '../support/imaging-pc.js';

const LAYOUT: PartSpec[] = [{ number: 1, name: 'donnees', fs: 'ext4', startMiB: 1, sizeMiB: 30 }];
const SHARED = 'Shared-Adm1n-Pa55';
const COMPLEX = /^(?=.*[A-Z])(?=.*[a-z])(?=.*[2-9])(?=.*[#%+\-=?@_])[A-HJ-NP-Za-km-z2-9#%+\-=?@_]{20}$/;

/** The local Administrator password an answer file sets. */
function adminPasswordOf(xml: string): string | null {
  for (const s of childrenNamed(parseXml(xml), 'settings')) {
    for (const c of childrenNamed(s, 'component')) {
      const v = childrenNamed(childrenNamed(childrenNamed(c, 'UserAccounts')[0] ?? c, 'AdministratorPassword')[0] ?? c, 'Value')[0];
      if (v && s.attrs.pass === 'oobeSystem') return v.text;
    }
  }
  return null;
}

describe('makeAdminPassword', () => {
  it('makes 20 characters with every class Windows counts and no look-alikes, different each time', () => {
    const made = Array.from({ length: 200 }, () => makeAdminPassword());
    for (const p of made) expect(p).toMatch(COMPLEX);
    expect(new Set(made).size).toBe(made.length);
  });
});

describe.skipIf(missingDiskTools().length > 0 || process.getuid?.() !== 0)('a local Administrator password of its own for each PC, shown on demand and audited', () => {
  const pc = new ImagingPc('02:5e:16:00:00:21', 32 * 1024 * 1024);
  const other = { id: 0, mac: '02:5e:16:00:00:22', serial: 'OTHERPC', uuid: '4c4c4544-0000-1010-8000-0000000000cc', diskSerial: 'TD-OTHER' };
  const answers: unknown[] = [];
  let admin: ApiClient;
  const render = async (token: string) => {
    const res = await fetch(`${pc.app.url}/api/v1/client/answer-file`, { headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    return adminPasswordOf(text);
  };
  const tech = async (method: string, p: string, body?: unknown) => {
    const r = await pc.tech.request(method, p, body);
    answers.push(r.body);
    return r;
  };

  beforeAll(async () => {
    await pc.start('Windows 11 B205');
    await buildDisk(pc.file('master.img'), 32, LAYOUT, { 1: { 'notes.bin': mixedContent('laps', 200_000) } });
    const cap = await pc.capture(pc.file('master.img'));
    expect(cap.ok, pc.lastLog()).toBe(true);
    admin = new ApiClient(pc.app.url);
    await admin.login('admin', TEST_ADMIN_PASSWORD);
    const b = await pc.tech.post('/api/v1/hosts', { name: 'B205-PC22', mac: other.mac });
    expect(b.status, JSON.stringify(b.body)).toBe(201);
    other.id = b.body.id;
  }, 180_000);
  afterAll(() => pc.stop());

  it("gives each PC its own password instead of the image's, the same again for the same task, a new one for the next task with the old one kept", async () => {
    const set = await tech('PUT', `/api/v1/images/${pc.imageId}/answer-file`, { enabled: true, adminPassword: SHARED, adminPasswordPerPc: true });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body).toMatchObject({ adminPasswordPerPc: true, adminPassword: { set: true } });
    expect((await tech('GET', `/api/v1/hosts/${pc.hostId}/admin-password`)).body).toEqual({ hostId: pc.hostId, set: false, setAt: null, taskId: null, previous: null });
    expect((await tech('POST', `/api/v1/hosts/${pc.hostId}/admin-password/reveal`)).body).toMatchObject({ status: 404, code: 'admin_password_none' });

    const first = await pc.bootForTask({ kind: 'restore', imageId: pc.imageId });
    const theirs = await pc.bootForTask({ kind: 'restore', imageId: pc.imageId }, other);
    const p1 = await render(first.token);
    expect(p1).toMatch(COMPLEX);
    expect(p1).not.toBe(SHARED);
    expect(await render(first.token), 'the same task asking again (a retried download)').toBe(p1);
    const q1 = await render(theirs.token);
    expect(q1).toMatch(COMPLEX);
    expect(q1).not.toBe(p1);

    const status = await tech('GET', `/api/v1/hosts/${pc.hostId}/admin-password`);
    expect(status.body).toMatchObject({ set: true, taskId: first.taskId, previous: null });
    const shown = await tech('POST', `/api/v1/hosts/${pc.hostId}/admin-password/reveal`);
    expect(shown.status, JSON.stringify(shown.body)).toBe(200);
    expect(shown.body).toMatchObject({ hostId: pc.hostId, hostName: 'PC-21', password: p1, taskId: first.taskId, previous: null });

    // The next restore of the same PC: a new password, the one before kept beside it.
    await pc.tech.post(`/api/v1/tasks/${first.taskId}/cancel`);
    const second = await pc.bootForTask({ kind: 'restore', imageId: pc.imageId });
    const p2 = await render(second.token);
    expect(p2).toMatch(COMPLEX);
    expect(p2).not.toBe(p1);
    const again = await pc.tech.post(`/api/v1/hosts/${pc.hostId}/admin-password/reveal`);
    expect(again.body).toMatchObject({ password: p2, taskId: second.taskId, previous: { password: p1, taskId: first.taskId } });
    await pc.tech.post(`/api/v1/tasks/${second.taskId}/cancel`);
    await pc.tech.post(`/api/v1/tasks/${theirs.taskId}/cancel`);

    // Only technicians, only logged in; the showings are in the audit, the passwords are not.
    const viewer = await admin.userClient('laps-viewer', 'viewer');
    expect((await viewer.get(`/api/v1/hosts/${pc.hostId}/admin-password`)).status).toBe(403);
    expect((await viewer.post(`/api/v1/hosts/${pc.hostId}/admin-password/reveal`)).status).toBe(403);
    expect((await new ApiClient(pc.app.url).post(`/api/v1/hosts/${pc.hostId}/admin-password/reveal`)).status).toBe(401);
    const audit = (await admin.get('/api/v1/audit?limit=1000')).body as { items?: unknown[] } | unknown[];
    const entries = (Array.isArray(audit) ? audit : (audit.items ?? [])) as Array<{ action: string; actor?: string; targetId?: string | null }>;
    const showings = entries.filter((e) => e.action === 'host.admin_password.show');
    expect(showings).toHaveLength(2);
    expect(showings.every((e) => e.targetId === String(pc.hostId))).toBe(true);

    const dbFile = pc.app.databaseUrl.replace(/^sqlite:/, '');
    const raw = Buffer.concat(fs.readdirSync(path.dirname(dbFile)).filter((f) => f.startsWith(path.basename(dbFile))).map((f) => fs.readFileSync(path.join(path.dirname(dbFile), f))));
    expect(raw.includes('host_admin_passwords'), 'the file is the database').toBe(true);
    for (const secret of [p1!, p2!, q1!, SHARED]) {
      expect(raw.includes(Buffer.from(secret)), 'a password in the database file').toBe(false);
      expect(JSON.stringify(audit).includes(secret), 'a password in the audit').toBe(false);
    }
    // Every answer but the showings themselves: no password of any PC, nor the image's.
    const others = JSON.stringify(answers.filter((a) => !JSON.stringify(a).includes('"password"')));
    for (const secret of [p1!, p2!, q1!, SHARED]) expect(others.includes(secret), 'a password in another answer').toBe(false);
  }, 120_000);
});
