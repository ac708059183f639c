// In a real browser against the real server (api and worker roles, SQLite, Redis): schedule a nightly
// restore of a room from the restore dialog, confirmed with the schedule said back in words and an
// estimate, and see it listed in words on the room page (French, then English); turn it off; a viewer
// sees it without buttons; the runs list, a run whose PC did not wake (failures first, with the
// reason), its printable report, the retry of that PC, and a run that did not start saying why; what
// a restored PC's Windows got (name, answer file, driver pack or why none, UEFI boot entry), in both languages.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';
import { hasChromium, launchBrowser, type TestBrowser } from '../support/browser.js';
import { ApiClient } from '../support/client.js';
import { machineOf, publishVersion } from '../support/runs.js';
import { pastHour } from '../../web/src/i18n/when.js';
import { checkPage, focused, login, openPage, seedLoosePc, seedRoom } from './support.js';

const actor = { userId: null, name: 'tech', ip: null };
if (!hasChromium) console.warn('test/web/schedules-runs.test.ts skipped: needs /usr/bin/chromium');

describe.runIf(hasChromium)('web UI: schedules, runs and the morning report', () => {
  let app: TestApp;
  let tb: TestBrowser;
  let roomId: number;
  let imageId: number;
  const hostIds: number[] = [];

  beforeAll(async () => {
    app = await startTestApp('sqlite');
    const c = app.container;
    const seeded = await seedRoom(app, 'B204', 3, '02:00:00:00:0c');
    roomId = seeded.roomId;
    hostIds.push(...seeded.hostIds);
    const ref = await seedLoosePc(app, 'REF', '02:00:00:00:0c:99');
    imageId = (await c.catalogue.createImage(actor, { name: 'Windows 11' })).id;
    await publishVersion({ ...c, database: c.database }, imageId, ref);
    const admin = new ApiClient(app.url);
    await admin.login('admin', TEST_ADMIN_PASSWORD);
    await admin.userClient('viewer1', 'viewer');
    tb = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    await tb?.close();
    await app?.stop();
  });

  it('schedules a weekday-night restore from the dialog and lists it in words, in French then English', async () => {
    const { ctx, page, errors } = await openPage(tb, app.url);
    // Every confirmation is in the page (<Confirm>), never a browser dialog.
    page.on('dialog', (d) => {
      errors.push(`browser dialog: ${d.message()}`);
      void d.dismiss();
    });
    await login(page, 'admin', TEST_ADMIN_PASSWORD);
    await page.getByRole('link', { name: 'B204' }).click();
    await page.getByRole('heading', { name: 'B204' }).waitFor();
    await page.getByText('Aucune restauration planifiée pour cette salle.').waitFor();
    // Who can restore can select PCs (a viewer cannot: below).
    await page.getByRole('checkbox', { name: 'Sélectionner B204-01' }).waitFor();

    await page.getByRole('button', { name: 'Restaurer la salle' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Chaque soir de semaine (lundi–vendredi à 22:00)').check();
    expect(await dialog.getByLabel('Fin de la plage horaire').inputValue()).toBe('06:00');
    await checkPage(page, 'restore-when');
    await dialog.getByRole('button', { name: 'Continuer' }).click();
    await dialog.getByText('Planification : du lundi au vendredi à 22:00, plage 22:00–06:00 (heure de Europe/Paris).').waitFor();
    await dialog.getByText(/^Prochaine restauration : /).waitFor();
    await dialog.getByTestId('estimate').getByText(/^Durée estimée : environ /).waitFor();
    expect(await dialog.getByTestId('erase-list').locator('li').allTextContents()).toEqual(['B204-01', 'B204-02', 'B204-03']);
    await checkPage(page, 'restore-schedule-confirm');
    await dialog.getByRole('button', { name: 'Planifier la restauration' }).click();
    await dialog.waitFor({ state: 'detached' });

    const item = page.getByTestId('schedule');
    await item.getByText('du lundi au vendredi à 22:00, avec Windows 11 (dernière version prête)').waitFor();
    await item.getByText(/Prochaine : (ce soir|demain soir|.+) à 22:00/).waitFor();
    await checkPage(page, 'room-schedules');

    // Tonight, once (only before 22:00 in Paris: after it, the choice is off and says to restore now).
    if (!pastHour(22)) {
      await page.getByRole('button', { name: 'Restaurer la salle' }).click();
      await dialog.getByLabel('Ce soir (une fois, à 22:00)').check();
      await dialog.getByRole('button', { name: 'Continuer' }).click();
      await dialog.getByText(/^Planification : le \d+(er)? \S+ à 22:00, plage 22:00–06:00/).waitFor();
      await dialog.getByText('Prochaine restauration : ce soir à 22:00.').waitFor();
      await dialog.getByRole('button', { name: 'Planifier la restauration' }).click();
      await dialog.waitFor({ state: 'detached' });
      const tonight = page.getByTestId('schedule').filter({ hasText: 'Une seule fois' });
      await tonight.getByText('Prochaine : ce soir à 22:00').waitFor();
      await tonight.getByRole('button', { name: /^Supprimer — / }).click();
      await tonight.getByRole('alertdialog').getByRole('button', { name: 'Supprimer', exact: true }).click();
      await tonight.waitFor({ state: 'detached' });
    }

    // A custom cron that is not valid is said so before anything is saved.
    await page.getByRole('button', { name: 'Restaurer la salle' }).click();
    await dialog.getByLabel('Planification personnalisée (cron)').check();
    await dialog.getByLabel(/Expression cron/).fill('0 25 * * *');
    await dialog.getByRole('button', { name: 'Continuer' }).click();
    await dialog.getByText('Cette expression cron n’est pas valable : cinq champs, par exemple 0 22 * * 1-5.').waitFor();
    await dialog.getByRole('button', { name: 'Retour' }).click();
    // A window that the server refuses (06:00–06:00) is said as a sentence, nothing saved.
    await dialog.getByLabel(/Expression cron/).fill('0 6 * * 1');
    await dialog.getByRole('button', { name: 'Continuer' }).click();
    await dialog.getByText(/^Planification : le lundi à 06:00, plage 06:00–06:00/).waitFor();
    await dialog.getByRole('button', { name: 'Planifier la restauration' }).click();
    await dialog.getByRole('alert').getByText('La plage horaire est vide : l’heure de fin doit différer de l’heure de début.').waitFor();
    await dialog.getByRole('button', { name: 'Retour' }).click();
    await dialog.getByRole('button', { name: 'Annuler' }).click();
    await dialog.waitFor({ state: 'detached' });

    await page.getByLabel('Langue').selectOption('en');
    await item.getByText('Monday to Friday at 22:00, with Windows 11 (newest ready version)').waitFor();
    await item.getByRole('button', { name: 'Turn off — Monday to Friday at 22:00' }).click();
    await page.locator('[data-testid=schedule][data-enabled=false]').getByText('Off').waitFor();
    await checkPage(page, 'room-schedules-en');
    await page.getByLabel('Language').selectOption('fr');
    expect(errors).toEqual([]);
    await ctx.close();

    // A viewer reads the schedule, without buttons.
    const { ctx: vctx, page: vpage } = await openPage(tb, app.url);
    await login(vpage, 'viewer1', 'temp-viewer1-password-changed');
    await vpage.goto(`/rooms/${roomId}`);
    await vpage.getByTestId('schedule').getByText('du lundi au vendredi à 22:00, avec Windows 11 (dernière version prête)').waitFor();
    expect(await vpage.getByTestId('schedule').getByRole('button').count()).toBe(0);
    expect(await vpage.getByRole('button', { name: 'Restaurer la salle' }).count()).toBe(0);
    // Nor a selection that would lead nowhere.
    await vpage.getByTestId('pc').first().waitFor();
    expect(await vpage.getByRole('checkbox').count()).toBe(0);
    await vctx.close();
  }, 60_000);

  it('lists the runs, shows a failed PC first with its reason and the report, retries it, and says why a run did not start', async () => {
    const c = app.container;
    const run = await c.runs.create(actor, { roomId, hostIds: [hostIds[0]!], imageId, wakeAttempts: 1, wakeTimeoutMinutes: 0.05, wakePerSecond: 10 });
    // The run's multicast session as the worker ends it when its network pre-flight says unicast (jobs/multicast.ts).
    const preflight = {
      at: new Date().toISOString(),
      verdict: 'unicast',
      fallback: { code: 'preflight_no_ipv4', text: 'the multicast interface br-salle has no IPv4 address', fr: "l'interface multicast br-salle n'a pas d'adresse IPv4" },
      warnings: [{ code: 'preflight_no_querier', text: 'no IGMP querier answered', fr: "aucun querier IGMP n'a répondu : activez-le sur le commutateur" }],
    };
    const outcome = { ok: false, reason: 'preflight_failed', detail: 'the network pre-flight set multicast aside', streamBytes: 0, joined: [], dropped: [], seconds: 0, preflight };
    await c.database.db.updateTable('runs').set({ mcast_state: 'ended', mcast_outcome: JSON.stringify(outcome) }).where('id', '=', run.id).execute();
    const notStarted = await c.events.transaction(c.database.db, (tx) =>
      c.runs.recordNotStarted(tx, { roomId, imageId, version: null, options: {}, createdBy: 'schedule:1', reason: { code: 'outside_window', params: { time: '23:30', window: '22:00–06:00' }, text: "it was due at 23:30, outside its window 22:00–06:00: change the schedule's time or its window" } }),
    );

    const { ctx, page, errors } = await openPage(tb, app.url);
    // Every confirmation is in the page (<Confirm>), never a browser dialog.
    page.on('dialog', (d) => {
      errors.push(`browser dialog: ${d.message()}`);
      void d.dismiss();
    });
    await login(page, 'admin', TEST_ADMIN_PASSWORD);
    await page.getByRole('navigation').getByRole('link', { name: 'Restaurations' }).click();
    await page.getByRole('heading', { name: 'Restaurations' }).waitFor();
    await page.locator('[data-testid=run-row][data-state=not_started]').getByText('non démarrée').waitFor();
    await checkPage(page, 'runs');

    await page.getByRole('link', { name: `Restauration n° ${notStarted}` }).click();
    await page.getByTestId('run-why').getByText(/^Cette restauration n’a pas démarré : l'heure prévue \(23:30\) est en dehors de la plage 22:00–06:00/).waitFor();
    // Who started it in words, not the server's code ('schedule:1').
    await page.getByText(/, lancée par la planification n° 1 /).waitFor();
    expect(await page.getByRole('button', { name: /Relancer/ }).count()).toBe(0);
    await checkPage(page, 'run-not-started');

    await page.goto(`/runs/${run.id}`);
    await page.locator('[data-testid=run-state][data-state=done]').waitFor({ timeout: 30_000 });
    const first = page.getByTestId('run-pc').first();
    expect(await first.getAttribute('data-state')).toBe('failed');
    await first.getByText(/ne s'est pas allumé après 1 réveil/).waitFor();
    // The bandwidth plan made when the run started, against what the run took.
    await page.getByTestId('run-plan').waitFor();
    expect(await page.getByTestId('run-plan').textContent()).toMatch(/^Prévu : environ .+ à transférer par le lien du serveur · a pris .+(comme|que) prévu/);
    // The pre-flight that set multicast aside, in French: why, and what to look at.
    const pre = page.locator('[data-testid=run-preflight][data-verdict=unicast]');
    await pre.getByText('Pré-vérification du réseau : le multicast a été écarté').waitFor();
    expect(await pre.locator('li').allTextContents()).toEqual(["l'interface multicast br-salle n'a pas d'adresse IPv4", "aucun querier IGMP n'a répondu : activez-le sur le commutateur"]);
    const href = await page.getByRole('link', { name: 'Rapport imprimable' }).getAttribute('href');
    const report = await page.request.get(href!);
    expect(report.status()).toBe(200);
    expect(await report.text()).toContain('B204-01');
    expect(await report.text()).toMatch(/<p class="plan"[^>]*><strong>Prévu : /);
    await checkPage(page, 'run-failed-retry');

    await page.getByRole('button', { name: 'Relancer 1 PC en échec' }).click();
    // Asked first in the page (no browser dialog): it erases the PC again.
    await page.getByRole('alertdialog').getByText('Relancer la restauration du PC en échec (1) ?', { exact: false }).waitFor();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Relancer 1 PC en échec' }).click();
    const retried = page.getByTestId('retried');
    await retried.getByText(/^Nouvelle restauration n° \d+ lancée pour les PC en échec\./).waitFor();
    await retried.getByRole('link', { name: 'Voir la nouvelle restauration' }).click();
    await page.getByRole('button', { name: 'Annuler B204-01' }).waitFor();
    await checkPage(page, 'run-retry-running');
    // With the keyboard alone: Enter asks, the focus is on the safe choice, Escape takes the question back
    // and the focus returns to the button that asked (a PC's, then the run's); Shift+Tab, Enter confirms.
    await page.getByRole('button', { name: 'Annuler B204-01' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('alertdialog').getByText('Annuler B204-01', { exact: false }).first().waitFor();
    expect(await focused(page)).toEqual({ text: 'Annuler', inConfirm: true });
    await page.keyboard.press('Escape');
    await page.getByRole('alertdialog').waitFor({ state: 'detached' });
    expect(await focused(page)).toEqual({ text: 'Annuler B204-01', inConfirm: false });
    await page.getByRole('button', { name: 'Annuler la restauration' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('alertdialog').getByText(/^Annuler la restauration n° \d+ \?/).waitFor();
    expect(await focused(page)).toEqual({ text: 'Annuler', inConfirm: true });
    await page.keyboard.press('Escape');
    await page.getByRole('alertdialog').waitFor({ state: 'detached' });
    expect(await focused(page)).toEqual({ text: 'Annuler la restauration', inConfirm: false });
    await page.keyboard.press('Enter');
    await page.getByRole('alertdialog').getByText(/^Annuler la restauration n° \d+ \?/).waitFor();
    await page.keyboard.press('Shift+Tab');
    expect(await focused(page)).toEqual({ text: 'Annuler la restauration', inConfirm: true });
    await page.keyboard.press('Enter');
    await page.locator('[data-testid=run-state][data-state=cancelled]').waitFor();
    expect(await page.getByTestId('run-pc').first().getAttribute('data-state')).toBe('cancelled');

    // A newer run of another PC: B204-01's card still shows its own last result, from the run before.
    const other = await c.runs.create(actor, { roomId, hostIds: [hostIds[1]!], imageId, wakeAttempts: 1, wakeTimeoutMinutes: 60 });
    await c.runs.cancel(actor, other.id);
    await page.goto(`/rooms/${roomId}`);
    const last = page.locator('[data-testid=pc][data-host="B204-01"] [data-testid=pc-last][data-state=cancelled]');
    await last.getByText('Dernier résultat :').waitFor();
    expect(await last.getByRole('link').textContent()).toMatch(/^Restauration n° \d+$/);
    await checkPage(page, 'room-last-results');

    // The rooms page shows the room's newest run from the one overview request.
    await page.getByRole('navigation').getByRole('link', { name: 'Salles' }).click();
    await page.getByTestId('room-card').filter({ hasText: 'B204' }).getByText(/Dernière restauration : annulée, /).waitFor();
    expect(errors).toEqual([]);
    await ctx.close();
  }, 60_000);

  it("shows what each restored PC's Windows got: its name, answer file, driver pack or why none, and UEFI boot entry", async () => {
    const c = app.container;
    const run = await c.runs.create(actor, { roomId, hostIds: [hostIds[1]!, hostIds[2]!], imageId, steps: ['restore', 'verify'], transport: 'unicast' });
    const details: Record<string, unknown>[] = [
      {
        identity: { computerName: 'B204-02', partition: 3, hive: 'Windows/System32/config/SYSTEM', controlSets: [{ name: 'ControlSet001', before: 'MASTER' }], made: [] },
        answerFile: { partition: 3, path: 'Windows/Panther/unattend.xml', bytes: 3120, sha256: 'a'.repeat(64) },
        drivers: { pack: { id: 7, name: 'Lenovo M720q', sha256: 'b'.repeat(64) }, partition: 3, path: 'Drivers/roomcast/7-Lenovo_M720q', files: 40, bytes: 123456, reason: 'driver pack "Lenovo M720q" (LENOVO / ThinkCentre M720*) for LENOVO ThinkCentre M720q' },
        bootEntry: { state: 'created', entry: '0004', partition: 1, bootOrder: ['0001', '0004'] },
      },
      {
        identity: { computerName: 'B204-03', partition: 2, hive: 'Windows/System32/config/SYSTEM', controlSets: [{ name: 'ControlSet001', before: null }], made: [] },
        answerFile: null,
        drivers: (({ code, reason }) => ({ skipped: code, reason: reason.en, reasonFr: reason.fr }))(await c.drivers.matchHost(hostIds[2]!)),
        bootEntry: { state: 'skipped', reason: 'the PC was not started by UEFI firmware' },
      },
    ];
    // Each PC's restore task as the worker makes it, finished as its boot client reports it.
    for (const [i, pcRow] of run.pcs.entries()) {
      let taskId: number | null = null;
      for (let n = 0; n < 100 && taskId === null; n++) {
        taskId = (await c.runs.pc(pcRow.id))!.taskId;
        if (taskId === null) await new Promise((r) => setTimeout(r, 100));
      }
      const host = (await c.hosts.viewsOf([pcRow.hostId!]))[0]!;
      await c.events.transaction(c.database.db, (tx) => c.tasks.checkIn(tx, actor, taskId!, host.id));
      await c.tasks.finish(machineOf(host.mac, taskId!, host.id), { ok: true, details: details[i]! });
    }

    const { ctx, page, errors } = await openPage(tb, app.url);
    await login(page, 'admin', TEST_ADMIN_PASSWORD);
    await page.goto(`/runs/${run.id}`);
    const cell = (name: string) => page.getByTestId('run-pc').filter({ hasText: name }).getByTestId('run-pc-windows');
    await cell('B204-02').getByText('pack de pilotes « Lenovo M720q » (LENOVO / ThinkCentre M720*) : 40 fichier(s) copié(s) dans Drivers/roomcast/7-Lenovo_M720q').waitFor();
    await cell('B204-02').getByText('nommé « B204-02 » dans Windows, partition 3 (ControlSet001)').waitFor();
    await cell('B204-02').getByText(/^fichier de réponses écrit : Windows\/Panther\/unattend\.xml/).waitFor();
    await cell('B204-02').getByText(/^entrée de démarrage UEFI Boot0004 « Windows Boot Manager » ajoutée/).waitFor();
    await cell('B204-03').getByText("aucun pack de pilotes : le PC n'a pas encore indiqué son fabricant et son modèle", { exact: false }).waitFor();
    await cell('B204-03').getByText("pas d'entrée de démarrage UEFI : le PC n'a pas démarré en UEFI (BIOS)").waitFor();
    await cell('B204-03').getByText("aucun fichier de réponses écrit : l'image n'en a pas").waitFor();
    await checkPage(page, 'run-windows');

    await page.getByLabel('Langue').selectOption('en');
    await cell('B204-02').getByText('driver pack "Lenovo M720q" (LENOVO / ThinkCentre M720*): 40 file(s) copied to Drivers/roomcast/7-Lenovo_M720q').waitFor();
    await cell('B204-03').getByText('no UEFI boot entry: the PC was not started by UEFI firmware (BIOS)').waitFor();
    await cell('B204-03').getByText('no driver pack: the PC has not reported its vendor and model yet', { exact: false }).waitFor();
    await checkPage(page, 'run-windows-en');
    await page.getByLabel('Language').selectOption('fr');
    expect(errors).toEqual([]);
    await ctx.close();
  }, 60_000);
});
