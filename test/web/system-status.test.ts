// In a real browser against the real server: the system page says whether the TFTP root holds the iPXE
// binaries PXE firmware loads, each checked against its pinned SHA-256 (images/ipxe/SHA256SUMS), and the
// school's time zone (ROOMCAST_TIME_ZONE), in which the UI shows its dates (here America/Martinique,
// while the browser is in Europe/Paris).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';
import { hasChromium, launchBrowser, type TestBrowser } from '../support/browser.js';
import { checkPage, login, openPage } from './support.js';

if (!hasChromium) console.warn('test/web/system-status.test.ts skipped: /usr/bin/chromium is absent (apt-get install chromium; .ci/run installs it)');
// Debian's ipxe package (on the test machine) holds the pinned undionly.kpxe.
const UNDIONLY = '/usr/lib/ipxe/undionly.kpxe';

describe.runIf(hasChromium)('web UI: the system status (iPXE files, time zone)', () => {
  let app: TestApp;
  let tb: TestBrowser;
  const tftpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-tftp-'));
  const pinned = fs.existsSync(UNDIONLY);

  beforeAll(async () => {
    if (pinned) fs.copyFileSync(UNDIONLY, path.join(tftpRoot, 'undionly.kpxe'));
    fs.writeFileSync(path.join(tftpRoot, 'snponly.efi'), 'not the pinned file');
    app = await startTestApp('sqlite', { ROOMCAST_TFTP_ROOT: tftpRoot, ROOMCAST_TIME_ZONE: 'America/Martinique' });
    tb = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    await tb?.close();
    await app?.stop();
  });

  it("shows each iPXE file's state and the school's time zone, and dates in it", async () => {
    const { ctx, page, errors } = await openPage(tb, app.url);
    await login(page, 'admin', TEST_ADMIN_PASSWORD);
    await page.goto('/system');
    const ipxe = page.locator('[data-testid=ipxe][data-status=incomplete]');
    await ipxe.getByText('Les PC ne pourront pas démarrer par le réseau de façon fiable : installez les fichiers avec « npm run ipxe ».').waitFor();
    if (pinned) await ipxe.locator('li[data-state=ok]').getByText('undionly.kpxe : présent, empreinte conforme').waitFor();
    await ipxe.locator('li[data-state=missing]').getByText('ipxe.efi : absent').waitFor();
    await ipxe.locator('li[data-state=mismatch]').getByText('snponly.efi : présent, mais ce n’est pas le fichier attendu (empreinte différente)').waitFor();
    await ipxe.getByText(`Dossier TFTP : ${tftpRoot}`).waitFor();
    await page.getByTestId('time-zone').getByText('Fuseau horaire de l’établissement : America/Martinique').waitFor();

    // The newest audit entry (this login), dated in the school's zone, not the browser's.
    const newest = (await (await page.request.get('/api/v1/audit?limit=1')).json()) as Array<{ at: string }>;
    const fmt = (timeZone: string) => new Intl.DateTimeFormat('fr', { timeZone, dateStyle: 'medium', timeStyle: 'short' }).format(new Date(newest[0]!.at));
    expect(fmt('America/Martinique')).not.toBe(fmt('Europe/Paris'));
    await page.getByTestId('audit').getByText(fmt('America/Martinique')).first().waitFor();
    expect(await page.getByTestId('audit').getByText(fmt('Europe/Paris')).count()).toBe(0);
    await checkPage(page, 'system-status');
    expect(errors).toEqual([]);
    await ctx.close();
  }, 60_000);
});
