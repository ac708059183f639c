// Every registered route, called anonymously and as a viewer: only the home page, health and login are open to
// anyone, the firmware routes ('boot') are anonymous but GET-only under /boot/, the booted client's
// routes ('machine') take only a boot token, and a viewer cannot change anything. Also CSRF, API
// tokens and the login rate limit.
import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, describeRoutes } from '../../services/api/app.js';
import { inertContainer } from '../../services/container.js';
import { ROLE_RANK } from '../../services/core/auth.js';
import { isUserAccess, type AnyRoute } from '../../services/core/route.js';
import { ApiClient } from '../support/client.js';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';

const routes = describeRoutes();
const concrete = (path: string) => path.replace(/:[A-Za-z0-9_]+/g, '1');
const label = (r: AnyRoute) => `${r.method.toUpperCase()} ${r.path}`;

/** Every method+path Express has mounted, found by walking the router tree. */
function mountedRoutes(app: Express): string[] {
  const out: string[] = [];
  const walk = (stack: Array<{ route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: unknown[] } }>) => {
    for (const layer of stack) {
      if (layer.route) for (const m of Object.keys(layer.route.methods)) out.push(`${m.toUpperCase()} ${layer.route.path}`);
      else if (layer.handle?.stack) walk(layer.handle.stack as typeof stack);
    }
  };
  walk((app as unknown as { router: { stack: Parameters<typeof walk>[0] } }).router.stack);
  return out.sort();
}

describe('route security (every route)', () => {
  let app: TestApp;
  let viewer: ApiClient;
  let admin: ApiClient;

  beforeAll(async () => {
    app = await startTestApp('sqlite');
    admin = new ApiClient(app.url);
    await admin.login('admin', TEST_ADMIN_PASSWORD);
    viewer = await admin.userClient('viewer1', 'viewer');
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('mounts exactly the declared routes, and only the home page, health and login are public', () => {
    const { app: express } = createApp(inertContainer(), '0');
    expect(mountedRoutes(express)).toEqual(routes.map(label).sort());
    expect(routes.filter((r) => r.access === 'public').map(label).sort()).toEqual(['GET /', 'GET /api/health', 'POST /api/v1/auth/login']);
    expect(new Set(routes.map(label)).size).toBe(routes.length);
  });

  it('keeps the anonymous firmware routes to exactly these GETs under /boot/, and the machine routes to hello and the imaging client', () => {
    expect(routes.filter((r) => r.access === 'boot').map(label).sort()).toEqual(['GET /boot/client/imaging.img', 'GET /boot/client/initrd.img', 'GET /boot/client/vmlinuz', 'GET /boot/grub/:mac', 'GET /boot/ipxe', 'GET /boot/policy']);
    expect(routes.filter((r) => r.access === 'machine').map(label).sort()).toEqual([
      'GET /api/v1/client/answer-file',
      'GET /api/v1/client/chunks/:hash',
      'GET /api/v1/client/drivers',
      'GET /api/v1/client/drivers/:id/archive',
      'GET /api/v1/client/manifest',
      'GET /api/v1/client/restore/check',
      'GET /api/v1/client/software/assignments',
      'GET /api/v1/client/software/packages',
      'GET /api/v1/client/software/packages/:id',
      'GET /api/v1/client/software/packages/:id/files/:index',
      'GET /api/v1/client/task',
      'POST /api/v1/boot/hello',
      'POST /api/v1/client/capture',
      'POST /api/v1/client/capture/chunks',
      'POST /api/v1/client/capture/commit',
      'POST /api/v1/client/chunks/:hash/damaged',
      'POST /api/v1/client/progress',
      'POST /api/v1/client/result',
      'PUT /api/v1/client/chunks/:hash',
    ]);
    expect(routes.filter((r) => r.path.startsWith('/boot/')).every((r) => r.access === 'boot' && r.method === 'get')).toBe(true);
    expect(routes.every((r) => ['public', 'boot', 'machine'].includes(r.access) || isUserAccess(r.access))).toBe(true);
  });

  it.each(routes.filter((r) => r.access === 'boot').map((r) => [label(r), r] as const))('answers only GET on %s', async (_name, route) => {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      const r = await admin.request(method, route.path, {});
      expect(r.status, `${method} ${route.path}`).toBe(404);
      expect(r.headers.get('content-type')).toContain('application/problem+json');
    }
  });

  it('takes neither a session nor an API token on machine routes, only a boot token', async () => {
    for (const route of routes.filter((r) => r.access === 'machine')) {
      const method = route.method.toUpperCase();
      const body = route.method === 'get' ? undefined : {};
      const anonymous = await new ApiClient(app.url).request(method, concrete(route.path), body);
      expect(anonymous.status).toBe(401);
      expect(anonymous.body.code).toBe('unauthenticated');
      const session = await admin.request(method, concrete(route.path), body);
      expect(session.status).toBe(401);
      expect(session.body.code).toBe('unauthenticated');
      const apiToken = new ApiClient(app.url);
      apiToken.token = (await admin.post('/api/v1/tokens', { name: `machine-${route.path}`, role: 'admin' })).body.token;
      const byToken = await apiToken.request(method, concrete(route.path), body);
      expect(byToken.status).toBe(401);
      expect(byToken.body.code).toBe('invalid_token');
    }
  });

  it.each(routes.filter((r) => isUserAccess(r.access)).map((r) => [label(r), r] as const))('refuses an anonymous %s', async (_name, route) => {
    const r = await new ApiClient(app.url).request(route.method.toUpperCase(), concrete(route.path), route.method === 'get' ? undefined : {});
    expect(r.status).toBe(401);
    expect(r.body.code).toBe('unauthenticated');
  });

  it.each(routes.filter((r) => isUserAccess(r.access) && ROLE_RANK[r.access] > ROLE_RANK.viewer).map((r) => [label(r), r] as const))(
    'refuses a viewer %s',
    async (_name, route) => {
      const r = await viewer.request(route.method.toUpperCase(), concrete(route.path), route.method === 'get' ? undefined : {});
      expect(r.status).toBe(403);
      expect(r.body.code).toBe('forbidden');
    },
  );

  it('gives the viewer role no route that writes inventory, users or tokens of others', () => {
    const viewerWrites = routes.filter((r) => r.access === 'viewer' && r.method !== 'get').map(label).sort();
    // Only the caller's own session, password and tokens.
    expect(viewerWrites).toEqual(['DELETE /api/v1/tokens/:id', 'POST /api/v1/auth/logout', 'POST /api/v1/auth/password', 'POST /api/v1/tokens']);
  });

  it('refuses a cookie-authenticated write without the CSRF token', async () => {
    const noCsrf = new ApiClient(app.url);
    await noCsrf.login('admin', TEST_ADMIN_PASSWORD);
    noCsrf.csrf = undefined;
    const r = await noCsrf.post('/api/v1/rooms', { name: 'CSRF' });
    expect(r.status).toBe(403);
    expect(r.body.code).toBe('csrf_failed');
    noCsrf.csrf = 'wrong';
    expect((await noCsrf.post('/api/v1/rooms', { name: 'CSRF' })).body.code).toBe('csrf_failed');
    expect((await admin.get('/api/v1/rooms')).body.some((room: { name: string }) => room.name === 'CSRF')).toBe(false);
  });

  it('accepts API tokens without CSRF, never above the owner’s role, and revokes them', async () => {
    // Asking for more than one's own role is refused (it used to be lowered silently).
    expect((await viewer.post('/api/v1/tokens', { name: 'script', role: 'admin' })).status).toBe(403);
    const created = await viewer.post('/api/v1/tokens', { name: 'script' });
    expect(created.status).toBe(201);
    expect(created.body.role).toBe('viewer');
    const script = new ApiClient(app.url);
    script.token = created.body.token;
    expect((await script.get('/api/v1/rooms')).status).toBe(200);
    expect((await script.post('/api/v1/rooms', { name: 'T' })).status).toBe(403);

    const techToken = await admin.post('/api/v1/tokens', { name: 'tech-script', role: 'technician' });
    const tech = new ApiClient(app.url);
    tech.token = techToken.body.token;
    expect((await tech.post('/api/v1/rooms', { name: 'Par token' })).status).toBe(201);
    expect((await tech.get('/api/v1/users')).status).toBe(403);

    expect((await viewer.delete(`/api/v1/tokens/${techToken.body.id}`)).status).toBe(404);
    expect((await admin.delete(`/api/v1/tokens/${techToken.body.id}`)).status).toBe(204);
    const revoked = await tech.get('/api/v1/rooms');
    expect(revoked.status).toBe(401);
    expect(revoked.body.code).toBe('invalid_token');
  });

  it('ends sessions at logout and when an admin disables the user', async () => {
    const c = await admin.userClient('leaving', 'technician');
    expect((await c.get('/api/v1/rooms')).status).toBe(200);
    const users = (await admin.get('/api/v1/users')).body as Array<{ id: number; username: string }>;
    const id = users.find((u) => u.username === 'leaving')!.id;
    expect((await admin.patch(`/api/v1/users/${id}`, { disabled: true })).status).toBe(200);
    expect((await c.get('/api/v1/rooms')).status).toBe(401);
    expect((await c.login('leaving', 'temp-leaving-password-changed')).status).toBe(401);

    const d = new ApiClient(app.url);
    await d.login('admin', TEST_ADMIN_PASSWORD);
    expect((await d.post('/api/v1/auth/logout')).status).toBe(204);
    expect((await d.get('/api/v1/rooms')).status).toBe(401);
  });

  it('keeps at least one admin', async () => {
    const me = (await admin.get('/api/v1/auth/session')).body.user;
    const r = await admin.patch(`/api/v1/users/${me.id}`, { role: 'viewer' });
    expect(r.status).toBe(409);
    expect(r.body.code).toBe('last_admin');
    expect((await admin.delete(`/api/v1/users/${me.id}`)).body.code).toBe('cannot_delete_self');
  });

  it('rate-limits failed logins of one account from one address, not the other accounts', async () => {
    const c = new ApiClient(app.url);
    const codes: number[] = [];
    for (let i = 0; i < 11; i++) codes.push((await c.login('viewer1', `wrong-${i}`)).status);
    expect(codes.slice(0, 10).every((s) => s === 401)).toBe(true);
    const limited = await c.login('viewer1', 'temp-viewer1-password-changed');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await new ApiClient(app.url).login('admin', TEST_ADMIN_PASSWORD)).status).toBe(200);
    const audit = (await admin.get('/api/v1/audit?action=auth.login_failed')).body as unknown[];
    expect(audit.length).toBeGreaterThanOrEqual(10);
  });

  it('says plainly through the System API that there is no Docker here (all-in-one start)', async () => {
    const r = await admin.get('/api/v1/system/containers');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ available: false, reason: expect.stringContaining('not running under Docker Compose') });
  });

  it('answers unknown API paths and bad JSON with problem+json', async () => {
    const unknown = await admin.get('/api/v1/nothing-here');
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toContain('application/problem+json');
    const bad = await admin.request('POST', '/api/v1/rooms', '{"name":', { contentType: 'application/json' });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('bad_json');
  });
});
