// The recipes shipped with roomcast (docs/packages.md "Recipes"), checked once when first read.
import { RecipeSchema, type Recipe } from '../recipe.js';
import { archiwizard } from './archiwizard.js';
import { firefoxEsr } from './firefox-esr.js';
import { geogebra } from './geogebra.js';
import { labview } from './labview.js';
import { libreoffice } from './libreoffice.js';
import { matlab } from './matlab.js';
import { solidworks } from './solidworks.js';

export const RECIPE_INPUTS = [matlab, solidworks, labview, archiwizard, libreoffice, geogebra, firefoxEsr];

let parsed: Recipe[] | undefined;
/** Every recipe, parsed (a recipe that does not parse is a bug: this throws). */
export function recipes(): Recipe[] {
  parsed ??= RECIPE_INPUTS.map((r) => RecipeSchema.parse(r));
  return parsed;
}

export const recipeId = (r: Recipe) => r.manifest.id as string;
