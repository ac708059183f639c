// The software package model (issue 16 item 1; docs/packages.md): what a package version says about
// itself, shared by the api (the store) and the Windows agent (issue 16 item 5), so it imports nothing
// but zod and node:vm. Every refusal says what is wrong and how to write it.
//
// A package version is its identity (id, name, version, publisher), its installer files (name, size,
// SHA-256: the store refuses bytes that do not hash to it), the silent install command (run in the
// folder holding the files; {{property}} is replaced by a property's value), how long it may take, the
// processes to wait for after the launcher exits, the exit codes it may give beyond the standard ones,
// the detection rules that say whether it is installed, its dependencies, and its uninstall command.
import vm from 'node:vm';
import { z } from 'zod';

/** A package id: lowercase letters, digits, '.', '_' and '-' (the same id across versions). */
export const PACKAGE_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const SHA256_PATTERN = /^[0-9a-f]{64}$/;
const GUID_PATTERN = /^\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}$/;
/** A version to compare against: dotted numbers, compared number by number (25.2 < 25.10). */
const MIN_VERSION_PATTERN = /^\d{1,9}(\.\d{1,9}){0,3}$/;
/** A file name as Windows takes it: no folder, no reserved character, not only dots. */
const FILE_NAME_PATTERN = /^(?!\.+$)[^\\/:*?"<>|\p{Cc}]{1,200}$/u;
const PROCESS_PATTERN = /^[^\\/:*?"<>|\p{Cc}]{1,100}\.exe$/iu;
const PROPERTY_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

/** The two Uninstall keys an MSI ProductCode is looked up under (64-bit and 32-bit installers). */
export const UNINSTALL_KEYS = [
  'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall',
  'HKLM\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall',
] as const;

/** The largest installer file (an administrative image of SolidWorks or a MATLAB ISO is tens of GB). */
export const FILE_LIMIT = 256 * 1024 ** 3;

const Words = z.object({ fr: z.string().trim().min(1).max(200), en: z.string().trim().min(1).max(200) }).strict();

// ── Properties ───────────────────────────────────────────────────────────────────────────────────
const propertyBase = {
  name: z.string().regex(PROPERTY_NAME_PATTERN, { error: 'a property name: a letter, then letters, digits or _ (it is written {{name}} in the command)' }),
  label: Words,
  help: Words.optional(),
  required: z.boolean().default(false),
};
const notSecret = { secret: z.literal(false, { error: 'secret: true only on a string property (an install key, a serial number)' }).optional() };
const StringProperty = z
  .object({
    ...propertyBase,
    type: z.literal('string'),
    /** An install key or a serial number: its value is sealed at rest, never logged, never returned (only whether it is set). */
    secret: z.boolean().default(false),
    default: z.string().max(2000).optional(),
    pattern: z.string().max(500).optional(),
  })
  .strict()
  .refine((p) => !(p.secret && p.default !== undefined), { error: 'a secret property has no default: a default is written in the package in clear; the technician sets the value' })
  .refine((p) => p.pattern === undefined || validRegex(p.pattern), { error: 'pattern: not a valid regular expression' });
const NumberProperty = z
  .object({ ...propertyBase, ...notSecret, type: z.literal('number'), default: z.number().optional(), min: z.number().optional(), max: z.number().optional(), integer: z.boolean().default(false) })
  .strict()
  .refine((p) => p.min === undefined || p.max === undefined || p.min <= p.max, { error: 'min is more than max' });
const BooleanProperty = z.object({ ...propertyBase, ...notSecret, type: z.literal('boolean'), default: z.boolean().optional() }).strict();
const ChoiceProperty = z
  .object({
    ...propertyBase,
    ...notSecret,
    type: z.literal('choice'),
    choices: z.array(z.object({ value: z.string().min(1).max(200), label: Words }).strict()).min(1, { error: 'a choice property lists at least one choice' }).max(100),
    default: z.string().optional(),
  })
  .strict()
  .refine((p) => new Set(p.choices.map((c) => c.value)).size === p.choices.length, { error: 'two choices have the same value' })
  .refine((p) => p.default === undefined || p.choices.some((c) => c.value === p.default), { error: 'the default is not one of the choices' });

/**
 * Whether `value` matches a property's `pattern` (whole value), or 'too slow': a technician's pattern
 * runs in a context with a time limit, so that one with catastrophic backtracking ((a+)+$) never
 * stalls the api's event loop.
 */
const patternContext = vm.createContext({});
const patternTest = new vm.Script('new RegExp(p).test(v)');
export function matchesPattern(pattern: string, value: string, timeoutMs = 50): boolean | 'too slow' {
  patternContext.p = `^(?:${pattern})$`;
  patternContext.v = value;
  try {
    return patternTest.runInContext(patternContext, { timeout: timeoutMs }) === true;
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') return 'too slow';
    throw err;
  }
}

function validRegex(s: string): boolean {
  try {
    new RegExp(s);
    return true;
  } catch {
    return false;
  }
}

export const PropertySchema = z.discriminatedUnion('type', [StringProperty, NumberProperty, BooleanProperty, ChoiceProperty], { error: 'a property is of type string, number, boolean or choice' });
export type Property = z.output<typeof PropertySchema>;

// ── Detection ────────────────────────────────────────────────────────────────────────────────────
export type DetectionRule =
  /** Installed when {GUID} is a subkey of either Uninstall key (UNINSTALL_KEYS). */
  | { type: 'msi_product_code'; productCode: string }
  /** Installed when an Uninstall entry (either key) has this DisplayName (* and ? as wildcards) and, if given, a DisplayVersion ≥ minVersion. */
  | { type: 'uninstall_entry'; displayName: string; minVersion?: string | undefined }
  /** Installed when the file exists and, if given, its file version is ≥ minVersion. %ProgramFiles% and the like are expanded. */
  | { type: 'file_version'; path: string; minVersion?: string | undefined }
  /** Installed when the value exists under HKLM and, if given, equals `equals` (text) or is a version ≥ minVersion. */
  | { type: 'registry_value'; key: string; value: string; equals?: string | undefined; minVersion?: string | undefined }
  | { type: 'all'; rules: DetectionRule[] }
  | { type: 'any'; rules: DetectionRule[] };

const minVersion = z.string().regex(MIN_VERSION_PATTERN, { error: 'minVersion: dotted numbers such as 25.2 or 31.0.1.5' }).optional();
const MAX_DEPTH = 4;
const depth = (r: DetectionRule): number => (r.type === 'all' || r.type === 'any' ? 1 + Math.max(0, ...r.rules.map(depth)) : 0);

export const DetectionRuleSchema: z.ZodType<DetectionRule> = z.lazy(() =>
  z.discriminatedUnion(
    'type',
    [
      z.object({ type: z.literal('msi_product_code'), productCode: z.string().regex(GUID_PATTERN, { error: 'productCode: the MSI ProductCode with its braces, {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}' }) }).strict(),
      z.object({ type: z.literal('uninstall_entry'), displayName: z.string().trim().min(1).max(200), minVersion }).strict(),
      z
        .object({ type: z.literal('file_version'), path: z.string().regex(/^(%[A-Za-z0-9_()]+%|[A-Za-z]:)\\/, { error: 'path: a full Windows path, from a drive (C:\\) or a variable (%ProgramFiles%\\)' }).max(500), minVersion })
        .strict(),
      z
        .object({
          type: z.literal('registry_value'),
          key: z.string().regex(/^HKLM\\[^\\]/, { error: 'key: a key under HKLM, written HKLM\\SOFTWARE\\…' }).max(500),
          value: z.string().max(200),
          equals: z.string().max(500).optional(),
          minVersion,
        })
        .strict()
        .refine((r) => r.equals === undefined || r.minVersion === undefined, { error: 'a registry_value rule takes equals or minVersion, not both' }),
      z.object({ type: z.literal('all'), rules: z.array(DetectionRuleSchema).min(1, { error: 'all: list at least one rule' }).max(20) }).strict(),
      z.object({ type: z.literal('any'), rules: z.array(DetectionRuleSchema).min(1, { error: 'any: list at least one rule' }).max(20) }).strict(),
    ],
    { error: 'a detection rule has the type msi_product_code, uninstall_entry, file_version, registry_value, all or any' },
  ),
).refine((r) => depth(r) <= MAX_DEPTH, { error: `detection rules nest at most ${MAX_DEPTH} levels of all/any` }).meta({ id: 'SoftwareDetectionRule' });

// ── Exit codes ───────────────────────────────────────────────────────────────────────────────────
export const EXIT_OUTCOMES = ['success', 'reboot_required', 'reboot_initiated', 'retry', 'failure'] as const;
export type ExitOutcome = (typeof EXIT_OUTCOMES)[number];
export interface ExitMeaning {
  outcome: ExitOutcome;
  meaning: { fr: string; en: string };
}

/** The codes every package shares (Windows Installer's): a package's extras cannot change them. */
export const STANDARD_EXIT_CODES: ReadonlyMap<number, ExitMeaning> = new Map([
  [0, { outcome: 'success', meaning: { en: 'installed', fr: 'installé' } }],
  [3010, { outcome: 'reboot_required', meaning: { en: 'installed; a reboot is needed to finish', fr: 'installé ; un redémarrage est nécessaire pour terminer' } }],
  [1641, { outcome: 'reboot_initiated', meaning: { en: 'installed; the installer is restarting the PC', fr: 'installé ; l’installeur redémarre le PC' } }],
  [1618, { outcome: 'retry', meaning: { en: 'another installation is running: try again later', fr: 'une autre installation est en cours : réessayer plus tard' } }],
]);

const ExitCodeSchema = z
  .object({
    code: z.number().int().min(-(2 ** 31)).max(2 ** 32 - 1),
    outcome: z.enum(EXIT_OUTCOMES, { error: `outcome: one of ${EXIT_OUTCOMES.join(', ')}` }),
    meaning: Words,
  })
  .strict()
  .refine((c) => !STANDARD_EXIT_CODES.has(c.code), { error: (i) => `exit code ${(i.input as { code: number }).code} is standard (0 success, 3010 reboot needed, 1641 rebooting now, 1618 retry later): a package cannot change it` });

/** What an exit code means for a package: its extras, else the standard codes, else a failure. */
export function exitMeaning(pkg: Pick<PackageManifest, 'exitCodes'>, code: number): ExitMeaning {
  const extra = pkg.exitCodes.find((c) => c.code === code);
  if (extra) return { outcome: extra.outcome, meaning: extra.meaning };
  return STANDARD_EXIT_CODES.get(code) ?? { outcome: 'failure', meaning: { en: `the installer failed (exit code ${code})`, fr: `l’installeur a échoué (code de sortie ${code})` } };
}

// ── The manifest ─────────────────────────────────────────────────────────────────────────────────
export const InstallerFileSchema = z
  .object({
    name: z.string().regex(FILE_NAME_PATTERN, { error: 'a file name without folder or any of \\ / : * ? " < > |' }),
    sizeBytes: z.number().int().positive({ error: 'sizeBytes: the file size in bytes, more than 0' }).max(FILE_LIMIT, { error: `sizeBytes: at most ${FILE_LIMIT} bytes per file` }),
    sha256: z.string().regex(SHA256_PATTERN, { error: 'sha256: the SHA-256 of the file in lowercase hexadecimal (sha256sum, or Get-FileHash in PowerShell then lowercase)' }),
  })
  .strict();

const Command = z.string().trim().min(1, { error: 'a command line is needed' }).max(4000);
const PLACEHOLDER = /\{\{\s*([^}]*?)\s*\}\}/g;
/** The property names a command line names ({{name}}). */
export const placeholders = (command: string) => [...command.matchAll(PLACEHOLDER)].map((m) => m[1]!);

export const PackageManifestSchema = z
  .object({
    id: z.string().regex(PACKAGE_ID_PATTERN, { error: 'id: lowercase letters, digits, . _ and - (e.g. solidworks-2025), the same for every version' }),
    name: z.string().trim().min(1).max(120),
    version: z.string().trim().min(1).max(64).regex(/^[A-Za-z0-9][A-Za-z0-9._+-]*$/, { error: 'version: letters, digits and . _ + - (e.g. 2025.1-1)' }),
    publisher: z.string().trim().min(1).max(120),
    files: z.array(InstallerFileSchema).min(1, { error: 'files: a package has at least one installer file' }).max(64),
    install: z
      .object({
        /** Run in the folder holding the files, as SYSTEM. */
        command: Command,
        timeoutMinutes: z.number().int().min(1, { error: 'timeoutMinutes: at least 1' }).max(24 * 60, { error: 'timeoutMinutes: at most 1440 (24 hours)' }),
        /** After the launcher exits, wait until none of these runs (SolidWorks: StartSWInstall.exe exits early, sldIM.exe installs). */
        waitForProcesses: z.array(z.string().regex(PROCESS_PATTERN, { error: 'waitForProcesses: process names such as sldIM.exe (no folder)' })).max(20).default([]),
      })
      .strict(),
    uninstall: z.object({ command: Command, timeoutMinutes: z.number().int().min(1).max(24 * 60).default(60) }).strict().optional(),
    properties: z.array(PropertySchema).max(50).default([]),
    detection: DetectionRuleSchema,
    exitCodes: z.array(ExitCodeSchema).max(50).default([]),
    dependsOn: z.array(z.string().regex(PACKAGE_ID_PATTERN, { error: 'dependsOn: package ids' })).max(20).default([]),
  })
  .strict()
  .superRefine((m, ctx) => {
    const seen = new Set<string>();
    m.files.forEach((f, i) => {
      const k = f.name.toLowerCase();
      if (seen.has(k)) ctx.addIssue({ code: 'custom', path: ['files', i, 'name'], message: `two files are named ${f.name} (Windows does not tell case apart)` });
      seen.add(k);
    });
    const names = new Set<string>();
    m.properties.forEach((p, i) => {
      if (names.has(p.name)) ctx.addIssue({ code: 'custom', path: ['properties', i, 'name'], message: `two properties are named ${p.name}` });
      names.add(p.name);
    });
    for (const [where, cmd] of [['install', m.install.command], ['uninstall', m.uninstall?.command]] as const) {
      for (const ph of cmd === undefined ? [] : placeholders(cmd))
        if (!names.has(ph)) ctx.addIssue({ code: 'custom', path: [where, 'command'], message: `the command names {{${ph}}}, which is not a property of the package: add it to properties, or fix its name` });
    }
    const codes = new Set<number>();
    m.exitCodes.forEach((c, i) => {
      if (codes.has(c.code)) ctx.addIssue({ code: 'custom', path: ['exitCodes', i, 'code'], message: `exit code ${c.code} is listed twice` });
      codes.add(c.code);
    });
    if (m.dependsOn.includes(m.id)) ctx.addIssue({ code: 'custom', path: ['dependsOn'], message: `${m.id} cannot depend on itself` });
    if (new Set(m.dependsOn).size !== m.dependsOn.length) ctx.addIssue({ code: 'custom', path: ['dependsOn'], message: 'a dependency is listed twice' });
  });
export type PackageManifest = z.output<typeof PackageManifestSchema>;
export type PackageManifestInput = z.input<typeof PackageManifestSchema>;

// ── Property values ──────────────────────────────────────────────────────────────────────────────
export type PropertyValue = string | number | boolean;

/** Checks values given for a manifest's properties; returns the problems (empty: fine). `partial`: missing required ones are not problems. */
export function valueProblems(m: Pick<PackageManifest, 'properties'>, values: Record<string, unknown>, partial = false): string[] {
  const out: string[] = [];
  for (const name of Object.keys(values)) if (!m.properties.some((p) => p.name === name)) out.push(`${name}: the package has no such property`);
  for (const p of m.properties) {
    const v = values[p.name];
    if (v === undefined || v === null) {
      if (p.required && p.default === undefined && !partial) out.push(`${p.name}: required (${p.label.en})`);
      continue;
    }
    if (p.type === 'string') {
      if (typeof v !== 'string' || v.length > 2000) out.push(`${p.name}: a text of at most 2000 characters`);
      else if (p.pattern !== undefined) {
        const m = matchesPattern(p.pattern, v);
        if (m === 'too slow') out.push(`${p.name}: its pattern ${p.pattern} takes too long to check (nested repetition such as (a+)+): simplify the package's pattern`);
        else if (!m) out.push(`${p.name}: does not match ${p.pattern}`);
      }
    } else if (p.type === 'number') {
      if (typeof v !== 'number' || !Number.isFinite(v) || (p.integer && !Number.isInteger(v))) out.push(`${p.name}: a ${p.integer ? 'whole ' : ''}number`);
      else if ((p.min !== undefined && v < p.min) || (p.max !== undefined && v > p.max)) out.push(`${p.name}: from ${p.min ?? '-∞'} to ${p.max ?? '∞'}`);
    } else if (p.type === 'boolean') {
      if (typeof v !== 'boolean') out.push(`${p.name}: true or false`);
    } else if (!p.choices.some((c) => c.value === v)) out.push(`${p.name}: one of ${p.choices.map((c) => c.value).join(', ')}`);
  }
  return out;
}

/** The names of a manifest's secret properties. */
export const secretNames = (m: Pick<PackageManifest, 'properties'>) => new Set(m.properties.filter((p) => p.type === 'string' && p.secret).map((p) => p.name));
