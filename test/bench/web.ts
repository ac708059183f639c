// Web UI benchmark (issue 13): the built bundle's size (raw and gzip), the time to first render of the
// rooms page (40 rooms, each with a running run) and of a room page (35 PCs), and how long the room
// grid takes to show 35 PCs changing state at once, in headless Debian chromium driven by
// playwright-core against the real roomcast (SQLite, real Redis). Reports only; asserts nothing.
//
// First render: performance.now() in the page (ms since the navigation started) when every card or
// PC is drawn with its data, after a reload (the bundle is in the HTTP cache, as on a teacher's phone
// the second time). Live update: 35 run.pc.changed events emitted on the api's event bus at once
// (notices only, as the worker's would be), until the 35 PCs show the new state; measured from Node,
// so it includes the socket.io push and the browser's rendering and a DevTools poll per frame.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { startTestApp, TEST_ADMIN_PASSWORD } from '../support/app.js';
import { hasChromium, launchBrowser } from '../support/browser.js';
import { publishVersion } from '../support/runs.js';
import buildWeb, { WEB_DIST } from '../support/web-build.js';
import { environment, markdownTable, median, writeResults, type BenchContext } from './harness.js';

export const name = 'web';

const ROOMS = 40;
const ROOM_PCS = 35;
const REPEATS = 7;
const UPDATES = 10;
const actor = { userId: null, name: 'bench', ip: null };

const round = (ms: number | null) => (ms === null ? null : Math.round(ms * 10) / 10);
const stats = (xs: number[]) => ({ median: round(median(xs)), max: round(xs.length ? Math.max(...xs) : null), runs: xs.map((x) => round(x)!) });

export async function run(ctx: BenchContext): Promise<void> {
  if (!hasChromium) {
    ctx.log('web: skipped, /usr/bin/chromium is absent (apt-get install chromium)');
    return;
  }
  await buildWeb();
  const assets = fs.readdirSync(path.join(WEB_DIST, 'assets')).map((f) => {
    const body = fs.readFileSync(path.join(WEB_DIST, 'assets', f));
    return { file: f, bytes: body.length, gzipBytes: gzipSync(body, { level: 9 }).length };
  });
  const html = fs.readFileSync(path.join(WEB_DIST, 'index.html'));
  const bundle = { assets, totalBytes: assets.reduce((t, a) => t + a.bytes, html.length), totalGzipBytes: assets.reduce((t, a) => t + a.gzipBytes, gzipSync(html, { level: 9 }).length) };
  ctx.log(`web: bundle ${bundle.totalBytes} bytes, ${bundle.totalGzipBytes} gzip`);

  // Long wake timeouts: every PC stays 'waking' (its magic packets go to loopback, nobody answers).
  const app = await startTestApp('sqlite');
  ctx.onCleanup(() => app.stop());
  const c = app.container;
  const ref = await c.inventory.createHost(actor, { name: 'REF', mac: '02:52:ff:00:00:01', roomId: null });
  const imageId = (await c.catalogue.createImage(actor, { name: 'Windows 11' })).id;
  await publishVersion(c, imageId, ref);
  let mac = 0;
  const nextMac = () => `02:52:44:00:${((mac >> 8) & 0xff).toString(16).padStart(2, '0')}:${(mac++ & 0xff).toString(16).padStart(2, '0')}`;
  let benchRoom = 0;
  for (let r = 1; r <= ROOMS; r++) {
    const roomName = r === 1 ? 'B204' : `S${String(r).padStart(3, '0')}`;
    const roomId = (await c.inventory.createRoom(actor, { name: roomName })).id;
    if (r === 1) benchRoom = roomId;
    const pcs = r === 1 ? ROOM_PCS : 2;
    for (let n = 1; n <= pcs; n++) await c.inventory.createHost(actor, { name: `${roomName}-${String(n).padStart(2, '0')}`, mac: nextMac(), roomId });
    await c.runs.create(actor, { roomId, imageId, wakeAttempts: 1, wakeTimeoutMinutes: 120, wakePerSecond: 100 });
  }
  const runView = (await c.runs.list({ roomId: benchRoom, limit: 1 }))[0]!;
  const view = await c.runs.view(runView.id);
  ctx.log(`web: ${ROOMS} rooms, each with a run; room B204 has ${view.pcs.length} PCs`);

  const tb = await launchBrowser();
  ctx.onCleanup(() => tb.close());
  const context = await tb.context(app.url);
  const page = await context.newPage();
  await page.goto('/login');
  await page.getByLabel('Identifiant').fill('admin');
  await page.getByLabel('Mot de passe').fill(TEST_ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Se connecter' }).click();
  await page.getByRole('heading', { name: 'Salles' }).waitFor();

  // API requests a page makes once loaded, until the network is idle (counted on each load; the last load's count is kept).
  let apiRequests = 0;
  page.on('request', (r) => {
    if (new URL(r.url()).pathname.startsWith('/api/')) apiRequests++;
  });

  // Rooms page: every card with its last run's counts.
  const roomsMs: number[] = [];
  let roomsRequests = 0;
  for (let i = 0; i < REPEATS; i++) {
    apiRequests = 0;
    await page.goto('/rooms');
    const at = await page.waitForFunction(
      (n) => {
        const d = (globalThis as unknown as { document: { querySelectorAll(s: string): { length: number } } }).document;
        return d.querySelectorAll('[data-testid=room-card] ul.counts').length === n ? (globalThis as unknown as { performance: { now(): number } }).performance.now() : false;
      },
      ROOMS,
      { polling: 'raf', timeout: 30_000 },
    );
    roomsMs.push((await at.jsonValue()) as number);
    await page.waitForLoadState('networkidle');
    roomsRequests = apiRequests;
  }
  ctx.log(`web: rooms page, first render ${JSON.stringify(stats(roomsMs))} ms, ${roomsRequests} API requests`);

  // Room page: every PC with its run state.
  const roomMs: number[] = [];
  let roomRequests = 0;
  for (let i = 0; i < REPEATS; i++) {
    apiRequests = 0;
    await page.goto(`/rooms/${benchRoom}`);
    const at = await page.waitForFunction(
      (n) => {
        const d = (globalThis as unknown as { document: { querySelectorAll(s: string): { length: number } } }).document;
        return d.querySelectorAll('[data-testid=pc][data-state=waking]').length === n ? (globalThis as unknown as { performance: { now(): number } }).performance.now() : false;
      },
      ROOM_PCS,
      { polling: 'raf', timeout: 30_000 },
    );
    roomMs.push((await at.jsonValue()) as number);
    await page.waitForLoadState('networkidle');
    roomRequests = apiRequests;
  }
  ctx.log(`web: room page (${ROOM_PCS} PCs), first render ${JSON.stringify(stats(roomMs))} ms, ${roomRequests} API requests`);

  // Live: all 35 PCs change state at once.
  await page.locator('[data-testid=live][data-connected=true]').waitFor();
  const liveMs: number[] = [];
  let previous = 'waking';
  for (let i = 0; i < UPDATES; i++) {
    const state = i % 2 === 0 ? 'restoring' : 'booted';
    const t0 = performance.now();
    for (const pc of view.pcs) {
      c.events.emit('run.pc.changed', { runId: view.id, runPcId: pc.id, roomId: benchRoom, hostId: pc.hostId, state, previous, reasonCode: '', reasonText: '', at: new Date().toISOString() });
    }
    await page.waitForFunction(
      ([s, n]) => (globalThis as unknown as { document: { querySelectorAll(q: string): { length: number } } }).document.querySelectorAll(`[data-testid=pc][data-state=${s}]`).length === n,
      [state, ROOM_PCS] as const,
      { polling: 'raf', timeout: 10_000 },
    );
    liveMs.push(performance.now() - t0);
    previous = state;
  }
  ctx.log(`web: ${ROOM_PCS} PCs changing state at once, until all shown ${JSON.stringify(stats(liveMs))} ms`);
  await context.close();

  const result = {
    environment: environment(),
    browser: `chromium ${tb.browser.version()}`,
    bundle,
    roomsPage: { rooms: ROOMS, firstRenderMs: stats(roomsMs), apiRequests: roomsRequests },
    roomPage: { pcs: ROOM_PCS, firstRenderMs: stats(roomMs), apiRequests: roomRequests },
    liveUpdate: { pcs: ROOM_PCS, updates: UPDATES, ms: stats(liveMs) },
  };
  const md = [
    '# Web UI benchmark',
    '',
    `${result.environment.date}, ${result.browser} headless, Node ${result.environment.node}, ${result.environment.cpuCount} × ${result.environment.cpuModel}. \`npm run bench -- web\`.`,
    '',
    '## Bundle (web/dist)',
    '',
    markdownTable(['file', 'bytes', 'gzip bytes'], [...assets.map((a) => [a.file, a.bytes, a.gzipBytes]), ['total (with index.html)', bundle.totalBytes, bundle.totalGzipBytes]]),
    '',
    `## Time to first render (ms since navigation start, ${REPEATS} reloads, loopback)`,
    '',
    markdownTable(
      ['page', 'median ms', 'max ms', 'API requests (load, until idle)'],
      [
        [`rooms (${ROOMS} rooms, each with a run)`, result.roomsPage.firstRenderMs.median, result.roomsPage.firstRenderMs.max, roomsRequests],
        [`room (${ROOM_PCS} PCs in a run)`, result.roomPage.firstRenderMs.median, result.roomPage.firstRenderMs.max, roomRequests],
      ],
    ),
    '',
    `## Live update: ${ROOM_PCS} PCs change state at once (${UPDATES} times)`,
    '',
    markdownTable(['measure', 'median ms', 'max ms'], [['events emitted → all 35 PCs shown with the new state', result.liveUpdate.ms.median, result.liveUpdate.ms.max]]),
    '',
    'API requests: those a load of the page made until the network was idle (the session, the data, and the refetch once the live subscription is up). The rooms page reads every room’s newest run with its counts in one request (GET /api/v1/runs/latest-by-room), not two per room card.',
  ].join('\n');
  const files = writeResults(name, result, md);
  ctx.log(`web: wrote ${files.md}`);
}
