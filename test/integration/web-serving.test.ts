// The api role serves the built web UI (services/api/web.ts): hashed assets cached for a year,
// index.html never cached, the UI's routes answered with index.html for a browser, and the API, boot
// and socket.io paths left alone; without a built UI, GET / keeps its short page.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.js';

const HTML = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };

describe('serving the web UI', () => {
  let app: TestApp;
  let bare: TestApp;
  let emptyDir: string;

  beforeAll(async () => {
    emptyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-noweb-'));
    [app, bare] = await Promise.all([startTestApp('sqlite'), startTestApp('sqlite', { ROOMCAST_WEB_DIR: emptyDir })]);
  });

  afterAll(async () => {
    await Promise.all([app?.stop(), bare?.stop()]);
    fs.rmSync(emptyDir, { recursive: true, force: true });
  });

  it('GET / is index.html, not cached, naming hashed assets that are cached for a year', async () => {
    const r = await fetch(`${app.url}/`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
    expect(r.headers.get('cache-control')).toBe('no-cache');
    const html = await r.text();
    expect(html).toContain('<div id="root"></div>');
    const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.some((a) => a.endsWith('.js'))).toBe(true);
    for (const a of assets) {
      const ar = await fetch(`${app.url}${a}`);
      expect(ar.status, a).toBe(200);
      expect(ar.headers.get('cache-control'), a).toBe('public, max-age=31536000, immutable');
      await ar.arrayBuffer();
    }
    const missing = await fetch(`${app.url}/assets/nope-123.js`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/problem\+json/);
  });

  it("answers the UI's own routes with index.html for a browser, and only for a browser", async () => {
    for (const p of ['/rooms', '/rooms/3', '/runs/12', '/login']) {
      const r = await fetch(`${app.url}${p}`, { headers: HTML });
      expect(r.status, p).toBe(200);
      expect(r.headers.get('cache-control'), p).toBe('no-cache');
      expect(await r.text(), p).toContain('<div id="root"></div>');
    }
    const script = await fetch(`${app.url}/rooms/3`, { headers: { accept: 'application/json' } });
    expect(script.status).toBe(404);
    await script.arrayBuffer();
    const post = await fetch(`${app.url}/rooms/3`, { method: 'POST', headers: HTML });
    expect(post.status).toBe(404);
    await post.arrayBuffer();
  });

  it('leaves /api/, /boot/ and /socket.io/ alone, even when HTML is asked for', async () => {
    const api = await fetch(`${app.url}/api/v1/nothing-here`, { headers: HTML });
    expect(api.status).toBe(404);
    expect(api.headers.get('content-type')).toMatch(/problem\+json/);
    await api.arrayBuffer();
    const health = await fetch(`${app.url}/api/health`, { headers: HTML });
    expect(health.headers.get('content-type')).toMatch(/json/);
    await health.arrayBuffer();
    const rooms = await fetch(`${app.url}/api/v1/rooms`, { headers: HTML });
    expect(rooms.status).toBe(401);
    await rooms.arrayBuffer();
    const boot = await fetch(`${app.url}/boot/nothing`, { headers: HTML });
    expect(await boot.text()).not.toContain('<div id="root">');
    const sio = await fetch(`${app.url}/socket.io/?EIO=4&transport=polling`, { headers: HTML });
    expect(await sio.text()).not.toContain('<div id="root">');
  });

  it('without a built UI, GET / is the short page and UI routes are not found', async () => {
    const r = await fetch(`${bare.url}/`);
    expect(r.status).toBe(200);
    const html = await r.text();
    expect(html).toContain('/api/health');
    expect(html).not.toContain('<div id="root">');
    const ui = await fetch(`${bare.url}/rooms`, { headers: HTML });
    expect(ui.status).toBe(404);
    await ui.arrayBuffer();
  });
});
