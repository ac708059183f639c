// In a real browser against the real server (SQLite, Redis): a technician opens an image's Windows
// answer file on the images page, joins a domain with an OU and a join account, sets the shared
// Administrator password, saves (the passwords leave the fields and show only as "enregistré"), and
// previews the file of a PC of the room: that PC's name and domain, every password as ********, the
// same text as the API's preview. Then one password per PC (the preview makes none), a template the
// server refuses, the section in English, and nowhere in the page a password. Screenshots and axe.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.js';
import { hasChromium, launchBrowser, type TestBrowser } from '../support/browser.js';
import { actor, checkPage, login, openPage, seedRoom, seedUser } from './support.js';

if (!hasChromium) console.warn('test/web/answer-file.test.ts skipped: /usr/bin/chromium is absent (apt-get install chromium; .ci/run installs it)');

const TECH_PASSWORD = 'technicien-2026-b210';
const JOIN_PASSWORD = 'J0in-Secret-B210!';
const ADMIN_PASSWORD = 'Adm1n-Secret-B210?';

describe.runIf(hasChromium)('web UI: an image\'s answer file, its write-only passwords and the preview for a PC', () => {
  let app: TestApp;
  let tb: TestBrowser;
  let imageId = 0;
  let hostIds: number[] = [];

  beforeAll(async () => {
    app = await startTestApp('sqlite');
    const c = app.container;
    imageId = (await c.catalogue.createImage(actor, { name: 'Windows 11 B210' })).id;
    hostIds = (await seedRoom(app, 'B210', 2, '02:5e:15:10:00')).hostIds;
    await seedUser(app, 'tech', 'technician', TECH_PASSWORD);
    tb = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    await tb?.close();
    await app?.stop();
  });

  it('saves the settings, keeps the passwords write-only, and previews a PC\'s file with the passwords masked', async () => {
    const { ctx, page, errors } = await openPage(tb, app.url);
    await login(page, 'tech', TECH_PASSWORD);
    await page.getByRole('navigation').getByRole('link', { name: 'Images' }).click();
    await page.getByRole('heading', { name: 'Windows 11 B210' }).waitFor();
    const section = page.getByTestId('answer-file');
    await section.getByText('Fichier de réponses Windows (unattend.xml)').click();
    await section.locator('[data-testid=answer-file-state][data-enabled=false]').waitFor();
    expect(await section.getByLabel('Fuseau horaire Windows (ex. Romance Standard Time)').inputValue()).toBe('Romance Standard Time');
    expect(await section.getByLabel('Clavier (ex. 040c:0000040c, AZERTY français)').inputValue()).toBe('040c:0000040c');

    await section.getByLabel('Écrire un fichier de réponses après chaque restauration').check();
    await section.getByLabel('Joindre un domaine').check();
    await section.getByLabel('Domaine (nom DNS)').fill('lycee.local');
    await section.getByLabel('Unité d’organisation (facultatif)').fill('OU=B210,OU=Postes,DC=lycee,DC=local');
    await section.getByLabel('Compte autorisé à joindre les PC').fill('LYCEE\\joiner');
    await section.getByLabel('Mot de passe du compte de jonction', { exact: true }).fill(JOIN_PASSWORD);
    await section.getByLabel('Mot de passe commun de l’Administrateur (vide : aucun)').fill(ADMIN_PASSWORD);
    await section.getByRole('button', { name: 'Enregistrer le fichier de réponses' }).click();
    await section.getByText('Fichier de réponses enregistré.').waitFor();

    // Stored, sealed; the page says "stored" and holds the passwords nowhere, not even in the fields.
    const view = await app.container.answers.get(imageId);
    expect(view).toMatchObject({ enabled: true, domain: { name: 'lycee.local', ou: 'OU=B210,OU=Postes,DC=lycee,DC=local', joinUser: 'LYCEE\\joiner', joinPassword: { set: true } }, adminPassword: { set: true } });
    const row = await app.container.database.db.selectFrom('image_answer_files').selectAll().where('image_id', '=', imageId).executeTakeFirstOrThrow();
    expect([row.domain_join_password, row.admin_password]).toEqual([expect.stringMatching(/^v1:/), expect.stringMatching(/^v1:/)]);
    expect(await section.locator('[data-testid=secret-state][data-set=true]').count()).toBe(2);
    await section.getByText('enregistré (jamais affiché)').first().waitFor();
    expect(await section.getByLabel('Nouveau mot de passe du compte de jonction (vide : garder celui enregistré)').inputValue()).toBe('');
    expect(await section.getByLabel('Nouveau mot de passe commun (vide : garder celui enregistré)').inputValue()).toBe('');

    // The preview of a PC of the room: its name, the domain, every password as ********.
    await section.getByLabel('PC de l’aperçu').selectOption({ label: 'B210-02 (B210)' });
    await section.getByRole('button', { name: 'Afficher l’aperçu' }).click();
    const preview = section.getByTestId('answer-preview');
    await preview.waitFor();
    const xml = (await preview.textContent())!;
    expect(xml).toContain('<ComputerName>B210-02</ComputerName>');
    expect(xml).toContain('<JoinDomain>lycee.local</JoinDomain>');
    expect(xml).toContain('<MachineObjectOU>OU=B210,OU=Postes,DC=lycee,DC=local</MachineObjectOU>');
    expect(xml).toContain('<Password>********</Password>');
    expect(xml).toContain('<Value>********</Value>');
    expect(xml).toBe((await app.container.answers.preview(imageId, hostIds[1]!)).xml);
    await section.getByText('les mots de passe sont remplacés par ********', { exact: false }).waitFor();
    await checkPage(page, 'images-answer-file');

    // One password per PC: the shared one is kept aside, the preview masks the PC's and makes none.
    await section.getByLabel('Un mot de passe différent pour chaque PC').check();
    await section.getByRole('button', { name: 'Enregistrer le fichier de réponses' }).click();
    await section.getByText('Fichier de réponses enregistré.').waitFor();
    await section.getByText('Mot de passe commun (inutilisé tant que chaque PC a le sien) :').waitFor();
    await section.getByRole('button', { name: 'Afficher l’aperçu' }).click();
    await section.getByText('Le mot de passe Administrateur propre au PC est tiré au hasard à sa restauration', { exact: false }).waitFor();
    expect(await section.getByTestId('answer-preview').textContent()).toContain('<Value>********</Value>');
    expect(await app.container.answers.get(imageId)).toMatchObject({ adminPasswordPerPc: true, adminPassword: { set: true }, domain: { joinPassword: { set: true } } });
    expect(await app.container.database.db.selectFrom('host_admin_passwords').selectAll().execute()).toEqual([]);

    // A template the server refuses: said in French, nothing changed.
    await section.getByLabel('Modèle personnalisé').check();
    await section.getByLabel('Modèle (handlebars, XML)').fill('<unattend xmlns="urn:schemas-microsoft-com:unattend">{{computer}}</unattend>');
    await section.getByRole('button', { name: 'Enregistrer le fichier de réponses' }).click();
    await section.getByText('Ce modèle de fichier de réponses ne convient pas', { exact: false }).waitFor();
    expect((await app.container.answers.get(imageId)).template).toBeNull();

    // English.
    await page.getByTestId('lang').selectOption('en');
    await section.getByText('Windows answer file (unattend.xml)').waitFor();
    await section.getByText('stored (never shown)').first().waitFor();
    await section.getByRole('button', { name: 'Show the preview' }).waitFor();
    await page.getByTestId('lang').selectOption('fr');

    // Nowhere in the page: not in its HTML, not in a field's value.
    const html = await page.content();
    const values = (await page.evaluate('[...document.querySelectorAll("input, textarea")].map((e) => e.value).join("\\n")')) as string;
    for (const secret of [JOIN_PASSWORD, ADMIN_PASSWORD]) {
      expect(html, `${secret} in the page`).not.toContain(secret);
      expect(values, `${secret} in a field`).not.toContain(secret);
    }
    expect(errors).toEqual([]);
    await ctx.close();
  }, 120_000);
});
