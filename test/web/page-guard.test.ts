// In a real browser against the real server: a page that throws while rendering (here the runs list,
// given an answer of an unexpected shape) shows a sentence and a reload button under the header, never
// an empty screen, a raw error or a stack; another page still opens.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';
import { hasChromium, launchBrowser, type TestBrowser } from '../support/browser.js';
import { checkPage, login, openPage } from './support.js';

if (!hasChromium) console.warn('test/web/page-guard.test.ts skipped: /usr/bin/chromium is absent (apt-get install chromium; .ci/run installs it)');

describe.runIf(hasChromium)('web UI: a page that fails to render', () => {
  let app: TestApp;
  let tb: TestBrowser;

  beforeAll(async () => {
    app = await startTestApp('sqlite');
    tb = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    await tb?.close();
    await app?.stop();
  });

  it('says so in words, keeps the header, and lets the user go elsewhere', async () => {
    const { ctx, page, errors } = await openPage(tb, app.url);
    await login(page, 'admin', TEST_ADMIN_PASSWORD);
    // A run without its fields: the runs list cannot render it.
    await page.route(
      (url) => url.pathname === '/api/v1/runs',
      (route) => route.fulfill({ status: 200, contentType: 'application/json', body: '[{"id":1}]' }),
    );
    await page.getByRole('navigation').getByRole('link', { name: 'Restaurations' }).click();
    const alert = page.getByTestId('page-crashed');
    await alert.getByText('Cette page n’a pas pu s’afficher. Rechargez-la ; si cela recommence, prévenez l’administrateur.').waitFor();
    await alert.getByRole('button', { name: 'Recharger la page' }).waitFor();
    const text = await page.locator('main').innerText();
    expect(text).not.toMatch(/TypeError|undefined|\bat \w+ \(/);
    await checkPage(page, 'page-crashed');
    await page.getByRole('navigation').getByRole('link', { name: 'Salles' }).click();
    await page.getByRole('heading', { name: 'Salles' }).waitFor();
    expect(await alert.count()).toBe(0);
    expect(errors).toEqual([]);
    await ctx.close();
  }, 60_000);
});
