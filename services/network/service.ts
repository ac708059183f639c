// Network pre-flight (issue 14): runs the checks on an interface (its address, other PXE answerers,
// an IGMP querier) side by side and decides (preflight.ts). A result is kept per interface for
// cacheMs (default 5 min) so that runs started together share one pre-flight; a check already under
// way is joined, not started twice. Never throws: a check that cannot run is reported as such.
//
// The querier listen lasts up to a query interval (igmp.ts), so a run does not wait for it
// (check({ waitQuerier: false })): it takes the last querier result of the interface, if any, and a
// listen is started for the next ones (warm() starts one when the worker starts). The on-demand check
// waits for it.
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
  private readonly querierCache = new Map<string, { at: number; result: NonNullable<PreflightFacts['querier']> }>();
  private readonly querierRunning = new Map<string, Promise<PreflightFacts['querier']>>();
  private readonly now: () => number;
  /** Stops the listens under way when the worker stops: no tcpdump outlives it. */
  private readonly abort = new AbortController();

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

  /** Ends the querier listens under way (their checks say they were cancelled). */
  close(): void {
    this.abort.abort();
  }

  /** Starts a querier listen on the interface unless one is fresh or under way (the worker's start). */
  warm(iface = this.o.interface): void {
    void this.querier(iface, false);
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

  private fresh(at: number): boolean {
    return this.now() - at < (this.o.cacheMs ?? 5 * 60_000);
  }

  /** The querier check: the fresh cached one, the one under way, or a new listen. */
  private querier(iface: string, force: boolean): Promise<PreflightFacts['querier']> {
    const c = this.querierCache.get(iface);
    if (c && !force && this.fresh(c.at)) return Promise.resolve(c.result);
    const under = this.querierRunning.get(iface);
    if (under) return under;
    const listenMs = this.o.querierListenMs ?? DEFAULT_QUERIER_LISTEN_MS;
    if (listenMs <= 0) return Promise.resolve(null);
    const p = listenForQuerier({ interface: iface, listenMs, signal: this.abort.signal, ...(this.o.tcpdumpPrefix ? { prefix: this.o.tcpdumpPrefix } : {}) })
      .catch((err: Error) => notChecked('querier', err.message))
      .then((result) => {
        this.querierCache.set(iface, { at: this.now(), result });
        return result;
      })
      .finally(() => this.querierRunning.delete(iface));
    this.querierRunning.set(iface, p);
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
    if (address.ok) {
      const listen = this.querier(iface, force);
      const [pxe, querier] = await Promise.all([
        probePxeAnswerers({ interface: iface, own: this.o.own, ...(this.o.pxeListenMs !== undefined ? { listenMs: this.o.pxeListenMs } : {}), ...(this.o.pxePorts ? { clientPort: this.o.pxePorts.client, serverPort: this.o.pxePorts.server } : {}) }).catch((err: Error) =>
          notChecked('pxe', err.message),
        ),
        waitQuerier ? listen : Promise.resolve(this.querierCache.get(iface)?.result ?? null),
      ]);
      facts = { ...facts, pxe, querier };
    }
    const result = decidePreflight(facts, new Date(this.now()).toISOString());
    // A result without the querier's answer is not kept: the next check has it.
    if (!address.ok || facts.querier !== null || (this.o.querierListenMs ?? DEFAULT_QUERIER_LISTEN_MS) <= 0) this.cache.set(iface, { at: this.now(), result });
    return result;
  }
}
