// Redis for BullMQ: the configured URL, or (all-in-one start) a private redis-server on a unix socket
// in the data directory, with AOF on and noeviction, stopped when roomcast stops.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { redactUrl } from './url.js';

export interface RedisHandle {
  /** Where Redis is, without credentials. */
  describe: string;
  embedded: boolean;
  /** Key prefix of every queue (tests use a random one so runs never collide). */
  prefix: string;
  /** A new client; BullMQ needs `maxRetriesPerRequest: null`, which is the default here.
   * BullMQ never closes a client it was given, so `stop()` disconnects every client made here. */
  createClient(extra?: RedisOptions): Redis;
  stop(): Promise<void>;
}

export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError';
}

const BASE_OPTIONS: RedisOptions = { maxRetriesPerRequest: null, enableReadyCheck: true };

/** Remembers the clients a handle made, so that stopping the handle disconnects them all. */
function tracked(make: (extra?: RedisOptions) => Redis) {
  const clients = new Set<Redis>();
  return {
    createClient: (extra?: RedisOptions) => {
      const c = make(extra);
      clients.add(c);
      c.once('end', () => clients.delete(c));
      return c;
    },
    disconnectAll: () => {
      for (const c of clients) c.disconnect();
      clients.clear();
    },
  };
}

export async function startRedis(cfg: Config, log: Logger): Promise<RedisHandle> {
  if (cfg.redis.kind === 'url') return urlRedis(cfg.redis.url, cfg.redis.prefix);
  return startEmbeddedRedis(cfg.redis.binary, path.join(cfg.dataDir, 'redis'), cfg.redis.prefix, log);
}

/** A handle on a Redis server at `url`; it connects only when a client is made. */
export function urlRedis(url: string, prefix: string): RedisHandle {
  const clients = tracked((extra) => new Redis(url, { ...BASE_OPTIONS, ...extra }));
  return {
    describe: redactUrl(url),
    embedded: false,
    prefix,
    createClient: clients.createClient,
    stop: async () => clients.disconnectAll(),
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopStaleServer(pidFile: string, log: Logger): Promise<void> {
  let pid: number;
  try {
    pid = Number.parseInt(fs.readFileSync(pidFile, 'utf8'), 10);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 1 || !isAlive(pid)) return;
  let cmdline = '';
  try {
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    /* not Linux, or gone */
  }
  if (!cmdline.includes('redis-server')) return;
  // A previous roomcast died without stopping its redis-server (kill -9): stop it cleanly (AOF is flushed).
  log.warn({ pid }, 'stopping a redis-server left running by a previous roomcast');
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(100);
}

async function startEmbeddedRedis(binary: string, dir: string, prefix: string, log: Logger): Promise<RedisHandle> {
  const probe = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new RedisUnavailableError(
      `no usable redis-server ("${binary}": ${probe.error?.message ?? probe.stderr?.trim() ?? 'failed'}); ` +
        'install it (Debian: apt-get install redis-server) or set ROOMCAST_REDIS_URL=redis://host:6379 to use an existing Redis',
    );
  }
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const socket = path.join(dir, 'redis.sock');
  if (Buffer.byteLength(socket) > 100) {
    throw new RedisUnavailableError(
      `the data directory path is too long for a unix socket (${socket}); use a shorter ROOMCAST_DATA_DIR or set ROOMCAST_REDIS_URL`,
    );
  }
  const pidFile = path.join(dir, 'redis.pid');
  await stopStaleServer(pidFile, log);
  fs.rmSync(socket, { force: true });

  const args = [
    '--port', '0',
    '--unixsocket', socket,
    '--unixsocketperm', '700',
    '--dir', dir,
    '--pidfile', pidFile,
    '--appendonly', 'yes',
    '--appendfsync', 'everysec',
    '--save', '',
    '--maxmemory-policy', 'noeviction',
    '--daemonize', 'no',
    '--logfile', '',
  ];
  const child: ChildProcess = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const keep = (b: Buffer) => {
    output.push(b.toString());
    if (output.length > 50) output.shift();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited = false;
  let stopping = false;
  child.on('exit', (code, signal) => {
    exited = true;
    if (!stopping) log.error({ code, signal, output: output.join('').slice(-2000) }, 'embedded redis-server exited');
  });

  const options: RedisOptions = { ...BASE_OPTIONS, path: socket };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (exited) {
      throw new RedisUnavailableError(`embedded redis-server failed to start: ${output.join('').trim().split('\n').slice(-3).join(' | ')}`);
    }
    if (fs.existsSync(socket)) {
      const client = new Redis({ ...options, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
      try {
        await client.connect();
        // AOF loading answers -LOADING; wait for a real PONG.
        if ((await client.ping()) === 'PONG') {
          client.disconnect();
          break;
        }
      } catch {
        /* not ready yet */
      }
      client.disconnect();
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new RedisUnavailableError('embedded redis-server did not answer within 15 s');
    }
    await sleep(50);
  }
  log.info({ socket, pid: child.pid }, 'embedded redis-server started (AOF on, noeviction)');

  const clients = tracked((extra) => new Redis({ ...options, ...extra }));
  return {
    describe: `unix:${socket}`,
    embedded: true,
    prefix,
    createClient: clients.createClient,
    stop: async () => {
      clients.disconnectAll();
      if (exited) return;
      stopping = true;
      const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(timer);
      log.info('embedded redis-server stopped');
    },
  };
}
