// The api role's Express application: every route from every domain, mounted through one path.
import express from 'express';
import type { Kysely } from 'kysely';
import { AccountService } from '../accounts/service.js';
import { accountRoutes } from '../accounts/routes.js';
import { LoginLimiter } from '../accounts/rate-limit.js';
import type { Config } from '../core/config.js';
import type { Database, DB } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { RedisHandle } from '../core/redis.js';
import { HelloService } from '../boot/http/hello.js';
import { RegistrationWindow } from '../boot/http/registration.js';
import { findTemplateDir, ipxeRenderer } from '../boot/http/render.js';
import { bootRoutes } from '../boot/http/routes.js';
import { BootService } from '../boot/http/service.js';
import { SettingsStore } from '../boot/http/settings.js';
import { BootTokens } from '../boot/http/tokens.js';
import { KeyedTokenBucket } from '../boot/proxydhcp/ratelimit.js';
import { clientRoutes, imageRoutes } from '../imaging/routes.js';
import { ImagingService } from '../imaging/service.js';
import { ImageStore } from '../imaging/store.js';
import { HostImporter } from '../inventory/import.js';
import { inventoryRoutes } from '../inventory/routes.js';
import { InventoryService } from '../inventory/service.js';
import { SystemService } from '../system/docker.js';
import { systemRoutes } from '../system/routes.js';
import { taskRoutes } from '../tasks/routes.js';
import { TaskService } from '../tasks/service.js';
import { auditRoutes } from './audit-routes.js';
import { missingClientAdvice, missingClientFiles } from '../boot/http/client-files.js';
import { HealthProbe, healthRoutes } from './health.js';
import { mountRoute, problemHandler, requestLog, securityHeaders } from './http.js';
import type { AnyRoute } from './route.js';

export interface ApiDeps {
  config: Pick<Config, 'secureCookies' | 'sessionHours' | 'trustProxy' | 'roles' | 'dockerUrl' | 'clientDir' | 'publicUrl' | 'imagesDir'>;
  database: Database;
  redis: RedisHandle;
  accounts: AccountService;
  log: Logger;
  version: string;
}

/** Anonymous firmware and booted clients: 20 requests a second per route and address, bursts of 50. */
export const MACHINE_RATE = { perSecond: 20, burst: 50 };
/** Chunk uploads and downloads of a booted client (4 MiB each): enough for 10 Gbit/s. */
export const CHUNK_RATE = { perSecond: 400, burst: 800 };
const CHUNK_ROUTE_KEY = / \/api\/v1\/client\/chunks\/:hash\|/;

/** A matcher for the request paths of an Express route path (parameters match one segment). */
const pathMatcher = (p: string) => new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z0-9_]+/g, '[^/]+')}/?$`, 'i');

export function allRoutes(deps: ApiDeps, health: Pick<HealthProbe, 'check'>, tokens = new BootTokens(new SettingsStore(deps.database.db))): AnyRoute[] {
  const db: Kysely<DB> = deps.database.db;
  const tasks = new TaskService(db);
  const registration = new RegistrationWindow(db);
  const imaging = new ImagingService(db, new ImageStore(db, deps.config.imagesDir), tasks);
  return [
    ...healthRoutes(health),
    ...accountRoutes(deps.accounts, new LoginLimiter(), { secureCookies: deps.config.secureCookies, sessionHours: deps.config.sessionHours }),
    ...inventoryRoutes(new InventoryService(db), new HostImporter(db)),
    ...auditRoutes(deps.database),
    ...systemRoutes(new SystemService(deps.config.dockerUrl)),
    ...taskRoutes(tasks),
    ...imageRoutes(imaging),
    ...clientRoutes(imaging),
    ...bootRoutes(new BootService(db, tokens, registration, tasks, ipxeRenderer()), new HelloService(db, tasks, registration, tokens), registration, {
      clientDir: deps.config.clientDir,
      publicUrl: deps.config.publicUrl,
    }),
  ];
}

export function createApp(deps: ApiDeps): { app: express.Express; routes: AnyRoute[]; close: () => Promise<void> } {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.config.trustProxy);
  app.set('etag', false);
  app.use(securityHeaders());
  app.use(requestLog(deps.log));

  const health = new HealthProbe({ database: deps.database, redis: deps.redis, version: deps.version, roles: deps.config.roles, clientDir: deps.config.clientDir });
  void missingClientFiles(deps.config.clientDir).then((missing) => {
    if (missing.length) deps.log.warn({ clientDir: deps.config.clientDir, missing }, missingClientAdvice(deps.config.clientDir, missing));
  });
  try {
    findTemplateDir();
  } catch (err) {
    deps.log.error({ err: (err as Error).message }, 'iPXE templates missing: GET /boot/ipxe will fail until services/boot/http/templates ships next to the code');
  }
  const tokens = new BootTokens(new SettingsStore(deps.database.db));
  const routes = allRoutes(deps, health, tokens);

  // JSON bodies up to 1 MB for every API route, except raw-upload routes: they read their own body
  // (with their own limit: a capture manifest may be tens of MB) after their access check.
  const json = express.json({ limit: '1mb', type: ['application/json', 'application/*+json'] });
  const ownBody = routes.filter((r) => r.rawBody).map((r) => ({ method: r.method.toUpperCase(), path: pathMatcher(r.path) }));
  app.use('/api', (req, res, next) => {
    const p = req.originalUrl.split('?')[0]!;
    if (ownBody.some((o) => o.method === req.method && o.path.test(p))) next();
    else json(req, res, next);
  });

  const bucket = new KeyedTokenBucket(MACHINE_RATE.perSecond, MACHINE_RATE.burst, 10_000);
  const chunkBucket = new KeyedTokenBucket(CHUNK_RATE.perSecond, CHUNK_RATE.burst, 10_000);
  const router = express.Router();
  for (const route of routes) {
    mountRoute(router, route, {
      accounts: deps.accounts,
      verifyMachineToken: (token, ip) => tokens.authenticate(token, ip),
      takeMachineToken: (key) => (CHUNK_ROUTE_KEY.test(key) ? chunkBucket : bucket).take(key),
    });
  }
  app.use(router);
  app.use('/api', (req, _res, next) => next(new AppError(404, 'not_found', `no API route ${req.method} ${req.originalUrl.split('?')[0]}`)));
  app.use('/boot', (req, _res, next) => next(new AppError(404, 'not_found', `no boot route ${req.method} ${req.originalUrl.split('?')[0]} (firmware routes are GET only)`)));
  app.use(problemHandler(deps.log));
  return { app, routes, close: () => health.close() };
}

/** Routes with inert dependencies: enough to describe them (OpenAPI, the route-security test). */
export function describeRoutes(): AnyRoute[] {
  const inert = new Proxy({}, { get: () => { throw new Error('describeRoutes() dependencies are not callable'); } });
  return allRoutes({
    config: { secureCookies: false, sessionHours: 12, trustProxy: false, roles: ['api'], dockerUrl: undefined, clientDir: '/nonexistent', publicUrl: undefined, imagesDir: '/nonexistent' },
    database: { db: inert as Kysely<DB>, dialect: 'sqlite', describe: '', ping: async () => {}, close: async () => {} },
    redis: inert as RedisHandle,
    accounts: inert as AccountService,
    log: inert as Logger,
    version: '0',
  }, inert as HealthProbe);
}
