// What a PC's restore did to its Windows before Windows first started (issue 15), in the report's
// words: the name written into the offline registry (imaging/client/identity.ts), the answer file
// (answer-file.ts), the driver pack (drivers.ts) and the UEFI boot entry (boot-entry.ts). A pure
// function of the restore task's result, as the boot client reported it in `details`.
//
// Rules:
// - The result is read with a tolerant zod parse: a task from before these steps (none of the four
//   keys in its details), a failed task that never reached them, or no result at all gives null (the
//   report shows nothing for it, never an error). A single part that does not parse is left out.
// - identity null: the client found no Windows on the restored disk (a restore always carries the
//   PC's name). answerFile null with a name written: the image has no answer file.
// - The driver pack's vendor and model are those of the rule that matched (the sentence of
//   drivers/match.ts, which the client carries back); none: the client's reason in both languages.
import { z } from 'zod';

export interface WindowsWords {
  code: string;
  fr: string;
  en: string;
}

export interface ReportWindows {
  /** The Windows name written (or why not). */
  name: WindowsWords | null;
  /** The answer file written, or why none. */
  answerFile: WindowsWords | null;
  /** The driver pack copied (its name and the vendor/model rule it matched), or why none. */
  drivers: (WindowsWords & { pack: string | null; vendor: string | null; model: string | null }) | null;
  /** The UEFI boot entry: added, already present, or not written (not UEFI, …). */
  bootEntry: (WindowsWords & { entry: string | null }) | null;
}

const IdentitySchema = z.object({ computerName: z.string(), partition: z.number(), controlSets: z.array(z.object({ name: z.string() })).optional() }).nullable();
const AnswerFileSchema = z.object({ partition: z.number(), path: z.string(), bytes: z.number() }).nullable();
const DriversSchema = z
  .union([
    z.object({ pack: z.object({ id: z.number(), name: z.string() }), path: z.string(), files: z.number(), bytes: z.number(), reason: z.string().optional() }),
    z.object({ skipped: z.string(), reason: z.string(), reasonFr: z.string().optional() }),
  ])
  .nullable();
const BootEntrySchema = z.object({ state: z.enum(['created', 'present', 'skipped']), reason: z.string().optional(), entry: z.string().optional(), partition: z.number().optional(), bootOrder: z.array(z.string()).optional(), reordered: z.boolean().optional() }).nullable();
const ResultSchema = z.object({ details: z.record(z.string(), z.unknown()) });

const NOT_UEFI = 'the PC was not started by UEFI firmware';

function part<T>(details: Record<string, unknown>, key: string, schema: z.ZodType<T>): { present: false } | { present: true; ok: boolean; value: T | null } {
  if (!(key in details)) return { present: false };
  const r = schema.safeParse(details[key]);
  return r.success ? { present: true, ok: true, value: r.data } : { present: true, ok: false, value: null };
}

/** The rule "(vendor / model)" named in drivers/match.ts's sentence `driver pack "name" (vendor / model) for …`. */
export function matchedRule(reason: string | undefined): { vendor: string; model: string } | null {
  const m = reason ? /^driver pack ".*" \((.+?) \/ (.+)\) for /.exec(reason) : null;
  return m ? { vendor: m[1]!, model: m[2]! } : null;
}

function nameWords(v: z.infer<typeof IdentitySchema>): WindowsWords {
  if (!v) return { code: 'name_no_windows', fr: 'aucun nom écrit : pas de système Windows sur le disque restauré', en: 'no name written: no Windows system on the restored disk' };
  const sets = v.controlSets?.length ? ` (${v.controlSets.map((c) => c.name).join(', ')})` : '';
  return { code: 'name_written', fr: `nommé « ${v.computerName} » dans Windows, partition ${v.partition}${sets}`, en: `named "${v.computerName}" in Windows, partition ${v.partition}${sets}` };
}

function answerWords(v: z.infer<typeof AnswerFileSchema>, windows: boolean | null): WindowsWords {
  if (v) return { code: 'answer_written', fr: `fichier de réponses écrit : ${v.path} (${v.bytes} octets, partition ${v.partition})`, en: `answer file written: ${v.path} (${v.bytes} bytes, partition ${v.partition})` };
  if (windows === false) return { code: 'answer_no_windows', fr: 'aucun fichier de réponses écrit : pas de système Windows sur le disque restauré', en: 'no answer file written: no Windows system on the restored disk' };
  return { code: 'answer_none', fr: "aucun fichier de réponses écrit : l'image n'en a pas", en: 'no answer file written: the image has none' };
}

const DRIVERS_FR: Record<string, string> = {
  no_facts: "aucun pack de pilotes : le PC n'a pas encore indiqué son fabricant et son modèle",
  no_pack: 'aucun pack de pilotes ne correspond à ce modèle : ajoutez-en un pour ce fabricant et ce modèle',
  no_windows: 'aucun pack de pilotes copié : pas de système Windows sur le disque restauré',
};

function driverWords(v: z.infer<typeof DriversSchema>): NonNullable<ReportWindows['drivers']> {
  if (!v) return { code: 'drivers_off', fr: 'aucun pack de pilotes : ce serveur ne propose pas de packs de pilotes à ce client', en: 'no driver pack: this server offers none to this client', pack: null, vendor: null, model: null };
  if ('skipped' in v) return { code: `drivers_${v.skipped}`, fr: v.reasonFr ?? DRIVERS_FR[v.skipped] ?? v.reason, en: v.reason, pack: null, vendor: null, model: null };
  const rule = matchedRule(v.reason);
  const r = rule ? ` (${rule.vendor} / ${rule.model})` : '';
  return {
    code: 'drivers_copied',
    fr: `pack de pilotes « ${v.pack.name} »${r} : ${v.files} fichier(s) copié(s) dans ${v.path}`,
    en: `driver pack "${v.pack.name}"${r}: ${v.files} file(s) copied to ${v.path}`,
    pack: v.pack.name,
    vendor: rule?.vendor ?? null,
    model: rule?.model ?? null,
  };
}

function bootWords(v: z.infer<typeof BootEntrySchema>): NonNullable<ReportWindows['bootEntry']> {
  if (!v) return { code: 'boot_none', fr: "pas d'entrée de démarrage UEFI écrite", en: 'no UEFI boot entry written', entry: null };
  const order = v.bootOrder?.length ? v.bootOrder.join(',') : '?';
  if (v.state === 'created') return { code: 'boot_created', fr: `entrée de démarrage UEFI Boot${v.entry ?? '?'} « Windows Boot Manager » ajoutée ; ordre de démarrage ${order} (le réseau reste en tête)`, en: `UEFI boot entry Boot${v.entry ?? '?'} "Windows Boot Manager" added; boot order ${order} (the network stays first)`, entry: v.entry ?? null };
  if (v.state === 'present' && v.reordered) return { code: 'boot_reordered', fr: `entrée de démarrage UEFI Boot${v.entry ?? '?'} présente mais absente de l'ordre de démarrage : remise après le réseau ; ordre ${order}`, en: `UEFI boot entry Boot${v.entry ?? '?'} was present but out of the boot order: put back after the network; boot order ${order}`, entry: v.entry ?? null };
  if (v.state === 'present') return { code: 'boot_present', fr: `entrée de démarrage UEFI Boot${v.entry ?? '?'} déjà présente ; ordre de démarrage ${order}`, en: `UEFI boot entry Boot${v.entry ?? '?'} already present; boot order ${order}`, entry: v.entry ?? null };
  if (v.reason === NOT_UEFI) return { code: 'boot_not_uefi', fr: "pas d'entrée de démarrage UEFI : le PC n'a pas démarré en UEFI (BIOS)", en: 'no UEFI boot entry: the PC was not started by UEFI firmware (BIOS)', entry: null };
  const why = v.reason ?? '?';
  const fr = why === 'the image has no GPT EFI system partition' ? "l'image n'a pas de partition système EFI (GPT)" : /holds EFI\/Microsoft\/Boot\/bootmgfw\.efi/.test(why) ? "aucune partition système EFI de l'image ne contient EFI/Microsoft/Boot/bootmgfw.efi" : why;
  return { code: 'boot_skipped', fr: `pas d'entrée de démarrage UEFI écrite : ${fr}`, en: `no UEFI boot entry written: ${why}`, entry: null };
}

/** The Windows steps of a restore task's result (its JSON or parsed); null for a result without them. */
export function windowsOf(result: string | Record<string, unknown> | null | undefined): ReportWindows | null {
  if (!result) return null;
  let raw: unknown = result;
  if (typeof result === 'string') {
    try {
      raw = JSON.parse(result);
    } catch {
      return null;
    }
  }
  const parsed = ResultSchema.safeParse(raw);
  if (!parsed.success) return null;
  const d = parsed.data.details;
  const identity = part(d, 'identity', IdentitySchema);
  const answer = part(d, 'answerFile', AnswerFileSchema);
  const drivers = part(d, 'drivers', DriversSchema);
  const boot = part(d, 'bootEntry', BootEntrySchema);
  if (!identity.present && !answer.present && !drivers.present && !boot.present) return null;
  const windows = identity.present && identity.ok ? identity.value !== null : null;
  return {
    name: identity.present && identity.ok ? nameWords(identity.value) : null,
    answerFile: answer.present && answer.ok ? answerWords(answer.value, windows) : null,
    drivers: drivers.present && drivers.ok ? driverWords(drivers.value) : null,
    bootEntry: boot.present && boot.ok ? bootWords(boot.value) : null,
  };
}
