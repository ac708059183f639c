// POST /api/v1/network/preflight: the network pre-flight on demand (issue 14), run by the worker on the
// PCs' interface (requests.ts): other PXE answerers, an IGMP querier, whether multicast can be used.
import { z } from 'zod';
import { defineRoute, type AnyRoute } from '../core/route.js';
import type { PreflightRequests } from './requests.js';

const Sentence = z.object({ code: z.string(), params: z.record(z.string(), z.union([z.string(), z.number()])), text: z.string().describe('English'), fr: z.string().describe('French') });
const NotChecked = z.object({ outcome: z.literal('not_checked'), reason: Sentence });
const PxeCheck = z.object({
  outcome: z.enum(['found', 'none']),
  answerers: z.array(
    z.object({
      server: z.string(),
      from: z.string(),
      mac: z.string().nullable(),
      bootFile: z.string().nullable(),
      bootMenu: z.array(z.string()),
      nextServer: z.string().nullable(),
      kind: z.enum(['proxy', 'dhcp']).describe('proxy: a proxyDHCP (no address); dhcp: a DHCP server that also gives boot information'),
    }),
  ),
  dhcpServers: z.array(z.string()).describe('DHCP servers that answered with an address and nothing PXE (the Region\'s)'),
  roomcastAnswered: z.boolean(),
  reason: Sentence,
});
const QuerierCheck = z.object({ outcome: z.enum(['present', 'absent']), querier: z.string().nullable(), version: z.string().nullable(), listenedMs: z.number(), reason: Sentence });

const PreflightAnswerSchema = z
  .union([
    z.object({
      available: z.literal(true),
      result: z.object({
        interface: z.string(),
        address: z.string().nullable(),
        at: z.string(),
        verdict: z.enum(['multicast', 'unicast']).describe('unicast: a run would not use multicast on this network (fallback says why)'),
        fallback: Sentence.nullable(),
        warnings: z.array(Sentence).describe('what a person should fix: another PXE server, no IGMP querier, a check that could not run'),
        pxe: z.union([PxeCheck, NotChecked]).nullable(),
        querier: z.union([QuerierCheck, NotChecked]).nullable().describe('null: not known yet (waitQuerier false and no listen finished)'),
      }),
    }),
    z.object({ available: z.literal(false), reason: z.string() }),
  ])
  .meta({ id: 'NetworkPreflight' });

export function networkRoutes(requests: Pick<PreflightRequests, 'run'>): AnyRoute[] {
  return [
    defineRoute({
      method: 'post',
      path: '/api/v1/network/preflight',
      tag: 'network',
      access: 'technician',
      summary: 'Network pre-flight on the PCs\' interface, run now by the worker: other PXE servers answering, an IGMP querier (waits up to a query interval, about 2 min), whether multicast can be used',
      body: z.object({ waitQuerier: z.boolean().default(true).describe('false: answer without waiting for the querier listen (the last known result)') }).default({ waitQuerier: true }),
      response: PreflightAnswerSchema,
      errors: { 503: 'preflight_no_worker', 500: 'preflight_failed' },
      handler: ({ body }) => requests.run({ waitQuerier: body.waitQuerier }),
    }),
  ];
}
