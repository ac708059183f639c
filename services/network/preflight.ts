// Network pre-flight (issue 14) as a pure decision: from the checks' outcomes, whether a run may use
// multicast on this interface, the warnings a person should act on, and a reason for every outcome
// (a code with its parameters, a sentence in English and in French).
//
// Rules:
// - The interface cannot carry multicast (missing, no IPv4 address): multicast fails, the run's PCs
//   restore over unicast HTTP (fallback, with the reason).
// - Another server answers PXE: a warning (PCs may boot its program), not a multicast failure.
// - No IGMP querier heard: a warning (switches with IGMP snooping stop delivering after a few
//   minutes; the PCs that lose the stream finish by HTTP repair), not a failure.
// - A check that could not run (no tcpdump, port 68 held…): a warning naming why, never a silent pass.
// Never throws.
import type { QuerierCheck } from './igmp.js';
import type { PreflightReason, PxeCheck } from './pxe-answers.js';

export type CheckOutcome<T> = T | { outcome: 'not_checked'; reason: PreflightReason };

export interface PreflightFacts {
  interface: string;
  /** The interface's IPv4 address, or why it has none (an English sentence). */
  address: { ok: true; address: string } | { ok: false; why: string };
  pxe: CheckOutcome<PxeCheck> | null;
  querier: CheckOutcome<QuerierCheck> | null;
}

export interface PreflightResult {
  interface: string;
  address: string | null;
  at: string;
  /** 'multicast': the run may stream; 'unicast': it must not (fallback says why). */
  verdict: 'multicast' | 'unicast';
  fallback: PreflightReason | null;
  warnings: PreflightReason[];
  pxe: CheckOutcome<PxeCheck> | null;
  querier: CheckOutcome<QuerierCheck> | null;
}

export function notChecked(what: 'pxe' | 'querier', why: string): { outcome: 'not_checked'; reason: PreflightReason } {
  const name = what === 'pxe' ? { en: 'the check for other PXE servers', fr: 'la recherche d’autres serveurs PXE' } : { en: 'the IGMP querier check', fr: 'la recherche d’un querier IGMP' };
  return { outcome: 'not_checked', reason: { code: `preflight_${what}_not_checked`, params: { why }, text: `${name.en} could not run: ${why}`, fr: `${name.fr} n’a pas pu être faite : ${why}` } };
}

export function decidePreflight(f: PreflightFacts, at: string): PreflightResult {
  const warnings: PreflightReason[] = [];
  let fallback: PreflightReason | null = null;
  if (!f.address.ok) {
    fallback = {
      code: 'preflight_no_interface',
      params: { interface: f.interface, why: f.address.why },
      text: `multicast cannot be used on ${f.interface}: ${f.address.why}. The run's PCs restore over unicast HTTP`,
      fr: `le multicast ne peut pas passer par ${f.interface} : ${f.address.why}. Les PC de la restauration sont restaurés en unicast (HTTP)`,
    };
  }
  if (f.pxe && f.pxe.outcome !== 'none') warnings.push(f.pxe.reason);
  if (f.querier && f.querier.outcome !== 'present') warnings.push(f.querier.reason);
  return {
    interface: f.interface,
    address: f.address.ok ? f.address.address : null,
    at,
    verdict: fallback ? 'unicast' : 'multicast',
    fallback,
    warnings,
    pxe: f.pxe,
    querier: f.querier,
  };
}
