// REST routes for alerts: list what needs a person's attention, acknowledge it.
import { z } from 'zod';
import { decimal, defineRoute, idParam, type AnyRoute } from '../core/route.js';
import type { AlertService } from './service.js';

const AlertSchema = z
  .object({
    id: z.number().int(),
    kind: z.string().describe('e.g. boot.token_elsewhere, boot.claim_refused, boot.identity_mismatch'),
    severity: z.enum(['warning', 'critical']),
    hostId: z.number().int().nullable(),
    host: z.string().nullable(),
    taskId: z.number().int().nullable(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).nullable(),
    count: z.number().int().describe('how many times it happened while open'),
    firstAt: z.string(),
    lastAt: z.string(),
    acknowledgedAt: z.string().nullable(),
    acknowledgedBy: z.string().nullable(),
  })
  .meta({ id: 'Alert' });

export function alertRoutes(alerts: AlertService): AnyRoute[] {
  return [
    defineRoute({
      method: 'get', path: '/api/v1/alerts', tag: 'alerts', access: 'viewer',
      summary: 'Alerts, newest first (?open=true: not acknowledged yet; ?hostId= one PC)',
      query: z.object({ open: z.enum(['true', 'false']).optional(), hostId: decimal('hostId', 1).optional(), limit: decimal('limit', 1, 1000).optional() }),
      response: z.array(AlertSchema),
      handler: ({ query }) => alerts.list({ open: query.open === 'true', hostId: query.hostId, limit: query.limit }),
    }),
    defineRoute({
      method: 'post', path: '/api/v1/alerts/:id/ack', tag: 'alerts', access: 'technician',
      summary: 'Acknowledge an alert (it leaves the open list; a new occurrence opens a new one)',
      params: idParam, response: AlertSchema, errors: { 404: 'not_found', 409: 'alert_acknowledged' },
      handler: ({ auth, params }) => alerts.acknowledge(auth!.actor, params.id),
    }),
  ];
}
