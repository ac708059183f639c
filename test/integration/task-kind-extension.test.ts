// A task kind declared here, in the test only (a registry entry and its hooks), runs end to end
// through the real server: POST /api/v1/tasks, the boot decision (iPXE script), the client's hello,
// the client API (task, progress, result) and the task list. Nothing else in the code knows it: this
// is what a later kind (identity, software, wake) plugs into.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { describeRoutes } from '../../services/api/app.js';
import { ClientResultSchema, type TaskKindDef } from '../../services/tasks/kinds.js';
import { ApiClient } from '../support/client.js';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';
import { hardwareFacts } from '../support/facts.js';

const echoKind: TaskKindDef<{ text: string }> = {
  name: 'echo',
  summary: 'a test-only kind: the client reads a text and posts it back',
  input: z.object({ text: z.string().min(1).max(100) }),
  params: z.object({ text: z.string() }),
  result: ClientResultSchema.extend({ details: z.object({ echo: z.string() }) }),
  resolve: async (_trx, input) => ({ text: String(input.text).trim() }),
  boot: { imaging: false },
  hello: { action: 'echo', tokenSeconds: 600 },
  progress: true,
  client: {
    schema: z.object({ taskId: z.number().int(), kind: z.literal('echo'), text: z.string() }).meta({ id: 'EchoTask' }),
    view: async (_db, task, p) => ({ taskId: task.id, kind: 'echo', text: p.text }),
  },
  onResult: async (_tx, _task, p, outcome) =>
    outcome.state === 'done' && outcome.result.details && (outcome.result.details as { echo?: unknown }).echo !== p.text ? { ...outcome, state: 'failed', error: `the client echoed something other than "${p.text}"` } : outcome,
};

const MAC = '02:00:00:00:ec:01';
const tokenOf = (script: string) => /roomcast\.token=(\S+)/.exec(script)?.[1];

describe('a task kind registered by a test only', () => {
  let app: TestApp;
  let admin: ApiClient;
  let hostId: number;

  beforeAll(async () => {
    app = await startTestApp('sqlite', {}, { kinds: [echoKind as TaskKindDef<never>] });
    admin = new ApiClient(app.url);
    await admin.login('admin', TEST_ADMIN_PASSWORD);
    hostId = (await admin.post('/api/v1/hosts', { name: 'B204-ECHO', mac: MAC })).body.id;
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('runs through the API, the boot decision, the hello and the client API', async () => {
    const refused = await admin.post('/api/v1/tasks', { kind: 'echo', hostIds: [hostId] });
    expect(refused.status).toBe(400);
    expect(refused.body.code).toBe('validation_failed');

    const created = await admin.post('/api/v1/tasks', { kind: 'echo', hostIds: [hostId], text: ' bonjour B204 ' });
    expect(created.status).toBe(201);
    const task = created.body.tasks[0];
    expect(task).toMatchObject({ kind: 'echo', state: 'pending', params: { text: 'bonjour B204' } });

    // The boot decision: the client, with a task token, and no imaging.img (the kind says so).
    const script = await (await fetch(`${app.url}/boot/ipxe?mac=${MAC}&arch=7`)).text();
    expect(script).toContain('roomcast.token=');
    expect(script).not.toContain('imaging.img');
    const pc = Object.assign(new ApiClient(app.url), { token: tokenOf(script) });

    const hello = await pc.post('/api/v1/boot/hello', hardwareFacts(MAC));
    expect(hello.status).toBe(200);
    expect(hello.body).toMatchObject({ action: 'echo', taskId: task.id, taskState: 'running', token: expect.any(String) });
    const client = Object.assign(new ApiClient(app.url), { token: hello.body.token });

    expect((await client.get('/api/v1/client/task')).body).toEqual({ taskId: task.id, kind: 'echo', text: 'bonjour B204' });
    // The imaging calls are for capture and restore tasks only.
    const manifest = await client.get('/api/v1/client/manifest');
    expect(manifest.status).toBe(409);
    expect(manifest.body.code).toBe('wrong_task_kind');

    const progress = { phase: 'echo', bytesDone: 5, bytesTotal: 12, chunksDone: 0, chunksTotal: 0, rateBytesPerSecond: 5, etaSeconds: 2 };
    expect((await client.post('/api/v1/client/progress', progress)).status).toBe(204);
    const running = (await admin.get(`/api/v1/tasks?hostId=${hostId}`)).body[0];
    expect(running).toMatchObject({ id: task.id, state: 'running', result: { progress: { ...progress, at: expect.any(String) } } });

    // The kind's result schema: a report without the echo is refused, and nothing is recorded.
    const unfit = await client.post('/api/v1/client/result', { ok: true, details: { said: 'bonjour B204' } });
    expect(unfit.status).toBe(400);
    expect(unfit.body).toMatchObject({ code: 'bad_result', detail: expect.stringContaining('result.details.echo') });
    expect((await admin.get(`/api/v1/tasks?hostId=${hostId}`)).body[0].state).toBe('running');
    const result = await client.post('/api/v1/client/result', { ok: true, details: { echo: 'bonjour B204' } });
    expect(result.body).toEqual({ taskId: task.id, state: 'done', error: null });
    const done = (await admin.get(`/api/v1/tasks?hostId=${hostId}`)).body[0];
    expect(done).toMatchObject({ id: task.id, kind: 'echo', state: 'done', result: { ok: true, details: { echo: 'bonjour B204' }, progress: { phase: 'echo' } } });
  });

  it('lets the kind judge the result (its onResult hook)', async () => {
    const { body } = await admin.post('/api/v1/tasks', { kind: 'echo', hostIds: [hostId], text: 'salut' });
    const script = await (await fetch(`${app.url}/boot/ipxe?mac=${MAC}&arch=0`)).text();
    const hello = await Object.assign(new ApiClient(app.url), { token: tokenOf(script) }).post('/api/v1/boot/hello', hardwareFacts(MAC));
    const client = Object.assign(new ApiClient(app.url), { token: hello.body.token });
    const result = await client.post('/api/v1/client/result', { ok: true, details: { echo: 'hello' } });
    expect(result.body).toEqual({ taskId: body.tasks[0].id, state: 'failed', error: 'the client echoed something other than "salut"' });
  });

  it('is described in the OpenAPI document of an app that registers it, and only there', () => {
    const withEcho = describeRoutes({ kinds: [echoKind as TaskKindDef<never>] }).find((r) => r.path === '/api/v1/tasks' && r.method === 'post')!;
    const without = describeRoutes().find((r) => r.path === '/api/v1/tasks' && r.method === 'post')!;
    const kindsOf = (r: typeof withEcho) => (r.body as z.ZodDiscriminatedUnion).options.map((o) => ((o as z.ZodObject).shape.kind as z.ZodLiteral).value);
    expect(kindsOf(withEcho)).toEqual(['inventory', 'capture', 'restore', 'echo']);
    expect(kindsOf(without)).toEqual(['inventory', 'capture', 'restore']);
  });
});
