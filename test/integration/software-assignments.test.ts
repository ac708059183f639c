// Software assignments through AssignmentService (issue 16 item 4) against a real SQLite file and a real
// PostgreSQL database, without HTTP: packages assigned to a room and to single PCs, a PC's own
// assignment replacing or excluding its room's, each PC's list in install order with the newest ready
// version of an unpinned package; a change that would leave a dependency out refused with the packages
// named, and nothing stored; the agent's list with its files and no secret value; deleting a room or a
// PC takes its assignments with it, and a package version an assignment needs cannot be deleted.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MachineAuth } from '../../services/core/auth.js';
import { PackageManifestSchema } from '../../services/software/package.js';
import { DIALECTS } from '../support/env.js';
import { refused } from '../support/refused.js';
import { openTestServices, type TestServices } from '../support/services.js';

const actor = { userId: null, name: 'tech', ip: null };
const SECRET = `SERIAL-${randomBytes(6).toString('hex')}`;

async function* once(b: Buffer) {
  yield b;
}

describe.each(DIALECTS)('software assignments through AssignmentService (%s)', (dialect) => {
  let s: TestServices;
  let roomId: number;
  let pc1: number;
  let pc2: number;
  let lone: number;
  const v: Record<string, number> = {};

  /** Adds a package version; `ready` uploads its one file (hashed, published). */
  async function add(id: string, version: string, opts: { ready: boolean; dependsOn?: string[]; secret?: boolean }) {
    const bytes = randomBytes(2048);
    const manifest = PackageManifestSchema.parse({
      id, version, name: `Test ${id}`, publisher: 'roomcast tests',
      files: [{ name: `${id}-setup.exe`, sizeBytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }],
      install: { command: opts.secret ? `${id}-setup.exe /S /KEY={{serial}}` : `${id}-setup.exe /S`, timeoutMinutes: 30 },
      properties: opts.secret ? [{ name: 'serial', type: 'string', secret: true, label: { fr: 'Numéro de série', en: 'Serial number' } }] : [],
      detection: { type: 'uninstall_entry', displayName: `Test ${id}` },
      dependsOn: opts.dependsOn ?? [],
    });
    const made = await s.software.create(actor, manifest, opts.secret ? { serial: SECRET } : {});
    if (opts.ready) await s.software.append(made.id, 0, 0, once(bytes));
    v[`${id}@${version}`] = made.id;
    return made.id;
  }

  const list = async (hostId: number) => (await s.assignments.forHost(hostId)).entries.map((e) => [e.packageId, e.version, e.from, e.state]);
  const machine = (hostId?: number): MachineAuth => ({ purpose: 'task', mac: '02:5e:16:00:00:01', ...(hostId !== undefined ? { hostId } : {}), exp: 0, actor });

  beforeAll(async () => {
    s = await openTestServices(dialect);
    roomId = (await s.inventory.createRoom(actor, { name: 'B204' })).id;
    pc1 = (await s.inventory.createHost(actor, { name: 'B204-01', mac: '02:00:00:00:16:01', roomId })).id;
    pc2 = (await s.inventory.createHost(actor, { name: 'B204-02', mac: '02:00:00:00:16:02', roomId })).id;
    lone = (await s.inventory.createHost(actor, { name: 'CDI-01', mac: '02:00:00:00:16:03', roomId: null })).id;
    await add('vcredist', '14.40', { ready: true });
    await add('matlab', '2025a', { ready: true, dependsOn: ['vcredist'], secret: true });
    await add('matlab', '2025b', { ready: false, dependsOn: ['vcredist'] });
    await add('firefox', '128.0', { ready: true });
    await add('firefox', '140.0', { ready: true });
    await add('geogebra', '6.0', { ready: false });
  }, 60_000);

  afterAll(async () => {
    await s?.close();
  });

  it('refuses what cannot be assigned, with the reason, and stores nothing', async () => {
    expect(await refused(s.assignments.assign(actor, { roomId, packageId: 'matlab' }))).toMatchObject({
      status: 422, code: 'software_dependency_unassigned', message: 'on room B204, matlab depends on vcredist, which is not assigned there: assign vcredist too, or unassign matlab',
    });
    expect(await refused(s.assignments.assign(actor, { hostId: pc1, packageId: 'matlab' }))).toMatchObject({ code: 'software_dependency_unassigned', message: expect.stringContaining('on PC B204-01') });
    expect(await refused(s.assignments.assign(actor, { roomId, packageId: 'firefox', version: '99.0' }))).toMatchObject({ status: 422, code: 'software_version_unknown', message: expect.stringContaining('128.0, 140.0') });
    expect(await refused(s.assignments.assign(actor, { roomId, packageId: 'libreoffice' }))).toMatchObject({ status: 404 });
    expect(await refused(s.assignments.assign(actor, { roomId: 9999, packageId: 'firefox' }))).toMatchObject({ status: 404 });
    expect(await refused(s.assignments.assign(actor, { roomId, packageId: 'firefox', exclude: true }))).toMatchObject({ code: 'software_exclude_not_host' });
    expect(await refused(s.assignments.assign(actor, { roomId, hostId: pc1, packageId: 'firefox' }))).toMatchObject({ status: 400 });
    expect(await s.assignments.list()).toEqual([]);
  });

  it('gives each PC its room\'s packages and its own, in install order, the newest ready version unless pinned', async () => {
    await s.assignments.assign(actor, { roomId, packageId: 'vcredist' });
    await s.assignments.assign(actor, { roomId, packageId: 'matlab' });
    await s.assignments.assign(actor, { roomId, packageId: 'firefox', version: '128.0' });
    await s.assignments.assign(actor, { hostId: pc2, packageId: 'firefox' });
    await s.assignments.assign(actor, { hostId: pc2, packageId: 'geogebra' });
    // matlab 2025b is still uploading: the room gets 2025a.
    expect(await list(pc1)).toEqual([['vcredist', '14.40', 'room', 'ready'], ['matlab', '2025a', 'room', 'ready'], ['firefox', '128.0', 'room', 'ready']]);
    expect(await list(pc2)).toEqual([['vcredist', '14.40', 'room', 'ready'], ['matlab', '2025a', 'room', 'ready'], ['firefox', '140.0', 'host', 'ready'], ['geogebra', '6.0', 'host', 'waiting']]);
    expect(await list(lone)).toEqual([]);
    expect((await s.assignments.forHost(pc2)).entries.at(-1)!.reason).toEqual({ code: 'no_ready_version', text: 'no version of geogebra is ready yet (6.0 is still uploading)' });
  });

  it('lets a PC exclude a room\'s package unless another package needs it', async () => {
    expect(await refused(s.assignments.assign(actor, { hostId: pc1, packageId: 'vcredist', exclude: true }))).toMatchObject({
      code: 'software_dependency_unassigned', message: 'on PC B204-01, matlab depends on vcredist, which is excluded there: remove the exclusion of vcredist, or exclude matlab too',
    });
    const ex = await s.assignments.assign(actor, { hostId: pc1, packageId: 'matlab', exclude: true });
    expect(ex).toMatchObject({ hostId: pc1, roomId: null, packageId: 'matlab', version: null, exclude: true });
    const view = await s.assignments.forHost(pc1);
    expect(view.entries.map((e) => e.packageId)).toEqual(['vcredist', 'firefox']);
    expect(view.excluded).toEqual([{ packageId: 'matlab', assignmentId: ex.id }]);
    // The room still gives matlab to its other PC; taking vcredist from the room would break it.
    const vcredist = (await s.assignments.list({ roomId, packageId: 'vcredist' }))[0]!;
    expect(await refused(s.assignments.unassign(actor, vcredist.id))).toMatchObject({ status: 422, code: 'software_dependency_unassigned', message: expect.stringContaining('matlab depends on vcredist') });
    expect(await s.assignments.list({ roomId, packageId: 'vcredist' })).toHaveLength(1);
    // Assigning again replaces: one row per target and package.
    await s.assignments.assign(actor, { roomId, packageId: 'firefox', version: '140.0' });
    expect((await s.assignments.list({ roomId, packageId: 'firefox' })).map((a) => a.version)).toEqual(['140.0']);
  });

  it('gives the agent its PC\'s ready packages in order with their files, and no secret value', async () => {
    const got = await s.assignments.forAgent(machine(pc2));
    expect(got.packages.map((p) => [p.packageId, p.version])).toEqual([['vcredist', '14.40'], ['matlab', '2025a'], ['firefox', '140.0']]);
    expect(got.waiting).toEqual([{ packageId: 'geogebra', reason: 'no version of geogebra is ready yet (6.0 is still uploading)' }]);
    const matlab = got.packages[1]!;
    expect(matlab.files).toEqual([{ index: 0, name: 'matlab-setup.exe', sizeBytes: 2048, sha256: expect.stringMatching(/^[0-9a-f]{64}$/), url: `/api/v1/client/software/packages/${v['matlab@2025a']}/files/0` }]);
    expect(matlab.values).toEqual({ serial: { set: true } });
    expect(JSON.stringify(got)).not.toContain(SECRET);
    expect(await refused(s.assignments.forAgent(machine()))).toMatchObject({ status: 403, code: 'not_a_host_token' });
  });

  it('refuses to delete a package version an assignment needs, and deletes one it does not', async () => {
    await s.assignments.assign(actor, { hostId: pc1, packageId: 'firefox', version: '128.0' });
    expect(await refused(s.software.remove(actor, v['firefox@128.0']!))).toMatchObject({ status: 409, code: 'software_package_assigned', message: expect.stringContaining('PC B204-01') });
    // geogebra has one version, assigned unpinned: its last version stays.
    expect(await refused(s.software.remove(actor, v['geogebra@6.0']!))).toMatchObject({ code: 'software_package_assigned', message: expect.stringContaining('PC B204-02') });
    // matlab 2025b: the room follows the newest ready version, and 2025a remains.
    await s.software.remove(actor, v['matlab@2025b']!);
    expect((await s.software.list()).filter((p) => p.packageId === 'matlab').map((p) => p.version)).toEqual(['2025a']);
  });

  it('deletes a PC\'s and a room\'s assignments with them, and audits every change', async () => {
    expect(await s.assignments.list({ hostId: pc2 })).toHaveLength(2);
    await s.inventory.deleteHost(actor, pc2);
    expect(await s.assignments.list({ hostId: pc2 })).toEqual([]);
    expect((await s.assignments.list({ roomId })).length).toBeGreaterThan(0);
    await s.inventory.deleteRoom(actor, roomId, { unassignHosts: true });
    expect(await s.assignments.list({ roomId })).toEqual([]);
    // pc1 is unassigned now: only its own rows remain, and its list is its own.
    expect(await list(pc1)).toEqual([['firefox', '128.0', 'host', 'ready']]);
    const audit = await s.database.db.selectFrom('audit_log').select(['action', 'details']).where('action', 'like', 'software_assignment.%').orderBy('id').execute();
    expect(audit.map((a) => a.action)).toEqual([...Array(8).fill('software_assignment.assign')]);
    expect(JSON.parse(audit[6]!.details!)).toMatchObject({ packageId: 'firefox', version: '140.0', to: 'room B204', before: { version: '128.0', exclude: false } });
    const one = (await s.assignments.list({ hostId: pc1, packageId: 'matlab' }))[0]!;
    await s.assignments.unassign(actor, one.id);
    expect((await s.database.db.selectFrom('audit_log').select('action').orderBy('id', 'desc').executeTakeFirstOrThrow()).action).toBe('software_assignment.unassign');
    expect(await refused(s.assignments.unassign(actor, one.id))).toMatchObject({ status: 404 });
  });
});
