// The built web UI (web/dist, made by `npm run build`), served by the api role:
// - /assets/*: the hashed bundles, cached for a year (immutable: a new build has new names);
// - index.html with no-cache for GET / and for any other GET that asks for HTML and is not under
//   /api/, /boot/ or /socket.io/ (the UI's own routes, /rooms/3 after a reload);
// - when no built UI is found, nothing here is mounted and GET / keeps its short page (home.ts).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type RequestHandler } from 'express';
import { AppError } from '../core/errors.js';

const NOT_THE_UI = /^\/(api|boot|socket\.io)(\/|$)/;

/**
 * The built UI's folder: `configured` (ROOMCAST_WEB_DIR), else web/dist beside the code, found by
 * walking up from this file (services/api under tsx, dist/services/api once compiled, /app in the
 * image). null when it holds no index.html.
 */
export function findWebDir(configured?: string): string | null {
  const has = (d: string) => fs.existsSync(path.join(d, 'index.html'));
  if (configured !== undefined) return has(configured) ? configured : null;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++, dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'web', 'dist');
    if (has(candidate)) return candidate;
  }
  return null;
}

export function webUi(dir: string): RequestHandler {
  const router = express.Router();
  router.use(
    '/assets',
    express.static(path.join(dir, 'assets'), { immutable: true, maxAge: 365 * 24 * 3600 * 1000, index: false, redirect: false }),
    (req, _res, next) => next(new AppError(404, 'not_found', `no UI asset ${req.originalUrl.split('?')[0]}`)),
  );
  const index = path.join(dir, 'index.html');
  router.use((req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    if (NOT_THE_UI.test(req.path)) return next();
    // GET / is the UI for anyone; other paths only for a browser navigating (it asks for HTML).
    if (req.path !== '/' && !(req.get('accept') ?? '').includes('text/html')) return next();
    fs.readFile(index, (err, html) => {
      if (err) return next(err);
      res.set('Cache-Control', 'no-cache').type('text/html; charset=utf-8').send(html);
    });
  });
  return router;
}
