// The api role's Express application: every route from every domain, mounted through one path. The
// services come from the composition root (services/container.ts); this file only mounts them.
import express from 'express';
import { accountRoutes } from '../accounts/routes.js';
import { alertRoutes } from '../alerts/routes.js';
import { LoginLimiter } from '../accounts/rate-limit.js';
import { missingClientAdvice, missingClientFiles } from '../boot/http/client-files.js';
import { findTemplateDir } from '../boot/http/render.js';
import { bootRoutes } from '../boot/http/routes.js';
import { scriptBase } from '../boot/http/service.js';
import { inertContainer, type BuildOptions, type Container } from '../container.js';
import { AppError } from '../core/errors.js';
import { KeyedTokenBucket } from '../core/ratelimit.js';
import type { AnyRoute } from '../core/route.js';
import { answerFileRoutes } from '../imaging/answer-routes.js';
import { driverRoutes } from '../drivers/routes.js';
import { clientRoutes } from '../imaging/client-routes.js';
import { imageRoutes } from '../imaging/routes.js';
import { inventoryRoutes } from '../inventory/routes.js';
import { networkRoutes } from '../network/routes.js';
import { runRoutes } from '../runs/routes.js';
import { scheduleRoutes } from '../schedules/routes.js';
import { recipeRoutes } from '../software/recipe-routes.js';
import { assignmentRoutes } from '../software/assignment-routes.js';
import { softwareRoutes } from '../software/routes.js';
import { systemRoutes } from '../system/routes.js';
import { clientTaskRoutes, taskRoutes } from '../tasks/routes.js';
import { auditRoutes } from './audit-routes.js';
import { HealthProbe, healthRoutes } from './health.js';
import { homeRoutes } from './home.js';
import { mountRoute, problemHandler, requestLog, securityHeaders } from './http.js';
import { findWebDir, webUi } from './web.js';

/** Anonymous firmware and booted clients: 20 requests a second per route and address, bursts of 50. */
export const MACHINE_RATE = { perSecond: 20, burst: 50 };
/**
 * Chunk uploads and downloads of a booted client (4 MiB each), and a streaming capture's chunk
 * announcements (one per few windows when the api answers fast): enough for 10 Gbit/s.
 */
export const CHUNK_RATE = { perSecond: 400, burst: 800 };
const CHUNK_ROUTE_KEY = / \/api\/v1\/client\/(chunks\/:hash|capture\/chunks)\|/;

/** A matcher for the request paths of an Express route path (parameters match one segment). */
const pathMatcher = (p: string) => new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z0-9_]+/g, '[^/]+')}/?$`, 'i');

/** `listeningPort`: the port the api listens on (known once listening; the config may say 0). */
export function allRoutes(c: Container, health: Pick<HealthProbe, 'check'>, version = '0', listeningPort: () => number = () => c.config.http.port): AnyRoute[] {
  const base = () => scriptBase(c.config.publicUrl, c.config.bootIp, c.config.bootHttpPort ?? listeningPort());
  return [
    ...homeRoutes(version),
    ...healthRoutes(health),
    ...accountRoutes(c.accounts, new LoginLimiter(), { secureCookies: c.config.secureCookies, sessionHours: c.config.sessionHours, timeZone: c.config.timeZone }),
    ...inventoryRoutes(c.inventory, c.importer),
    ...auditRoutes(c.database),
    ...alertRoutes(c.alerts),
    ...systemRoutes(c.system),
    ...taskRoutes(c.tasks),
    ...imageRoutes(c.catalogue),
    ...answerFileRoutes(c.answers),
    ...runRoutes(c.runs),
    ...networkRoutes(c.preflight),
    ...scheduleRoutes(c.schedules),
    ...clientTaskRoutes(c.tasks),
    ...clientRoutes(c.protocol),
    ...driverRoutes(c.drivers),
    ...softwareRoutes(c.software, c.assignments),
    ...recipeRoutes(c.software),
    ...assignmentRoutes(c.assignments),
    ...bootRoutes(c.boot, c.hello, c.registration, { clientDir: c.config.clientDir, base, helloActions: c.tasks.kinds.helloActions() }),
  ];
}

const probe = (c: Container, version: string) => new HealthProbe({ database: c.database, redis: c.redis, version, roles: c.config.roles, clientDir: c.config.clientDir, tftpRoot: c.config.tftp.root });

export function createApp(c: Container, version: string, listeningPort?: () => number): { app: express.Express; routes: AnyRoute[]; close: () => Promise<void> } {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', c.config.trustProxy);
  app.set('etag', false);
  app.use(securityHeaders());
  app.use(requestLog(c.log));

  const health = probe(c, version);
  void missingClientFiles(c.config.clientDir).then((missing) => {
    if (missing.length) c.log.warn({ clientDir: c.config.clientDir, missing }, missingClientAdvice(c.config.clientDir, missing));
  });
  try {
    findTemplateDir();
  } catch (err) {
    c.log.error({ err: (err as Error).message }, 'iPXE templates missing: GET /boot/ipxe will fail until services/boot/http/templates ships next to the code');
  }
  const routes = allRoutes(c, health, version, listeningPort);
  if (scriptBase(c.config.publicUrl, c.config.bootIp, 1) === null) {
    c.log.warn('neither ROOMCAST_BOOT_IP nor an http:// ROOMCAST_PUBLIC_URL is set: iPXE scripts cannot tell PCs where to load the roomcast client, so every PC boots its local disk');
  }

  // JSON bodies up to 1 MB for every API route, except raw-upload routes: they read their own body
  // (with their own limit: a capture manifest may be tens of MB) after their access check.
  const json = express.json({ limit: '1mb', type: ['application/json', 'application/*+json'] });
  const ownBody = routes.filter((r) => r.rawBody).map((r) => ({ method: r.method.toUpperCase(), path: pathMatcher(r.path) }));
  app.use('/api', (req, res, next) => {
    const p = req.originalUrl.split('?')[0]!;
    if (ownBody.some((o) => o.method === req.method && o.path.test(p))) next();
    else json(req, res, next);
  });

  // The built web UI, when there is one (else GET / is home.ts's short page).
  const webDir = findWebDir(c.config.webDir);
  if (webDir) app.use(webUi(webDir));
  else c.log.info('no built web UI (web/dist/index.html): run npm run build; GET / shows a short page meanwhile');

  const bucket = new KeyedTokenBucket(MACHINE_RATE.perSecond, MACHINE_RATE.burst, 10_000);
  const chunkBucket = new KeyedTokenBucket(CHUNK_RATE.perSecond, CHUNK_RATE.burst, 10_000);
  const router = express.Router();
  for (const route of routes) {
    mountRoute(router, route, {
      accounts: c.accounts,
      verifyMachineToken: (token, ip) => c.tokens.authenticate(token, ip),
      takeMachineToken: (key) => (CHUNK_ROUTE_KEY.test(key) ? chunkBucket : bucket).take(key),
    });
  }
  app.use(router);
  app.use('/api', (req, _res, next) => next(new AppError(404, 'not_found', `no API route ${req.method} ${req.originalUrl.split('?')[0]}`)));
  app.use('/boot', (req, _res, next) => next(new AppError(404, 'not_found', `no boot route ${req.method} ${req.originalUrl.split('?')[0]} (firmware routes are GET only)`)));
  app.use(problemHandler(c.log));
  return { app, routes, close: () => health.close() };
}

/** Every route, declared by the real services over an inert container (the OpenAPI document, the route tests). */
export function describeRoutes(opts: BuildOptions = {}): AnyRoute[] {
  const c = inertContainer(opts);
  const routes = allRoutes(c, probe(c, '0'));
  // The declarations are all that is needed: their handlers are never called.
  void c.close();
  return routes;
}
