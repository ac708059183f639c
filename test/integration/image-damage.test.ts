// Damaged versions at the service level (ImageDamage and the image repository), against a real SQLite
// file and a real PostgreSQL database: the versions holding a set of bad chunks are found by one
// grouped query, each is marked damaged once with one event and one alert, however the report
// repeats itself (the same hash twice, a second report, two reports racing); the restore tasks of a
// damaged version fail at once (a running one's client is refused with 409 task_failed), but the task
// whose own client reported the chunk, which ends its task itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MachineAuth } from '../../services/core/auth.js';
import { nowIso } from '../../services/core/db/index.js';
import { AppError } from '../../services/core/errors.js';
import type { ServerEvents } from '../../services/core/events.js';
import type { BadChunk } from '../../services/imaging/maintenance.js';
import { DIALECTS } from '../support/env.js';
import { openTestServices, type TestServices } from '../support/services.js';

const actor = { userId: null, name: 'tech', ip: null };
const machine = (mac: string, taskId: number, hostId: number): MachineAuth => ({ purpose: 'task', mac, taskId, hostId, exp: 0, actor: { userId: null, name: `machine:${mac}`, ip: null } });
const h = (n: number) => n.toString(16).padStart(64, '0');
const corrupt = (hashes: string[]): BadChunk[] => hashes.map((hash) => ({ hash, reason: 'corrupt', detail: 'test' }) as BadChunk);

describe.each(DIALECTS)('damaged versions (%s)', (dialect) => {
  let s: TestServices;
  let imageId: number;
  const changed: Array<ServerEvents['image.version.changed']> = [];
  const raised: Array<ServerEvents['alert.raised']> = [];

  /** A ready version holding `hashes` (rows as a published capture leaves them). */
  async function readyVersion(number: number, hashes: string[]): Promise<number> {
    const row = await s.database.db
      .insertInto('image_versions')
      .values({
        image_id: imageId, number, state: 'ready', notes: null, created_by: 'tech', source_host_id: null, task_id: null, chunk_size: 4096, disk_bytes: 1, used_bytes: 1,
        stored_bytes: 1, chunk_count: hashes.length, manifest_sha256: 'x', source_mac: null, source_serial: null, source_ip: null, error: null, created_at: nowIso(), published_at: nowIso(),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    for (let i = 0; i < hashes.length; i += 500) {
      await s.database.db.insertInto('image_version_chunks').values(hashes.slice(i, i + 500).map((hash) => ({ version_id: row.id, hash }))).execute();
    }
    return row.id;
  }
  const stateOf = async (id: number) => (await s.database.db.selectFrom('image_versions').select(['state', 'error']).where('id', '=', id).executeTakeFirstOrThrow());
  const damagedAlerts = async () => (await s.alerts.list()).filter((a) => a.kind === 'image.version.damaged');

  beforeAll(async () => {
    s = await openTestServices(dialect);
    imageId = (await s.catalogue.createImage(actor, { name: 'Windows 11' })).id;
    s.events.on('image.version.changed', (p) => changed.push(p));
    s.events.on('alert.raised', (p) => raised.push(p));
  });
  afterAll(async () => {
    await s?.close();
  });

  it('marks each ready version holding the chunks damaged once, counting distinct chunks, with one event and one alert each', async () => {
    const v1 = await readyVersion(1, [h(1), h(2), h(3)]);
    const v2 = await readyVersion(2, [h(1), h(4)]);
    const v3 = await readyVersion(3, [h(5)]);
    changed.length = 0;
    raised.length = 0;
    // h(1) twice in the report, h(9) in no version.
    const got = await s.damage.record(actor, corrupt([h(1), h(2), h(1), h(9)]), 'a test');
    expect(got.map((v) => [v.id, v.number])).toEqual([
      [v1, 1],
      [v2, 2],
    ]);
    expect(await stateOf(v1)).toMatchObject({ state: 'damaged', error: expect.stringMatching(/^version 1 of image "Windows 11" is damaged: 2 of its chunks are missing or corrupt .*found by a test/) });
    expect(await stateOf(v2)).toMatchObject({ state: 'damaged', error: expect.stringMatching(/^version 2 .* damaged: 1 of its chunks/) });
    expect(await stateOf(v3)).toMatchObject({ state: 'ready', error: null });
    expect(changed.map((e) => [e.versionId, e.state])).toEqual([
      [v1, 'damaged'],
      [v2, 'damaged'],
    ]);
    expect(raised).toHaveLength(2);
    expect((await damagedAlerts()).map((a) => a.details?.versionId).sort()).toEqual([v1, v2].sort());

    // The same report again: nothing changes, nothing is told.
    expect(await s.damage.record(actor, corrupt([h(1), h(2)]), 'a test')).toEqual([]);
    expect(changed).toHaveLength(2);
    expect(raised).toHaveLength(2);
  });

  it('two reports racing over one version: one change, one event, one alert', async () => {
    const v = await readyVersion(4, [h(20), h(21)]);
    changed.length = 0;
    raised.length = 0;
    const [a, b] = await Promise.all([s.damage.record(actor, corrupt([h(20)]), 'restore task 1'), s.damage.record(actor, corrupt([h(21), h(20)]), 'restore task 2')]);
    expect([...a, ...b].map((x) => x.id)).toEqual([v]);
    expect(changed.filter((e) => e.versionId === v)).toHaveLength(1);
    expect(raised).toHaveLength(1);
    expect((await stateOf(v)).state).toBe('damaged');
  });

  it("fails the pending and running restore tasks of a damaged version at once, not other versions' nor the reporting task's", async () => {
    const hosts = [];
    for (const n of [1, 2, 3, 4]) hosts.push(await s.inventory.createHost(actor, { name: `PC-0${n}`, mac: `02:00:00:00:0d:0${n}` }));
    const [a, b, c, d] = hosts as [(typeof hosts)[0], (typeof hosts)[0], (typeof hosts)[0], (typeof hosts)[0]];
    await readyVersion(6, [h(40)]);
    await readyVersion(7, [h(41)]);
    await readyVersion(8, [h(42)]);
    const restore = async (host: typeof a, version: number, run: boolean) => {
      const t = (await s.tasks.create(actor, [host.id], 'restore', { imageId, version })).tasks[0]!;
      if (run) await s.events.transaction(s.database.db, (tx) => s.tasks.checkIn(tx, actor, t.id, host.id));
      return t.id;
    };
    const pending = await restore(a, 6, false);
    const running = await restore(b, 6, true);
    const other = await restore(c, 7, false);
    const reporter = await restore(d, 8, true);

    await s.damage.record(actor, corrupt([h(40)]), 'a verification by tech');
    const p = await s.tasks.get(pending);
    expect(p).toMatchObject({ state: 'failed', error: expect.stringMatching(/^stopped before it began, nothing was written to the disk: version 6 of image "Windows 11" is damaged/) });
    expect(p.result).toMatchObject({ ok: false, details: { code: 'version_damaged', diskState: 'untouched' } });
    const r = await s.tasks.get(running);
    expect(r).toMatchObject({ state: 'failed', error: expect.stringMatching(/^stopped while it ran: version 6 .* damaged.*Its PC stops at its next call to the server/) });
    expect(r.result).toMatchObject({ ok: false, details: { code: 'version_damaged' } });
    // Its client learns it at its next call, whatever the call.
    const m = machine(b.mac, running, b.id);
    const err = await s.tasks.recordProgress(m, { phase: 'restore', bytesDone: 1, bytesTotal: 2, chunksDone: 1, chunksTotal: 2, rateBytesPerSecond: 1, etaSeconds: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ status: 409, code: 'task_failed', message: expect.stringContaining('stopped while it ran') });
    expect(await s.protocol.restoreManifest(m).catch((e: unknown) => e)).toMatchObject({ status: 409, code: 'task_failed' });
    expect((await s.tasks.get(other)).state).toBe('pending');

    // A restoring PC's own report: its task stays running (its client ends it, saying its disk's state).
    await s.damage.record(actor, corrupt([h(42)]), `restore task ${reporter}`, reporter);
    expect((await s.tasks.get(reporter)).state).toBe('running');
    expect((await stateOf((await s.images.versionByNumber(imageId, 8))!.id)).state).toBe('damaged');
  });

  it('a report larger than one query\'s batch counts each version\'s distinct chunks across the batches', async () => {
    const hashes = Array.from({ length: 6000 }, (_, i) => h(100_000 + i));
    const v = await readyVersion(5, [hashes[0]!, hashes[5999]!, h(30)]);
    const got = await s.damage.record(actor, corrupt([...hashes, hashes[0]!]), 'a verification');
    expect(got).toMatchObject([{ id: v, bad: 2 }]);
    expect((await stateOf(v)).error).toMatch(/damaged: 2 of its chunks/);
  }, 60_000);
});
