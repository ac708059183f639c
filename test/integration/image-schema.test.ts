// docs/image-format.schema.json is generated from services/imaging/format.ts (npm run image-schema):
// it must be committed and current, and it must accept a real manifest shape and refuse a wrong one.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { IMAGE_SCHEMA_FILE, renderImageSchema } from '../../ops/image-schema.js';

describe('image format JSON schema', () => {
  it('is committed and up to date (run `npm run image-schema` after changing format.ts)', () => {
    expect(fs.existsSync(IMAGE_SCHEMA_FILE), `${IMAGE_SCHEMA_FILE} is missing: run npm run image-schema`).toBe(true);
    expect(fs.readFileSync(IMAGE_SCHEMA_FILE, 'utf8') === renderImageSchema(), 'docs/image-format.schema.json is stale: run npm run image-schema and commit it').toBe(true);
  });

  it('describes formats v1, v2 and v3 with the fields the docs name', () => {
    const schema = JSON.parse(renderImageSchema()) as { properties: Record<string, { const?: unknown; anyOf?: Array<{ const: unknown }>; type?: string }>; required: string[]; additionalProperties: boolean };
    expect(schema.properties.format?.const).toBe('roomcast-image');
    expect(schema.properties.version?.anyOf?.map((v) => v.const)).toEqual([1, 2, 3]);
    expect(schema.properties.blockSize?.type).toBe('integer');
    expect(schema.required).toEqual(expect.arrayContaining(['disk', 'table', 'bootArea', 'partitions', 'chunkSize']));
    expect(schema.additionalProperties).toBe(false);
  });
});
