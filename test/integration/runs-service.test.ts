// Room runs at the service level, against a real SQLite file and a real PostgreSQL database, without
// HTTP, BullMQ or the network: a run is created for a room, each PC moves through the pipeline by the
// events the worker would deliver (start, deadlines on a controlled clock, script fetched, the task's
// own changes), its restore task is created and cancelled in the same transactions, its timeline
// records every change with a reason, and the run ends with its last PC.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventName, ServerEvents } from '../../services/core/events.js';
import { RoomRepository } from '../../services/inventory/rooms.js';
import { RunRepository } from '../../services/runs/repository.js';
import { reportHtml, reportText } from '../../services/runs/report-html.js';
import { buildReport } from '../../services/runs/report.js';
import { RunService } from '../../services/runs/service.js';
import { DIALECTS } from '../support/env.js';
import { publishVersion } from '../support/runs.js';
import { refused } from '../support/refused.js';
import { openTestServices, type TestServices } from '../support/services.js';

const actor = { userId: null, name: 'tech', ip: null };
const MIN = 60_000;

describe.each(DIALECTS)('room runs through RunService (%s)', (dialect) => {
  let s: TestServices;
  let runs: RunService;
  let clock = Date.parse('2026-12-07T21:00:00Z');
  let roomId: number;
  let hostIds: number[];
  let imageId: number;
  const heard: Array<{ name: EventName; payload: ServerEvents[EventName] }> = [];

  beforeAll(async () => {
    s = await openTestServices(dialect);
    runs = new RunService(s.database.db, new RunRepository(s.database.db), s.tasks, s.hosts, new RoomRepository(s.database.db), s.events, () => clock);
    const room = await s.inventory.createRoom(actor, { name: 'B204' });
    roomId = room.id;
    hostIds = [];
    for (let i = 1; i <= 4; i++) hostIds.push((await s.inventory.createHost(actor, { name: `B204-0${i}`, mac: `02:00:00:00:02:0${i}`, roomId })).id);
    const ref = await s.inventory.createHost(actor, { name: 'REF', mac: '02:00:00:00:02:99', roomId: null });
    imageId = (await s.catalogue.createImage(actor, { name: 'Windows 11' })).id;
    await publishVersion(s, imageId, ref);
    s.events.onAny((name, payload) => {
      if (name.startsWith('run.') || name === 'task.changed') heard.push({ name, payload });
    });
  });

  afterAll(async () => {
    await s?.close();
  });

  it('refuses what cannot run, with the reason, and starts nothing', async () => {
    expect(await refused(runs.create(actor, { imageId }))).toMatchObject({ status: 400, code: 'validation_failed', message: expect.stringContaining('roomId, hostIds') });
    expect(await refused(runs.create(actor, { roomId, imageId, steps: ['wake', 'restore'] }))).toMatchObject({ code: 'bad_steps', message: expect.stringContaining('verify') });
    expect(await refused(runs.create(actor, { roomId: 9999, imageId }))).toMatchObject({ status: 404 });
    expect(await refused(runs.create(actor, { roomId, imageId, version: 7 }))).toMatchObject({ code: 'unknown_version' });
    expect(await refused(runs.create(actor, { roomId, hostIds: [hostIds[0]!, 9999], imageId }))).toMatchObject({ code: 'not_in_room', message: expect.stringContaining('9999') });
    expect(await refused(runs.create(actor, { roomId, imageId, windowEndsAt: '2026-12-07T20:00:00Z' }))).toMatchObject({ code: 'window_over' });
    expect(await runs.list()).toEqual([]);
  });

  it('runs a room: each PC through its pipeline, tasks created and cancelled with it, a timeline with reasons, the run ending with its last PC', async () => {
    heard.length = 0;
    const run = await runs.create(actor, { roomId, imageId, wakeAttempts: 2, wakeTimeoutMinutes: 5, silenceTimeoutMinutes: 10 });
    expect(run).toMatchObject({ state: 'running', room: 'B204', image: { name: 'Windows 11' }, version: { number: 1 }, counts: { queued: 4 } });
    expect(run.options).toMatchObject({ steps: ['wake', 'restore', 'verify', 'poweroff'], maxParallel: 35, wakeAttempts: 2, skipInUse: true });
    const [a, b, c, d] = run.pcs;
    expect(await refused(runs.create(actor, { hostIds: [a!.hostId!], imageId }))).toMatchObject({ status: 409, code: 'in_another_run', message: expect.stringContaining('B204-01') });

    // A: never wakes. Its task exists from the first magic packet; two attempts, then "did not wake".
    const startA = await runs.apply(a!.id, { type: 'start', inUse: false });
    expect(startA).toMatchObject({ pc: { state: 'waking', wakeAttempts: 1 }, wake: { mac: a!.mac, attempt: 1 }, deadlineMs: 5 * MIN });
    const taskA = startA.pc.taskId!;
    expect(await s.tasks.stateOf(taskA)).toBe('pending');
    expect((await s.tasks.get(taskA)).params).toMatchObject({ imageId, version: 1 });
    expect((await runs.apply(a!.id, { type: 'deadline' })).decision).toEqual({ ok: false, ignore: expect.stringContaining('not yet') });
    clock += 5 * MIN;
    const again = await runs.apply(a!.id, { type: 'deadline' });
    expect(again).toMatchObject({ pc: { state: 'waking', wakeAttempts: 2 }, wake: { attempt: 2 } });
    // The same timer delivered twice changes nothing.
    expect((await runs.apply(a!.id, { type: 'deadline' })).decision.ok).toBe(false);
    clock += 5 * MIN;
    const gaveUp = await runs.apply(a!.id, { type: 'deadline' });
    expect(gaveUp.pc).toMatchObject({ state: 'failed', reason: { code: 'did_not_wake', text: expect.stringContaining('did not wake after 2 Wake-on-LAN attempts over 10 min') } });
    expect(gaveUp.wake).toBeUndefined();
    expect(await s.tasks.stateOf(taskA)).toBe('cancelled');

    // B: the whole way.
    const taskB = (await runs.apply(b!.id, { type: 'start', inUse: false })).pc.taskId!;
    expect((await runs.apply(b!.id, { type: 'script-fetched' })).pc.state).toBe('booted');
    expect((await runs.apply(b!.id, { type: 'task-running' })).pc.state).toBe('restoring');
    // A restore longer than the silence timeout is not "silent" while its progress moves: each report that moved starts the silence again.
    clock += 9 * MIN;
    await runs.progress(b!.id, 400, 1000);
    clock += 9 * MIN;
    expect((await runs.apply(b!.id, { type: 'deadline' })).decision).toEqual({ ok: false, ignore: expect.stringContaining('not yet') });
    await runs.progress(b!.id, 500, 1000);
    const moved = (await runs.pc(b!.id))!.deadlineAt;
    expect(Date.parse(moved!)).toBe(clock + 10 * MIN);
    clock += MIN;
    await runs.progress(b!.id, 500, 1000); // the same figures: no word, the deadline stays
    expect((await runs.pc(b!.id))!.deadlineAt).toBe(moved);
    expect((await runs.apply(b!.id, { type: 'task-progress', phase: 'verify' })).pc).toMatchObject({ state: 'verifying', bytesDone: 500, bytesTotal: 1000 });
    expect((await runs.apply(b!.id, { type: 'task-done' })).pc).toMatchObject({ state: 'done', reason: { text: expect.stringContaining('powers off') } });
    expect(await s.tasks.stateOf(taskB)).toBe('pending'); // the run follows the task; the task's own end is the client's

    // C: in use, skipped and never erased (no task).
    const skipped = await runs.apply(c!.id, { type: 'start', inUse: true });
    expect(skipped.pc).toMatchObject({ state: 'skipped', taskId: null, reason: { code: 'in_use' } });

    // D: already has a task of its own: the run leaves it alone and says so.
    const own = await s.tasks.create(actor, [d!.hostId!], 'inventory');
    const failedD = await runs.apply(d!.id, { type: 'start', inUse: false });
    expect(failedD.pc).toMatchObject({ state: 'failed', taskId: null, reason: { code: 'task_open', text: expect.stringContaining(`inventory task (#${own.created[0]})`) } });
    expect(failedD.runEnded).toBe('done');
    expect(await s.tasks.stateOf(own.created[0]!)).toBe('pending');

    const view = await runs.view(run.id);
    expect(view).toMatchObject({ state: 'done', counts: { failed: 2, done: 1, skipped: 1 } });
    const timeline = await runs.timeline([a!.id]);
    expect(timeline.map((e) => [e.state, e.reason_code])).toEqual([
      ['waking', 'waking'],
      ['waking', 'waking'],
      ['failed', 'did_not_wake'],
    ]);
    expect(JSON.parse(timeline[2]!.params!)).toEqual({ attempts: 2, minutes: 10 });
    // Events: every PC change after its commit, the run's end last.
    const runEvents = heard.filter((h) => h.name.startsWith('run.'));
    expect(runEvents[0]).toMatchObject({ name: 'run.changed', payload: { state: 'running' } });
    expect(runEvents.at(-1)).toMatchObject({ name: 'run.changed', payload: { state: 'done', runId: run.id } });
    expect(runEvents.filter((h) => h.name === 'run.pc.changed').map((h) => (h.payload as { state: string }).state)).toEqual([
      'waking',
      'waking',
      'failed',
      'waking',
      'booted',
      'restoring',
      'verifying',
      'done',
      'skipped',
      'failed',
    ]);
    // The morning report: what needs a person first, with its reason in French and English.
    const report = buildReport(view, await runs.timeline(view.pcs.map((p) => p.id)));
    expect(report.pcs.map((p) => [p.hostName, p.state, p.needsAPerson])).toEqual([
      ['B204-01', 'failed', true],
      ['B204-04', 'failed', true],
      ['B204-03', 'skipped', true],
      ['B204-02', 'done', false],
    ]);
    expect(report.pcs[0]!.reason).toEqual({ code: 'did_not_wake', fr: expect.stringContaining("ne s'est pas allumé après 2 réveil(s)"), en: expect.stringContaining('did not wake after 2') });
    expect(report.pcs[3]).toMatchObject({ bytesMoved: 500, timeline: [{ state: 'waking' }, { state: 'booted' }, { state: 'restoring' }, { state: 'verifying' }, { state: 'done' }] });
    expect(report.totals).toMatchObject({ pcs: 4, done: 1, failed: 2, skipped: 1, cancelled: 0, open: 0, bytesMoved: 500 });
    const mail = reportText(report);
    expect(mail.subject).toBe('Rapport de restauration – B204 : 1 restauré(s) sur 4, 2 en échec, 1 ignoré(s), 0 annulé(s)');
    expect(mail.text.split('\n').slice(2, 6)).toEqual([
      'À regarder :',
      expect.stringMatching(/^- B204-01 \(échec\) : ne s'est pas allumé/),
      expect.stringMatching(/^- B204-04 \(échec\) : il avait déjà une tâche en cours/),
      expect.stringMatching(/^- B204-03 \(ignoré\) : en cours d'utilisation/),
    ]);
    const html = reportHtml({ ...report, run: { ...report.run, room: '<B204>' } }, 'en');
    expect(html).toContain('<h1>Restore report – &lt;B204&gt;</h1>');
    expect(html.indexOf('B204-01')).toBeLessThan(html.indexOf('B204-02'));
    await s.tasks.cancel(actor, own.created[0]!);
    await s.tasks.cancel(actor, taskB);
    // Retry: a new run for the two failed PCs only, same version and options.
    const retry = await runs.retryFailed(actor, run.id);
    expect(retry).toMatchObject({ state: 'running', room: 'B204', version: { number: 1 }, options: run.options, counts: { queued: 2 } });
    expect(retry.pcs.map((p) => p.hostName)).toEqual(['B204-01', 'B204-04']);
    expect(await refused(runs.retryFailed(actor, retry.id))).toMatchObject({ status: 409, code: 'run_running' });
    await runs.cancel(actor, retry.id);
    expect(await refused(runs.retryFailed(actor, retry.id))).toMatchObject({ status: 409, code: 'nothing_to_retry' });
  });

  it('cancelling a run cancels its open PCs and their tasks, and ends the run cancelled with who did it', async () => {
    const run = await runs.create(actor, { roomId, imageId, steps: ['restore', 'verify'] });
    const [a, b] = run.pcs;
    const startA = await runs.apply(a!.id, { type: 'start', inUse: false });
    expect(startA.wake).toBeUndefined(); // no wake step: started by hand
    await runs.apply(a!.id, { type: 'task-running' });
    const view = await runs.cancel(actor, run.id);
    expect(view).toMatchObject({ state: 'cancelled', reason: { code: 'cancelled', text: 'cancelled by tech' }, counts: { cancelled: 4 } });
    expect(await s.tasks.stateOf(startA.pc.taskId!)).toBe('cancelled');
    expect((await runs.apply(b!.id, { type: 'start', inUse: false })).decision).toEqual({ ok: false, ignore: 'the PC is already cancelled' });
    expect(await refused(runs.cancel(actor, run.id))).toMatchObject({ status: 409, code: 'run_finished' });
    // Every PC is free for the next run.
    expect((await runs.create(actor, { roomId, imageId })).counts).toEqual({ queued: 4 });
  });
});
