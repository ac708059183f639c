// The task lifecycle at the service level, against a real SQLite file and a real PostgreSQL database,
// without HTTP: every transition, the invalid ones refused with the reason, and the task.changed events
// emitted in order, after the commit (a second connection already sees the change when the listener
// runs), and none for a change that was rolled back.
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MachineAuth } from '../../services/core/auth.js';
import type { EventName, ServerEvents } from '../../services/core/events.js';
import { move, TASK_STATES, type TaskEvent } from '../../services/tasks/lifecycle.js';
import { DIALECTS } from '../support/env.js';
import { refused } from '../support/refused.js';
import { openTestServices, type TestServices } from '../support/services.js';

const actor = { userId: null, name: 'tech', ip: null };
const machine = (mac: string, taskId: number, hostId: number): MachineAuth => ({ purpose: 'task', mac, taskId, hostId, exp: 0, actor: { userId: null, name: `machine:${mac}`, ip: null } });
const progress = { phase: 'write', bytesDone: 1, bytesTotal: 2, chunksDone: 1, chunksTotal: 2, rateBytesPerSecond: 1, etaSeconds: 1 };

describe('task lifecycle rule (pure)', () => {
  it('allows exactly the documented moves', () => {
    const allowed: string[] = [];
    for (const event of ['hello', 'result', 'cancel', 'fail'] as TaskEvent[]) {
      for (const from of TASK_STATES) for (const to of TASK_STATES) if (move(event, from, to).ok) allowed.push(`${event}: ${from} → ${to}`);
    }
    expect(allowed.sort()).toEqual(
      [
        'cancel: pending → cancelled',
        'cancel: running → cancelled',
        'fail: pending → failed',
        'fail: running → failed',
        'hello: pending → done',
        'hello: pending → running',
        'result: running → done',
        'result: running → failed',
      ].sort(),
    );
    expect(move('cancel', 'done', 'cancelled')).toEqual({ ok: false, reason: 'the task is already done' });
    expect(move('result', 'pending', 'done')).toMatchObject({ ok: false, reason: expect.stringContaining('say hello first') });
  });
});

describe.each(DIALECTS)('task lifecycle through TaskService (%s)', (dialect) => {
  let s: TestServices;
  let committedState: (taskId: number) => Promise<string | undefined>;
  let closeReader: () => Promise<void>;
  const reads: Array<Promise<unknown>> = [];
  const heard: Array<{ name: EventName; payload: ServerEvents[EventName]; committed: Promise<string | undefined> }> = [];
  let hostA: { id: number; mac: string };
  let hostB: { id: number; mac: string };
  let imageId: number;

  beforeAll(async () => {
    s = await openTestServices(dialect);
    // A second connection: what it sees is committed. SQLite reads it synchronously, while the
    // listener runs; PostgreSQL (read committed) starts its read at once, on its own connection.
    if (dialect === 'sqlite') {
      const reader = new SQLite(s.databaseUrl.replace(/^sqlite:/, ''), { readonly: true });
      const stmt = reader.prepare<[number], { state: string }>('select state from tasks where id = ?');
      committedState = (id) => Promise.resolve(stmt.get(id)?.state);
      closeReader = async () => void reader.close();
    } else {
      const client = new pg.Client({ connectionString: s.databaseUrl });
      await client.connect();
      committedState = async (id) => (await client.query<{ state: string }>('select state from tasks where id = $1', [id])).rows[0]?.state;
      closeReader = () => client.end();
    }
    s.events.onAny((name, payload) => {
      const id = (payload as { taskId?: number }).taskId;
      const committed = id === undefined ? Promise.resolve(undefined) : committedState(id);
      reads.push(committed.catch(() => undefined));
      heard.push({ name, payload, committed });
    });
    const room = await s.inventory.createRoom(actor, { name: 'B204' });
    const a = await s.inventory.createHost(actor, { name: 'B204-01', mac: '02:00:00:00:01:01', roomId: room.id });
    const b = await s.inventory.createHost(actor, { name: 'B204-02', mac: '02:00:00:00:01:02', roomId: room.id });
    hostA = { id: a.id, mac: a.mac };
    hostB = { id: b.id, mac: b.mac };
    imageId = (await s.catalogue.createImage(actor, { name: 'Windows 11' })).id;
    heard.length = 0;
  });
  afterAll(async () => {
    await Promise.all(reads);
    await closeReader?.();
    await s?.close();
  });

  const taskEvents = () => heard.filter((h) => h.name === 'task.changed').map((h) => h.payload as ServerEvents['task.changed']);

  it('creates pending tasks, tells each after the commit, in order; a PC keeps its open task', async () => {
    const { created, tasks } = await s.tasks.create(actor, [hostA.id, hostB.id], 'inventory');
    expect(tasks.map((t) => [t.hostId, t.state, t.kind])).toEqual([
      [hostA.id, 'pending', 'inventory'],
      [hostB.id, 'pending', 'inventory'],
    ]);
    expect(taskEvents()).toMatchObject(created.map((id) => ({ taskId: id, state: 'pending', previous: null, kind: 'inventory', roomId: tasks[0]!.roomId })));
    expect(await Promise.all(heard.map((h) => h.committed))).toEqual(['pending', 'pending']);
    const again = await s.tasks.create(actor, [hostA.id], 'inventory');
    expect(again.created).toEqual([]);
    expect(again.tasks[0]!.id).toBe(created[0]);
    expect(taskEvents()).toHaveLength(2);
  });

  it('emits nothing for a change that was rolled back, and says why', async () => {
    heard.length = 0;
    expect(await refused(s.tasks.create(actor, [hostA.id, 999_999], 'inventory'))).toMatchObject({ status: 400, code: 'unknown_host' });
    expect(await refused(s.tasks.create(actor, [hostA.id, hostB.id], 'capture', { imageId }))).toMatchObject({ status: 400, code: 'one_host_per_capture' });
    expect(await refused(s.tasks.create(actor, [hostA.id], 'restore', { imageId }))).toMatchObject({ status: 409, code: 'no_ready_version' });
    expect(await refused(s.tasks.create(actor, [hostA.id], 'dance'))).toMatchObject({ status: 400, code: 'unknown_kind' });
    expect(await refused(s.tasks.create(actor, [hostA.id], 'capture', { imageId: 'x' }))).toMatchObject({ status: 400, code: 'validation_failed' });
    expect(heard).toEqual([]);
  });

  it('inventory: pending → done at the hello; a finished task cannot be cancelled or checked in again', async () => {
    heard.length = 0;
    const [task] = (await s.tasks.list({ hostId: hostA.id, state: 'pending' }))!;
    const checkIn = await s.events.transaction(s.database.db, (tx) => s.tasks.checkIn(tx, actor, task!.id, hostA.id));
    expect(checkIn.run).toBeUndefined();
    expect(checkIn.task).toMatchObject({ state: 'done', result: JSON.stringify({ facts: true }) });
    expect(taskEvents()).toMatchObject([{ taskId: task!.id, state: 'done', previous: 'pending' }]);
    expect(await heard[0]!.committed).toBe('done');
    expect(await refused(s.tasks.cancel(actor, task!.id))).toMatchObject({ status: 409, code: 'task_finished', message: expect.stringContaining('already done') });
    const again = await s.events.transaction(s.database.db, (tx) => s.tasks.checkIn(tx, actor, task!.id, hostA.id));
    expect(again.task?.state).toBe('done');
    expect(taskEvents()).toHaveLength(1);
  });

  it('cancel: pending → cancelled, once', async () => {
    heard.length = 0;
    const [task] = (await s.tasks.list({ hostId: hostB.id, state: 'pending' }))!;
    expect((await s.tasks.cancel(actor, task!.id)).state).toBe('cancelled');
    expect(await refused(s.tasks.cancel(actor, task!.id))).toMatchObject({ status: 409, code: 'task_finished' });
    expect(taskEvents()).toMatchObject([{ taskId: task!.id, state: 'cancelled', previous: 'pending' }]);
  });

  it('capture: pending → running at the hello (with its action), progress only while running, result once; a success without commit fails', async () => {
    heard.length = 0;
    const { tasks } = await s.tasks.create(actor, [hostA.id], 'capture', { imageId, notes: 'v1' });
    const task = tasks[0]!;
    const m = machine(hostA.mac, task.id, hostA.id);
    expect(await refused(s.tasks.recordProgress(m, progress))).toMatchObject({ status: 409, code: 'task_not_running', message: expect.stringContaining('say hello first') });
    expect(await refused(s.tasks.finish(m, { ok: true }))).toMatchObject({ status: 409, code: 'task_not_running' });
    const checkIn = await s.events.transaction(s.database.db, (tx) => s.tasks.checkIn(tx, actor, task.id, hostA.id));
    expect(checkIn.run).toEqual({ action: 'capture', tokenSeconds: 24 * 3600 });
    await s.tasks.recordProgress(m, progress);
    expect((await s.tasks.get(task.id)).result).toMatchObject({ progress: { ...progress, at: expect.any(String) } });
    expect(await refused(s.tasks.machineTask(machine('02:00:00:00:09:09', task.id, hostA.id)))).toMatchObject({ status: 403, code: 'task_mismatch' });
    const end = await s.tasks.finish(m, { ok: true });
    expect(end).toMatchObject({ state: 'failed', error: expect.stringContaining('capture not committed') });
    // A failed task says so, with its error, to the client that calls again.
    expect(await refused(s.tasks.finish(m, { ok: true }))).toMatchObject({ status: 409, code: 'task_failed', message: expect.stringContaining('capture not committed') });
    expect(await refused(s.tasks.recordProgress(m, progress))).toMatchObject({ status: 409, code: 'task_failed' });
    expect(heard.map((h) => h.name)).toEqual(['task.changed', 'task.changed', 'task.progress', 'task.changed']);
    expect(taskEvents().map((e) => `${e.previous} → ${e.state}`)).toEqual(['null → pending', 'pending → running', 'running → failed']);
    expect(await Promise.all(heard.map((h) => h.committed))).toEqual(['pending', 'running', 'running', 'failed']);
  });

  it('cancel: running → cancelled; the client is then told to stop', async () => {
    heard.length = 0;
    const { tasks } = await s.tasks.create(actor, [hostB.id], 'capture', { imageId });
    const task = tasks[0]!;
    await s.events.transaction(s.database.db, (tx) => s.tasks.checkIn(tx, actor, task.id, hostB.id));
    expect((await s.tasks.cancel(actor, task.id)).state).toBe('cancelled');
    const m = machine(hostB.mac, task.id, hostB.id);
    expect(await refused(s.tasks.finish(m, { ok: false, reason: 'disk gone' }))).toMatchObject({ status: 409, code: 'task_not_running', message: expect.stringContaining('nothing left to do') });
    expect(taskEvents().map((e) => `${e.previous} → ${e.state}`)).toEqual(['null → pending', 'pending → running', 'running → cancelled']);
  });
});
