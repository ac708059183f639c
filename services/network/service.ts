// Network pre-flight (issue 14): runs the checks on an interface (its address, other PXE answerers,
// an IGMP querier) side by side and decides (preflight.ts). A result is kept per interface for
// cacheMs (default 5 min) so that runs started together share one pre-flight; a check already under
// way is joined, not started twice. Never throws: a check that cannot run is reported as such.
import { listenForQuerier, DEFAULT_QUERIER_LISTEN_MS } from './igmp.js';
import { decidePreflight, notChecked, type PreflightFacts, type PreflightResult } from './preflight.js';
import { interfaceAddress, probePxeAnswerers } from './pxe-probe.js';

export interface PreflightOptions {
  /** The PCs' interface (ROOMCAST_MULTICAST_INTERFACE). */
  interface: string;
  /** roomcast's own proxyDHCP addresses (ROOMCAST_BOOT_IP). */
  own: readonly string[];
  pxeListenMs?: number;
  /** One query interval and a little (igmp.ts); 0 leaves the querier check out. */
  querierListenMs?: number;
  cacheMs?: number;
  /** Runs tcpdump through another program (tests: ip netns exec NS). */
  tcpdumpPrefix?: string[];
  /** Client and server ports of the PXE probe (tests). */
  pxePorts?: { client: number; server: number };
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

  /** A fresh result (cached unless `force`), running the checks when needed. */
  async check(opts: { force?: boolean; iface?: string } = {}): Promise<PreflightResult> {
    const iface = opts.iface ?? this.o.interface;
    const hit = opts.force ? null : this.cached(iface);
    if (hit) return hit;
    const under = this.running.get(iface);
    if (under) return under;
    const p = this.run(iface).finally(() => this.running.delete(iface));
    this.running.set(iface, p);
    return p;
  }

  private async run(iface: string): Promise<PreflightResult> {
    let address: PreflightFacts['address'];
    try {
      address = { ok: true, address: interfaceAddress(iface) };
    } catch (err) {
      address = { ok: false, why: (err as Error).message };
    }
    let facts: PreflightFacts = { interface: iface, address, pxe: null, querier: null };
    if (address.ok) {
      const listenMs = this.o.querierListenMs ?? DEFAULT_QUERIER_LISTEN_MS;
      const [pxe, querier] = await Promise.all([
        probePxeAnswerers({ interface: iface, own: this.o.own, ...(this.o.pxeListenMs !== undefined ? { listenMs: this.o.pxeListenMs } : {}), ...(this.o.pxePorts ? { clientPort: this.o.pxePorts.client, serverPort: this.o.pxePorts.server } : {}) }).catch((err: Error) =>
          notChecked('pxe', err.message),
        ),
        listenMs > 0 ? listenForQuerier({ interface: iface, listenMs, ...(this.o.tcpdumpPrefix ? { prefix: this.o.tcpdumpPrefix } : {}) }).catch((err: Error) => notChecked('querier', err.message)) : Promise.resolve(null),
      ]);
      facts = { ...facts, pxe, querier };
    }
    const result = decidePreflight(facts, new Date(this.now()).toISOString());
    this.cache.set(iface, { at: this.now(), result });
    return result;
  }
}
