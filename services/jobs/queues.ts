// Queue names and the jobs each carries. Later issues add the room pipeline here.
import { Queue } from 'bullmq';
import type { RedisHandle } from '../core/redis.js';

export const QUEUES = {
  housekeeping: 'housekeeping',
  /** The network pre-flight's probes (network/probes.ts): consumed by the boot role only. */
  networkProbes: 'network-probes',
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

export const HOUSEKEEPING_JOBS = {
  purgeSessions: 'purge-expired-sessions',
  /** The on-demand network pre-flight (network/requests.ts), run where the PCs' network is. */
  networkPreflight: 'network-preflight',
} as const;

export function openQueue(redis: RedisHandle, name: QueueName): Queue {
  return new Queue(name, { connection: redis.createClient(), prefix: redis.prefix });
}
