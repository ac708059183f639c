// In a real browser against the real server (SQLite, Redis): the driver packs of the Images page. A
// technician uploads a small pack (its SHA-256 computed in the page, the archive sent in pieces through
// the resumable upload API with progress, going on where the appliance stopped after a dropped
// connection) and sees it listed ready with its files; resumes an upload left half done by choosing the
// same file again (another file is refused); deletes a pack after confirming in the page. A viewer sees
// the list without the upload or the buttons. French, then English.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.js';
import { hasChromium, launchBrowser, type TestBrowser } from '../support/browser.js';
import { ApiClient } from '../support/client.js';
import { checkPage, login, openPage, seedUser } from './support.js';

if (!hasChromium) console.warn('test/web/driver-packs.test.ts skipped: needs /usr/bin/chromium');

/** A tar.gz of `files` (relative name → content), made by GNU tar. */
function makeTar(dir: string, name: string, files: Record<string, Buffer | string>): string {
  const src = fs.mkdtempSync(path.join(dir, 'src-'));
  for (const [f, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(src, f)), { recursive: true });
    fs.writeFileSync(path.join(src, f), content);
  }
  const out = path.join(dir, name);
  execFileSync('tar', ['-czf', out, '-C', src, ...Object.keys(files)]);
  return out;
}

describe.runIf(hasChromium)('web UI: driver packs', () => {
  let app: TestApp;
  let tb: TestBrowser;
  let dir: string;
  let big: string;
  let small: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-web-drivers-'));
    app = await startTestApp('sqlite');
    await seedUser(app, 'tech1', 'technician', 'Technicien-2026!');
    await seedUser(app, 'prof1', 'viewer', 'Professeur-2026!');
    // Incompressible: the archive is about 20 MB, sent in three pieces of 8 MiB.
    big = makeTar(dir, 'm720q.tgz', { 'net/e1d.inf': '[Version]\r\nClass=Net\r\n', 'net/e1d.sys': randomBytes(20 * 1024 * 1024), 'chipset/intel.INF': '[Version]\r\n' });
    small = makeTar(dir, 'optiplex.tgz', { 'audio/rt.inf': '[Version]\r\nClass=Media\r\n', 'audio/rt.sys': randomBytes(1024 * 1024) });
    tb = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    await tb?.close();
    await app?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('uploads a pack with progress and lists it ready; resumes a half-done upload with the same file; deletes after confirming', async () => {
    const { ctx, page, errors } = await openPage(tb, app.url);
    await login(page, 'tech1', 'Technicien-2026!');
    await page.getByRole('navigation').getByRole('link', { name: 'Images' }).click();
    const section = page.getByTestId('driver-packs');
    await section.getByText('Aucun pack de pilotes pour l’instant.').waitFor();

    const form = section.getByRole('form', { name: 'Ajouter un pack de pilotes' });
    await form.getByLabel('Nom').fill('Lenovo M720q');
    await form.getByLabel('Fabricant').fill('LENOVO');
    await form.getByLabel('Modèle').fill('ThinkCentre M720*');
    await form.getByLabel('Archive (.tar, .tgz, .tar.gz)').setInputFiles(big);
    // Every progress line the page shows (a string: the tests type-check without DOM globals).
    await page.evaluate(`(() => {
      window.__progress = [];
      new MutationObserver(() => {
        const p = document.querySelector('[data-testid=driver-pack-progress]');
        const text = p && p.textContent.trim();
        if (text && window.__progress.at(-1) !== text) window.__progress.push(text);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    })()`);
    // The connection drops once during the second piece: the page asks where the appliance stopped and goes on.
    let cut = 0;
    await page.route(/\/api\/v1\/driver-packs\/\d+\/archive\?offset=[1-9]/, async (route) => {
      if (cut++ === 0) return route.abort('connectionreset');
      return route.continue();
    });
    await form.getByRole('button', { name: 'Envoyer le pack' }).click();
    await form.getByText('Pack « Lenovo M720q » prêt : 3 fichiers.').waitFor({ timeout: 30_000 });
    // The hash, then the pieces: said in words as they go.
    const seen = (await page.evaluate('window.__progress')) as string[];
    expect(seen.some((l) => /^Calcul de l’empreinte SHA-256 de m720q\.tgz : \d+ %$/.test(l)), seen.join('\n')).toBe(true);
    const sent = seen.flatMap((l) => /^Envoi de m720q\.tgz : .+ sur .+ \((\d+) %\)$/.exec(l)?.[1] ?? []).map(Number);
    expect(sent[0], seen.join('\n')).toBe(0);
    expect(sent.filter((n) => n > 0 && n < 100).length, seen.join('\n')).toBeGreaterThanOrEqual(1);
    expect(seen, seen.join('\n')).toContain('Connexion perdue : reprise de l’envoi là où l’appliance s’est arrêtée (essai 1)…');
    expect(cut).toBe(3);
    await page.unroute(/\/api\/v1\/driver-packs\/\d+\/archive/);
    const row = section.locator('[data-testid=driver-pack][data-state=ready]').filter({ hasText: 'Lenovo M720q' });
    expect(await row.locator('td').allTextContents()).toEqual(['LENOVO', 'ThinkCentre M720*', expect.stringMatching(/^20(,\d)? Mo$/), 'prêt', '3', '—', expect.stringContaining('Supprimer Lenovo M720q')]);
    const held = (await app.container.drivers.list()).find((p) => p.name === 'Lenovo M720q')!;
    expect(held).toMatchObject({ state: 'ready', receivedBytes: fs.statSync(big).size, sha256: createHash('sha256').update(fs.readFileSync(big)).digest('hex') });
    await checkPage(page, 'driver-packs');

    // A pack whose upload stopped half-way (made and half sent through the API): resumed with the same file.
    const tech = new ApiClient(app.url);
    await tech.login('tech1', 'Technicien-2026!');
    const archive = fs.readFileSync(small);
    const made = await tech.post('/api/v1/driver-packs', { name: 'Dell OptiPlex', vendor: 'Dell Inc.', model: 'OptiPlex 7050', sizeBytes: archive.length, sha256: createHash('sha256').update(archive).digest('hex') });
    expect(made.status).toBe(201);
    const half = Math.floor(archive.length / 2);
    expect((await tech.request('PUT', `/api/v1/driver-packs/${made.body.id as number}/archive?offset=0`, archive.subarray(0, half), { contentType: 'application/octet-stream' })).status).toBe(200);
    await page.reload();
    const uploading = section.locator('[data-testid=driver-pack][data-state=uploading]').filter({ hasText: 'Dell OptiPlex' });
    await uploading.getByText(/^envoi en cours \(\d+ %\)$/).waitFor();
    await uploading.getByLabel('Reprendre l’envoi de Dell OptiPlex').setInputFiles(big);
    await section.getByText(/^Ce fichier n’est pas l’archive de ce pack/).waitFor();
    await uploading.getByLabel('Reprendre l’envoi de Dell OptiPlex').setInputFiles(small);
    await section.locator('[data-testid=driver-pack][data-state=ready]').filter({ hasText: 'Dell OptiPlex' }).waitFor({ timeout: 30_000 });

    // Deleted only after the question in the page (never a browser dialog).
    page.on('dialog', (d) => {
      errors.push(`browser dialog: ${d.message()}`);
      void d.dismiss();
    });
    await row.getByRole('button', { name: 'Supprimer Lenovo M720q' }).click();
    await row.getByRole('alertdialog').getByText('Supprimer le pack de pilotes « Lenovo M720q » et ses fichiers ?', { exact: false }).waitFor();
    await row.getByRole('alertdialog').getByRole('button', { name: 'Supprimer', exact: true }).click();
    await section.getByText('Pack « Lenovo M720q » supprimé.').waitFor();
    await section.locator('[data-testid=driver-pack]').filter({ hasText: 'Lenovo M720q' }).waitFor({ state: 'detached' });
    expect((await app.container.drivers.list()).map((p) => p.name)).toEqual(['Dell OptiPlex']);

    await page.getByLabel('Langue').selectOption('en');
    await section.getByRole('heading', { name: 'Driver packs' }).waitFor();
    expect(await section.locator('[data-testid=driver-pack]').first().locator('td').nth(3).textContent()).toBe('ready');
    await checkPage(page, 'driver-packs-en');
    expect(errors).toEqual([]);
    await ctx.close();

    // A viewer: the list, no upload, no buttons.
    const viewer = await openPage(tb, app.url);
    await login(viewer.page, 'prof1', 'Professeur-2026!');
    await viewer.page.goto('/images');
    const list = viewer.page.getByTestId('driver-packs');
    await list.locator('[data-testid=driver-pack]').filter({ hasText: 'Dell OptiPlex' }).waitFor();
    expect(await list.getByRole('form').count()).toBe(0);
    expect(await list.getByRole('button').count()).toBe(0);
    expect(viewer.errors).toEqual([]);
    await viewer.ctx.close();
  }, 90_000);
});
