// GET /api/health: open to anyone (load balancers, Docker); says whether the database and Redis answer.
import { z } from 'zod';
import type { Database } from '../core/db/index.js';
import type { RedisHandle } from '../core/redis.js';
import { openQueue, QUEUES } from '../jobs/queues.js';
import { defineRoute, type AnyRoute } from './route.js';

const Check = z.object({ status: z.enum(['up', 'down']), detail: z.string().optional(), ms: z.number() });
export const HealthSchema = z
  .object({
    status: z.enum(['ok', 'degraded']),
    version: z.string(),
    roles: z.array(z.string()),
    database: Check.extend({ dialect: z.string() }),
    redis: Check.extend({ embedded: z.boolean() }),
    workers: z.number().int().describe('BullMQ workers connected to Redis'),
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

export function healthRoutes(deps: { database: Database; redis: RedisHandle; version: string; roles: string[] }): AnyRoute[] {
  // One long-lived client for pings; it reconnects by itself after a Redis restart.
  let client: ReturnType<RedisHandle['createClient']> | undefined;
  let queue: ReturnType<typeof openQueue> | undefined;
  return [
    defineRoute({
      method: 'get',
      path: '/api/health',
      summary: 'Database and Redis state (HTTP 503 when one is down)',
      tag: 'system',
      access: 'public',
      response: HealthSchema,
      handler: async ({ res }) => {
        if (!client || !queue) {
          client = deps.redis.createClient({ maxRetriesPerRequest: 1 });
          client.on('error', () => {});
          queue = openQueue(deps.redis, QUEUES.housekeeping);
          queue.on('error', () => {});
        }
        const [database, redis] = await Promise.all([timed(() => deps.database.ping()), timed(() => client!.ping())]);
        let workers = 0;
        if (redis.status === 'up') workers = (await queue.getWorkers().catch(() => [])).length;
        const ok = database.status === 'up' && redis.status === 'up';
        res.status(ok ? 200 : 503);
        return { status: ok ? 'ok' : 'degraded', version: deps.version, roles: deps.roles, database: { ...database, dialect: deps.database.dialect }, redis: { ...redis, embedded: deps.redis.embedded }, workers };
      },
    }),
  ];
}
