// The OpenAPI document, generated from the same route declarations and zod schemas that validate requests.
import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import type { Access, AnyRoute } from '../core/route.js';

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    code: z.string().describe('stable machine-readable error code'),
    detail: z.string().describe('what went wrong, in words a person can act on'),
    errors: z.array(z.unknown()).optional(),
  })
  .meta({ id: 'Problem' });

const toOpenApiPath = (p: string) => p.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

function accessText(access: Access): string {
  switch (access) {
    case 'public':
      return 'Open to anyone.';
    case 'boot':
      return 'For PXE firmware and iPXE, which cannot log in: anonymous, GET only, rate-limited per address (429), and nothing secret in the answer.';
    case 'machine':
      return 'For a booted roomcast client: its boot token (roomcast.token on the kernel command line) as Authorization: Bearer. User sessions and API tokens are not accepted. Rate-limited per address (429).';
    default:
      return `Needs the **${access}** role or higher.`;
  }
}

function security(access: Access): Array<Record<string, string[]>> {
  if (access === 'public' || access === 'boot') return [];
  if (access === 'machine') return [{ bootToken: [] }];
  return [{ session: [] }, { token: [] }];
}

export function buildOpenApiDocument(routes: AnyRoute[], version: string) {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'session', { type: 'apiKey', in: 'cookie', name: 'roomcast_session', description: 'Session cookie from POST /api/v1/auth/login; unsafe methods also need the X-CSRF-Token header' });
  registry.registerComponent('securitySchemes', 'token', { type: 'http', scheme: 'bearer', description: 'API token from POST /api/v1/tokens' });
  registry.registerComponent('securitySchemes', 'bootToken', { type: 'http', scheme: 'bearer', description: 'Boot token from the iPXE script (roomcast.token on the kernel command line): signed, expiring, for one MAC' });
  const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: ProblemSchema } } });

  for (const r of routes) {
    const responses: Record<number, object> = {};
    const status = r.status ?? 200;
    if (r.response === null) responses[204] = { description: 'Done' };
    else if ('mediaType' in r.response) responses[status] = { description: 'OK', content: { [r.response.mediaType]: { schema: { type: 'string' } } } };
    else responses[status] = { description: 'OK', content: { 'application/json': { schema: r.response } } };
    responses[400] = problem('validation_failed: the input does not match the schema');
    if (r.access === 'machine') {
      responses[401] = problem('unauthenticated | invalid_token: no boot token, or a malformed, forged or expired one');
    } else if (r.access !== 'public' && r.access !== 'boot') {
      responses[401] = problem('unauthenticated: no valid session or token');
      responses[403] = problem(`forbidden: needs the ${r.access} role (or csrf_failed, password_change_required)`);
    }
    if (r.access === 'boot' || r.access === 'machine') responses[429] = problem('rate_limited: too many requests from this address (Retry-After)');
    for (const [code, what] of Object.entries(r.errors ?? {})) responses[Number(code)] = problem(what);

    registry.registerPath({
      method: r.method,
      path: toOpenApiPath(r.path),
      summary: r.summary,
      tags: [r.tag],
      description: accessText(r.access),
      security: security(r.access),
      request: {
        ...(r.params ? { params: r.params as z.ZodObject } : {}),
        ...(r.query ? { query: r.query as z.ZodObject } : {}),
        ...(r.rawBody ? { body: { content: Object.fromEntries(r.rawBody.map((t) => [t, { schema: { type: 'string', format: 'binary' } }])) } } : {}),
        ...(r.body && !r.rawBody ? { body: { content: { 'application/json': { schema: r.body } } } } : {}),
      },
      responses,
    });
  }
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: { title: 'roomcast API', version, description: 'Restore school computer rooms overnight. Errors are application/problem+json with a stable `code`.' },
    servers: [{ url: '/' }],
  });
}
