// Writes openapi/openapi.json from the route declarations (npm run openapi). A test fails when it is stale.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeRoutes } from '../services/api/app.js';
import { buildOpenApiDocument } from '../services/api/openapi.js';
import { readVersion } from '../services/core/version.js';

export const OPENAPI_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'openapi', 'openapi.json');

export function renderOpenApi(): string {
  return `${JSON.stringify(buildOpenApiDocument(describeRoutes(), readVersion()), null, 2)}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  fs.mkdirSync(path.dirname(OPENAPI_FILE), { recursive: true });
  const tmp = `${OPENAPI_FILE}.tmp`;
  fs.writeFileSync(tmp, renderOpenApi());
  fs.renameSync(tmp, OPENAPI_FILE);
  console.log(`wrote ${path.relative(process.cwd(), OPENAPI_FILE)}`);
}
