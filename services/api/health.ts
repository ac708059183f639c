// GET /api/health: open to anyone (load balancers, Docker); says whether the database and Redis answer.
import { z } from 'zod';
import type { Database } from '../core/db/index.js';
import type { RedisHandle } from '../core/redis.js';
import { CLIENT_FILES, missingClientAdvice, missingClientFiles } from '../boot/http/client-files.js';
import { IPXE_FILES, ipxeStatus } from '../boot/tftp/ipxe-files.js';
import { openQueue, QUEUES } from '../jobs/queues.js';
import { defineRoute, type AnyRoute } from '../core/route.js';

const Check = z.object({ status: z.enum(['up', 'down']), detail: z.string().optional(), ms: z.number() });
export const HealthSchema = z
  .object({
    status: z.enum(['ok', 'degraded']),
    version: z.string(),
    roles: z.array(z.string()),
    database: Check.extend({ dialect: z.string() }),
    redis: Check.extend({ embedded: z.boolean() }),
    workers: z.number().int().describe('BullMQ workers connected to Redis'),
    bootClient: z
      .object({ status: z.enum(['complete', 'incomplete']), missing: z.array(z.enum(CLIENT_FILES)), detail: z.string().optional() })
      .describe('the files PCs load over HTTP (vmlinuz, initrd.img, imaging.img); does not change status'),
    ipxe: z
      .object({
        status: z.enum(['complete', 'incomplete']),
        root: z.string().describe('the TFTP root they are served from'),
        files: z.array(z.object({ name: z.enum(IPXE_FILES as [string, ...string[]]), state: z.enum(['ok', 'missing', 'mismatch']).describe('mismatch: not the file images/ipxe/SHA256SUMS pins') })),
        detail: z.string().optional(),
      })
      .describe('the iPXE binaries PXE firmware loads over TFTP, checked against their pinned SHA-256; does not change status'),
  })
  .meta({ id: 'Health' });

async function timed(fn: () => Promise<unknown>, timeoutMs = 2000) {
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([fn(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)))]);
    return { status: 'up' as const, ms: Math.round(performance.now() - start) };
  } catch (err) {
    return { status: 'down' as const, detail: err instanceof Error ? err.message : String(err), ms: Math.round(performance.now() - start) };
  } finally {
    clearTimeout(timer);
  }
}

export type Health = z.infer<typeof HealthSchema>;

/** Pings the database and Redis; keeps one Redis client that reconnects by itself after a Redis restart. */
export class HealthProbe {
  private client: ReturnType<RedisHandle['createClient']> | undefined;
  private queue: ReturnType<typeof openQueue> | undefined;

  constructor(private readonly deps: { database: Database; redis: RedisHandle; version: string; roles: string[]; clientDir: string; tftpRoot: string }) {}

  async check(): Promise<Health> {
    if (!this.client || !this.queue) {
      this.client = this.deps.redis.createClient({ maxRetriesPerRequest: 1 });
      this.client.on('error', () => {});
      this.queue = openQueue(this.deps.redis, QUEUES.housekeeping);
      this.queue.on('error', () => {});
    }
    const client = this.client;
    const [database, redis, missing, ipxe] = await Promise.all([timed(() => this.deps.database.ping()), timed(() => client.ping()), missingClientFiles(this.deps.clientDir), ipxeStatus(this.deps.tftpRoot)]);
    const workers = redis.status === 'up' ? (await this.queue.getWorkers().catch(() => [])).length : 0;
    const ok = database.status === 'up' && redis.status === 'up';
    return {
      status: ok ? 'ok' : 'degraded',
      version: this.deps.version,
      roles: this.deps.roles,
      database: { ...database, dialect: this.deps.database.dialect },
      redis: { ...redis, embedded: this.deps.redis.embedded },
      workers,
      bootClient: missing.length ? { status: 'incomplete', missing, detail: missingClientAdvice(this.deps.clientDir, missing) } : { status: 'complete', missing },
      ipxe,
    };
  }

  async close(): Promise<void> {
    await this.queue?.close().catch(() => {});
    this.client?.disconnect();
  }
}

export function healthRoutes(probe: Pick<HealthProbe, 'check'>): AnyRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/api/health',
      summary: 'Database and Redis state (HTTP 503 when one is down)',
      tag: 'system',
      access: 'public',
      response: HealthSchema,
      handler: async ({ res }) => {
        const health = await probe.check();
        res.status(health.status === 'ok' ? 200 : 503);
        return health;
      },
    }),
  ];
}
