// In a real browser against the real server (api and worker roles, SQLite, Redis): the live updates.
// A run's page patches each PC's state from socket.io without asking for the report again; the live
// badge says "live" only once the server accepted the subscription, "not live" when it refused it; the
// rooms page's cards follow the PCs' states, the runs' results and the PC counts without a reload; and
// a session that ended leaves nothing of its user's data for the next one. And a PC's history links a
// room run's restore to its run.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';
import { hasChromium, launchBrowser, type TestBrowser } from '../support/browser.js';
import { publishVersion } from '../support/runs.js';
import { actor, checkPage, login, openPage, seedLoosePc, seedRoom, seedUser } from './support.js';

if (!hasChromium) console.warn('test/web/live.test.ts skipped: /usr/bin/chromium is absent (apt-get install chromium; .ci/run installs it)');

describe.runIf(hasChromium)('web UI: live updates and the end of a session', () => {
  let app: TestApp;
  let tb: TestBrowser;
  let roomId = 0;
  let hostIds: number[] = [];
  let runId = 0;
  let runPcIds: number[] = [];
  let imageId = 0;
  let at = Date.now();

  /** A PC of the run changes state, as the worker would say it (the page cannot tell). */
  const pcChanged = (i: number, previous: string, state: string) =>
    app.container.events.emit('run.pc.changed', { runId, runPcId: runPcIds[i]!, roomId, hostId: hostIds[i]!, state, previous, reasonCode: '', reasonText: '', at: new Date((at += 1000)).toISOString() });

  /** Counts the page's requests whose path matches. */
  const counter = (page: Page, re: RegExp) => {
    const seen = { n: 0 };
    page.on('request', (r) => void (re.test(new URL(r.url()).pathname) && seen.n++));
    return seen;
  };

  beforeAll(async () => {
    app = await startTestApp('sqlite');
    const c = app.container;
    ({ roomId, hostIds } = await seedRoom(app, 'B204', 3, '02:5e:30:00:00'));
    await seedRoom(app, 'CDI', 0, '02:5e:31:00:00');
    const ref = await seedLoosePc(app, 'REF', '02:5e:30:00:00:ff');
    imageId = (await c.catalogue.createImage(actor, { name: 'Windows 11' })).id;
    await publishVersion(c, imageId, ref);
    await seedUser(app, 'prof', 'viewer', 'lecture-seule-2026');
    // A run that stays open: its PCs wait an hour to wake.
    const run = await c.runs.create(actor, { roomId, imageId, wakeAttempts: 1, wakeTimeoutMinutes: 60 });
    runId = run.id;
    runPcIds = hostIds.map((h) => run.pcs.find((p) => p.hostId === h)!.id);
    tb = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    await tb?.close();
    await app?.stop();
  });

  it("patches a run's PCs from the live events without asking for the report again", async () => {
    const { ctx, page, errors } = await openPage(tb, app.url);
    await login(page, 'admin', TEST_ADMIN_PASSWORD);
    await page.goto(`/runs/${runId}`);
    await page.locator('[data-testid=live][data-status=live]').getByText('En direct').waitFor();
    await page.waitForLoadState('networkidle');
    const reports = counter(page, new RegExp(`^/api/v1/runs/${runId}(/report)?$`));
    // Twenty changes of one PC, none final: each is patched in, none refetches.
    for (let k = 0; k < 10; k++) {
      pcChanged(0, k === 0 ? 'queued' : 'restoring', 'booted');
      pcChanged(0, 'booted', 'restoring');
    }
    await page.locator('[data-testid=run-pc][data-state=restoring]').filter({ hasText: 'B204-01' }).waitFor();
    await page.waitForTimeout(500);
    expect(reports.n).toBe(0);
    // A final state brings the reason in words: one report, not one per event.
    for (let k = 0; k < 5; k++) pcChanged(1, 'queued', 'failed');
    await page.waitForTimeout(1000);
    expect(reports.n).toBeGreaterThan(0);
    expect(reports.n).toBeLessThanOrEqual(4);
    await checkPage(page, 'run-live');
    expect(errors).toEqual([]);
    await ctx.close();
  }, 60_000);

  it('says "not live" when the server refused the subscription, and "live" once it accepted it', async () => {
    const { ctx, page, errors } = await openPage(tb, app.url);
    // The server's answer to the room's subscription turned into a refusal.
    await page.routeWebSocket(/\/socket\.io\//, (ws) => {
      const server = ws.connectToServer();
      server.onMessage((m) => ws.send(typeof m === 'string' ? m.replace(/\{"ok":true,"joined":"room:\d+"\}/, '{"ok":false,"error":"not_found"}') : m));
    });
    await login(page, 'admin', TEST_ADMIN_PASSWORD);
    await page.goto(`/rooms/${roomId}`);
    await page.locator('[data-testid=live][data-status=refused]').getByText('Pas en direct : rechargez la page pour voir les changements').waitFor();
    expect(await page.locator('[data-testid=live][data-connected=true]').count()).toBe(0);
    await page.unrouteAll();
    await ctx.close();

    const second = await openPage(tb, app.url);
    await login(second.page, 'admin', TEST_ADMIN_PASSWORD);
    await second.page.goto(`/rooms/${roomId}`);
    await second.page.locator('[data-testid=live][data-status=live][data-connected=true]').getByText('En direct').waitFor();
    expect([...errors, ...second.errors]).toEqual([]);
    await second.ctx.close();
  }, 60_000);

  it("updates the rooms page's cards live: the PCs by state, a new PC, the run's result", async () => {
    const { ctx, page, errors } = await openPage(tb, app.url);
    await login(page, 'admin', TEST_ADMIN_PASSWORD);
    const card = page.locator('[data-testid=room-card][data-room=B204]');
    await card.getByText('3 PC').waitFor();
    await page.waitForTimeout(500); // the subscriptions' answers
    const counts = card.getByRole('list', { name: 'PC par état' });
    pcChanged(2, 'queued', 'restoring');
    await counts.locator('[data-state=restoring]').waitFor();
    await app.container.inventory.createHost(actor, { name: 'B204-04', mac: '02:5e:30:00:00:04', roomId });
    await card.getByText('4 PC').waitFor();
    await app.container.runs.cancel(actor, runId);
    await card.getByText(/Dernière restauration : annulée, /).waitFor();
    await checkPage(page, 'rooms-live');
    expect(errors).toEqual([]);
    await ctx.close();
  }, 60_000);

  it("leaves nothing of a session that ended to the next user, and the login page does not loop", async () => {
    const { ctx, page, errors } = await openPage(tb, app.url);
    await login(page, 'admin', TEST_ADMIN_PASSWORD);
    await page.locator('[data-testid=room-card][data-room=B204]').waitFor();
    // The session ends (here: its cookie is gone); the next request is refused.
    await ctx.clearCookies();
    const sessions = counter(page, /^\/api\/v1\/auth\/session$/);
    // A background request (a refetch, the live socket) may meet the 401 first: the login page comes either way.
    await page
      .getByRole('link', { name: 'CDI' })
      .click({ timeout: 5000 })
      .catch(() => {});
    await page.getByRole('heading', { name: 'Connexion' }).waitFor();
    await page.getByText('Votre session a expiré : reconnectez-vous.').waitFor();
    await page.waitForTimeout(1000);
    expect(sessions.n).toBeLessThanOrEqual(1);

    // Another user logs in; the rooms are held back by the test: nothing of the first user's shows meanwhile.
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    await page.route('**/api/v1/rooms', async (route) => {
      await held;
      await route.continue();
    });
    await page.getByLabel('Identifiant').fill('prof');
    await page.getByLabel('Mot de passe').fill('lecture-seule-2026');
    await page.getByRole('button', { name: 'Se connecter' }).click();
    await page.getByRole('heading', { name: 'Salles' }).waitFor();
    await page.getByRole('status').getByText('Chargement…').waitFor();
    expect(await page.getByTestId('room-card').count()).toBe(0);
    release();
    await page.locator('[data-testid=room-card][data-room=B204]').waitFor();
    expect(errors).toEqual([]);
    await ctx.close();
  }, 60_000);

  it("links a room run's restore in a PC's history to its run", async () => {
    const c = app.container;
    // The restore task a run gives its PC once it booted (here made directly: the PCs never wake).
    const { created } = await c.tasks.create(actor, [hostIds[0]!], 'restore', { imageId });
    await c.database.db.updateTable('run_pcs').set({ task_id: created[0]! }).where('id', '=', runPcIds[0]!).execute();
    const { ctx, page, errors } = await openPage(tb, app.url);
    await login(page, 'admin', TEST_ADMIN_PASSWORD);
    await page.goto(`/pcs/${hostIds[0]}`);
    await page.getByTestId('pc-tasks').getByRole('link', { name: `voir la restauration n° ${runId}` }).click();
    await page.getByRole('heading', { name: `Restauration n° ${runId}` }).waitFor();
    expect(new URL(page.url()).pathname).toBe(`/runs/${runId}`);
    expect(errors).toEqual([]);
    await ctx.close();
  }, 60_000);
});
