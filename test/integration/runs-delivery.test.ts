// Each PC's path in a room run (runs/delivery.ts) from what the database knows (real SQLite and
// PostgreSQL): its last restore and how many of the target version's bytes that version shares (the
// two versions' chunk lists), the run's transport and whether the server has multicast. And the run's
// multicast session record: claimed once, taken over from a silent worker, its ports in a multicast
// PC's restore task while it is sent, and a PC that starts after it ended restored by unicast, with why.
// And the session's multicast probe: named in the PC's task when the worker sends it, and what the
// PC's client heard of it recorded on its line (a PC that heard none: unicast, with the reason, fr and en).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RoomRepository } from '../../services/inventory/rooms.js';
import { deliveredOf } from '../../services/jobs/runs.js';
import { decideProbe, NOT_RECEIVED, summarize } from '../../services/imaging/multicast/probe.js';
import { RunRepository } from '../../services/runs/repository.js';
import { RunService } from '../../services/runs/service.js';
import { DIALECTS } from '../support/env.js';
import { machineOf, publishChunkedVersion } from '../support/runs.js';
import { openTestServices, type TestServices } from '../support/services.js';

const actor = { userId: null, name: 'tech', ip: null };
const MIB4 = 4 << 20;
const hash = (tag: string, i: number) => `${tag}${i.toString(16)}`.padEnd(64, '0');

describe.each(DIALECTS)('each PC\'s path in a room run, from the database (%s)', (dialect) => {
  let s: TestServices;
  let runs: RunService;
  let off: RunService;
  let roomId: number;
  let imageId: number;
  const hosts: Array<{ id: number; mac: string; name: string }> = [];

  /** A ready version of the image whose chunks are `hashes` (4 MiB each, rows in the chunks table); its number. */
  const version = (hashes: string[], ref: { id: number; mac: string }) => publishChunkedVersion(s, imageId, hashes, ref);

  /** A restore of `number` on host k that ended `ok` (or failed), as its client would report it. */
  async function restored(k: number, number: number, ok: boolean): Promise<void> {
    const h = hosts[k]!;
    const t = await s.tasks.create(actor, [h.id], 'restore', { imageId, version: number });
    const taskId = t.created[0]!;
    await s.events.transaction(s.database.db, (tx) => s.tasks.checkIn(tx, actor, taskId, h.id));
    await s.tasks.finish(machineOf(h.mac, taskId, h.id), ok ? { ok: true, details: {} } : { ok: false, reason: 'the disk went away', details: {} });
  }

  const paths = (v: Awaited<ReturnType<RunService['view']>>) => Object.fromEntries(v.pcs.map((p) => [p.hostName, `${p.delivery?.path}:${p.delivery?.reason.code}`]));

  beforeAll(async () => {
    s = await openTestServices(dialect);
    const db = s.database.db;
    runs = new RunService(db, new RunRepository(db), s.tasks, s.hosts, new RoomRepository(db), s.events, Date.now, undefined, null);
    off = new RunService(db, new RunRepository(db), s.tasks, s.hosts, new RoomRepository(db), s.events);
    roomId = (await s.inventory.createRoom(actor, { name: 'B206' })).id;
    for (let i = 1; i <= 4; i++) {
      const h = await s.inventory.createHost(actor, { name: `B206-0${i}`, mac: `02:00:00:00:06:0${i}`, roomId });
      hosts.push({ id: h.id, mac: h.mac, name: h.name });
    }
    const ref = await s.inventory.createHost(actor, { name: 'REF', mac: '02:00:00:00:06:99', roomId: null });
    imageId = (await s.catalogue.createImage(actor, { name: 'Windows 11' })).id;
    const base = Array.from({ length: 10 }, (_, i) => hash('a', i));
    expect(await version(base, ref)).toBe(1);
    // Version 2 shares 9 of its 10 chunks (90 %) with version 1; version 3 only 5 (50 %).
    expect(await version([...base.slice(0, 9), hash('b', 0)], ref)).toBe(2);
    expect(await version([...base.slice(0, 5), ...Array.from({ length: 5 }, (_, i) => hash('c', i))], ref)).toBe(3);
    // 01: version 1 restored; 02: version 1 restored, then a restore that failed; 03, 04: never restored.
    await restored(0, 1, true);
    await restored(1, 1, true);
    await restored(1, 2, false);
  });

  afterAll(async () => {
    await s?.close();
  });

  it('differential for a PC whose disk holds most of the version, one stream for the others; unicast when asked, off, or alone', async () => {
    const auto = await runs.create(actor, { roomId, imageId, version: 2, steps: ['restore', 'verify'] });
    expect(paths(auto)).toEqual({ 'B206-01': 'differential:path_differential', 'B206-02': 'multicast:path_multicast', 'B206-03': 'multicast:path_multicast', 'B206-04': 'multicast:path_multicast' });
    expect(auto.pcs[0]!.delivery!.reason).toMatchObject({ params: { percent: 90, from: 1, version: 2 }, text: expect.stringContaining('holds 90 % of version 2') });
    expect(auto.pcs[1]!.delivery!.reason.params).toEqual({ pcs: 3, version: 2 });
    await runs.cancel(actor, auto.id);

    // Version 3 shares only half of version 1: no differential PC.
    const v3 = await runs.create(actor, { roomId, imageId, version: 3, steps: ['restore', 'verify'], transport: 'unicast' });
    expect(Object.values(paths(v3))).toEqual(Array(4).fill('unicast:path_unicast_forced'));
    await runs.cancel(actor, v3.id);

    const alone = await runs.create(actor, { roomId, hostIds: [hosts[0]!.id, hosts[2]!.id], imageId, version: 1, steps: ['restore', 'verify'] });
    expect(paths(alone)).toEqual({ 'B206-01': 'differential:path_differential', 'B206-03': 'unicast:path_unicast_single' });
    expect(alone.pcs[0]!.delivery!.reason.text).toMatch(/already holds version 1/);
    await runs.cancel(actor, alone.id);

    const noMulticast = await off.create(actor, { roomId, imageId, version: 2, steps: ['restore', 'verify'], transport: 'multicast' });
    expect(paths(noMulticast)['B206-03']).toBe('unicast:path_unicast_multicast_off');
    expect(noMulticast.pcs[2]!.delivery!.reason.text).toMatch(/ROOMCAST_MULTICAST_INTERFACE/);
    await off.cancel(actor, noMulticast.id);
    const report = await runs.report(noMulticast.id);
    expect(report.pcs.find((p) => p.hostName === 'B206-03')!.delivery).toMatchObject({ path: 'unicast', fr: expect.stringContaining("le multicast n'est pas configuré") });
  });

  it("claims a run's session once, lets a silent worker's be taken over, and gives its ports to a multicast PC's task; after it ended, a PC starts over unicast", async () => {
    const run = await runs.create(actor, { roomId, hostIds: [hosts[2]!.id, hosts[3]!.id], imageId, version: 2, steps: ['restore', 'verify'], maxParallel: 1, wakeTimeoutMinutes: 2 });
    const slot = { slot: 3, group: '239.255.82.4', portBase: 9006 };
    const t0 = new Date();
    const iso = (ms: number) => new Date(t0.getTime() + ms).toISOString();
    expect(await runs.sessions.claimSession(run.id, 'w1', slot, iso(0), iso(-30_000))).toBe(true);
    expect(await runs.sessions.claimSession(run.id, 'w1', slot, iso(0), iso(-30_000))).toBe(true);
    expect(await runs.sessions.claimSession(run.id, 'w2', slot, iso(1000), iso(-29_000))).toBe(false);
    expect(await runs.sessions.sendingSlots(iso(-30_000))).toEqual([{ runId: run.id, slot: 3 }]);
    // w1 fell silent: 30 s later w2 takes the session over, and w1 no longer holds it.
    expect(await runs.sessions.claimSession(run.id, 'w2', slot, iso(31_000), iso(1000))).toBe(true);
    expect(await runs.sessions.beatSession(run.id, 'w1', iso(32_000))).toBe(false);
    expect(await runs.sessions.beatSession(run.id, 'w2', iso(32_000))).toBe(true);

    const first = run.pcs[0]!;
    const started = await runs.apply(first.id, { type: 'start', inUse: false });
    expect(started.pc.state).toBe('waking');
    const task = await s.tasks.get(started.pc.taskId!);
    expect(task.params).toMatchObject({ versionId: run.version.id, multicast: { portBase: 9006, versionId: run.version.id, startTimeoutSec: 135, receiveTimeoutSec: 30 } });
    expect((await runs.view(run.id)).multicast).toMatchObject({ state: 'sending', group: '239.255.82.4', portBase: 9006, outcome: null });

    expect(await runs.sessions.endSession(run.id, 'w1', { ok: true }, iso(40_000))).toBe(false);
    expect(await runs.sessions.endSession(run.id, 'w2', { ok: false, reason: 'no_receivers', detail: 'no PC joined the session before its start timeout', streamBytes: 0, joined: [], dropped: [], seconds: 240 }, iso(40_000))).toBe(true);
    expect(await runs.sessions.claimSession(run.id, 'w3', slot, iso(200_000), iso(100_000))).toBe(false);
    await runs.cancelPc(actor, run.id, first.id);
    const second = await runs.apply(run.pcs[1]!.id, { type: 'start', inUse: false });
    expect((await s.tasks.get(second.pc.taskId!)).params).not.toHaveProperty('multicast');
    expect(second.pc.delivery).toMatchObject({ path: 'unicast', reason: { code: 'path_unicast_session_over', text: expect.stringContaining('no PC joined the session before its start timeout') } });

    // The client's report: bytes by multicast and by repair, and a PC that could not join says why.
    await runs.delivered(second.pc.id, { multicastBytes: 0, repairBytes: 0 }, 'udp-receiver is missing from the boot client');
    expect((await runs.pc(second.pc.id))!.delivery).toMatchObject({ path: 'unicast', reason: { code: 'path_unicast_fallback', text: expect.stringContaining('udp-receiver is missing') } });
    await runs.delivered(first.id, { multicastBytes: 3 * MIB4, repairBytes: MIB4 }, null);
    expect((await runs.pc(first.id))!.delivery).toMatchObject({ path: 'multicast', multicastBytes: 3 * MIB4, repairBytes: MIB4 });
    await runs.cancel(actor, run.id);
    expect((await runs.view(run.id)).multicast).toMatchObject({ state: 'ended', outcome: { ok: false, reason: 'no_receivers' } });
  });
  it("names the session's probe in a PC's task when the worker sends it, and records per PC what the client heard of it (fr, en)", async () => {
    const run = await runs.create(actor, { roomId, hostIds: [hosts[1]!.id, hosts[2]!.id, hosts[3]!.id], imageId, version: 3, steps: ['restore', 'verify'], maxParallel: 3 });
    expect(paths(run)).toEqual({ 'B206-02': 'multicast:path_multicast', 'B206-03': 'multicast:path_multicast', 'B206-04': 'multicast:path_multicast' });
    expect(await runs.sessions.claimSession(run.id, 'w1', { slot: 2, group: '239.255.82.3', portBase: 9004 }, new Date().toISOString(), new Date(Date.now() - 30_000).toISOString())).toBe(true);
    const [deaf, heard, plain] = run.pcs;
    const a = await runs.apply(deaf!.id, { type: 'start', inUse: false, probeListenMs: 4000 });
    expect((await s.tasks.get(a.pc.taskId!)).params).toMatchObject({ multicast: { portBase: 9004, probe: { group: '239.255.83.3', port: 8998, runId: run.id, listenMs: 4000 } } });
    const b = await runs.apply(heard!.id, { type: 'start', inUse: false, probeListenMs: 4000 });
    // A worker that sends no probe for the run: the PC joins without listening.
    const c = await runs.apply(plain!.id, { type: 'start', inUse: false });
    expect((await s.tasks.get(c.pc.taskId!)).params).toMatchObject({ multicast: { portBase: 9004 } });
    expect((await s.tasks.get(c.pc.taskId!)).params).not.toHaveProperty('multicast.probe');

    // The clients' results as main.ts reports them: the deaf PC went over HTTP at once, the other joined.
    const none = { ...summarize(run.id, [], 0, 4000), ...decideProbe(summarize(run.id, [], 0, 4000)) };
    const deafGot = deliveredOf({ details: { path: 'http', multicastFallback: none.text, probe: none, fetchedBytes: 5 * MIB4 } })!;
    expect(deafGot).toMatchObject({ fallback: NOT_RECEIVED, probe: { code: 'probe_not_received', received: 0 } });
    await runs.delivered(a.pc.id, deafGot.bytes, deafGot.fallback, deafGot.probe);
    const seen = { received: 70, expected: 70, lost: 0, rate: 1_050_000, foreign: 0, listenMs: 2300, error: null };
    const heardGot = deliveredOf({ details: { path: 'multicast', multicastBytes: 5 * MIB4, repairBytes: 0, probe: { ...seen, ...decideProbe(seen) } } })!;
    await runs.delivered(b.pc.id, heardGot.bytes, heardGot.fallback, heardGot.probe);

    const view = await runs.view(run.id);
    expect(paths(view)).toEqual({ 'B206-02': 'unicast:path_unicast_probe', 'B206-03': 'multicast:path_multicast_probed', 'B206-04': 'multicast:path_multicast' });
    await runs.cancel(actor, run.id);
    const report = await runs.report(run.id);
    const line = (name: string) => report.pcs.find((p) => p.hostName === name)!.delivery!;
    expect(line('B206-02')).toMatchObject({ path: 'unicast', en: 'multicast did not reach this PC (probe not received): restored over unicast HTTP at once', fr: "le multicast n'atteint pas ce poste (sonde non reçue) : restauré aussitôt en unicast (HTTP)" });
    expect(line('B206-03')).toMatchObject({ path: 'multicast', en: expect.stringContaining('multicast reached this PC (70 of 70 probe datagrams in 2.3 s, bursts at 8.4 Mbit/s)'), fr: expect.stringContaining('70 datagrammes de la sonde reçus sur 70, rafales à 8,4 Mbit/s') });
  });
});
