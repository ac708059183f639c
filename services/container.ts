// The composition root: the one place where roomcast's services are built and wired, from the config.
// The api (services/api/app.ts), the worker (services/jobs/worker.ts), the command line
// (services/imaging/cli.ts) and the OpenAPI generator all get their services here; nothing else
// constructs a service. The boot role needs none: it asks the api (services/boot/role.ts).
//
//   buildServices()   pure wiring: no I/O until a service is used
//   openContainer()   opens the database (migrated), Redis and the event relay, then builds the services
//   inertContainer()  an in-memory database and a Redis handle that never connects: enough to declare
//                     the routes (OpenAPI, route tests) with the real services and nothing faked
import { AppError } from './core/errors.js';
import { loadSecretKey } from './core/crypto.js';
import fs from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { AccountService } from './accounts/service.js';
import { AlertRepository } from './alerts/repository.js';
import { AlertService } from './alerts/service.js';
import { BootService } from './boot/http/service.js';
import { HelloService } from './boot/http/hello.js';
import { RegistrationWindow } from './boot/http/registration.js';
import { ipxeRenderer } from './boot/http/render.js';
import { BootTokens } from './boot/http/tokens.js';
import { loadConfig, type Config } from './core/config.js';
import { migrateToLatest, openDatabase, type Database } from './core/db/index.js';
import { EventBus, RedisEventRelay } from './core/events.js';
import type { Logger } from './core/logger.js';
import { startRedis, urlRedis, type RedisHandle } from './core/redis.js';
import { PreflightRequests } from './network/requests.js';
import { SettingsStore } from './core/settings.js';
import { AnswerFiles } from './imaging/answer-files.js';
import { DriverPackService } from './drivers/service.js';
import { AssignmentService } from './software/assignments.js';
import { SoftwareStore } from './software/store.js';
import { ImageCatalogue } from './imaging/catalogue.js';
import { ImageDamage } from './imaging/damage.js';
import { captureKind, restoreKind } from './imaging/kinds.js';
import { ChunkIntake } from './imaging/intake.js';
import { StoreMaintenance } from './imaging/maintenance.js';
import { MachineProtocol } from './imaging/protocol.js';
import { ImageRepository } from './imaging/repository.js';
import { ImageStore } from './imaging/store.js';
import { HostRepository } from './inventory/hosts.js';
import { HostImporter } from './inventory/import.js';
import { RoomRepository } from './inventory/rooms.js';
import { InventoryService } from './inventory/service.js';
import { RunRepository } from './runs/repository.js';
import { MULTICAST_UNSET, RunService } from './runs/service.js';
import { ScheduleRepository } from './schedules/repository.js';
import { ScheduleService } from './schedules/service.js';
import { SystemService } from './system/docker.js';
import { inventoryKind, TaskKindRegistry, type TaskKindDef } from './tasks/kinds.js';
import { TaskRepository } from './tasks/repository.js';
import { TaskService } from './tasks/service.js';

export interface Services {
  events: EventBus;
  settings: SettingsStore;
  accounts: AccountService;
  hosts: HostRepository;
  inventory: InventoryService;
  importer: HostImporter;
  tasks: TaskService;
  registration: RegistrationWindow;
  tokens: BootTokens;
  alerts: AlertService;
  boot: BootService;
  hello: HelloService;
  images: ImageRepository;
  store: ImageStore;
  maintenance: StoreMaintenance;
  damage: ImageDamage;
  catalogue: ImageCatalogue;
  answers: AnswerFiles;
  protocol: MachineProtocol;
  runs: RunService;
  schedules: ScheduleService;
  system: SystemService;
  drivers: DriverPackService;
  software: SoftwareStore;
  assignments: AssignmentService;
}

export interface Container extends Services {
  config: Config;
  log: Logger;
  database: Database;
  redis: RedisHandle;
  /** The api's way to the worker's network pre-flight (POST /api/v1/network/preflight). */
  preflight: PreflightRequests;
  /** Stops the relay, Redis clients and the database, in that order. */
  close(): Promise<void>;
}

export interface BuildOptions {
  /** Task kinds beyond the built-in ones (a later domain's, or a test's). */
  kinds?: Array<TaskKindDef<never>>;
}

/** Wires every service; touches nothing (database, disk, network) until a service is used. */
export function buildServices(config: Config, log: Logger, database: Database, opts: BuildOptions = {}): Services {
  const db = database.db;
  const events = new EventBus(log.child({ part: 'events' }));
  const settings = new SettingsStore(db);
  const hosts = new HostRepository(db);
  const rooms = new RoomRepository(db);
  const images = new ImageRepository(db);
  const kinds = new TaskKindRegistry([inventoryKind, captureKind(images), restoreKind(images, async (id, db) => (await hosts.view(id, db))?.name ?? null), ...(opts.kinds ?? [])] as Array<TaskKindDef<never>>);
  const tasks = new TaskService(db, new TaskRepository(db), kinds, hosts, events);
  const registration = new RegistrationWindow(db, settings, events);
  const alerts = new AlertService(db, new AlertRepository(db), events);
  // A genuine boot token used from another address than its own: refused, and shown to a person.
  const tokens = new BootTokens(settings, async (claims, usedFrom) => {
    const actor = { userId: null, name: `machine:${claims.mac}`, ip: usedFrom };
    const message = `the boot token of ${claims.mac}${claims.taskId ? ` (task ${claims.taskId})` : ''}, issued to ${claims.ip}, was used from ${usedFrom ?? 'an unknown address'}: refused. Someone on the network may have copied it.`;
    await alerts.raise(actor, { kind: 'boot.token_elsewhere', severity: 'critical', hostId: claims.hostId ?? null, taskId: claims.taskId ?? null, message, details: { issuedTo: claims.ip, usedFrom, purpose: claims.purpose } });
  });
  const store = new ImageStore(db, settings, config.imagesDir);
  const maintenance = new StoreMaintenance(db, store, images, events);
  const damage = new ImageDamage(db, images, store, alerts, events, tasks);
  // The key sealing stored secrets, read (or made) on first use: a process that never touches one never needs it.
  let secretKey: Buffer | undefined;
  const siteKey = () => (secretKey ??= loadSecretKey(config.dataDir, config.secretKey));
  const drivers = new DriverPackService(db, path.join(config.dataDir, 'drivers'), hosts, tasks);
  const software = new SoftwareStore(db, path.join(config.dataDir, 'software'), siteKey);
  const runs = new RunService(db, new RunRepository(db), tasks, hosts, rooms, events, Date.now, config.wol, config.multicast ? null : MULTICAST_UNSET, {
    linkRate: config.bandwidth.linkBitsPerSecond === null ? null : config.bandwidth.linkBitsPerSecond / 8,
    multicastCap: config.bandwidth.multicastCapBitsPerSecond === null ? null : config.bandwidth.multicastCapBitsPerSecond / 8,
  });
  return {
    events,
    settings,
    accounts: new AccountService(db, { sessionHours: config.sessionHours }, log),
    hosts,
    // A room's image version is checked as a restore would check it (a null version: the image must exist).
    inventory: new InventoryService(db, rooms, hosts, events, async (trx, imageId, version) => {
      try {
        await kinds.get('restore').resolve(trx, { imageId, ...(version !== null ? { version } : {}) });
      } catch (err) {
        if (!(version === null && err instanceof AppError && err.code === 'no_ready_version')) throw err;
      }
    }),
    importer: new HostImporter(db, rooms, hosts, events),
    tasks,
    registration,
    tokens,
    alerts,
    boot: new BootService(hosts, tokens, registration, tasks, ipxeRenderer(), (taskId) => runs.scriptFetched(taskId)),
    hello: new HelloService(db, tasks, hosts, registration, tokens, events, alerts),
    images,
    store,
    maintenance,
    damage,
    catalogue: new ImageCatalogue(db, images, maintenance, tasks, events, damage),
    answers: new AnswerFiles(
      db,
      tasks,
      async (id, db) => (await hosts.view(id, db))?.name ?? null,
      siteKey,
      async (hostId) => (await drivers.matchHost(hostId)).pack !== null,
    ),
    protocol: new MachineProtocol(db, store, images, tasks, events, maintenance, damage, new ChunkIntake(store)),
    runs,
    schedules: new ScheduleService(db, new ScheduleRepository(db), rooms, runs, tasks, events),
    system: new SystemService(config.dockerUrl),
    drivers,
    software,
    assignments: new AssignmentService(db, software),
  };
}

export interface OpenOptions extends BuildOptions {
  /** Relay events to and from the other roomcast processes through Redis (default true). */
  relay?: boolean;
  /** Migrate the database to the latest schema first (default true). */
  migrate?: boolean;
}

/** Opens what the services need (database, Redis, event relay) and builds them. */
export async function openContainer(config: Config, log: Logger, opts: OpenOptions = {}): Promise<Container> {
  fs.mkdirSync(config.dataDir, { recursive: true });
  const database = openDatabase(config.database);
  let redis: RedisHandle | undefined;
  let relay: RedisEventRelay | undefined;
  try {
    if (opts.migrate !== false) await migrateToLatest(database, log);
    log.info({ database: database.describe }, 'database ready');
    redis = await startRedis(config, log);
    log.info({ redis: redis.describe }, 'redis ready');
    const services = buildServices(config, log, database, opts);
    if (opts.relay !== false) {
      relay = new RedisEventRelay(services.events, redis, log.child({ part: 'events' }));
      await relay.start();
    }
    const r = redis;
    const preflight = new PreflightRequests(r);
    return {
      ...services,
      config,
      log,
      database,
      redis: r,
      preflight,
      close: async () => {
        await services.protocol.intake.close();
        await preflight.close();
        await relay?.stop();
        await r.stop();
        await database.close();
      },
    };
  } catch (err) {
    await relay?.stop().catch(() => {});
    await redis?.stop().catch(() => {});
    await database.close().catch(() => {});
    throw err;
  }
}

/**
 * The real services over an in-memory database and a Redis handle that never connects: enough to
 * declare every route (the OpenAPI document, the route tests). Nothing in it is called.
 */
export function inertContainer(opts: BuildOptions = {}): Container {
  const config = loadConfig({ ROOMCAST_DATA_DIR: '/nonexistent/roomcast', ROOMCAST_CLIENT_DIR: '/nonexistent/client', ROOMCAST_REDIS_URL: 'redis://127.0.0.1:1', ROOMCAST_ROLES: 'api' });
  const log = pino({ level: 'silent' });
  const database = openDatabase({ kind: 'sqlite', file: ':memory:' });
  const redis = urlRedis('redis://127.0.0.1:1', config.redis.prefix);
  return { ...buildServices(config, log, database, opts), config, log, database, redis, preflight: new PreflightRequests(redis), close: () => database.close() };
}
