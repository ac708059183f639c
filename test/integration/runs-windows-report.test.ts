// What each PC's restore did to its Windows, in the run's report (runs/windows-report.ts), from the
// restore tasks' results in the database (real SQLite and PostgreSQL): the name written, the answer
// file, the driver pack and the vendor/model it matched or why none, the UEFI boot entry; a PC whose
// task result is from before these steps shows nothing, and the printable page says it in both languages.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matchPack } from '../../services/drivers/match.js';
import { RoomRepository } from '../../services/inventory/rooms.js';
import { reportHtml, reportText } from '../../services/runs/report-html.js';
import { RunRepository } from '../../services/runs/repository.js';
import { RunService } from '../../services/runs/service.js';
import { DIALECTS } from '../support/env.js';
import { machineOf, publishVersion } from '../support/runs.js';
import { openTestServices, type TestServices } from '../support/services.js';

const actor = { userId: null, name: 'tech', ip: null };

describe.each(DIALECTS)("the Windows steps of each PC in a run's report (%s)", (dialect) => {
  let s: TestServices;
  let runs: RunService;
  let roomId: number;
  let imageId: number;
  const hosts: Array<{ id: number; mac: string; name: string }> = [];

  beforeAll(async () => {
    s = await openTestServices(dialect);
    const db = s.database.db;
    runs = new RunService(db, new RunRepository(db), s.tasks, s.hosts, new RoomRepository(db), s.events, Date.now, undefined, null);
    roomId = (await s.inventory.createRoom(actor, { name: 'B204' })).id;
    for (let i = 1; i <= 3; i++) {
      const h = await s.inventory.createHost(actor, { name: `B204-PC0${i}`, mac: `02:00:00:00:04:0${i}`, roomId });
      hosts.push({ id: h.id, mac: h.mac, name: h.name });
    }
    const ref = await s.inventory.createHost(actor, { name: 'MASTER', mac: '02:00:00:00:04:99', roomId: null });
    imageId = (await s.catalogue.createImage(actor, { name: 'Windows 11' })).id;
    await publishVersion(s, imageId, ref);
  });

  afterAll(async () => {
    await s?.close();
  });

  it('says per PC the name, the answer file, the driver pack or why none, and the boot entry; an older result shows nothing', async () => {
    const run = await runs.create(actor, { roomId, imageId, steps: ['restore', 'verify'], transport: 'unicast' });
    const byName = new Map(run.pcs.map((p) => [p.hostName, p]));
    const matched = matchPack({ vendor: 'LENOVO', model: 'ThinkCentre M720q' }, [{ id: 7, name: 'Lenovo M720q', vendor: 'LENOVO', model: 'ThinkCentre M720*' }]);
    // The second PC never said hello with its facts: the api's real answer for it.
    const none = await s.drivers.matchHost(hosts[1]!.id);
    expect(none.code).toBe('no_facts');
    const details: Record<string, Record<string, unknown>> = {
      'B204-PC01': {
        identity: { computerName: 'B204-PC01', partition: 3, hive: 'Windows/System32/config/SYSTEM', controlSets: [{ name: 'ControlSet001', before: 'MASTER' }], made: [] },
        answerFile: { partition: 3, path: 'Windows/Panther/unattend.xml', bytes: 3120, sha256: 'a'.repeat(64) },
        drivers: { pack: { id: 7, name: 'Lenovo M720q', sha256: 'b'.repeat(64) }, partition: 3, path: 'Drivers/roomcast/7-Lenovo_M720q', files: 40, bytes: 123456, reason: matched.reason.en },
        bootEntry: { state: 'created', entry: '0004', partition: 1, bootOrder: ['0001', '0004', '0000'], efibootmgr: 'BootOrder: 0001,0004,0000' },
      },
      'B204-PC02': {
        identity: { computerName: 'B204-PC02', partition: 2, hive: 'Windows/System32/config/SYSTEM', controlSets: [{ name: 'ControlSet001', before: 'MASTER' }], made: [] },
        answerFile: null,
        drivers: { skipped: none.code, reason: none.reason.en, reasonFr: none.reason.fr },
        bootEntry: { state: 'skipped', reason: 'the PC was not started by UEFI firmware' },
      },
      'B204-PC03': { fetchedBytes: 1000 }, // a client from before the Windows steps
    };
    for (const h of hosts) {
      const started = await runs.apply(byName.get(h.name)!.id, { type: 'start', inUse: false });
      const taskId = started.pc.taskId!;
      await s.events.transaction(s.database.db, (tx) => s.tasks.checkIn(tx, actor, taskId, h.id));
      await s.tasks.finish(machineOf(h.mac, taskId, h.id), { ok: true, details: details[h.name]! });
    }

    const report = await runs.report(run.id);
    const w = (name: string) => report.pcs.find((p) => p.hostName === name)!.windows;
    expect(w('B204-PC01')).toMatchObject({
      name: { code: 'name_written', fr: expect.stringContaining('« B204-PC01 »'), en: expect.stringContaining('"B204-PC01"') },
      answerFile: { code: 'answer_written', en: expect.stringContaining('Windows/Panther/unattend.xml') },
      drivers: { code: 'drivers_copied', pack: 'Lenovo M720q', vendor: 'LENOVO', model: 'ThinkCentre M720*' },
      bootEntry: { code: 'boot_created', entry: '0004' },
    });
    expect(w('B204-PC02')).toMatchObject({
      answerFile: { code: 'answer_none' },
      drivers: { code: 'drivers_no_facts', pack: null, fr: none.reason.fr, en: none.reason.en },
      bootEntry: { code: 'boot_not_uefi' },
    });
    expect(w('B204-PC03')).toBeNull();

    const fr = reportHtml(report, 'fr');
    expect(fr).toContain('pack de pilotes « Lenovo M720q » (LENOVO / ThinkCentre M720*) : 40 fichier(s) copié(s)');
    expect(fr).toContain("le PC n&#39;a pas encore indiqué son fabricant et son modèle");
    expect(fr).toContain("pas d&#39;entrée de démarrage UEFI : le PC n&#39;a pas démarré en UEFI (BIOS)");
    const en = reportHtml(report, 'en');
    expect(en).toContain('driver pack &quot;Lenovo M720q&quot; (LENOVO / ThinkCentre M720*): 40 file(s) copied');
    expect(en).toContain('UEFI boot entry Boot0004 &quot;Windows Boot Manager&quot; added');
    // The e-mail says which PCs got no driver pack, and why; not the one that got its pack.
    const mail = reportText(report, 'fr').text;
    expect(mail).toContain(`Sans pack de pilotes :\n- B204-PC02 : ${none.reason.fr}`);
    expect(mail).not.toMatch(/- B204-PC0[13] :/);
    expect(reportText(report, 'en').text).toContain(`Without a driver pack:\n- B204-PC02: ${none.reason.en}`);
  });
});
