// The committed OpenAPI document must match what the route declarations generate, and the web UI's
// client types must match the document.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OPENAPI_FILE, renderOpenApi, renderSchemaTypes, SCHEMA_TYPES_FILE } from '../../ops/openapi.js';
import { describeRoutes } from '../../services/api/app.js';

describe('OpenAPI document', () => {
  it('is committed and up to date (run `npm run openapi` after changing a route)', () => {
    expect(fs.existsSync(OPENAPI_FILE), `${OPENAPI_FILE} is missing: run npm run openapi`).toBe(true);
    const committed = fs.readFileSync(OPENAPI_FILE, 'utf8');
    expect(committed === renderOpenApi(), 'openapi/openapi.json is stale: run npm run openapi and commit it').toBe(true);
  });

  it("the web client's types (web/src/api/schema.d.ts) are generated from it and up to date", async () => {
    expect(fs.existsSync(SCHEMA_TYPES_FILE), `${SCHEMA_TYPES_FILE} is missing: run npm run openapi`).toBe(true);
    const committed = fs.readFileSync(SCHEMA_TYPES_FILE, 'utf8');
    expect(committed === (await renderSchemaTypes(renderOpenApi())), 'web/src/api/schema.d.ts is stale: run npm run openapi and commit it').toBe(true);
  });

  it('describes every route with its security and problem responses', () => {
    const doc = JSON.parse(renderOpenApi()) as { paths: Record<string, Record<string, { security: unknown[]; responses: Record<string, { content?: Record<string, unknown> }> }>> };
    for (const r of describeRoutes()) {
      const op = doc.paths[r.path.replace(/:(\w+)/g, '{$1}')]?.[r.method];
      expect(op, `${r.method} ${r.path} missing from the document`).toBeDefined();
      const anonymous = r.access === 'public' || r.access === 'boot';
      expect(op!.security.length > 0).toBe(!anonymous);
      if (!anonymous) expect(Object.keys(op!.responses['401']!.content!)).toEqual(['application/problem+json']);
      if (r.access === 'boot' || r.access === 'machine') expect(op!.responses['429']).toBeDefined();
    }
  });
});
