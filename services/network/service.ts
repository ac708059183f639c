// Network pre-flight (issue 14), the worker's half: checks the interface's address here (udp-sender
// runs here), asks the boot role for the checks that need rights the worker does not have (other PXE
// answerers, an IGMP querier: network/probes.ts, through ask-boot.ts) and decides (preflight.ts). A
// result is kept per interface for cacheMs (default 5 min) so that runs started together share one
// pre-flight; a check already under way is joined, not started twice. Never throws: a check that
// cannot run (the boot role not answering included) is reported as such, and such a result is not
// kept.
//
// The querier listen lasts up to a query interval, so a run does not wait for it
// (check({ waitQuerier: false })): it takes the boot role's last querier result for the interface, if
// any, and the boot role starts a listen for the next ones (warm() asks for one when the worker
// starts). The on-demand check waits for it.
import { decidePreflight, type PreflightFacts, type PreflightResult } from './preflight.js';
import type { ProbeFacts, ProbeRequest } from './probes.js';
import { interfaceAddress } from './pxe-probe.js';

export interface PreflightOptions {
  /** The PCs' interface (ROOMCAST_MULTICAST_INTERFACE). */
  interface: string;
  /** roomcast's own proxyDHCP addresses (ROOMCAST_BOOT_IP). */
  own: readonly string[];
  /** Who runs the PXE probe and the querier listen: the boot role (ask-boot.ts BootProbes). */
  probes: { probe(r: ProbeRequest): Promise<ProbeFacts>; warm(iface: string): void; close(): Promise<void> | void };
  cacheMs?: number;
  now?: () => number;
}

export class Preflight {
  private readonly cache = new Map<string, { at: number; result: PreflightResult }>();
  private readonly running = new Map<string, Promise<PreflightResult>>();
  private readonly now: () => number;

  constructor(private readonly o: PreflightOptions) {
    this.now = o.now ?? Date.now;
  }

  get interface(): string {
    return this.o.interface;
  }

  /** The last result on the interface while it is fresh, else null. */
  cached(iface = this.o.interface): PreflightResult | null {
    const c = this.cache.get(iface);
    return c && this.now() - c.at < (this.o.cacheMs ?? 5 * 60_000) ? c.result : null;
  }

  /** Stops asking the boot role (the worker stops). */
  async close(): Promise<void> {
    await this.o.probes.close();
  }

  /** Asks the boot role to start a querier listen on the interface (the worker's start). */
  warm(iface = this.o.interface): void {
    this.o.probes.warm(iface);
  }

  /**
   * A fresh result (cached unless `force`), running the checks when needed. waitQuerier false (a run
   * starting): the querier result is the last one known, and a listen is started when there is none.
   */
  async check(opts: { force?: boolean; iface?: string; waitQuerier?: boolean } = {}): Promise<PreflightResult> {
    const iface = opts.iface ?? this.o.interface;
    const hit = opts.force ? null : this.cached(iface);
    if (hit) return hit;
    const wait = opts.waitQuerier ?? true;
    const under = wait ? this.running.get(iface) : undefined;
    if (under) return under;
    const p = this.run(iface, wait, opts.force ?? false).finally(() => wait && this.running.delete(iface));
    if (wait) this.running.set(iface, p);
    return p;
  }

  private async run(iface: string, waitQuerier: boolean, force: boolean): Promise<PreflightResult> {
    let address: PreflightFacts['address'];
    try {
      address = { ok: true, address: interfaceAddress(iface) };
    } catch (err) {
      address = { ok: false, why: (err as Error).message };
    }
    let facts: PreflightFacts = { interface: iface, address, pxe: null, querier: null };
    let keep = true;
    if (address.ok) {
      const { pxe, querier, answered } = await this.o.probes.probe({ interface: iface, own: [...this.o.own], waitQuerier, force });
      facts = { ...facts, pxe, querier };
      // Neither a result without the querier's answer (the next check has it) nor one the boot role did not give is kept.
      keep = answered && querier !== null;
    }
    const result = decidePreflight(facts, new Date(this.now()).toISOString());
    if (keep) this.cache.set(iface, { at: this.now(), result });
    return result;
  }
}
