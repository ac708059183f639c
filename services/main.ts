// Starts the roles named in ROOMCAST_ROLES (default api,boot,worker in one process). Wiring only: the
// services come from the composition root (container.ts).
import fs from 'node:fs';
import type { Server } from 'node:http';
import { createApp } from './api/app.js';
import { attachLive } from './api/live.js';
import { startBootRole } from './boot/role.js';
import { openContainer, type BuildOptions, type Container } from './container.js';
import { ConfigError, loadConfig, type Config } from './core/config.js';
import { createLogger, type Logger } from './core/logger.js';
import { RedisUnavailableError, urlRedis } from './core/redis.js';
import { BootPolicyPublisher } from './boot/http/policy-publisher.js';
import { readVersion } from './core/version.js';
import { startWorkerRole } from './jobs/worker.js';

type Stopper = { name: string; stop: () => Promise<void> };

export interface Running {
  stop: () => Promise<void>;
  port?: number;
  /** The services of the api and worker roles (absent in a boot-only process). */
  container?: Container;
}

/** `opts.kinds`: task kinds beyond the built-in ones (a test's). */
export async function start(config: Config, log: Logger, opts: BuildOptions = {}): Promise<Running> {
  const stoppers: Stopper[] = [];
  const stopAll = async () => {
    for (const s of stoppers.reverse()) {
      try {
        await s.stop();
      } catch (err) {
        log.warn({ err: (err as Error).message, part: s.name }, 'error while stopping');
      }
    }
  };
  try {
    const version = readVersion();
    const roles = new Set(config.roles);
    log.info({ version, roles: config.roles }, 'roomcast starting');
    let container: Container | undefined;
    if (roles.has('api') || roles.has('worker')) {
      const c = (container = await openContainer(config, log, opts));
      stoppers.push({ name: 'services', stop: () => c.close() });
    }

    let port: number | undefined;
    if (roles.has('api')) {
      const first = await container!.accounts.bootstrapAdmin(config.adminPassword);
      if (first.generatedPassword) {
        // Printed once, on purpose: the only way in on a fresh appliance. It must be changed at first login.
        log.warn(`first start: created user "admin" with the one-time password ${first.generatedPassword} (log in and change it now; it is not shown again)`);
      } else if (first.created) {
        log.info('first start: created user "admin" with the password from ROOMCAST_ADMIN_PASSWORD');
      }
      const c = container!;
      let listening = config.http.port;
      const { app, close: closeApp } = createApp(c, version, () => listening);
      stoppers.push({ name: 'api', stop: closeApp });
      // The proxyDHCP's view of which PCs to answer, kept fresh in Redis (boot/policy/snapshot.ts).
      const publisher = new BootPolicyPublisher(c.redis, c.hosts, c.registration, c.events, log.child({ role: 'api' }));
      await publisher.start();
      stoppers.push({ name: 'boot policy', stop: () => publisher.stop() });
      const server: Server = await new Promise((resolve, reject) => {
        const s = app.listen(config.http.port, config.http.host, () => resolve(s));
        s.once('error', reject);
      });
      server.keepAliveTimeout = 65_000;
      const address = server.address();
      port = typeof address === 'object' && address ? address.port : config.http.port;
      listening = port;
      stoppers.push({
        name: 'http',
        stop: () =>
          new Promise<void>((resolve) => {
            // A request in flight ends, then its connection goes at once rather than after the 65 s
            // keep-alive; one still busy after 10 s is cut (a stop must not outlast `docker stop`).
            const idle = setInterval(() => server.closeIdleConnections(), 200);
            const cut = setTimeout(() => server.closeAllConnections(), 10_000);
            server.close(() => {
              clearInterval(idle);
              clearTimeout(cut);
              resolve();
            });
            server.closeIdleConnections();
          }),
      });
      const found = (p: Promise<unknown>) => p.then(() => true, (err: { status?: number }) => (err?.status === 404 ? false : Promise.reject(err)));
      const exists = (kind: 'room' | 'run' | 'host', id: number) => found(kind === 'room' ? c.inventory.assertRoomExists(id) : kind === 'run' ? c.runs.view(id) : c.inventory.getHost(id));
      const live = attachLive(server, { accounts: c.accounts, events: c.events, runs: c.runs, log: log.child({ role: 'api' }), exists });
      stoppers.push({ name: 'live events', stop: () => live.close() });
      log.info({ host: config.http.host, port }, `api listening on http://${config.http.host}:${port}`);
    }
    if (roles.has('worker')) {
      const worker = await startWorkerRole(container!);
      stoppers.push({ name: 'worker', stop: () => worker.stop() });
    }
    if (roles.has('boot')) {
      const proxyDhcp = config.proxyDhcp && config.bootIp ? { bootIp: config.bootIp, httpPort: config.bootHttpPort ?? config.http.port, secureBoot: config.secureBoot } : undefined;
      // The boot policy snapshot: through this process's Redis, or the configured one in a boot-only process.
      const redis = container?.redis ?? (config.redis.kind === 'url' ? urlRedis(config.redis.url, config.redis.prefix) : undefined);
      if (redis && !container) stoppers.push({ name: 'boot redis', stop: () => redis.stop() });
      const boot = await startBootRole({ apiUrl: config.apiUrl, tftp: config.tftp, proxyDhcp, redis, preflight: { querierListenMs: config.preflightQuerierMs }, log });
      stoppers.push({ name: 'boot', stop: () => boot.stop() });
    }
    log.info('roomcast started');
    return { stop: stopAll, port, container };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`roomcast: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  let running: Awaited<ReturnType<typeof start>>;
  try {
    running = await start(config, log);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof RedisUnavailableError) log.fatal(`cannot start: ${message}`);
    else log.fatal({ err }, `cannot start: ${message}`);
    process.exitCode = 1;
    return;
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'roomcast stopping');
    const force = setTimeout(() => process.exit(1), 20_000);
    force.unref();
    void running.stop().then(() => {
      log.info('roomcast stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

const isEntryPoint = process.argv[1] && import.meta.url === new URL(`file://${fs.realpathSync(process.argv[1])}`).href;
if (isEntryPoint) void main();
