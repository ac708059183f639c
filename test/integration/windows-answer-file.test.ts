// Issue 15, answer files: an image's unattend.xml template (handlebars, strict), checked when it is
// saved, rendered for one PC only (the PC whose task token asks, during its restore), written by the
// imaging client to Windows/Panther/unattend.xml on the restored NTFS partition. The domain-join and
// local Administrator passwords are sealed at rest (AES-256-GCM): the test reads the raw SQLite files,
// every API answer it got, the api's log lines (pino, captured at trace level), the client's log lines
// and the audit log, and finds neither password in any of them; the settings part runs on SQLite and PostgreSQL.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../../services/boot/http/tokens.js';
import { loadConfig } from '../../services/core/config.js';
import { loadSecretKey, openSecret, parseSecretKey, sealSecret } from '../../services/core/crypto.js';
import { AnswerFiles } from '../../services/imaging/answer-files.js';
import { checkTemplate, DEFAULT_TEMPLATE, renderAnswerFile, SAMPLE_VALUES, UNATTEND_NS, type AnswerValues } from '../../services/imaging/unattend.js';
import { childrenNamed, parseXml, xmlEscape, type XmlElement } from '../../services/imaging/xml.js';
import { buildHive, type HiveDescription } from '../support/hive.js';
import { buildDisk, missingDiskTools, missingTools, mixedContent, withPartitionDir, type PartSpec } from '../support/disks.js';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';
import { ApiClient } from '../support/client.js';
import { DIALECTS } from '../support/env.js';
import { ImagingPc } from '../support/imaging-pc.js';

/** The parts of a Windows SYSTEM hive the identity step reads (windows-identity.test.ts has the fuller one). */
const SYSTEM_HIVE: HiveDescription = {
  Select: { Current: { dword: 1 }, Default: { dword: 1 } },
  'ControlSet001\\Control\\ComputerName\\ComputerName': { ComputerName: 'MASTER-B204' },
  'ControlSet001\\Services\\Tcpip\\Parameters': { Hostname: 'master-b204', 'NV Hostname': 'master-b204' },
};

const JOIN_PASSWORD = 'Jo1n-S3cret&<"domaine">';
const ADMIN_PASSWORD = "Adm1n'Pa55-élève";

/** The unattend structure Windows setup expects, and the values of one PC, read from the DOM. */
function readUnattend(xml: string) {
  const root = parseXml(xml);
  expect(root.local).toBe('unattend');
  expect(root.ns).toBe(UNATTEND_NS);
  const passes = childrenNamed(root, 'settings').map((s) => s.attrs.pass);
  expect(passes).toEqual(['specialize', 'oobeSystem']);
  const components: Record<string, XmlElement> = {};
  for (const s of childrenNamed(root, 'settings')) {
    for (const c of childrenNamed(s, 'component')) {
      expect(c.ns).toBe(UNATTEND_NS);
      expect(c.attrs).toMatchObject({ processorArchitecture: 'amd64', publicKeyToken: '31bf3856ad364e35', language: 'neutral', versionScope: 'nonSxS' });
      components[`${s.attrs.pass}/${c.attrs.name}`] = c;
    }
  }
  const at = (c: XmlElement | undefined, ...names: string[]): string | null => {
    let el = c;
    for (const n of names) el = el && childrenNamed(el, n)[0];
    return el ? el.text : null;
  };
  const shell = components['specialize/Microsoft-Windows-Shell-Setup'];
  const join = components['specialize/Microsoft-Windows-UnattendedJoin'];
  const oobe = components['oobeSystem/Microsoft-Windows-Shell-Setup'];
  const intl = components['oobeSystem/Microsoft-Windows-International-Core'];
  return {
    computerName: at(shell, 'ComputerName'),
    timeZone: [at(shell, 'TimeZone'), at(oobe, 'TimeZone')],
    locale: [at(intl, 'UILanguage'), at(intl, 'SystemLocale'), at(intl, 'UserLocale'), at(components['specialize/Microsoft-Windows-International-Core'], 'UILanguage')],
    inputLocale: at(intl, 'InputLocale'),
    domain: at(join, 'Identification', 'JoinDomain'),
    ou: at(join, 'Identification', 'MachineObjectOU'),
    credentials: [at(join, 'Identification', 'Credentials', 'Domain'), at(join, 'Identification', 'Credentials', 'Username'), at(join, 'Identification', 'Credentials', 'Password')],
    workgroup: at(join, 'Identification', 'JoinWorkgroup'),
    oobe: Object.fromEntries((oobe && childrenNamed(oobe, 'OOBE')[0]?.children.map((c) => [c.local, c.text])) ?? []),
    adminPassword: at(oobe, 'UserAccounts', 'AdministratorPassword', 'Value'),
    firstLogon: at(oobe, 'FirstLogonCommands', 'SynchronousCommand', 'CommandLine'),
  };
}

describe('answer file templates and the XML they render to', () => {
  const pc = (over: Partial<AnswerValues> = {}): AnswerValues => ({ ...SAMPLE_VALUES[1]!, computerName: 'B204-PC07', ...over });

  it('renders the built-in template into the structure Windows setup expects, values XML-escaped (not HTML-escaped)', () => {
    const got = readUnattend(renderAnswerFile(null, pc()));
    expect(got).toMatchObject({
      computerName: 'B204-PC07',
      timeZone: ['Romance Standard Time', 'Romance Standard Time'],
      locale: ['fr-FR', 'fr-FR', 'fr-FR', 'fr-FR'],
      inputLocale: '040c:0000040c',
      domain: 'lycee.local',
      ou: 'OU=B204,OU=Postes,DC=lycee,DC=local',
      credentials: ['lycee.local', 'LYCEE\\joiner', 'p<&>"\'w'],
      workgroup: null,
      oobe: { HideEULAPage: 'true', HideOEMRegistrationScreen: 'true', HideOnlineAccountScreens: 'true', HideWirelessSetupInOOBE: 'true', ProtectYourPC: '3' },
      adminPassword: null,
      firstLogon: null,
    });
    expect(DEFAULT_TEMPLATE).not.toMatch(/SkipMachineOOBE|SkipUserOOBE/); // deprecated
    const wg = readUnattend(renderAnswerFile(null, SAMPLE_VALUES[0]!));
    expect(wg).toMatchObject({ workgroup: 'WORKGROUP', domain: null, adminPassword: 'S<ample>&"pw\'', firstLogon: 'C:\\roomcast\\agent.cmd "a&b"' });
    expect(wg.oobe.HideLocalAccountScreen).toBe('true');
    // XML escaping: an apostrophe is &apos;, not Handlebars' &#x27;; "=" and "`" stay as they are.
    const xml = renderAnswerFile('<unattend xmlns="urn:schemas-microsoft-com:unattend" a="{{computerName}}">{{timeZone}}</unattend>', pc({ timeZone: "a'b=c`d\"e" }));
    expect(xml).toContain('>a&apos;b=c`d&quot;e<');
    expect(parseXml(xml).text).toBe("a'b=c`d\"e");
    expect(() => renderAnswerFile(null, pc({ computerName: 'B204\u0001' }))).toThrow(expect.objectContaining({ code: 'bad_answer_value' }));
    // A domain without an OU: the computer account goes to the default container (no MachineObjectOU).
    const noOu = readUnattend(renderAnswerFile(null, pc({ domain: { ...SAMPLE_VALUES[1]!.domain!, ou: null } })));
    expect([noOu.domain, noOu.ou]).toEqual(['lycee.local', null]);
    expect(xmlEscape('<&>')).toBe('&lt;&amp;&gt;');
  });

  it('refuses at save time a template that does not compile, uses an unknown variable or helper, or does not render to an unattend document', () => {
    const refused = (t: string, message: RegExp) => expect(() => checkTemplate(t)).toThrow(expect.objectContaining({ code: 'bad_answer_template', message: expect.stringMatching(message) }));
    const doc = (inner: string) => `<unattend xmlns="${UNATTEND_NS}">${inner}</unattend>`;
    expect(() => checkTemplate(doc('{{computerName}}{{#if domain}}{{domain.ou}}{{/if}}'))).not.toThrow();
    refused(doc('{{#if domain}}'), /not valid handlebars/);
    refused(doc('{{computername}}'), /uses "computername", which is not a variable/);
    refused(doc('{{domain.password}}'), /not a variable|does not render/);
    refused(doc('{{lookup this "x"}}'), /uses lookup: only/);
    refused(doc('{{> other}}'), /uses >partial/);
    refused(doc('<a>{{computerName}}</b>'), /not well-formed XML: <\/b> where <\/a> was expected at line 1/);
    refused(doc('AT&T'), /a bare "&"/);
    refused('<unattend>x</unattend>', /root element must be <unattend xmlns=/);
    refused(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>${doc('')}`, /DOCTYPE/);
    expect(() => checkTemplate(DEFAULT_TEMPLATE)).not.toThrow();
  });

  it('reads only well-formed XML', () => {
    for (const [xml, why] of [
      ['<a><b></a>', /<\/a> where <\/b>/],
      ['<a/><b/>', /a second root/],
      ['<a x="1" x="2"/>', /attribute "x" twice/],
      ['<a>&nbsp;</a>', /unknown entity/],
      ['<p:a/>', /prefix "p" is not declared/],
      ['<a>\u0007</a>', /character XML forbids/],
      ['<a>x', /never closed/],
      ['<a>]]></a>', /"\]\]>" in text/],
    ] as const) expect(() => parseXml(xml), xml).toThrow(why);
    const el = parseXml('<?xml version="1.0" encoding="utf-8"?>\n<!-- c --><x:a xmlns:x="urn:x" b=\'&#233;&#x41;\'><![CDATA[<&>]]></x:a>');
    expect(el).toMatchObject({ local: 'a', ns: 'urn:x', attrs: { b: 'éA' }, text: '<&>' });
  });

  it('seals secrets with AES-256-GCM bound to their place: another key or another field does not open them', () => {
    const key = parseSecretKey(Buffer.alloc(32, 7).toString('base64'))!;
    const sealed = sealSecret(key, ADMIN_PASSWORD, 'image:1:adminPassword');
    expect(sealed).toMatch(/^v1:/);
    expect(sealed).not.toContain('Adm1n');
    expect(sealSecret(key, ADMIN_PASSWORD, 'image:1:adminPassword')).not.toBe(sealed); // a fresh IV each time
    expect(openSecret(key, sealed, 'image:1:adminPassword')).toBe(ADMIN_PASSWORD);
    expect(() => openSecret(key, sealed, 'image:2:adminPassword')).toThrow();
    expect(() => openSecret(Buffer.alloc(32, 8), sealed, 'image:1:adminPassword')).toThrow();
    expect(parseSecretKey('0'.repeat(64))).toHaveLength(32);
    expect(parseSecretKey('short')).toBeNull();
    // The key: ROOMCAST_SECRET_KEY when set (a bad one stops the start, its value hidden), else a file made once, mode 0600.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-secret-'));
    try {
      expect(loadSecretKey(dir, Buffer.alloc(32, 9).toString('base64'))).toEqual(Buffer.alloc(32, 9));
      expect(fs.readdirSync(dir)).toEqual([]);
      expect(() => loadConfig({ ROOMCAST_DATA_DIR: dir, ROOMCAST_SECRET_KEY: 'too-short-a-secret' })).toThrow(/invalid ROOMCAST_SECRET_KEY=\(hidden\): expected 32 bytes/);
      const made = loadSecretKey(dir);
      expect(made).toHaveLength(32);
      expect(fs.statSync(path.join(dir, 'secret.key')).mode & 0o777).toBe(0o600);
      expect(loadSecretKey(dir)).toEqual(made);
      expect(fs.readdirSync(dir)).toEqual(['secret.key']);
      fs.writeFileSync(path.join(dir, 'secret.key'), 'garbage');
      expect(() => loadSecretKey(dir)).toThrow(/does not hold a 32-byte key/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

const missing = [...missingTools({ hivexsh: 'libhivex-bin' }), ...missingDiskTools()];
const WINDOWS_LAYOUT: PartSpec[] = [
  { number: 1, name: 'EFI system partition', fs: 'vfat', startMiB: 1, sizeMiB: 33 },
  { number: 2, name: 'Basic data partition', fs: 'ntfs', startMiB: 34, sizeMiB: 64 },
];
const DISK_MIB = 100;

describe.skipIf(missing.length > 0 || process.getuid?.() !== 0)('a restore writes the PC\'s answer file, rendered for that PC only, its passwords sealed', () => {
  const pc = new ImagingPc('02:5e:15:00:00:17', DISK_MIB * 1024 * 1024);
  const other = { id: 0, mac: '02:5e:15:00:00:18', serial: 'OTHERPC', uuid: '4c4c4544-0000-1010-8000-0000000000bb', diskSerial: 'TD-OTHER' };
  const logLines: string[] = [];
  const answers: unknown[] = [];
  const call = async (method: string, p: string, body?: unknown) => {
    const r = await pc.tech.request(method, p, body);
    answers.push(r.body);
    return r;
  };
  const clientGet = async (token?: string) => {
    const res = await fetch(`${pc.app.url}/api/v1/client/answer-file`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    const text = await res.text(); // the answer file itself holds the passwords (for its PC): not an answer checked below
    return { status: res.status, text, code: res.headers.get('content-type')?.includes('json') ? (JSON.parse(text) as { code: string }).code : null };
  };

  beforeAll(async () => {
    const log = pino({ level: 'trace' }, { write: (s: string) => void logLines.push(s) });
    await pc.start('Windows 11 B204', {}, { log });
    const hive = pc.file('SYSTEM');
    buildHive(hive, SYSTEM_HIVE);
    const files = { 1: { 'EFI/Microsoft/Boot/BCD': mixedContent('bcd', 32_768) }, 2: { 'Windows/System32/config/SYSTEM': fs.readFileSync(hive), 'Windows/System32/ntoskrnl.exe': mixedContent('ntos', 1_000_000) } };
    await buildDisk(pc.file('master.img'), DISK_MIB, WINDOWS_LAYOUT, files);
    const cap = await pc.capture(pc.file('master.img'));
    expect(cap.ok, pc.lastLog()).toBe(true);
    const b = await pc.tech.post('/api/v1/hosts', { name: 'B204-PC18', mac: other.mac });
    expect(b.status, JSON.stringify(b.body)).toBe(201);
    other.id = b.body.id;
  }, 180_000);
  afterAll(() => pc.stop());

  it('checks the template when it is saved, and keeps the passwords write-only', async () => {
    const url = `/api/v1/images/${pc.imageId}/answer-file`;
    expect((await call('GET', url)).body).toMatchObject({ enabled: false, template: null, adminPassword: { set: false }, locale: 'fr-FR', inputLocale: '040c:0000040c', timeZone: 'Romance Standard Time' });
    const badTemplate = await call('PUT', url, { enabled: true, template: `<unattend xmlns="${UNATTEND_NS}">{{computer}}</unattend>` });
    expect(badTemplate.status).toBe(400);
    expect(badTemplate.body).toMatchObject({ code: 'bad_answer_template', detail: expect.stringMatching(/"computer", which is not a variable/) });
    const noPassword = await call('PUT', url, { enabled: true, domain: { name: 'lycee.local', joinUser: 'LYCEE\\joiner' } });
    expect(noPassword.body).toMatchObject({ code: 'bad_answer_value' });
    const set = await call('PUT', url, {
      enabled: true,
      domain: { name: 'lycee.local', ou: 'OU=B204,OU=Postes,DC=lycee,DC=local', joinUser: 'LYCEE\\joiner', joinPassword: JOIN_PASSWORD },
      adminPassword: ADMIN_PASSWORD,
      agentCommand: 'powershell.exe -ExecutionPolicy Bypass -File C:\\roomcast\\agent.ps1',
    });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body).toMatchObject({ enabled: true, domain: { name: 'lycee.local', joinPassword: { set: true } }, adminPassword: { set: true }, workgroup: null });
    // Changing the OU leaves the passwords as they were (left out: kept).
    const kept = await call('PUT', url, { enabled: true, domain: { name: 'lycee.local', ou: 'OU=Eleves,OU=B204,DC=lycee,DC=local', joinUser: 'LYCEE\\joiner' }, agentCommand: 'powershell.exe -ExecutionPolicy Bypass -File C:\\roomcast\\agent.ps1' });
    expect(kept.body).toMatchObject({ domain: { ou: 'OU=Eleves,OU=B204,DC=lycee,DC=local', joinPassword: { set: true } }, adminPassword: { set: true } });
    expect((await call('GET', url)).body.domain.joinPassword).toEqual({ set: true });
  });

  it('renders only for the PC whose running restore task the token is for: none, expired, forged or another PC\'s claims are refused', async () => {
    expect(await clientGet()).toMatchObject({ status: 401, code: 'unauthenticated' });
    expect(await clientGet('not-a-token')).toMatchObject({ status: 401, code: 'invalid_token' });
    const { taskId: otherTask, token: otherToken } = await pc.bootForTask({ kind: 'restore', imageId: pc.imageId }, other);
    const mine = await pc.bootForTask({ kind: 'restore', imageId: pc.imageId });
    const key = Buffer.from((await pc.app.container.settings.get('boot.signing_key'))!, 'base64');
    const now = Math.floor(Date.now() / 1000);
    const expired = signToken(key, { v: 1, purpose: 'task', mac: pc.mac, taskId: mine.taskId, hostId: pc.hostId, exp: now - 5, ip: '127.0.0.1' });
    expect(await clientGet(expired)).toMatchObject({ status: 401, code: 'invalid_token' });
    // A token (genuinely signed) that names this PC but another PC's task: refused.
    const crossed = signToken(key, { v: 1, purpose: 'task', mac: pc.mac, taskId: otherTask, hostId: pc.hostId, exp: now + 600, ip: '127.0.0.1' });
    expect(await clientGet(crossed)).toMatchObject({ status: 403, code: 'task_mismatch' });
    // The other PC's own token gets the other PC's answer file, never this one's.
    const theirs = await clientGet(otherToken);
    expect(theirs.status, theirs.text).toBe(200);
    expect(readUnattend(theirs.text).computerName).toBe('B204-PC18');
    expect(theirs.text).not.toContain('PC-17');
    const ours = await clientGet(mine.token);
    expect(readUnattend(ours.text).computerName).toBe('PC-17');
    // Sealed with another key (the data directory's secret.key lost, ROOMCAST_SECRET_KEY changed): refused, never garbled.
    const elsewhere = new AnswerFiles(pc.app.container.database.db, pc.app.container.tasks, async () => 'PC-17', () => Buffer.alloc(32, 1));
    const machine = { purpose: 'task' as const, mac: pc.mac, taskId: mine.taskId, hostId: pc.hostId, exp: now + 600, actor: { userId: null, name: `machine:${pc.mac}`, ip: '127.0.0.1' } };
    await expect(elsewhere.renderFor(machine)).rejects.toMatchObject({ status: 409, code: 'secret_undecryptable', message: expect.stringMatching(/set them again on the image/) });
    await pc.tech.post(`/api/v1/tasks/${mine.taskId}/cancel`);
    await pc.tech.post(`/api/v1/tasks/${otherTask}/cancel`);
    expect((await clientGet(mine.token)).status).toBe(409);
  });

  it("restores, names the PC and writes its answer file to Windows/Panther/unattend.xml with that PC's values", async () => {
    const disk = pc.blank('pc17.img', DISK_MIB);
    expect((await pc.tech.patch(`/api/v1/hosts/${pc.hostId}`, { name: 'B204-PC17' })).status).toBe(200);
    const r = await pc.restore(disk);
    expect(r.ok, pc.lastLog()).toBe(true);
    answers.push(r.task);
    const report = r.task.result.details.answerFile;
    expect(report).toEqual({ partition: 2, path: 'Windows/Panther/unattend.xml', bytes: expect.any(Number), sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const xml = await withPartitionDir(disk, WINDOWS_LAYOUT[1]!, async (dir) => {
      expect(fs.readdirSync(path.join(dir, 'Windows/Panther'))).toEqual(['unattend.xml']); // no temporary file left
      return fs.readFileSync(path.join(dir, 'Windows/Panther/unattend.xml'));
    }, true);
    expect(xml.length).toBe(report.bytes);
    const { createHash } = await import('node:crypto');
    expect(createHash('sha256').update(xml).digest('hex')).toBe(report.sha256);
    expect(readUnattend(xml.toString('utf8'))).toMatchObject({
      computerName: 'B204-PC17',
      timeZone: ['Romance Standard Time', 'Romance Standard Time'],
      locale: ['fr-FR', 'fr-FR', 'fr-FR', 'fr-FR'],
      inputLocale: '040c:0000040c',
      domain: 'lycee.local',
      ou: 'OU=Eleves,OU=B204,DC=lycee,DC=local',
      credentials: ['lycee.local', 'LYCEE\\joiner', JOIN_PASSWORD],
      adminPassword: ADMIN_PASSWORD,
      firstLogon: 'powershell.exe -ExecutionPolicy Bypass -File C:\\roomcast\\agent.ps1',
    });
    expect(r.task.result.details.identity.computerName).toBe('B204-PC17');
    expect(pc.log.join('\n')).toMatch(/answer file written to Windows\/Panther\/unattend.xml on partition 2/);
  }, 180_000);

  it('keeps both passwords out of the database file, every API answer, the log and the audit', async () => {
    const audit = (await (await adminClient()).get('/api/v1/audit?limit=1000')).body;
    answers.push(audit);
    expect(JSON.stringify(audit)).toContain('domain join password changed');
    // The SQLite file and its journal (WAL), as they are on the disk.
    const dbFile = pc.app.databaseUrl.replace(/^sqlite:/, '');
    const dbFiles = fs.readdirSync(path.dirname(dbFile)).filter((f) => f.startsWith(path.basename(dbFile)));
    expect(dbFiles).toContain(path.basename(dbFile));
    const raw = Buffer.concat(dbFiles.map((f) => fs.readFileSync(path.join(path.dirname(dbFile), f))));
    expect(raw.includes('v1:'), 'the sealed form is in the file').toBe(true);
    expect(raw.includes('OU=Eleves'), 'the file is readable for what is not secret').toBe(true);
    expect(logLines.length).toBeGreaterThan(10);
    // No ROOMCAST_SECRET_KEY here: the key was made in the data directory, readable by its owner only.
    expect(fs.statSync(path.join(pc.app.dataDir, 'secret.key')).mode & 0o777).toBe(0o600);
    for (const secret of [JOIN_PASSWORD, ADMIN_PASSWORD, 'Jo1n-S3cret', 'Adm1n']) {
      expect(raw.includes(Buffer.from(secret)), `${secret} in the database file`).toBe(false);
      expect(JSON.stringify(answers), `${secret} in an API answer`).not.toContain(secret.slice(0, 8));
      expect(logLines.join('\n'), `${secret} in the api's log`).not.toContain(secret.slice(0, 8));
      expect(pc.log.join('\n'), `${secret} in the client's log`).not.toContain(secret.slice(0, 8));
      expect(JSON.stringify(audit), `${secret} in the audit`).not.toContain(secret.slice(0, 8));
    }
  });

  async function adminClient() {
    const admin = new ApiClient(pc.app.url);
    await admin.login('admin', TEST_ADMIN_PASSWORD);
    return admin;
  }
});

describe.each(DIALECTS)('answer file settings stored sealed (%s)', (dialect) => {
  let app: TestApp;
  afterAll(() => app?.stop());

  it('keeps the passwords sealed in the table, keeps them when left out, and removes them with the answer file', async () => {
    app = await startTestApp(dialect);
    const admin = new ApiClient(app.url);
    await admin.login('admin', TEST_ADMIN_PASSWORD);
    const image = (await admin.post('/api/v1/images', { name: 'Windows 11 C101' })).body.id as number;
    const url = `/api/v1/images/${image}/answer-file`;
    const put = await admin.request('PUT', url, { enabled: true, domain: { name: 'lycee.local', joinUser: 'joiner', joinPassword: JOIN_PASSWORD }, adminPassword: ADMIN_PASSWORD });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    const row = async () => app.container.database.db.selectFrom('image_answer_files').selectAll().where('image_id', '=', image).executeTakeFirst();
    const stored = (await row())!;
    expect([stored.domain_join_password, stored.admin_password]).toEqual([expect.stringMatching(/^v1:/), expect.stringMatching(/^v1:/)]);
    expect(JSON.stringify(stored)).not.toContain('S3cret');
    expect((await admin.request('PUT', url, { enabled: true, domain: { name: 'lycee.local', joinUser: 'joiner' }, adminPassword: null })).body).toMatchObject({ domain: { joinPassword: { set: true } }, adminPassword: { set: false } });
    expect((await row())!.domain_join_password).toBe(stored.domain_join_password);
    expect((await admin.delete(url)).status).toBe(204);
    expect(await row()).toBeUndefined();
    expect((await admin.get(url)).body).toMatchObject({ enabled: false, adminPassword: { set: false }, domain: null });
    const audit = (await admin.get('/api/v1/audit?targetType=image')).body as Array<{ action: string; details: unknown }>;
    expect(audit.map((a) => a.action)).toEqual(['image.answer_file.delete', 'image.answer_file.update', 'image.answer_file.update', 'image.create']);
    expect(JSON.stringify(audit)).toContain('local administrator password removed');
    expect(JSON.stringify(audit)).not.toMatch(/S3cret|Adm1n/);
  }, 60_000);
});
