// The agent will be bundled on its own for Windows: its modules read nothing of the appliance but the
// shared contract (software/package.ts, recipe.ts) and zod, which that contract uses.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');

describe('the agent bundle', () => {
  it('imports only the shared contract, zod and node: modules', async () => {
    const entries = fs.readdirSync(here).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).map((f) => path.join(here, f));
    expect(entries.length).toBeGreaterThan(5);
    const out = await build({ entryPoints: entries, bundle: true, platform: 'node', format: 'esm', write: false, outdir: 'out', metafile: true, logLevel: 'silent' });
    const inputs = Object.keys(out.metafile.inputs).map((f) => path.relative(repo, path.resolve(repo, f)));
    const outside = inputs.filter((f) => !f.startsWith('services/agent/') && !f.startsWith('node_modules/zod/') && !['services/software/package.ts', 'services/software/recipe.ts'].includes(f));
    expect(outside).toEqual([]);
    expect(inputs).toContain('services/software/package.ts');
  });
});
