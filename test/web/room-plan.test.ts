// In a real browser against the real server (SQLite, Redis): a technician places a PC on the room plan
// with the form (keyboard-usable selects), sees it at its row and column, still there after a reload;
// a taken cell is said in a sentence naming its PC; with a mouse, a PC is dragged onto a free cell.
// Then the image version a room uses, chosen on the images page, said on the room page and preselected
// by the restore dialog. Screenshots at 1280 and 375 px, axe on the pages.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';
import { hasChromium, launchBrowser, type TestBrowser } from '../support/browser.js';
import { publishVersion } from '../support/runs.js';
import { actor, checkPage, login, openPage, seedLoosePc, seedRoom } from './support.js';

if (!hasChromium) console.warn('test/web/room-plan.test.ts skipped: /usr/bin/chromium is absent (apt-get install chromium; .ci/run installs it)');

describe.runIf(hasChromium)('web UI: the room plan', () => {
  let app: TestApp;
  let tb: TestBrowser;
  let roomId = 0;

  beforeAll(async () => {
    app = await startTestApp('sqlite');
    const c = app.container;
    ({ roomId } = await seedRoom(app, 'C110', 4, '02:5e:20:00:00'));
    const ref = await seedLoosePc(app, 'REF-C', '02:5e:20:00:00:ff');
    const imageId = (await c.catalogue.createImage(actor, { name: 'Windows 11' })).id;
    for (let n = 0; n < 2; n++) await publishVersion(c, imageId, ref);
    tb = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    await tb?.close();
    await app?.stop();
  });

  it('places a PC with the form, shows it at its place after a reload, and names the PC holding a taken cell', async () => {
    const { ctx, page, errors } = await openPage(tb, app.url);
    await login(page, 'admin', TEST_ADMIN_PASSWORD);
    await page.goto(`/rooms/${roomId}`);
    await page.getByRole('heading', { name: 'C110', level: 1 }).waitFor();
    // Nothing placed yet: no plan, the PCs as a list.
    expect(await page.locator('[data-testid=plan]').count()).toBe(0);

    const form = page.getByRole('form', { name: 'Placer un PC sur le plan' });
    await form.getByTestId('plan-pc').selectOption({ label: 'C110-02 (non placé)' });
    await form.getByLabel('Rangée', { exact: true }).selectOption('2');
    await form.getByLabel('Colonne', { exact: true }).selectOption('3');
    await form.getByRole('button', { name: 'Placer' }).click();
    await page.getByText('C110-02 est placé rangée 2, colonne 3.').waitFor();
    await page.locator('[data-testid=plan] [data-testid=pc][data-host="C110-02"][data-row="2"][data-col="3"]').waitFor();

    // With the keyboard alone: C110-04 at row 1, column 1.
    await form.getByTestId('plan-pc').focus();
    await form.getByTestId('plan-pc').selectOption({ label: 'C110-04 (non placé)' });
    await form.getByLabel('Rangée', { exact: true }).selectOption('1');
    await form.getByLabel('Colonne', { exact: true }).selectOption('1');
    await form.getByRole('button', { name: 'Placer' }).focus();
    await page.keyboard.press('Enter');
    await page.locator('[data-testid=plan] [data-testid=pc][data-host="C110-04"][data-row="1"][data-col="1"]').waitFor();

    await page.reload();
    const placed = page.locator('[data-testid=plan] [data-testid=pc][data-host="C110-02"]');
    await placed.waitFor();
    // At its place on the CSS grid: computed grid-row and grid-column, and said in words on the card.
    const cellOf = (el: unknown) => {
      const style = (globalThis as unknown as { getComputedStyle(e: unknown): { gridRowStart: string; gridColumnStart: string } }).getComputedStyle(el);
      return [style.gridRowStart, style.gridColumnStart];
    };
    expect(await placed.evaluate(cellOf)).toEqual(['2', '3']);
    await placed.getByText('Rangée 2, colonne 3').waitFor();
    const b1 = await page.locator('[data-testid=pc][data-host="C110-04"]').boundingBox();
    const b2 = await placed.boundingBox();
    expect(b2!.y).toBeGreaterThan(b1!.y);
    expect(b2!.x).toBeGreaterThan(b1!.x);
    // The others are listed after the plan.
    await page.locator('[data-testid=unplaced] [data-testid=pc][data-host="C110-01"]').waitFor();

    // A taken cell: a sentence that names the PC there.
    const form2 = page.getByRole('form', { name: 'Placer un PC sur le plan' });
    await form2.getByTestId('plan-pc').selectOption({ label: 'C110-01 (non placé)' });
    await form2.getByLabel('Rangée', { exact: true }).selectOption('2');
    await form2.getByLabel('Colonne', { exact: true }).selectOption('3');
    await form2.getByRole('button', { name: 'Placer' }).click();
    await page.getByRole('alert').getByText('La rangée 2, colonne 3 est déjà occupée par C110-02').waitFor();

    // At 375 px the plan scrolls in its labelled, focusable region.
    await page.setViewportSize({ width: 375, height: 800 });
    const region = page.getByRole('region', { name: 'Plan de la salle (faire défiler si besoin)' });
    expect(await region.getAttribute('tabindex')).toBe('0');
    const { scroll, client } = await region.evaluate((el) => ({ scroll: el.scrollWidth, client: el.clientWidth }));
    expect(scroll).toBeGreaterThan(client);
    expect(await page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth)).toBeLessThanOrEqual(376);
    await page.setViewportSize({ width: 1280, height: 900 });
    await checkPage(page, 'room-plan');
    expect(errors).toEqual([]);
    await ctx.close();
  });

  it('places a PC by dragging it onto a free cell of the plan', async () => {
    const { ctx, page, errors } = await openPage(tb, app.url);
    await login(page, 'admin', TEST_ADMIN_PASSWORD);
    await page.goto(`/rooms/${roomId}`);
    // The first test placed C110-04 at row 1, column 1 and C110-02 at row 2, column 3.
    const free = page.locator('[data-testid=plan-cell][data-row="1"][data-col="2"]');
    await page.locator('[data-testid=unplaced] [data-testid=pc][data-host="C110-03"]').dragTo(free);
    await page.getByTestId('plan-drop-status').getByText('C110-03 est placé rangée 1, colonne 2.').waitFor();
    await page.locator('[data-testid=plan] [data-testid=pc][data-host="C110-03"][data-row="1"][data-col="2"]').waitFor();
    // A placed PC moves the same way; its old cell is free again.
    await page.locator('[data-testid=plan] [data-testid=pc][data-host="C110-03"]').dragTo(page.locator('[data-testid=plan-cell][data-row="3"][data-col="4"]'));
    await page.locator('[data-testid=plan] [data-testid=pc][data-host="C110-03"][data-row="3"][data-col="4"]').waitFor();
    await page.locator('[data-testid=plan-cell][data-row="1"][data-col="2"]').waitFor();
    const moved = await app.container.inventory.listHosts({ q: 'C110-03' });
    expect([moved[0]!.planRow, moved[0]!.planCol]).toEqual([3, 4]);
    await checkPage(page, 'room-plan-drag');
    expect(errors).toEqual([]);
    await ctx.close();
  });

  it('sets the version a room uses from the images page; the room page says it and the restore dialog preselects it', async () => {
    const { ctx, page, errors } = await openPage(tb, app.url);
    await login(page, 'admin', TEST_ADMIN_PASSWORD);

    await page.getByRole('navigation').getByRole('link', { name: 'Images' }).click();
    await page.getByRole('heading', { name: 'Windows 11' }).waitFor();
    await page.getByLabel('Salle qui restaurera la v1', { exact: true }).selectOption({ label: 'C110' });
    await page.getByRole('button', { name: 'Utiliser la v1 pour cette salle' }).click();
    await page.getByText('La salle C110 utilise désormais Windows 11 v1.').waitFor();
    await page.getByText('Utilisée par : C110').waitFor();
    await checkPage(page, 'images-room-version');

    await page.goto(`/rooms/${roomId}`);
    await page.getByText('Version utilisée : Windows 11 v1.').waitFor();
    await page.reload();
    await page.getByText('Version utilisée : Windows 11 v1.').waitFor();
    await page.getByRole('button', { name: 'Restaurer la salle' }).click();
    const dialog = page.getByRole('dialog');
    // v1 preselected, though v2 is newer.
    expect(await dialog.getByRole('combobox', { name: /^Version/ }).inputValue()).toBe('1');
    expect(errors).toEqual([]);
    await ctx.close();
  });
});
