// The morning report by e-mail through a real SMTP listener (the smtp-server package, with a login),
// sent by the worker when a run ends, once; and a refused login that does not leak the password.
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReportMailer } from '../../services/runs/mail.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { ApiClient } from '../support/client.js';
import { publishVersion } from '../support/runs.js';

interface Mail {
  from: string;
  to: string[];
  data: string;
}

describe('the morning report by e-mail (real SMTP listener)', () => {
  let smtp: SMTPServer;
  let port: number;
  const mails: Mail[] = [];
  let app: TestApp;

  beforeAll(async () => {
    smtp = new SMTPServer({
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      onAuth: (auth, _session, cb) => (auth.username === 'roomcast' && auth.password === 's3cret-pw' ? cb(null, { user: 'roomcast' }) : cb(new Error('Invalid username or password'))),
      onData: (stream, session, cb) => {
        const parts: Buffer[] = [];
        stream.on('data', (b: Buffer) => parts.push(b));
        stream.on('end', () => {
          mails.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), data: Buffer.concat(parts).toString('utf8') });
          cb();
        });
      },
    });
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
    port = (smtp.server.address() as AddressInfo).port;
    app = await startTestApp('sqlite', { ROOMCAST_SMTP_URL: `smtp://roomcast:s3cret-pw@127.0.0.1:${port}`, ROOMCAST_REPORT_TO: 'rn@college.example, tech@college.example', ROOMCAST_REPORT_FROM: 'roomcast@college.example' });
  });

  afterAll(async () => {
    await app?.stop();
    await new Promise<void>((r) => smtp.close(() => r()));
  });

  it('a run that ends sends one short French e-mail to the RN, saying first what needs a person', async () => {
    const admin = new ApiClient(app.url);
    await admin.login('admin', app.adminPassword);
    const roomId = (await admin.post('/api/v1/rooms', { name: 'B204' })).body.id;
    const host = (await admin.post('/api/v1/hosts', { name: 'B204-01', mac: '02:00:00:00:05:01', roomId })).body;
    const ref = (await admin.post('/api/v1/hosts', { name: 'REF', mac: '02:00:00:00:05:99' })).body;
    const imageId = (await admin.post('/api/v1/images', { name: 'Windows 11' })).body.id;
    await publishVersion(app.container, imageId, ref);
    const run = (await admin.post('/api/v1/runs', { roomId, imageId, steps: ['restore', 'verify'], wakeTimeoutMinutes: 0.01 })).body;
    expect(run.pcs[0].hostId).toBe(host.id);
    const end = Date.now() + 30_000;
    while (mails.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    expect(mails).toHaveLength(1);
    const mail = mails[0]!;
    expect(mail.from).toBe('roomcast@college.example');
    expect(mail.to).toEqual(['rn@college.example', 'tech@college.example']);
    const subject = decodeHeader(/^Subject: (.*(?:\r?\n[ \t].*)*)/m.exec(mail.data)?.[1] ?? '');
    expect(subject).toBe('Rapport de restauration – B204 : 0 restauré(s) sur 1, 1 en échec, 0 ignoré(s), 0 annulé(s)');
    expect((await admin.get(`/api/v1/runs/${run.id}`)).body).toMatchObject({ state: 'done', pcs: [{ state: 'failed', reason: { code: 'did_not_boot' } }] });
    const report = (await admin.get(`/api/v1/runs/${run.id}/report`)).body;
    expect(report.pcs[0].reason.fr).toMatch(/n'a pas démarré sur le réseau/);
    // The e-mail's text part holds the same sentence (quoted-printable or base64: decode what nodemailer chose).
    const decoded = decodeParts(mail.data);
    expect(decoded).toContain('À regarder :');
    expect(decoded).toContain("- B204-01 (échec) : n'a pas démarré sur le réseau");
    // Once: a second look by the worker (reconcile, a retried job) sends nothing more.
    await new Promise((r) => setTimeout(r, 1500));
    expect(mails).toHaveLength(1);
  });

  it('a refused SMTP login is an error that names the server, never the password', async () => {
    const mailer = new ReportMailer({ smtpUrl: `smtp://roomcast:wrong-pw-123@127.0.0.1:${port}`, from: 'a@b.example', to: ['c@d.example'], lang: 'fr' }, pino({ level: 'silent' }));
    const report = { run: { id: 9, room: 'B204', image: 'W11', version: 1, state: 'done' as const, createdBy: 'x', startedAt: null, endedAt: null, reason: null, why: null }, totals: { pcs: 0, done: 0, failed: 0, skipped: 0, cancelled: 0, open: 0, wallSeconds: null, bytesMoved: 0, multicastBytes: 0, repairBytes: 0 }, multicast: null, plan: null, pcs: [] };
    const err = await mailer.send(report).then(() => null, (e: Error) => e);
    mailer.close();
    expect(err?.message).toMatch(new RegExp(`could not send the report of run 9 through 127\\.0\\.0\\.1:${port}`));
    expect(err?.message).not.toContain('wrong-pw-123');
  });
});

/** An RFC 2047 header (=?UTF-8?Q?…?= or =?UTF-8?B?…?= words, folded) as text. */
function decodeHeader(h: string): string {
  return h
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?UTF-8\?([QB])\?([^?]*)\?=/gi, (_m, enc: string, text: string) =>
      enc.toUpperCase() === 'B' ? Buffer.from(text, 'base64').toString('utf8') : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (_x, hx: string) => String.fromCharCode(parseInt(hx, 16))), 'latin1').toString('utf8'),
    )
    .replace(/\r?\n[ \t]/g, '');
}

/** The text of every MIME part, decoded from quoted-printable or base64. */
function decodeParts(raw: string): string {
  const out: string[] = [];
  for (const part of raw.split(/\r?\n--/)) {
    const [head, ...rest] = part.split(/\r?\n\r?\n/);
    const content = rest.join('\n\n');
    if (/Content-Transfer-Encoding: base64/i.test(head ?? '')) out.push(Buffer.from(content.replace(/\s+/g, ''), 'base64').toString('utf8'));
    else if (/Content-Transfer-Encoding: quoted-printable/i.test(head ?? ''))
      out.push(Buffer.from(content.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8'));
    else out.push(content);
  }
  return out.join('\n');
}
