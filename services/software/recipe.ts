// Recipes shipped with roomcast (issue 16 item 3; docs/packages.md "Recipes"): a package manifest
// (software/package.ts) whose installer files are not known yet. A recipe names the files the RN
// uploads (no size, no SHA-256: they come with the upload), the small text files made from property
// values (a licence file), what must be confirmed on a real PC, and everything else of the manifest:
// the silent command, detection, exit codes, timeout, processes to wait for, uninstall.
//
// The recipe's manifest is checked by the package schema itself, with stand-ins for the files, so a
// recipe cannot say what a package could not. Like package.ts, this imports nothing but zod and
// node:crypto, for the agent's sake.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { PackageManifestSchema, placeholders, secretNames, valueProblems, type PackageManifest, type PackageManifestInput, type PropertyValue } from './package.js';

const Words = z.object({ fr: z.string().trim().min(1).max(600), en: z.string().trim().min(1).max(600) }).strict();
const FileName = z.string().regex(/^(?!\.+$)[^\\/:*?"<>|\p{Cc}]{1,200}$/u, { error: 'a file name without folder' });

export const INSTALLER_TECHNOLOGIES = ['msi', 'mpm', 'solidworks_admin_image', 'ni_package_manager', 'to_detect'] as const;

export const RecipeSchema = z
  .object({
    /** How the installer works; `to_detect` when nobody has seen it yet (ArchiWizard). */
    installerTechnology: z.enum(INSTALLER_TECHNOLOGIES),
    /** The files the RN uploads, in the package's file order, each with what it is and where to get it. */
    uploads: z.array(z.object({ name: FileName, label: Words }).strict()).min(1).max(32),
    /** Text files made from property values when the package version is made (CRLF line ends). No secret in them: a file is stored in clear. */
    templates: z.array(z.object({ name: FileName, lines: z.array(z.string().max(2000)).min(1).max(200) }).strict()).max(8).default([]),
    /** What must be confirmed on a real Windows PC before a room relies on the recipe. */
    toConfirm: z.array(Words).max(20).default([]),
    /** The package manifest, without `files` (made from uploads and templates). */
    manifest: z.record(z.string(), z.unknown()),
  })
  .strict()
  .superRefine((r, ctx) => {
    if ('files' in r.manifest) ctx.addIssue({ code: 'custom', path: ['manifest', 'files'], message: 'a recipe lists its files in uploads and templates, not in the manifest' });
    const parsed = PackageManifestSchema.safeParse(withFiles(r.manifest, [...r.uploads, ...r.templates].map((f) => ({ name: f.name, sizeBytes: 1, sha256: '0'.repeat(64) }))));
    if (!parsed.success) {
      for (const i of parsed.error.issues) ctx.addIssue({ code: 'custom', path: ['manifest', ...i.path.map((p) => (typeof p === 'symbol' ? String(p) : p))], message: i.message });
      return;
    }
    const names = new Set(parsed.data.properties.map((p) => p.name));
    const secrets = secretNames(parsed.data);
    r.templates.forEach((t, i) => {
      for (const ph of placeholders(t.lines.join('\n'))) {
        if (!names.has(ph)) ctx.addIssue({ code: 'custom', path: ['templates', i], message: `${t.name} names {{${ph}}}, which is not a property of the package` });
        else if (secrets.has(ph)) ctx.addIssue({ code: 'custom', path: ['templates', i], message: `${t.name} names the secret {{${ph}}}: a file is stored in clear, a secret goes on the command line only` });
      }
    });
  });
export type Recipe = z.output<typeof RecipeSchema>;
export type RecipeInput = Omit<z.input<typeof RecipeSchema>, 'manifest'> & { manifest: Omit<PackageManifestInput, 'files'> };

function withFiles(manifest: Record<string, unknown>, files: PackageManifestInput['files']): unknown {
  return { ...manifest, files };
}

/** A property's value: the one given, else its default. */
function valueOf(m: Pick<PackageManifest, 'properties'>, values: Record<string, PropertyValue>, name: string): PropertyValue | undefined {
  return values[name] ?? m.properties.find((p) => p.name === name)?.default;
}

/**
 * A command line or a text with each {{name}} replaced by its value (or default); a boolean is 1 or 0.
 * The agent does this for the command lines at run time (secret values included); the api does it for
 * templates. A property with no value and no default leaves nothing.
 */
export function fill(m: Pick<PackageManifest, 'properties'>, text: string, values: Record<string, PropertyValue>): string {
  return text.replace(/\{\{\s*([^}]*?)\s*\}\}/g, (_, name: string) => {
    const v = valueOf(m, values, name);
    return v === undefined ? '' : typeof v === 'boolean' ? (v ? '1' : '0') : String(v);
  });
}

export interface UploadedFile {
  sizeBytes: number;
  sha256: string;
}

export interface RenderedRecipe {
  /** The package manifest: uploads with the sizes and hashes given, then the templates' files. */
  manifest: PackageManifest;
  /** The templates' files, made from the values (the store receives them as uploads). */
  generated: Array<{ name: string; content: Buffer }>;
}

export class RecipeError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
  }
}

/** A package manifest from a recipe, the property values and the uploads' sizes and hashes; throws RecipeError with every problem. */
export function renderRecipe(recipe: Recipe, values: Record<string, PropertyValue>, uploaded: Record<string, UploadedFile>, version?: string): RenderedRecipe {
  const problems: string[] = [];
  for (const u of recipe.uploads) if (!uploaded[u.name]) problems.push(`${u.name}: its size and SHA-256 are needed (${u.label.en})`);
  for (const name of Object.keys(uploaded)) if (!recipe.uploads.some((u) => u.name === name)) problems.push(`${name}: the recipe uploads no such file`);
  const base = PackageManifestSchema.parse(withFiles(recipe.manifest, [...recipe.uploads, ...recipe.templates].map((f) => ({ name: f.name, sizeBytes: 1, sha256: '0'.repeat(64) }))));
  problems.push(...valueProblems(base, values));
  if (problems.length) throw new RecipeError(problems);
  const generated = recipe.templates.map((t) => ({ name: t.name, content: Buffer.from(t.lines.map((l) => fill(base, l, values)).join('\r\n') + '\r\n', 'utf8') }));
  const files = [
    ...recipe.uploads.map((u) => ({ name: u.name, sizeBytes: uploaded[u.name]!.sizeBytes, sha256: uploaded[u.name]!.sha256 })),
    ...generated.map((g) => ({ name: g.name, sizeBytes: g.content.length, sha256: createHash('sha256').update(g.content).digest('hex') })),
  ];
  const parsed = PackageManifestSchema.safeParse({ ...withFiles(recipe.manifest, files) as object, ...(version ? { version } : {}) });
  if (!parsed.success) throw new RecipeError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  return { manifest: parsed.data, generated };
}
