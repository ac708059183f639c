// The bandwidth plan of a room run (runs/plan.ts) through the real service and database (SQLite and
// PostgreSQL): made when the run starts from each PC's path and the share of the version its disk
// holds, stored with the run and shown again from the database; the estimate's plan; the link rate
// as configured, else measured from a past multicast session; and the report's planned against
// actual duration.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RoomRepository } from '../../services/inventory/rooms.js';
import { reportHtml } from '../../services/runs/report-html.js';
import { RunRepository } from '../../services/runs/repository.js';
import { RunService } from '../../services/runs/service.js';
import { OVERHEAD_SECONDS } from '../../services/runs/estimate.js';
import { DIALECTS } from '../support/env.js';
import { machineOf, publishChunkedVersion } from '../support/runs.js';
import { openTestServices, type TestServices } from '../support/services.js';

const actor = { userId: null, name: 'tech', ip: null };
const hash = (tag: string, i: number) => `${tag}${i.toString(16)}`.padEnd(64, '0');
/** The server link as the admin set it for this test: 1 MB/s, so that 22 MiB take seconds. */
const LINK = 1e6;

describe.each(DIALECTS)("a room run's bandwidth plan, from the database (%s)", (dialect) => {
  let s: TestServices;
  let runs: RunService;
  let clock = Date.parse('2026-12-07T18:00:00Z');
  let roomId: number;
  let imageId: number;
  const hosts: Array<{ id: number; mac: string }> = [];

  /** A ready version whose chunks are `hashes` (4 MiB each, stored in 2 MiB); its number. */
  const version = (hashes: string[], ref: { id: number; mac: string }) => publishChunkedVersion(s, imageId, hashes, ref);

  beforeAll(async () => {
    s = await openTestServices(dialect);
    const db = s.database.db;
    runs = new RunService(db, new RunRepository(db), s.tasks, s.hosts, new RoomRepository(db), s.events, () => clock, undefined, null, { linkRate: LINK, multicastCap: null });
    roomId = (await s.inventory.createRoom(actor, { name: 'B207' })).id;
    for (let i = 1; i <= 4; i++) {
      const h = await s.inventory.createHost(actor, { name: `B207-0${i}`, mac: `02:00:00:00:07:0${i}`, roomId });
      hosts.push({ id: h.id, mac: h.mac });
    }
    const ref = await s.inventory.createHost(actor, { name: 'REF', mac: '02:00:00:00:07:99', roomId: null });
    imageId = (await s.catalogue.createImage(actor, { name: 'Windows 11' })).id;
    const base = Array.from({ length: 10 }, (_, i) => hash('d', i));
    expect(await version(base, ref)).toBe(1);
    // Version 2 shares 9 of its 10 chunks (90 %) with version 1, which B207-01 holds.
    expect(await version([...base.slice(0, 9), hash('e', 0)], ref)).toBe(2);
    const h = hosts[0]!;
    const t = await s.tasks.create(actor, [h.id], 'restore', { imageId, version: 1 });
    await s.events.transaction(s.database.db, (tx) => s.tasks.checkIn(tx, actor, t.created[0]!, h.id));
    await s.tasks.finish(machineOf(h.mac, t.created[0]!, h.id), { ok: true, details: {} });
  });

  afterAll(async () => {
    await s?.close();
  });

  it('is made when the run starts (a differential PC moves a tenth of the version, the stream the version once), stored, and fits its window', async () => {
    const windowEndsAt = new Date(clock + 10 * 60_000).toISOString();
    const run = await runs.create(actor, { roomId, imageId, version: 2, steps: ['restore', 'verify'], windowEndsAt });
    const stored = 20 * (1 << 20);
    const total = stored / 10 + stored;
    const seconds = Math.round(OVERHEAD_SECONDS + total / LINK);
    expect(run.plan).toMatchObject({
      pcs: 4,
      paths: { differential: { pcs: 1, bytes: stored / 10 }, multicast: { pcs: 3, bytes: stored }, unicast: { pcs: 0, bytes: 0 } },
      totalBytes: total,
      bound: 'server_link',
      seconds,
      rate: { bytesPerSecond: LINK, source: 'configured' },
      window: { seconds: 600, fits: true, marginSeconds: 600 - seconds },
    });
    expect(run.plan!.reasons.window).toMatchObject({ code: 'plan_fits', fr: expect.stringContaining('tient dans sa plage horaire') });
    // Read back from the database: the same plan.
    expect((await runs.view(run.id)).plan).toEqual(run.plan);

    // The run ends as planned: the report says so, in both languages.
    clock += seconds * 1000;
    await runs.cancel(actor, run.id);
    const report = await runs.report(run.id);
    expect(report.plan).toMatchObject({ plannedSeconds: seconds, actualSeconds: seconds, bound: 'server_link', fits: true, words: { actual: { code: 'plan_as_planned' } } });
    expect(reportHtml(report, 'fr')).toContain('comme prévu');
    expect(reportHtml(report, 'en')).toContain('as planned');
  });

  it('does not fit a short window, and says by how much', async () => {
    const run = await runs.create(actor, { roomId, imageId, version: 2, steps: ['restore', 'verify'], windowEndsAt: new Date(clock + 60_000).toISOString(), transport: 'unicast' });
    expect(run.plan!.paths).toMatchObject({ differential: { pcs: 1 }, unicast: { pcs: 3, bytes: 3 * 20 * (1 << 20) } });
    expect(run.plan!.window.fits).toBe(false);
    expect(run.plan!.reasons.window).toMatchObject({ code: 'plan_too_long', en: expect.stringContaining('does not fit its window') });
    await runs.cancel(actor, run.id);
  });

  it("the estimate plans PCs that need the whole version: unicast shares the link, multicast sends once", async () => {
    const uni = await runs.estimate({ imageId, version: 2, pcs: 30, transport: 'unicast' });
    const multi = await runs.estimate({ imageId, version: 2, pcs: 30 });
    expect(uni.plan.paths.unicast).toEqual({ pcs: 30, bytes: 30 * 20 * (1 << 20) });
    expect(multi.plan.paths.multicast).toEqual({ pcs: 30, bytes: 20 * (1 << 20) });
    expect(multi.plan.seconds).toBeLessThan(uni.plan.seconds);
    expect(multi.plan.window.fits).toBeNull();
  });

  it('without a configured rate, takes the rate a past multicast session reached, else assumes 1 Gbit/s', async () => {
    const db = s.database.db;
    const bare = new RunService(db, new RunRepository(db), s.tasks, s.hosts, new RoomRepository(db), s.events, () => clock, undefined, null);
    const before = await bare.estimate({ imageId, version: 2, pcs: 2 });
    expect(before.plan.rate).toMatchObject({ source: 'default', bytesPerSecond: 125e6 });
    expect(before.plan.reasons.rate.code).toBe('plan_rate_default');

    const run = await runs.create(actor, { roomId, hostIds: [hosts[2]!.id, hosts[3]!.id], imageId, version: 2, steps: ['restore', 'verify'] });
    const at = new Date(clock).toISOString();
    expect(await runs.sessions.claimSession(run.id, 'w1', { slot: 1, group: '239.255.82.2', portBase: 9002 }, at, new Date(clock - 30_000).toISOString())).toBe(true);
    expect(await runs.sessions.endSession(run.id, 'w1', { ok: true, reason: 'done', detail: 'sent', streamBytes: 50e6, joined: [], dropped: [], seconds: 10 }, at)).toBe(true);
    await runs.cancel(actor, run.id);
    const after = await bare.estimate({ imageId, version: 2, pcs: 2 });
    expect(after.plan.rate).toEqual({ bytesPerSecond: 5e6, source: 'measured', samples: 1 });
    expect(after.plan.reasons.rate).toMatchObject({ code: 'plan_rate_measured', params: { mbit: 40, samples: 1 } });
  });
});
