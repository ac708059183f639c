// Writes docs/image-format.schema.json (JSON Schema of the image manifest, formats v1 and v2) from the zod
// schema in services/imaging/format.ts (npm run image-schema). A test fails when it is stale.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { FORMAT_VERSION, ManifestSchema } from '../services/imaging/format.js';

export const IMAGE_SCHEMA_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'image-format.schema.json');

export function renderImageSchema(): string {
  const schema = {
    ...z.toJSONSchema(ManifestSchema, { target: 'draft-2020-12', io: 'input' }),
    $id: `https://roomcast.invalid/schemas/image-manifest-v${FORMAT_VERSION}.json`,
    title: `roomcast image manifest, format v${FORMAT_VERSION} (v1 still read)`,
    description: 'See docs/image-format.md. Chunk hashes are SHA-256 of the uncompressed window with unused bytes zeroed; chunks are zstd frames.',
  };
  return `${JSON.stringify(schema, null, 2)}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const tmp = `${IMAGE_SCHEMA_FILE}.tmp`;
  fs.writeFileSync(tmp, renderImageSchema());
  fs.renameSync(tmp, IMAGE_SCHEMA_FILE);
  console.log(`wrote ${path.relative(process.cwd(), IMAGE_SCHEMA_FILE)}`);
}
