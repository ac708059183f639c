// In a real browser against the real server (SQLite, Redis): the inventory page's CSV import (a bad
// file's problems by line, nothing written; then a good file, its PCs in their rooms), a PC page, the
// PCs to sort moved to a room, the images and system pages as admin; and a viewer, who sees none of
// the technician's or admin's actions. Screenshots at 1280 and 375 px, axe on every page.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeAudit } from '../../services/core/audit.js';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';
import { hasChromium, launchBrowser, type TestBrowser } from '../support/browser.js';
import { hardwareFacts } from '../support/facts.js';
import { actor, checkPage, login, openPage, seedLoosePc, seedUser } from './support.js';

if (!hasChromium) console.warn('test/web/inventory.test.ts skipped: /usr/bin/chromium is absent (apt-get install chromium; .ci/run installs it)');

const BAD_CSV = ['nom;mac;salle;ip', 'B204-01;02:5e:10:00:00:01;B204;', 'B204-02;zz:5e:10:00:00:02;B204;', 'B204-03;02:5e:10:00:00:03;B204;10.0.300.1', ''].join('\r\n');
const GOOD_CSV = ['nom;mac;salle;ip', 'B204-01;02:5e:10:00:00:01;B204;', 'B204-02;02:5e:10:00:00:02;B204;', 'CDI-01;02:5e:10:00:00:03;CDI;10.0.3.1', ''].join('\r\n');

describe.runIf(hasChromium)('web UI: inventory, PC, images and system pages', () => {
  let app: TestApp;
  let tb: TestBrowser;
  const VIEWER_PASSWORD = 'lecture-seule-2026';
  let imageId = 0;

  beforeAll(async () => {
    app = await startTestApp('sqlite');
    const c = app.container;
    // A PC registered at network boot, in no room yet.
    const fresh = await seedLoosePc(app, 'NOUVEAU-01', '02:5e:10:00:00:99');
    await c.database.db.updateTable('hosts').set({ last_seen_at: new Date().toISOString() }).where('id', '=', fresh.id).execute();
    imageId = (await c.catalogue.createImage(actor, { name: 'Windows 11' })).id;
    await seedUser(app, 'prof', 'viewer', VIEWER_PASSWORD);
    // Older history than one page of the audit log holds.
    for (let i = 1; i <= 30; i++) await writeAudit(c.database.db, { userId: null, name: 'ancien', ip: null }, { action: 'old.entry', targetType: 'test', targetId: i });
    tb = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    await tb?.close();
    await app?.stop();
  });

  it('imports a CSV (a bad file first, by line, nothing written), opens a PC, sorts a new PC, shows images and system', async () => {
    const { ctx, page, errors } = await openPage(tb, app.url);
    await login(page, 'admin', TEST_ADMIN_PASSWORD);

    await page.getByRole('navigation').getByRole('link', { name: 'Inventaire' }).click();
    await page.getByRole('heading', { name: 'Inventaire', level: 1 }).waitFor();
    await page.getByText('NOUVEAU-01').waitFor();
    await page.locator('[data-testid=registration][data-open=false]').waitFor();
    await checkPage(page, 'inventory');
    await page.getByLabel('Durée').selectOption({ label: '15 min' });
    await page.getByRole('button', { name: 'Ouvrir l’enregistrement' }).click();
    await page.locator('[data-testid=registration][data-open=true]').waitFor();
    expect((await app.container.registration.state()).open).toBe(true);
    // A PC that network-boots meanwhile appears without a reload.
    await app.container.inventory.createHost(actor, { name: 'NOUVEAU-02', mac: '02:5e:10:00:00:98', roomId: null });
    await page.getByTestId('unassigned-pc').filter({ hasText: 'NOUVEAU-02' }).waitFor();
    await page.getByRole('button', { name: 'Fermer l’enregistrement' }).click();
    await page.locator('[data-testid=registration][data-open=false]').waitFor();

    // A bad file: its problems by line, in French, and nothing written.
    await page.getByLabel('Fichier CSV', { exact: true }).setInputFiles({ name: 'salles.csv', mimeType: 'text/csv', buffer: Buffer.from(BAD_CSV) });
    await page.getByRole('button', { name: 'Vérifier le fichier' }).click();
    await page.getByTestId('import-errors').waitFor();
    await page.getByText('2 problèmes dans le fichier : rien n’a été enregistré').waitFor();
    const rows = page.getByTestId('import-error');
    expect(await rows.count()).toBe(2);
    expect(await rows.nth(0).getAttribute('data-line')).toBe('3');
    expect(await rows.nth(0).textContent()).toContain('Adresse MAC « zz:5e:10:00:00:02 » invalide');
    expect(await rows.nth(1).getAttribute('data-line')).toBe('4');
    expect(await rows.nth(1).textContent()).toContain('Adresse IP « 10.0.300.1 » invalide');
    await checkPage(page, 'inventory-errors');
    // The same problems in English when the language changes.
    await page.getByLabel('Langue').selectOption('en');
    await page.getByText('2 problems in the file: nothing was saved').waitFor();
    expect(await rows.nth(0).textContent()).toContain('MAC address "zz:5e:10:00:00:02" is not valid');
    await page.getByLabel('Language').selectOption('fr');
    await page.getByText('2 problèmes dans le fichier : rien n’a été enregistré').waitFor();
    expect((await app.container.inventory.listRooms()).length).toBe(0);
    expect((await app.container.inventory.listHosts({})).map((h) => h.name)).toEqual(['NOUVEAU-01', 'NOUVEAU-02']);

    // A good file: the dry run's summary, then the import.
    await page.getByLabel('Fichier CSV', { exact: true }).setInputFiles({ name: 'salles.csv', mimeType: 'text/csv', buffer: Buffer.from(GOOD_CSV) });
    await page.getByRole('button', { name: 'Vérifier le fichier' }).click();
    await page.getByTestId('import-ready').waitFor();
    await page.getByText('Salles qui seront créées : B204, CDI').waitFor();
    expect((await app.container.inventory.listRooms()).length).toBe(0);
    await page.getByRole('button', { name: 'Importer', exact: true }).click();
    await page.getByTestId('import-done').waitFor();
    expect((await page.getByTestId('import-done').textContent()) ?? '').toContain('3 PC ajoutés');

    // The PC to sort, moved into B204.
    await page.getByLabel('Choisir NOUVEAU-01').check();
    await page.getByLabel('Choisir NOUVEAU-02').check();
    await page.getByLabel('Salle de destination').selectOption({ label: 'B204' });
    await page.getByRole('button', { name: 'Ranger 2 PC' }).click();
    await page.getByText('2 PC rangés dans B204.').waitFor();
    await page.getByText('Aucun PC à classer.').waitFor();

    // The PCs in their rooms; a PC page with its hardware facts.
    const b01 = (await app.container.inventory.listHosts({ q: 'B204-01' }))[0]!;
    const db = app.container.database.db;
    await db.updateTable('hosts').set({ hardware: JSON.stringify(hardwareFacts(b01.mac)) }).where('id', '=', b01.id).execute();
    // A restore that failed last week, with the client's reason.
    const week = new Date(Date.now() - 7 * 86400_000).toISOString();
    await db
      .insertInto('tasks')
      .values({ host_id: b01.id, kind: 'restore', state: 'failed', created_by: 'admin', created_at: week, started_at: week, finished_at: week, error: 'no disk of at least 100 GB was found', result: null, params: null, claimed_ip: null, claimed_at: null })
      .execute();
    // A version found damaged by a verify.
    await db
      .insertInto('image_versions')
      .values({
        image_id: imageId, number: 1, state: 'damaged', notes: null, created_by: 'admin', source_host_id: b01.id, task_id: null, chunk_size: 4 << 20, disk_bytes: 500107862016,
        used_bytes: 40 * 2 ** 30, stored_bytes: 18 * 2 ** 30, chunk_count: 9000, manifest_sha256: null, source_mac: b01.mac, source_serial: null, source_ip: null,
        error: '3 chunks are missing from the store', created_at: week, published_at: week,
      })
      .execute();
    // Its own local Administrator password, given by the answer file of a restore (imaging/admin-passwords.ts).
    const password = await app.container.answers.adminPasswords.issue(b01.id, 4242);
    await page.getByRole('navigation').getByRole('link', { name: 'Salles' }).click();
    await page.getByRole('link', { name: 'B204' }).click();
    await page.getByRole('heading', { name: 'B204' }).waitFor();
    for (const n of ['B204-01', 'B204-02', 'NOUVEAU-01']) await page.locator(`[data-testid=pc][data-host="${n}"]`).waitFor();
    await checkPage(page, 'room-imported');
    await page.getByRole('link', { name: 'Détails de B204-01' }).click();
    await page.getByRole('heading', { name: 'PC B204-01' }).waitFor();
    await page.getByTestId('facts').getByText('Dell Inc. OptiPlex 7010', { exact: true }).waitFor();
    // The driver pack it would get (services/drivers/match.ts): none here, and why.
    await page.getByTestId('facts').getByText('aucun pack de pilotes ne correspond à Dell Inc. OptiPlex 7010 : ajoutez-en un pour ce fabricant et ce modèle').waitFor();
    await page.getByTestId('facts').getByText('8 Go', { exact: true }).waitFor();
    await page.getByTestId('last-error').getByText('Restauration du', { exact: false }).waitFor();
    expect(await page.getByTestId('last-error').textContent()).toContain('no disk of at least 100 GB was found');
    // The server's English words are labelled as such.
    expect(await page.getByTestId('last-error').textContent()).toContain('Détail donné par le serveur (en anglais) : no disk');
    await page.getByRole('button', { name: 'Lancer la capture' }).waitFor();
    await checkPage(page, 'pc');
    // Shown on demand only, and the showing is in the audit log.
    expect(await page.getByTestId('admin-password-value').count()).toBe(0);
    await page.getByText('Chaque affichage est inscrit au journal d’audit, à votre nom.').waitFor();
    await page.getByRole('button', { name: 'Afficher le mot de passe' }).click();
    expect(await page.getByTestId('admin-password-value').textContent()).toBe(password);
    expect((await app.container.database.db.selectFrom('audit_log').select('action').where('action', '=', 'host.admin_password.show').execute()).length).toBe(1);
    await page.getByRole('button', { name: 'Masquer' }).click();
    expect(await page.getByTestId('admin-password-value').count()).toBe(0);
    // Restore reuses the room's dialog, on this one PC (no ready image here: it says so).
    await page.getByRole('button', { name: 'Restaurer ce PC' }).click();
    await page.getByTestId('restore-dialog').getByText('Aucune image prête').waitFor();
    await page.getByTestId('restore-dialog').getByRole('button', { name: 'Fermer' }).click();
    // A capture into the image, queued for the PC's next network boot, in its history.
    await page.getByLabel('Notes de la nouvelle version').fill('Windows 11 24H2, Office');
    await page.getByRole('button', { name: 'Lancer la capture' }).click();
    await page.getByText('Capture programmée : démarrez B204-01 sur le réseau.').waitFor();
    await page.getByTestId('pc-tasks').getByText('Capture — Windows 11').waitFor();

    // Images, as admin: the image, its (no) versions, the capture form and the garbage collection.
    await page.getByRole('navigation').getByRole('link', { name: 'Images' }).click();
    await page.getByRole('heading', { name: 'Windows 11' }).waitFor();
    const damaged = page.locator('[data-testid=version][data-state=damaged]');
    await damaged.getByText('Endommagée').waitFor();
    await damaged.getByText('Cette version ne sera plus restaurée.', { exact: false }).waitFor();
    await damaged.getByText('40 Go utilisés', { exact: false }).waitFor();
    await page.getByRole('button', { name: 'Modifier les notes de v1' }).click();
    await page.getByLabel('Notes de la version 1').fill('Windows 11 23H2');
    await page.getByRole('button', { name: 'Enregistrer' }).click();
    await damaged.getByText('Windows 11 23H2').waitFor();
    await page.getByRole('button', { name: 'Vérifier v1' }).waitFor();
    await page.getByRole('button', { name: 'Libérer l’espace…' }).click();
    await page.getByText('Supprimer définitivement les données inutilisées ?').waitFor();
    await page.getByRole('button', { name: 'Libérer l’espace', exact: true }).click();
    await page.getByText(/libérés \(0 blocs supprimés\)/).waitFor();
    await checkPage(page, 'images');

    // System, as admin: health, users, a token shown once, the audit log.
    await page.getByRole('navigation').getByRole('link', { name: 'Système' }).click();
    await page.getByRole('heading', { name: 'Système', level: 1 }).waitFor();
    await page.getByTestId('health').getByText('Redis — ✔ répond').waitFor();
    await page.getByTestId('users').getByRole('cell', { name: 'prof', exact: true }).waitFor();
    await page.getByLabel('Identifiant', { exact: true }).fill('tech2');
    await page.getByLabel('Mot de passe provisoire').fill('provisoire-tech2');
    await page.getByRole('button', { name: 'Créer', exact: true }).click();
    await page.getByText('Utilisateur tech2 créé.').waitFor();
    // A role is chosen, then applied and confirmed: the select alone changes nothing.
    const apply = page.getByRole('button', { name: 'Appliquer le rôle de tech2' });
    expect(await apply.isDisabled()).toBe(true);
    await page.getByLabel('Rôle de tech2', { exact: true }).selectOption('admin');
    await apply.click();
    const confirmRole = page.getByRole('alertdialog');
    await confirmRole.getByText('Changer le rôle de tech2 : technicien → administrateur ?', { exact: false }).waitFor();
    expect(await page.evaluate(() => (globalThis as any).document.activeElement?.textContent)).toBe('Annuler');
    expect((await app.container.accounts.listUsers()).find((u) => u.username === 'tech2')?.role).toBe('technician');
    await confirmRole.getByRole('button', { name: 'Changer le rôle de tech2' }).click();
    await confirmRole.waitFor({ state: 'detached' });
    await page.locator('button[aria-label="Appliquer le rôle de tech2"]:disabled').waitFor();
    expect(await page.getByLabel('Rôle de tech2', { exact: true }).inputValue()).toBe('admin');
    expect((await app.container.accounts.listUsers()).find((u) => u.username === 'tech2')?.role).toBe('admin');
    await page.getByRole('button', { name: 'Désactiver tech2' }).click();
    await page.getByRole('button', { name: 'Réactiver tech2' }).waitFor();
    await page.getByLabel('Nom du jeton').fill('script-inventaire');
    await page.getByRole('button', { name: 'Créer un jeton' }).click();
    const secret = await page.getByLabel('Jeton script-inventaire').inputValue();
    expect(secret.length).toBeGreaterThan(20);
    await page.getByRole('button', { name: 'Révoquer script-inventaire' }).click();
    // The confirmation puts the keyboard on its safe choice.
    expect(await page.evaluate(() => (globalThis as any).document.activeElement?.textContent)).toBe('Annuler');
    await page.getByRole('alertdialog').getByRole('button', { name: 'Révoquer script-inventaire' }).click();
    await page.getByText('Aucun jeton.').waitFor();
    await page.getByTestId('audit').getByText('admin').first().waitFor();
    // Actions in words, not codes ('auth.login'); a code this UI does not know ('old.entry') is shown as it is.
    await page.getByTestId('audit').getByRole('cell', { name: 'Connexion', exact: true }).first().waitFor();
    // The audit log, paged: the oldest entries come with the next page.
    const auditRows = page.getByTestId('audit').locator('tbody tr');
    expect(await auditRows.count()).toBe(25);
    await page.getByRole('button', { name: 'Entrées plus anciennes' }).click();
    await page.getByText('Début du journal atteint.').waitFor();
    expect(await auditRows.count()).toBeGreaterThan(30);
    await page.getByTestId('audit').getByRole('cell', { name: 'test 1', exact: true }).waitFor();
    await page.getByTestId('audit').getByRole('cell', { name: 'old.entry', exact: true }).first().waitFor();
    // An actor that is not a person in words, not the server's code ('system').
    await page.getByTestId('audit').getByRole('cell', { name: 'roomcast (automatique)', exact: true }).first().waitFor();
    await checkPage(page, 'system');
    // On a phone (checkPage: the admin tables are cards, nothing scrolls sideways) the header still names the user.
    await page.setViewportSize({ width: 375, height: 812 });
    expect(await page.getByTestId('who').locator('.who-short').isVisible()).toBe(true);
    expect(await page.getByTestId('who').locator('.who-short').textContent()).toBe('admin');
    await page.setViewportSize({ width: 1280, height: 900 });
    expect(errors).toEqual([]);
    await ctx.close();
  }, 120_000);

  it('shows a viewer no technician or admin action', async () => {
    const { ctx, page, errors } = await openPage(tb, app.url);
    await login(page, 'prof', VIEWER_PASSWORD);
    const nav = page.getByRole('navigation');
    await nav.getByRole('link', { name: 'Inventaire' }).waitFor();
    expect(await nav.getByRole('link', { name: 'Système' }).count()).toBe(0);

    await nav.getByRole('link', { name: 'Inventaire' }).click();
    await page.getByRole('heading', { name: 'Exporter' }).waitFor();
    expect(await page.getByRole('heading', { name: 'Importer un fichier CSV' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Ouvrir l’enregistrement' }).count()).toBe(0);

    await nav.getByRole('link', { name: 'Images' }).click();
    await page.getByRole('heading', { name: 'Windows 11' }).waitFor();
    for (const name of ['Créer l’image', 'Lancer la capture', 'Libérer l’espace…']) expect(await page.getByRole('button', { name }).count()).toBe(0);

    const host = (await app.container.inventory.listHosts({ q: 'B204-01' }))[0]!;
    await page.goto(`/pcs/${host.id}`);
    await page.getByRole('heading', { name: 'PC B204-01' }).waitFor();
    expect(await page.getByRole('button', { name: 'Restaurer ce PC' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Lancer la capture' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Afficher le mot de passe' }).count()).toBe(0);

    await page.goto('/system');
    await page.getByRole('alert').filter({ hasText: 'Votre compte n’a pas le droit de faire cela.' }).waitFor();
    expect(errors).toEqual([]);
    await ctx.close();
  }, 60_000);
});
