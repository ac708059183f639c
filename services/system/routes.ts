// GET /api/v1/system/containers: the stack's containers, for admins.
import { z } from 'zod';
import { decimal, defineRoute, type AnyRoute } from '../core/route.js';
import type { SystemService } from './docker.js';

const ContainerSchema = z.object({
  id: z.string(),
  name: z.string(),
  service: z.string().nullable(),
  image: z.string(),
  state: z.string(),
  status: z.string(),
  health: z.enum(['healthy', 'unhealthy', 'starting', 'none']),
  restarts: z.number().int(),
  startedAt: z.string().nullable(),
  logs: z.array(z.string()),
});

const ContainersReportSchema = z
  .union([
    z.object({ available: z.literal(true), project: z.string().nullable(), containers: z.array(ContainerSchema) }),
    z.object({ available: z.literal(false), reason: z.string() }),
  ])
  .meta({ id: 'ContainersReport' });

export function systemRoutes(system: SystemService): AnyRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/api/v1/system/containers',
      summary: 'The appliance’s containers: state, health, restarts and recent log lines (read-only, through the Docker socket proxy)',
      tag: 'system',
      access: 'admin',
      query: z.object({ logs: decimal('logs', 0, 200).default(20) }),
      response: ContainersReportSchema,
      handler: ({ query }) => system.containers({ logLines: query.logs }),
    }),
  ];
}
