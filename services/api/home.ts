// GET /: the web UI (services/api/web.ts serves web/dist/index.html before this route) or, when the UI
// is not built, a short page (French first) saying what this is and where to go, instead of "Cannot GET /".
import { defineRoute, type AnyRoute } from '../core/route.js';

const page = (version: string) => `<!doctype html>
<html lang="fr">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>roomcast</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;line-height:1.5;color:#222}code{background:#eee;padding:0 .2em}</style></head>
<body>
<h1>roomcast ${version}</h1>
<p>Ce serveur restaure les salles informatiques par le réseau (PXE). L'interface web n'est pas construite sur ce serveur (<code>npm run build</code>) ;
en attendant, tout se fait par l'API REST sous <code>/api/v1</code> (connexion : <code>POST /api/v1/auth/login</code>).</p>
<ul>
<li>État du serveur : <a href="/api/health">/api/health</a></li>
<li>Description de l'API (OpenAPI) : <code>openapi/openapi.json</code> dans le dépôt ; exemples dans le README.</li>
</ul>
<hr>
<p lang="en">This server restores computer rooms over the network (PXE). The web UI is not built on this server (<code>npm run build</code>); until then
everything goes through the REST API under <code>/api/v1</code> (log in with <code>POST /api/v1/auth/login</code>).
Server state: <a href="/api/health">/api/health</a>; the API's description is <code>openapi/openapi.json</code> in the repository.</p>
</body>
</html>
`;

export function homeRoutes(version: string): AnyRoute[] {
  const html = page(version.replace(/[<>&"]/g, ''));
  return [
    defineRoute({
      method: 'get', path: '/', tag: 'system', access: 'public',
      summary: 'The web UI (its index.html), or a short page saying what this server is and where to go when the UI is not built',
      response: { mediaType: 'text/html; charset=utf-8' },
      handler: async () => html,
    }),
  ];
}
