// Schedules at the service level, against a real SQLite file and a real PostgreSQL database, on a
// controlled clock: a schedule is checked and kept (an edit replaces it), said back in words, fires at
// the instants its cron names in its time zone across the March and October 2027 clock changes, starts
// one run per instant (a double delivery is one run) whose window ends with the schedule's, records why
// an instant did not start (outside the window, too late, an empty room), goes with its room, and the
// end of a run's window stops its open PCs cleanly and reports them as needing a person.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RoomRepository } from '../../services/inventory/rooms.js';
import { RunRepository } from '../../services/runs/repository.js';
import { buildReport } from '../../services/runs/report.js';
import { reportHtml, reportText } from '../../services/runs/report-html.js';
import { RunService } from '../../services/runs/service.js';
import { closeDueWindows } from '../../services/runs/window.js';
import { ScheduleRepository } from '../../services/schedules/repository.js';
import { ScheduleService } from '../../services/schedules/service.js';
import { nextFires } from '../../services/schedules/time.js';
import { DIALECTS } from '../support/env.js';
import { refused } from '../support/refused.js';
import { publishVersion } from '../support/runs.js';
import { openTestServices, type TestServices } from '../support/services.js';

const actor = { userId: null, name: 'tech', ip: null };
const iso = (t: number) => new Date(t).toISOString();

describe.each(DIALECTS)('schedules through ScheduleService (%s)', (dialect) => {
  let s: TestServices;
  let runs: RunService;
  let schedules: ScheduleService;
  let clock = Date.parse('2027-03-25T12:00:00Z');
  let roomId: number;
  let imageId: number;
  const heard: string[] = [];

  beforeAll(async () => {
    s = await openTestServices(dialect);
    const db = s.database.db;
    const rooms = new RoomRepository(db);
    runs = new RunService(db, new RunRepository(db), s.tasks, s.hosts, rooms, s.events, () => clock);
    schedules = new ScheduleService(db, new ScheduleRepository(db), rooms, runs, s.tasks, s.events, () => clock);
    roomId = (await s.inventory.createRoom(actor, { name: 'B204' })).id;
    for (let i = 1; i <= 2; i++) await s.inventory.createHost(actor, { name: `B204-0${i}`, mac: `02:00:00:00:05:0${i}`, roomId });
    const ref = await s.inventory.createHost(actor, { name: 'REF', mac: '02:00:00:00:05:99', roomId: null });
    imageId = (await s.catalogue.createImage(actor, { name: 'Windows 11' })).id;
    await publishVersion(s, imageId, ref);
    s.events.onAny((name, p) => {
      if (name === 'schedule.changed' || name === 'room.changed') heard.push(`${name}:${(p as { change: string }).change}`);
    });
  });

  afterAll(async () => {
    await s?.close();
  });

  const nightly = { cron: '0 22 * * 1-5', windowStart: '22:00', windowEnd: '06:00' };

  it('refuses what cannot be scheduled, with the reason, and keeps nothing', async () => {
    expect(await refused(schedules.create(actor, { roomId, imageId, ...nightly, cron: '0 22 * *' }))).toMatchObject({ status: 400, code: 'bad_cron', message: expect.stringContaining('five') });
    expect(await refused(schedules.create(actor, { roomId, imageId, ...nightly, cron: '0 25 * * 1-5' }))).toMatchObject({ code: 'bad_cron' });
    expect(await refused(schedules.create(actor, { roomId, imageId, ...nightly, timeZone: 'Europe/Nowhere' }))).toMatchObject({ code: 'bad_time_zone' });
    expect(await refused(schedules.create(actor, { roomId, imageId, ...nightly, windowEnd: '6:00' }))).toMatchObject({ code: 'validation_failed', message: expect.stringContaining('windowEnd') });
    expect(await refused(schedules.create(actor, { roomId, imageId, ...nightly, windowEnd: '22:00' }))).toMatchObject({ code: 'bad_window' });
    expect(await refused(schedules.create(actor, { roomId, imageId, ...nightly, options: { steps: ['wake', 'restore'] } }))).toMatchObject({ code: 'bad_steps' });
    expect(await refused(schedules.create(actor, { roomId, imageId, ...nightly, options: { maxParallel: 0 } }))).toMatchObject({ code: 'validation_failed' });
    expect(await refused(schedules.create(actor, { roomId: 9999, imageId, ...nightly }))).toMatchObject({ status: 404 });
    expect(await refused(schedules.create(actor, { roomId, imageId, ...nightly, version: 7 }))).toMatchObject({ code: 'unknown_version' });
    const empty = (await s.catalogue.createImage(actor, { name: 'Empty' })).id;
    expect(await refused(schedules.create(actor, { roomId, imageId: empty, ...nightly }))).toMatchObject({ status: 409, code: 'no_ready_version' });
    expect(await schedules.list()).toEqual([]);
  });

  it('fires 0 22 * * 1-5 (Europe/Paris) at 21:00Z in winter and 20:00Z in summer across both 2027 clock changes, one run per instant, its window ending at 06:00 Paris time', async () => {
    clock = Date.parse('2027-03-25T12:00:00Z');
    const sched = await schedules.create(actor, { roomId, imageId, ...nightly, options: { maxParallel: 10 } });
    expect(sched).toMatchObject({ timeZone: 'Europe/Paris', words: { fr: 'du lundi au vendredi à 22:00', en: 'Monday to Friday at 22:00' }, window: { start: '22:00', end: '06:00' }, enabled: true, next: ['2027-03-25T21:00:00.000Z', '2027-03-26T21:00:00.000Z', '2027-03-29T20:00:00.000Z'] });
    const seasons = [
      { from: '2027-03-25T12:00:00Z', fires: ['2027-03-25T21:00:00.000Z', '2027-03-26T21:00:00.000Z', '2027-03-29T20:00:00.000Z'], ends: ['2027-03-26T05:00:00.000Z', '2027-03-27T05:00:00.000Z', '2027-03-30T04:00:00.000Z'] },
      { from: '2027-10-28T12:00:00Z', fires: ['2027-10-28T20:00:00.000Z', '2027-10-29T20:00:00.000Z', '2027-11-01T21:00:00.000Z'], ends: ['2027-10-29T04:00:00.000Z', '2027-10-30T04:00:00.000Z', '2027-11-02T05:00:00.000Z'] },
    ];
    for (const season of seasons) {
      const instants = nextFires(sched.cron, sched.timeZone, Date.parse(season.from), 3);
      expect(instants.map(iso)).toEqual(season.fires);
      for (const [i, at] of instants.entries()) {
        clock = at + 1500; // the job runs a little after its instant
        const r = await schedules.fire(sched.id, at);
        expect(r).toMatchObject({ at: season.fires[i], outcome: 'started', reason: null, duplicate: false });
        const run = await runs.view(r!.runId!);
        expect(run).toMatchObject({ state: 'running', room: 'B204', createdBy: `schedule:${sched.id}`, windowEndsAt: season.ends[i], options: { maxParallel: 10 } });
        await runs.cancel(actor, run.id);
      }
    }
    expect((await schedules.fires(sched.id)).map((f) => [f.at, f.outcome])).toEqual([...seasons[0]!.fires, ...seasons[1]!.fires].reverse().map((at) => [at, 'started']));
    await schedules.delete(actor, sched.id);
  });

  it('turns a one-off ("tonight, once") off after its instant, said as a date in words', async () => {
    clock = Date.parse('2027-01-11T12:00:00Z');
    const once = await schedules.create(actor, { roomId, imageId, cron: '0 22 11 1 *', windowStart: '22:00', windowEnd: '06:00', once: true, options: { maxParallel: 3 } });
    // A patch changes what it names and nothing else (not the fields the schema has defaults for).
    expect(await schedules.update(actor, once.id, { windowEnd: '05:00' })).toMatchObject({ once: true, enabled: true, options: { maxParallel: 3 }, window: { end: '05:00' } });
    expect(once).toMatchObject({ once: true, enabled: true, words: { fr: 'le 11 janvier à 22:00', en: 'on 11 January at 22:00' }, next: ['2027-01-11T21:00:00.000Z', expect.any(String), expect.any(String)] });
    heard.length = 0;
    clock = Date.parse('2027-01-11T21:00:01Z');
    const r = await schedules.fire(once.id, Date.parse('2027-01-11T21:00:00Z'));
    expect(r).toMatchObject({ outcome: 'started' });
    expect(await schedules.get(once.id)).toMatchObject({ enabled: false, once: true, next: [] });
    expect(heard).toEqual(['schedule.changed:fired', 'schedule.changed:updated']);
    // Turned on again after its instant, or made for "tonight" once tonight's 22:00 has passed, it
    // would fire a year later: refused, with what to do.
    expect(await refused(schedules.update(actor, once.id, { enabled: true }))).toMatchObject({ status: 400, code: 'once_too_far', message: expect.stringContaining('24 hours') });
    expect(await refused(schedules.create(actor, { roomId, imageId, cron: '0 22 11 1 *', windowStart: '22:00', windowEnd: '06:00', once: true }))).toMatchObject({ code: 'once_too_far' });
    await runs.cancel(actor, r!.runId!);
    await schedules.delete(actor, once.id);
  });

  it('starts one run when the same instant is delivered twice, even at the same moment', async () => {
    clock = Date.parse('2027-01-11T21:00:02Z');
    const sched = await schedules.create(actor, { roomId, imageId, ...nightly });
    const at = Date.parse('2027-01-11T21:00:00Z');
    const [a, b] = await Promise.all([schedules.fire(sched.id, at), schedules.fire(sched.id, at)]);
    const c = await schedules.fire(sched.id, at);
    expect([a!.duplicate, b!.duplicate].sort()).toEqual([false, true]);
    expect(c).toMatchObject({ duplicate: true, outcome: 'started' });
    const first = a!.duplicate ? b! : a!;
    expect(c!.runId).toBe(first.runId);
    expect((await runs.list({ roomId })).filter((r) => r.created_by === `schedule:${sched.id}`)).toHaveLength(1);
    expect(await schedules.fires(sched.id)).toHaveLength(1);
    await runs.cancel(actor, first.runId!);
    await schedules.delete(actor, sched.id);
  });

  it('does not start outside its window, nor after its window closed, nor in an empty room, and says why in French and English', async () => {
    clock = Date.parse('2027-01-11T19:00:02Z');
    const early = await schedules.create(actor, { roomId, imageId, cron: '0 20 * * *', windowStart: '22:00', windowEnd: '06:00' });
    const r1 = await schedules.fire(early.id, Date.parse('2027-01-11T19:00:00Z'));
    expect(r1).toMatchObject({ outcome: 'not_started', reason: { code: 'outside_window', en: expect.stringContaining('due at 20:00, outside its window 22:00–06:00'), fr: expect.stringContaining('(20:00) est en dehors de la plage 22:00–06:00') } });
    // The instant is a run of its own, not started, whose report says why (French and English), and
    // whose PCs were never queued.
    expect(r1!.runId).toEqual(expect.any(Number));
    expect(await runs.view(r1!.runId!)).toMatchObject({ state: 'not_started', room: 'B204', startedAt: null, endedAt: new Date(clock).toISOString(), reason: { code: 'outside_window' }, pcs: [] });
    const report = await runs.report(r1!.runId!);
    expect(report.run.why).toMatchObject({ code: 'outside_window', fr: expect.stringContaining('(20:00) est en dehors de la plage 22:00–06:00'), en: expect.stringContaining('outside its window 22:00–06:00') });
    expect(reportHtml(report)).toMatch(/Cette restauration n&#39;a pas démarré<\/strong> : l&#39;heure prévue \(20:00\) est en dehors/);
    expect(reportText(report, 'en').text).toContain('This run did not start : it was due at 20:00');

    const late = await schedules.create(actor, { roomId, imageId, ...nightly });
    clock = Date.parse('2027-01-12T06:12:00Z'); // 07:12 in Paris: the worker was down all night
    const r2 = await schedules.fire(late.id, Date.parse('2027-01-11T21:00:00Z'));
    expect(r2).toMatchObject({ outcome: 'not_started', reason: { code: 'window_missed', en: expect.stringContaining('only start at 07:12, after its window closed at 06:00'), fr: expect.stringContaining('après la fin de la plage (06:00)') } });

    const emptyRoom = (await s.inventory.createRoom(actor, { name: 'C101' })).id;
    const empty = await schedules.create(actor, { roomId: emptyRoom, imageId, ...nightly });
    clock = Date.parse('2027-01-12T21:00:01Z');
    const r3 = await schedules.fire(empty.id, Date.parse('2027-01-12T21:00:00Z'));
    expect(r3).toMatchObject({ outcome: 'not_started', reason: { code: 'empty_room', fr: expect.stringContaining("la salle n'a aucun poste"), en: expect.stringContaining('has no PCs') } });
    expect((await schedules.fires(empty.id))[0]).toMatchObject({ outcome: 'not_started', reason: { code: 'empty_room' } });
    expect(await runs.list({ state: 'running' })).toEqual([]);
    expect((await runs.list({ state: 'not_started' })).map((r) => r.reason_code).sort()).toEqual(['empty_room', 'outside_window', 'window_missed']);
    for (const id of [early.id, late.id, empty.id]) await schedules.delete(actor, id);
    await s.inventory.deleteRoom(actor, emptyRoom, { unassignHosts: false });
  });

  it('edits a schedule in place (one row, never a second), and a room deletion deletes its schedules and their fires', async () => {
    clock = Date.parse('2027-01-11T12:00:00Z');
    const room = (await s.inventory.createRoom(actor, { name: 'D001' })).id;
    const sched = await schedules.create(actor, { roomId: room, imageId, ...nightly });
    heard.length = 0;
    const edited = await schedules.update(actor, sched.id, { cron: '30 21 * * 1,3,5', options: { skipInUse: false } });
    expect(edited).toMatchObject({ id: sched.id, cron: '30 21 * * 1,3,5', words: { fr: 'les lundi, mercredi et vendredi à 21:30' }, window: { start: '22:00', end: '06:00' }, options: { skipInUse: false } });
    expect(await refused(schedules.update(actor, sched.id, { cron: 'nope' }))).toMatchObject({ code: 'bad_cron' });
    expect(await refused(schedules.update(actor, 9999, { enabled: false }))).toMatchObject({ status: 404 });
    expect((await schedules.list({ roomId: room })).map((x) => [x.id, x.cron])).toEqual([[sched.id, '30 21 * * 1,3,5']]);
    expect((await schedules.update(actor, sched.id, { enabled: false })).next).toEqual([]);
    await schedules.fire(sched.id, Date.parse('2027-01-11T20:30:00Z'));
    expect((await schedules.fires(sched.id))[0]).toMatchObject({ outcome: 'not_started', reason: { code: 'disabled' } });

    await s.inventory.deleteRoom(actor, room, { unassignHosts: false });
    expect(await schedules.list({ roomId: room })).toEqual([]);
    expect(await refused(schedules.get(sched.id))).toMatchObject({ status: 404 });
    expect(await s.database.db.selectFrom('schedule_fires').selectAll().where('schedule_id', '=', sched.id).execute()).toEqual([]);
    expect(heard).toEqual(['schedule.changed:updated', 'schedule.changed:updated', 'schedule.changed:fired', 'room.changed:deleted']);
    expect(await schedules.fire(sched.id, Date.parse('2027-01-12T20:30:00Z'))).toBeUndefined();
  });

  it("stops the PCs still open when the run's window ends, cleanly, and reports them as needing a person", async () => {
    clock = Date.parse('2027-01-11T21:00:01Z');
    const sched = await schedules.create(actor, { roomId, imageId, ...nightly, options: { maxParallel: 1 } });
    const fired = await schedules.fire(sched.id, Date.parse('2027-01-11T21:00:00Z'));
    const run = await runs.view(fired!.runId!);
    expect(run.windowEndsAt).toBe('2027-01-12T05:00:00.000Z');
    const [a, b] = run.pcs;
    const started = await runs.apply(a!.id, { type: 'start', inUse: false });
    await runs.apply(a!.id, { type: 'script-fetched' });
    await runs.apply(a!.id, { type: 'task-running' });
    // b never got a slot (maxParallel 1).
    expect((await runs.apply(b!.id, { type: 'start', inUse: false })).decision.ok).toBe(false);

    clock = Date.parse('2027-01-12T04:59:00Z');
    expect(await closeDueWindows(runs, clock, 'Europe/Paris')).toEqual({ closed: [], nextAt: Date.parse('2027-01-12T05:00:00Z') });
    clock = Date.parse('2027-01-12T05:00:30Z');
    // Once the window has ended, a PC that had no slot yet is not started any more.
    expect((await runs.apply(b!.id, { type: 'start', inUse: false })).decision).toEqual({ ok: false, ignore: expect.stringContaining("the run's window ended") });
    expect((await closeDueWindows(runs, clock, 'Europe/Paris')).closed).toEqual([{ runId: run.id, stopped: 2 }]);
    const after = await runs.view(run.id);
    expect(after.state).not.toBe('running');
    expect(after.pcs.map((p) => [p.state, p.reason?.code])).toEqual([
      ['cancelled', 'window_ended'],
      ['cancelled', 'window_ended'],
    ]);
    expect(after.pcs[0]!.reason!.text).toContain('still running at the end of the window (06:00)');
    expect(after.pcs[1]!.reason!.text).toContain('not started before the end of the window (06:00)');
    // Its restore task was cancelled: the client is told to stop at its next call.
    expect(await s.tasks.stateOf(started.pc.taskId!)).toBe('cancelled');
    const report = buildReport(after, await runs.timeline(after.pcs.map((p) => p.id)), clock);
    expect(report.pcs.every((p) => p.needsAPerson)).toBe(true);
    expect(report.pcs.find((p) => p.id === a!.id)!.reason).toMatchObject({ code: 'window_ended', fr: expect.stringContaining('encore en cours à la fin de la plage horaire (06:00)') });
    // Closing again changes nothing.
    expect((await closeDueWindows(runs, clock, 'Europe/Paris')).closed).toEqual([]);
    await schedules.delete(actor, sched.id);
  });
});
