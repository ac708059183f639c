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
import { HostImporter } from '../inventory/import.js';
import { inventoryRoutes } from '../inventory/routes.js';
import { InventoryService } from '../inventory/service.js';
import { SystemService } from '../system/docker.js';
import { systemRoutes } from '../system/routes.js';
import { auditRoutes } from './audit-routes.js';
import { HealthProbe, healthRoutes } from './health.js';
import { authenticate, mountRoute, problemHandler, requestLog, securityHeaders } from './http.js';
import type { AnyRoute } from './route.js';

export interface ApiDeps {
  config: Pick<Config, 'secureCookies' | 'sessionHours' | 'trustProxy' | 'roles' | 'dockerUrl'>;
  database: Database;
  redis: RedisHandle;
  accounts: AccountService;
  log: Logger;
  version: string;
}

export function allRoutes(deps: ApiDeps, health: Pick<HealthProbe, 'check'>): AnyRoute[] {
  const db: Kysely<DB> = deps.database.db;
  return [
    ...healthRoutes(health),
    ...accountRoutes(deps.accounts, new LoginLimiter(), { secureCookies: deps.config.secureCookies, sessionHours: deps.config.sessionHours }),
    ...inventoryRoutes(new InventoryService(db), new HostImporter(db)),
    ...auditRoutes(deps.database),
    ...systemRoutes(new SystemService(deps.config.dockerUrl)),
  ];
}

export function createApp(deps: ApiDeps): { app: express.Express; routes: AnyRoute[]; close: () => Promise<void> } {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.config.trustProxy);
  app.set('etag', false);
  app.use(securityHeaders());
  app.use(requestLog(deps.log));
  app.use('/api', authenticate(deps.accounts));
  app.use('/api', express.json({ limit: '1mb', type: ['application/json', 'application/*+json'] }));

  const health = new HealthProbe({ database: deps.database, redis: deps.redis, version: deps.version, roles: deps.config.roles });
  const routes = allRoutes(deps, health);
  const router = express.Router();
  for (const route of routes) mountRoute(router, route);
  app.use(router);
  app.use('/api', (req, _res, next) => next(new AppError(404, 'not_found', `no API route ${req.method} ${req.originalUrl.split('?')[0]}`)));
  app.use(problemHandler(deps.log));
  return { app, routes, close: () => health.close() };
}

/** Routes with inert dependencies: enough to describe them (OpenAPI, the route-security test). */
export function describeRoutes(): AnyRoute[] {
  const inert = new Proxy({}, { get: () => { throw new Error('describeRoutes() dependencies are not callable'); } });
  return allRoutes({
    config: { secureCookies: false, sessionHours: 12, trustProxy: false, roles: ['api'], dockerUrl: undefined },
    database: { db: inert as Kysely<DB>, dialect: 'sqlite', describe: '', ping: async () => {}, close: async () => {} },
    redis: inert as RedisHandle,
    accounts: inert as AccountService,
    log: inert as Logger,
    version: '0',
  }, inert as HealthProbe);
}
