// In a real browser against the real server (SQLite, Redis): log in as a new user with the one-time
// password an admin gave, be made to change it, land on the rooms, switch to English and back, log out.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.js';
import { hasChromium, launchBrowser, type TestBrowser } from '../support/browser.js';
import { actor, checkPage, openPage, seedRoom } from './support.js';

if (!hasChromium) console.warn('test/web/login.test.ts skipped: /usr/bin/chromium is absent (apt-get install chromium; .ci/run installs it)');

describe.runIf(hasChromium)('web UI: login, first password, language, logout', () => {
  let app: TestApp;
  let tb: TestBrowser;
  const FIRST = 'provisoire-2026';

  beforeAll(async () => {
    app = await startTestApp('sqlite');
    // A user made by an admin must change its password at first login.
    await app.container.accounts.createUser(actor, { username: 'rn', role: 'technician', password: FIRST });
    tb = await launchBrowser();
    await seedRoom(app, 'B204', 0, '');
    await seedRoom(app, 'CDI', 0, '');
  });

  afterAll(async () => {
    await tb?.close();
    await app?.stop();
  });

  it('logs in, changes the one-time password, lands on the rooms, speaks English and French, logs out', async () => {
    const { ctx, page, errors } = await openPage(tb, app.url);

    // Logged out, a UI route leads to the login page.
    await page.goto('/rooms/1');
    await page.getByRole('heading', { name: 'Connexion' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/login');
    await checkPage(page, 'login');
    // The keyboard alone: the first Tab reaches the skip link.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => (globalThis as any).document.activeElement?.textContent)).toBe('Aller au contenu');

    // A wrong password: a sentence, not a code.
    await page.getByLabel('Identifiant').fill('rn');
    await page.getByLabel('Mot de passe').fill('not-the-password');
    await page.getByRole('button', { name: 'Se connecter' }).click();
    await page.getByRole('alert').filter({ hasText: 'Identifiant ou mot de passe incorrect.' }).waitFor();

    // Submitted with the Enter key.
    await page.getByLabel('Mot de passe').fill(FIRST);
    await page.getByLabel('Mot de passe').press('Enter');
    await page.getByRole('heading', { name: 'Choisissez votre mot de passe' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/password');
    await checkPage(page, 'password');
    // The rooms are out of reach until the password changed.
    await page.goto('/rooms');
    await page.getByRole('heading', { name: 'Choisissez votre mot de passe' }).waitFor();

    await page.getByLabel('Mot de passe actuel').fill(FIRST);
    await page.getByLabel('Nouveau mot de passe', { exact: true }).fill('short');
    await page.getByLabel('Nouveau mot de passe (à nouveau)').fill('short');
    await page.getByRole('button', { name: 'Enregistrer le mot de passe' }).click();
    await page.getByRole('alert').filter({ hasText: 'au moins 10 caractères' }).waitFor();
    await page.getByLabel('Nouveau mot de passe', { exact: true }).fill('salle-B204-restaurée');
    await page.getByLabel('Nouveau mot de passe (à nouveau)').fill('salle-B204-restaurée');
    await page.getByRole('button', { name: 'Enregistrer le mot de passe' }).click();

    await page.getByRole('heading', { name: 'Salles' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/rooms');
    expect(await page.title()).toBe('Salles — roomcast');
    await page.getByRole('link', { name: 'B204' }).waitFor();
    await page.getByText('Jamais restaurée').first().waitFor();
    await checkPage(page, 'rooms');

    // English, remembered across a reload; then French again.
    await page.getByLabel('Langue').selectOption('en');
    await page.getByRole('heading', { name: 'Rooms' }).waitFor();
    expect(await page.locator('html').getAttribute('lang')).toBe('en');
    await page.reload();
    await page.getByRole('heading', { name: 'Rooms' }).waitFor();
    await page.getByText('Never restored').first().waitFor();
    await checkPage(page, 'rooms-en');
    await page.getByLabel('Language').selectOption('fr');
    await page.getByRole('heading', { name: 'Salles' }).waitFor();

    // A UI route opened directly (the server answers index.html).
    await page.goto('/rooms');
    await page.getByRole('link', { name: 'CDI' }).click();
    await page.getByRole('heading', { name: 'CDI' }).waitFor();
    await page.getByText('Cette salle n’a aucun PC.').first().waitFor();

    await page.getByRole('button', { name: 'Se déconnecter' }).click();
    await page.getByRole('heading', { name: 'Connexion' }).waitFor();
    await page.getByText('Vous êtes déconnecté.').waitFor();
    // The session is gone on the server too.
    const r = await page.request.get('/api/v1/auth/session');
    expect(r.status()).toBe(401);
    expect(errors).toEqual([]);
    await ctx.close();
  }, 60_000);
});
