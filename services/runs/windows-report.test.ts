import { describe, expect, it } from 'vitest';
import { matchPack } from '../drivers/match.js';
import { matchedRule, windowsOf } from './windows-report.js';

const packs = [{ id: 3, name: 'HP EliteDesk G4', vendor: 'HP', model: 'HP EliteDesk 800 G4*' }];
const identity = { computerName: 'B204-PC01', partition: 3, hive: 'Windows/System32/config/SYSTEM', controlSets: [{ name: 'ControlSet001', before: 'MASTER' }], made: [] };
const answerFile = { partition: 3, path: 'Windows/Panther/unattend.xml', bytes: 4210, sha256: 'ab'.repeat(32) };
const done = (details: Record<string, unknown>) => JSON.stringify({ ok: true, progress: { phase: 'verify' }, details: { fetchedBytes: 10, ...details } });

describe("a restore's Windows steps in the report", () => {
  it('says the name, the answer file, the pack and the vendor/model it matched, and the boot entry added', () => {
    const m = matchPack({ vendor: 'HP', model: 'HP EliteDesk 800 G4 DM' }, packs);
    const w = windowsOf(
      done({
        identity,
        answerFile,
        drivers: { pack: { id: 3, name: 'HP EliteDesk G4', sha256: 'cd'.repeat(32) }, partition: 3, path: 'Drivers/roomcast/3-HP_EliteDesk_G4', files: 12, bytes: 9000, reason: m.reason.en },
        bootEntry: { state: 'created', entry: '0004', partition: 1, bootOrder: ['0001', '0004', '0000'], efibootmgr: 'BootOrder: 0001,0004,0000' },
      }),
    )!;
    expect(w.name).toEqual({ code: 'name_written', fr: 'nommé « B204-PC01 » dans Windows, partition 3 (ControlSet001)', en: 'named "B204-PC01" in Windows, partition 3 (ControlSet001)' });
    expect(w.answerFile).toMatchObject({ code: 'answer_written', en: 'answer file written: Windows/Panther/unattend.xml (4210 bytes, partition 3)', fr: expect.stringContaining('fichier de réponses écrit') });
    expect(w.drivers).toEqual({
      code: 'drivers_copied',
      pack: 'HP EliteDesk G4',
      vendor: 'HP',
      model: 'HP EliteDesk 800 G4*',
      en: 'driver pack "HP EliteDesk G4" (HP / HP EliteDesk 800 G4*): 12 file(s) copied to Drivers/roomcast/3-HP_EliteDesk_G4',
      fr: 'pack de pilotes « HP EliteDesk G4 » (HP / HP EliteDesk 800 G4*) : 12 fichier(s) copié(s) dans Drivers/roomcast/3-HP_EliteDesk_G4',
    });
    expect(w.bootEntry).toMatchObject({ code: 'boot_created', entry: '0004', en: 'UEFI boot entry Boot0004 "Windows Boot Manager" added; boot order 0001,0004,0000 (the network stays first)' });
  });

  it('says why no pack matched (no DMI facts, no pack for this model) in both languages, as the client carried it', () => {
    for (const [facts, code] of [
      [null, 'drivers_no_facts'],
      [{ vendor: 'Dell Inc.', model: 'OptiPlex 7050' }, 'drivers_no_pack'],
    ] as const) {
      const m = matchPack(facts, packs);
      const w = windowsOf(done({ identity, answerFile: null, drivers: { skipped: m.code, reason: m.reason.en, reasonFr: m.reason.fr }, bootEntry: { state: 'present', entry: '0003', bootOrder: ['0001', '0003'] } }))!;
      expect(w.drivers).toEqual({ code, en: m.reason.en, fr: m.reason.fr, pack: null, vendor: null, model: null });
      expect(w.answerFile).toMatchObject({ code: 'answer_none', en: 'no answer file written: the image has none' });
      expect(w.bootEntry).toMatchObject({ code: 'boot_present', entry: '0003', fr: 'entrée de démarrage UEFI Boot0003 déjà présente ; ordre de démarrage 0001,0003' });
    }
    expect(windowsOf(done({ identity, bootEntry: { state: 'present', reordered: true, entry: '0003', bootOrder: ['0001', '0003', '0002'] } }))!.bootEntry).toMatchObject({ code: 'boot_reordered', en: 'UEFI boot entry Boot0003 was present but out of the boot order: put back after the network; boot order 0001,0003,0002' });
    expect(windowsOf(done({ identity, drivers: { skipped: 'no_pack', reason: 'no driver pack matches Dell OptiPlex' } }))!.drivers!.fr).toMatch(/^aucun pack de pilotes ne correspond/);
  });

  it('says no name and no answer file on a disk without Windows, and no boot entry on a PC that did not start by UEFI', () => {
    const w = windowsOf(done({ identity: null, answerFile: null, drivers: { skipped: 'no_windows', reason: 'no Windows system on the restored disk: no driver pack copied', reasonFr: 'pas de système Windows' }, bootEntry: { state: 'skipped', reason: 'the PC was not started by UEFI firmware' } }))!;
    expect(w.name!.code).toBe('name_no_windows');
    expect(w.answerFile!.code).toBe('answer_no_windows');
    expect(w.drivers!.code).toBe('drivers_no_windows');
    expect(w.bootEntry).toMatchObject({ code: 'boot_not_uefi', en: 'no UEFI boot entry: the PC was not started by UEFI firmware (BIOS)', fr: "pas d'entrée de démarrage UEFI : le PC n'a pas démarré en UEFI (BIOS)", entry: null });
    expect(windowsOf(done({ identity, bootEntry: { state: 'skipped', reason: 'the image has no GPT EFI system partition' } }))!.bootEntry).toMatchObject({ code: 'boot_skipped', fr: "pas d'entrée de démarrage UEFI écrite : l'image n'a pas de partition système EFI (GPT)" });
  });

  it('shows nothing for an older task, a failed one, a result without details, or one that is not JSON; leaves out a part that does not parse', () => {
    expect(windowsOf(done({}))).toBeNull();
    expect(windowsOf(JSON.stringify({ ok: false, reason: 'the disk went away', details: { code: 'disk_gone' } }))).toBeNull();
    expect(windowsOf(JSON.stringify({ progress: { phase: 'fetch' } }))).toBeNull();
    expect(windowsOf(null)).toBeNull();
    expect(windowsOf('{not json')).toBeNull();
    const w = windowsOf(done({ identity: { computerName: 42 }, drivers: { skipped: 'no_facts', reason: 'no driver pack: the PC has not reported its vendor and model yet' } }))!;
    expect(w.name).toBeNull();
    expect(w.drivers!.code).toBe('drivers_no_facts');
    expect(w.bootEntry).toBeNull();
  });

  it("reads the rule from drivers/match.ts's sentence, also for a tie, and nothing from another sentence", () => {
    const tie = matchPack({ vendor: 'hp', model: 'x' }, [
      { id: 1, name: 'a', vendor: 'HP', model: '*' },
      { id: 2, name: 'b', vendor: 'HP', model: '*' },
    ]);
    expect(matchedRule(tie.reason.en)).toEqual({ vendor: 'HP', model: '*' });
    expect(matchedRule('something else')).toBeNull();
    expect(matchedRule(undefined)).toBeNull();
  });
});
