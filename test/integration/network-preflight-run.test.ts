// A run's multicast session after a failed network pre-flight (issue 14 item 4), on real SQLite and
// PostgreSQL: the worker's RunSessions runs the real Preflight on an interface that does not exist,
// the session ends at once with the pre-flight's reason (never a silent stall), every PC waits for that
// decision and then restores over unicast HTTP saying why, and the run's answer and report carry the
// pre-flight (verdict, fallback, warnings, in English and French).
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeSource } from '../../services/imaging/multicast/source.js';
import { RoomRepository } from '../../services/inventory/rooms.js';
import { RunSessions } from '../../services/jobs/multicast.js';
import { urlRedis } from '../../services/core/redis.js';
import { BootProbes } from '../../services/network/ask-boot.js';
import { Preflight } from '../../services/network/service.js';
import { RunRepository } from '../../services/runs/repository.js';
import { RunService } from '../../services/runs/service.js';
import { DIALECTS, REDIS_URL } from '../support/env.js';
import { publishVersion } from '../support/runs.js';
import { openTestServices, type TestServices } from '../support/services.js';

const actor = { userId: null, name: 'tech', ip: null };
const log = pino({ level: 'silent' });

describe.each(DIALECTS)('a run after a failed network pre-flight (%s)', (dialect) => {
  let s: TestServices;
  let runs: RunService;
  let roomId: number;
  let imageId: number;

  beforeAll(async () => {
    s = await openTestServices(dialect);
    const db = s.database.db;
    runs = new RunService(db, new RunRepository(db), s.tasks, s.hosts, new RoomRepository(db), s.events, Date.now, undefined, null);
    roomId = (await s.inventory.createRoom(actor, { name: 'B207' })).id;
    for (let i = 1; i <= 3; i++) await s.inventory.createHost(actor, { name: `B207-0${i}`, mac: `02:00:00:00:07:0${i}`, roomId });
    const ref = await s.inventory.createHost(actor, { name: 'REF', mac: '02:00:00:00:07:99', roomId: null });
    imageId = (await s.catalogue.createImage(actor, { name: 'Windows 11' })).id;
    await publishVersion(s, imageId, ref);
  });

  afterAll(async () => {
    await s?.close();
  });

  it('ends the session with the reason, and every PC restores over unicast saying why', async () => {
    const run = await runs.create(actor, { roomId, imageId, steps: ['restore', 'verify'] });
    expect(run.pcs.map((p) => p.delivery?.path)).toEqual(['multicast', 'multicast', 'multicast']);
    // The interface is checked in the worker: the boot role is never asked (none runs here).
    const preflight = new Preflight({ interface: 'rcnosuch0', own: [], probes: new BootProbes(urlRedis(REDIS_URL, `rc-test-pf-${process.pid}`)) });
    const sessions = new RunSessions(runs, { settings: { interface: 'rcnosuch0' }, source: storeSource(s.store), preflight, beatMs: 1000 }, log);
    try {
      // Three PCs ask at once: each waits for the decision.
      await Promise.all(run.pcs.map(() => sessions.ensure(run.id)));
      const view = await runs.view(run.id);
      expect(view.multicast).toMatchObject({ state: 'ended', outcome: { ok: false, reason: 'preflight_failed', streamBytes: 0 } });
      expect(view.multicast!.outcome!.detail).toContain('rcnosuch0');
      expect(view.multicast!.outcome!.preflight).toMatchObject({ verdict: 'unicast', fallback: { code: 'preflight_no_interface' }, warnings: [] });
      expect(view.multicast!.outcome!.preflight!.fallback!.fr).toContain('restaurés en unicast');
      for (const pc of run.pcs) {
        const started = await runs.apply(pc.id, { type: 'start', inUse: false });
        expect(started.pc.delivery).toMatchObject({ path: 'unicast', reason: { code: 'path_unicast_session_over', text: expect.stringContaining('the network pre-flight failed') } });
        expect((await s.tasks.get(started.pc.taskId!)).params).not.toHaveProperty('multicast');
      }
      const report = await runs.report(run.id);
      expect(report.multicast).toMatchObject({ ok: false, reason: 'preflight_failed', preflight: { verdict: 'unicast', fallback: { code: 'preflight_no_interface' } } });
    } finally {
      await sessions.stop(run.id);
      await runs.cancel(actor, run.id).catch(() => undefined);
    }
  });
});
