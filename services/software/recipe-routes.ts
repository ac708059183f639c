// REST routes of the recipes shipped with roomcast (docs/packages.md "Recipes"): everyone logged in
// reads them; a technician makes a package version from one with the property values and the sizes and
// SHA-256 of the files to upload (then uploads them as for any package version). The files a recipe
// makes from property values (MATLAB's network.lic) are written to the store at once.
import { z } from 'zod';
import { defineRoute, type AnyRoute } from '../core/route.js';
import { AppError, notFound } from '../core/errors.js';
import { INSTALLER_TECHNOLOGIES, RecipeError, renderRecipe, type Recipe } from './recipe.js';
import { recipeId, recipes } from './recipes/index.js';
import { PackageVersionSchema } from './routes.js';
import type { SoftwareStore } from './store.js';

const Words = z.object({ fr: z.string(), en: z.string() });
const RecipeViewSchema = z
  .object({
    id: z.string(),
    installerTechnology: z.enum(INSTALLER_TECHNOLOGIES).describe('to_detect: nobody has seen the installer yet (ArchiWizard)'),
    uploads: z.array(z.object({ name: z.string(), label: Words })).describe('the files the technician uploads, in this order'),
    templates: z.array(z.object({ name: z.string(), lines: z.array(z.string()) })).describe('files made from property values ({{name}}), after the uploads'),
    toConfirm: z.array(Words).describe('what must be confirmed on a real Windows PC'),
    manifest: z.record(z.string(), z.unknown()).describe('the package manifest without its files (docs/packages.md)'),
  })
  .meta({ id: 'SoftwareRecipe' });

const view = (r: Recipe) => ({ id: recipeId(r), installerTechnology: r.installerTechnology, uploads: r.uploads, templates: r.templates, toConfirm: r.toConfirm, manifest: r.manifest });

function find(id: string): Recipe {
  const r = recipes().find((x) => recipeId(x) === id);
  if (!r) throw notFound('software recipe', id);
  return r;
}

async function* once(b: Buffer): AsyncIterable<Buffer> {
  yield b;
}

export function recipeRoutes(store: SoftwareStore): AnyRoute[] {
  return [
    defineRoute({
      method: 'get', path: '/api/v1/software/recipes', tag: 'software', access: 'viewer',
      summary: 'The recipes shipped with roomcast: package manifests whose files the technician uploads and whose properties they fill in',
      response: z.array(RecipeViewSchema),
      handler: async () => recipes().map(view),
    }),
    defineRoute({
      method: 'post', path: '/api/v1/software/recipes/:id/packages', tag: 'software', access: 'technician', status: 201,
      summary: 'Make a package version from a recipe: property values (a secret one is sealed), the size and SHA-256 of each file to upload; then upload them',
      params: z.object({ id: z.string().max(64) }),
      body: z.object({
        values: z.record(z.string().max(64), z.union([z.string().max(2000), z.number(), z.boolean()])).default({}),
        files: z.record(z.string().max(200), z.object({ sizeBytes: z.number().int().positive(), sha256: z.string().regex(/^[0-9a-f]{64}$/) })).describe('file name (uploads[].name) → its size and SHA-256'),
        version: z.string().max(64).optional().describe('another package version than the recipe\'s (a new package revision)'),
      }),
      response: PackageVersionSchema,
      errors: { 404: 'not_found', 409: 'software_package_exists', 422: 'software_values_invalid | package_dependency_missing', 507: 'insufficient_storage' },
      handler: async ({ auth, params, body }) => {
        let rendered;
        try {
          rendered = renderRecipe(find(params.id), body.values, body.files, body.version);
        } catch (err) {
          if (err instanceof RecipeError) throw new AppError(422, 'software_values_invalid', `recipe ${params.id}: ${err.problems.join('; ')}`);
          throw err;
        }
        let v = await store.create(auth!.actor, rendered.manifest, body.values);
        const first = rendered.manifest.files.length - rendered.generated.length;
        try {
          for (const [i, g] of rendered.generated.entries()) v = await store.append(v.id, first + i, 0, once(g.content));
        } catch (err) {
          // A version whose made files are not in the store could never be finished: it goes, so that a retry can make it again.
          await store.remove(auth!.actor, v.id).catch(() => undefined);
          throw err;
        }
        return v;
      },
    }),
  ];
}
