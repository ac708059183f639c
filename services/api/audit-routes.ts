// GET /api/v1/audit: who changed what, newest first.
import { z } from 'zod';
import { listAudit } from '../core/audit.js';
import type { Database } from '../core/db/index.js';
import { decimal, defineRoute, type AnyRoute } from '../core/route.js';

const AuditSchema = z
  .object({
    id: z.number().int(),
    at: z.string(),
    userId: z.number().int().nullable(),
    actor: z.string(),
    action: z.string(),
    targetType: z.string().nullable(),
    targetId: z.string().nullable(),
    details: z.record(z.string(), z.unknown()).nullable(),
    ip: z.string().nullable(),
  })
  .meta({ id: 'AuditEntry' });

export function auditRoutes(database: Database): AnyRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/api/v1/audit',
      summary: 'The audit log, newest first; page with ?before=<id>',
      tag: 'system',
      access: 'admin',
      query: z.object({
        limit: decimal('limit', 1, 1000).default(100),
        before: decimal('before', 1).optional(),
        action: z.string().max(64).optional(),
        targetType: z.string().max(64).optional(),
      }),
      response: z.array(AuditSchema),
      handler: ({ query }) => listAudit(database.db, { limit: query.limit, beforeId: query.before, action: query.action, targetType: query.targetType }),
    }),
  ];
}
