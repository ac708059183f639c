// In a real browser against the real server: open a room of 3 simulated PCs (test/support/simpc.ts:
// each a process in its own network namespace that really wakes, netboots over HTTP and restores),
// start a restore from the room page's dialog, and watch the three PCs' states change live to done,
// without reloading the page; then the run page and its printable report.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';
import { hasChromium, launchBrowser, type TestBrowser } from '../support/browser.js';
import { buildImage } from '../support/images.js';
import { SimRoom, uploadImage, writeClientFiles } from '../support/simpc.js';
import { checkPage, login, openPage, seedLoosePc, seedRoom } from './support.js';

const PCS = 3;
const actor = { userId: null, name: 'tech', ip: null };
const missing = ['ip', 'nsenter', 'losetup', 'sfdisk', 'lsblk', 'blockdev'].filter((t) => {
  try {
    execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' });
    return false;
  } catch {
    return true;
  }
});
const canRun = hasChromium && process.getuid?.() === 0 && missing.length === 0;
if (!canRun) console.warn(`test/web/room-restore.test.ts skipped: needs /usr/bin/chromium${hasChromium ? ' (present)' : ' (absent)'}, root and ${missing.join(', ') || 'nothing more'}`);

describe.runIf(canRun)('web UI: a room of 3 simulated PCs restored from the browser, live', () => {
  const room = new SimRoom();
  let app: TestApp;
  let tb: TestBrowser;
  let base: string;
  let roomId: number;
  const names: string[] = [];

  beforeAll(async () => {
    await room.open();
    const clientDir = path.join(room.dir, 'client');
    writeClientFiles(clientDir);
    app = await startTestApp('sqlite', { ...room.appEnv(), ROOMCAST_CLIENT_DIR: clientDir });
    base = `http://${room.hostIp}:${new URL(app.url).port}`;
    const c = app.container;
    const seeded = await seedRoom(app, 'B204', PCS, SimRoom.macOf);
    roomId = seeded.roomId;
    names.push(...seeded.names);
    const ref = await seedLoosePc(app, 'REF', '02:5e:00:00:ff:01');
    const imageId = (await c.catalogue.createImage(actor, { name: 'Windows 11' })).id;
    const built = await buildImage(Array.from({ length: 24 }, (_, i) => `w${i % 20}`));
    await uploadImage(base, ref.mac, built, () => c.tasks.create(actor, [ref.id], 'capture', { imageId }));
    for (let n = 1; n <= PCS; n++) await room.start(await room.addPc(n, 8), base);
    tb = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await tb?.close();
    await app?.stop();
    await room.close();
  });

  it('starts the restore from the dialog, names the PCs to be erased, and shows each PC reach done live', async () => {
    const { ctx, page, errors } = await openPage(tb, base);

    await login(page, 'admin', TEST_ADMIN_PASSWORD);
    await page.getByRole('link', { name: 'B204' }).click();
    await page.getByRole('heading', { name: 'B204' }).waitFor();
    await page.locator('[data-testid=live][data-connected=true]').waitFor();
    for (const n of names) await page.locator(`[data-testid=pc][data-host="${n}"][data-state=idle]`).waitFor();
    await checkPage(page, 'room');

    // Every state each PC card shows, as the DOM changes (no reload: the marker would be gone).
    await page.evaluate(() => {
      const w = globalThis as unknown as { __seen: Record<string, string[]>; __marker: boolean; document: { querySelector(s: string): unknown } };
      w.__marker = true;
      w.__seen = {};
      const record = (el: { getAttribute(a: string): string | null }) => {
        const host = el.getAttribute('data-host');
        const state = el.getAttribute('data-state');
        if (!host || !state) return;
        const list = (w.__seen[host] ??= []);
        if (list[list.length - 1] !== state) list.push(state);
      };
      const Observer = (globalThis as unknown as { MutationObserver: new (cb: (m: Array<{ target: unknown }>) => void) => { observe(n: unknown, o: unknown): void } }).MutationObserver;
      new Observer((muts) => {
        for (const m of muts) record(m.target as { getAttribute(a: string): string | null });
      }).observe(w.document.querySelector('ul.grid'), { attributes: true, attributeFilter: ['data-state'], subtree: true });
    });

    // The keyboard alone: the dialog opens with Enter on its button and Escape closes it.
    await page.getByRole('button', { name: 'Restaurer la salle' }).focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Image').waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });

    await page.getByRole('button', { name: 'Restaurer la salle' }).click();
    await dialog.getByLabel('Image').waitFor();
    expect(await dialog.getByLabel('Éteindre les PC à la fin').isChecked()).toBe(true);
    await dialog.getByRole('button', { name: 'Continuer' }).click();
    await dialog.getByText('Les disques de 3 PC seront entièrement effacés puis restaurés avec Windows 11 v1 :').waitFor();
    expect(await dialog.getByTestId('erase-list').locator('li').allTextContents()).toEqual(names);
    await checkPage(page, 'restore-confirm');
    await dialog.getByRole('button', { name: 'Effacer et restaurer 3 PC' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.getByText('Restauration en cours : Windows 11 v1').waitFor();

    for (const n of names) await page.locator(`[data-testid=pc][data-host="${n}"][data-state=done]`).waitFor({ timeout: 50_000 });
    const seen = await page.evaluate(() => (globalThis as unknown as { __seen: Record<string, string[]>; __marker?: boolean }).__marker && (globalThis as unknown as { __seen: Record<string, string[]> }).__seen);
    expect(seen, 'the page was reloaded').toBeTruthy();
    for (const n of names) {
      const states = (seen as Record<string, string[]>)[n] ?? [];
      expect(states.at(-1), n).toBe('done');
      // It went through the pipeline on screen, not straight from idle to done.
      expect(states.filter((s) => s !== 'idle' && s !== 'done').length, `${n}: ${states.join(' → ')}`).toBeGreaterThan(0);
    }
    console.info(`room-restore: states seen on screen: ${names.map((n) => `${n} ${(seen as Record<string, string[]>)[n]!.join(' → ')}`).join('; ')}`);
    await page.locator('[data-testid=run-banner][data-run-state=done]').waitFor({ timeout: 20_000 });
    await checkPage(page, 'room-done');

    await page.getByRole('link', { name: 'Voir le détail' }).click();
    await page.locator('[data-testid=run-state][data-state=done]').waitFor();
    expect(await page.locator('[data-testid=run-pc][data-state=done]').count()).toBe(PCS);
    await checkPage(page, 'run');
    const href = await page.getByRole('link', { name: 'Rapport imprimable' }).getAttribute('href');
    expect(href).toMatch(/^\/api\/v1\/runs\/\d+\/report\.html\?lang=fr$/);
    const report = await page.request.get(href!);
    expect(report.status()).toBe(200);
    expect(await report.text()).toContain('B204-01');

    // The rooms page: the room's card counts its PCs by state and tells the last run's result.
    await page.getByRole('navigation').getByRole('link', { name: 'Salles' }).click();
    const card = page.getByTestId('room-card').filter({ hasText: 'B204' });
    await card.getByRole('list', { name: 'PC par état' }).getByText('Terminé').waitFor();
    expect(await card.getByRole('list', { name: 'PC par état' }).textContent()).toMatch(/Terminé\s*3/);
    await card.getByText(/Dernière restauration : terminée, /).waitFor();
    await checkPage(page, 'rooms-after-run');
    expect(errors).toEqual([]);
    await ctx.close();
  }, 60_000);

  it('shows a PC that did not wake as failed, with its reason in French on the room page and first on the run page', async () => {
    const c = app.container;
    // A 4th PC that nobody plays (unplugged, or Wake-on-LAN off), restored alone with short limits.
    const dead = await c.inventory.createHost(actor, { name: 'B204-04', mac: SimRoom.macOf(PCS + 1), roomId });
    const { ctx, page, errors } = await openPage(tb, base);
    await login(page, 'admin', TEST_ADMIN_PASSWORD);
    await page.goto(`/rooms/${roomId}`);
    await page.locator('[data-testid=live][data-connected=true]').waitFor();
    const card = page.locator('[data-testid=pc][data-host="B204-04"]');
    await card.waitFor();

    const imageId = (await c.catalogue.listImages())[0]!.id;
    const run = await c.runs.create(actor, { roomId, hostIds: [dead.id], imageId, wakeAttempts: 1, wakeTimeoutMinutes: 0.05, wakePerSecond: 10 });
    await page.locator('[data-testid=pc][data-host="B204-04"][data-state=failed]').waitFor({ timeout: 30_000 });
    await card.getByText(/ne s'est pas allumé après 1 réveil/).waitFor();
    await checkPage(page, 'room-failed');

    await page.getByRole('link', { name: 'Voir le détail' }).click();
    await page.getByRole('heading', { name: `Restauration n° ${run.id}` }).waitFor();
    const first = page.getByTestId('run-pc').first();
    expect(await first.getAttribute('data-state')).toBe('failed');
    expect(await first.textContent()).toContain('B204-04');
    // In English, the same reason in English.
    await page.getByLabel('Langue').selectOption('en');
    await page.getByRole('heading', { name: `Restore #${run.id}` }).waitFor();
    await page.getByTestId('run-pc').first().getByText(/did not wake after 1 Wake-on-LAN attempt/).waitFor();
    await checkPage(page, 'run-failed-en');
    expect(errors).toEqual([]);
    await ctx.close();
  }, 60_000);
});
