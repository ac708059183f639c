// Network pre-flight (issue 14), the boot role's half: the two checks that need rights, run where
// they are. The PXE probe binds UDP port 68 (CAP_NET_BIND_SERVICE) and the querier listen runs
// tcpdump (its file capability cap_net_raw works only without no-new-privileges). Under the shipped
// compose file only the boot role has both (node-netboot, see docker-compose.yml); the worker keeps
// no capability at all. So the worker asks (network/ask-boot.ts) through a BullMQ queue that only the
// boot role consumes, and decides itself (network/service.ts, preflight.ts).
//
// Why a BullMQ queue: it is the request/reply the api already uses to ask the worker
// (network/requests.ts), Redis is the one link every role has, and a job that nobody takes stays
// "waiting", which tells the asker that the boot role is not running, within a bound it chooses.
//
// Port 68: the proxyDHCP listens on 67 and 4011 only; the probe binds 68 (SO_REUSEADDR) only while it
// probes (a few seconds), and one probe per interface runs at a time (requests arriving meanwhile
// share it). The querier listen lasts up to a query interval; its last result per interface is kept
// for cacheMs and a listen under way is joined, never started twice.
import { Worker, type Job } from 'bullmq';
import type { Logger } from '../core/logger.js';
import type { RedisHandle } from '../core/redis.js';
import { QUEUES } from '../jobs/queues.js';
import { DEFAULT_QUERIER_LISTEN_MS, listenForQuerier } from './igmp.js';
import { notChecked, type PreflightFacts } from './preflight.js';
import { probePxeAnswerers } from './pxe-probe.js';

export const PROBE_JOBS = {
  /** Run the checks and answer ProbeFacts. */
  probe: 'probe',
  /** Start a querier listen on the interface (the worker's start); answers nothing useful. */
  warm: 'warm',
} as const;

export interface ProbeRequest {
  interface: string;
  /** roomcast's own proxyDHCP addresses: recognised and left out. */
  own: string[];
  /** true: wait for the querier listen; false: the last querier result known (null if none). */
  waitQuerier: boolean;
  /** true: a new querier listen even when a fresh result is known. */
  force: boolean;
}

export interface ProbeFacts {
  pxe: PreflightFacts['pxe'];
  querier: PreflightFacts['querier'];
  /** false: the boot role did not answer (the checks say why); such facts are never cached. */
  answered: boolean;
}

export interface NetworkProbesOptions {
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

type Querier = NonNullable<PreflightFacts['querier']>;

export class NetworkProbes {
  private readonly querierCache = new Map<string, { at: number; result: Querier }>();
  private readonly querierRunning = new Map<string, Promise<Querier | null>>();
  private readonly pxeRunning = new Map<string, Promise<NonNullable<PreflightFacts['pxe']>>>();
  private readonly now: () => number;
  /** Stops the listens under way when the role stops: no tcpdump outlives it. */
  private readonly abort = new AbortController();

  constructor(private readonly o: NetworkProbesOptions = {}) {
    this.now = o.now ?? Date.now;
  }

  close(): void {
    this.abort.abort();
  }

  /** Starts a querier listen on the interface unless one is fresh or under way. */
  warm(iface: string): void {
    void this.querier(iface, false);
  }

  /** Both checks on the interface. Never throws: a check that cannot run says why. */
  async probe(r: ProbeRequest): Promise<ProbeFacts> {
    const listen = this.querier(r.interface, r.force);
    const [pxe, querier] = await Promise.all([this.pxe(r.interface, r.own), r.waitQuerier ? listen : Promise.resolve(this.querierCache.get(r.interface)?.result ?? null)]);
    return { pxe, querier, answered: true };
  }

  private pxe(iface: string, own: readonly string[]): Promise<NonNullable<PreflightFacts['pxe']>> {
    const under = this.pxeRunning.get(iface);
    if (under) return under;
    const o = this.o;
    const p = probePxeAnswerers({ interface: iface, own, ...(o.pxeListenMs !== undefined ? { listenMs: o.pxeListenMs } : {}), ...(o.pxePorts ? { clientPort: o.pxePorts.client, serverPort: o.pxePorts.server } : {}) })
      .catch((err: Error) => notChecked('pxe', err.message))
      .finally(() => this.pxeRunning.delete(iface));
    this.pxeRunning.set(iface, p);
    return p;
  }

  /** The querier check: the fresh cached one, the one under way, or a new listen. */
  private querier(iface: string, force: boolean): Promise<Querier | null> {
    const c = this.querierCache.get(iface);
    if (c && !force && this.now() - c.at < (this.o.cacheMs ?? 5 * 60_000)) return Promise.resolve(c.result);
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
}

export interface ProbeService {
  probes: NetworkProbes;
  stop(): Promise<void>;
}

/** The boot role's consumer of the network-probes queue. */
export function startNetworkProbes(deps: { redis: Pick<RedisHandle, 'createClient' | 'prefix'>; log: Logger; options?: NetworkProbesOptions }): ProbeService {
  const probes = new NetworkProbes(deps.options);
  const connection = deps.redis.createClient();
  connection.on('error', () => undefined); // BullMQ retries; the worker's 'error' below logs it
  const worker = new Worker(
    QUEUES.networkProbes,
    async (job: Job<ProbeRequest>) => {
      if (job.name === PROBE_JOBS.warm) {
        probes.warm(job.data.interface);
        return null;
      }
      if (job.name !== PROBE_JOBS.probe) throw new Error(`no handler for network-probes job "${job.name}"`);
      const facts = await probes.probe(job.data);
      for (const [what, c] of [['pxe', facts.pxe], ['querier', facts.querier]] as const) {
        if (c?.outcome === 'not_checked') deps.log.warn({ interface: job.data.interface, check: what }, `network pre-flight: ${c.reason.text}`);
      }
      return facts;
    },
    // Several at once: a run's quick check must not wait behind an on-demand querier listen.
    { connection, prefix: deps.redis.prefix, concurrency: 4, name: `boot@${process.pid}` },
  );
  worker.on('error', (err) => deps.log.warn({ err: err.message }, 'network-probes queue connection error (BullMQ retries)'));
  // Not awaited: TFTP and proxyDHCP serve PCs even while Redis is away; BullMQ connects when it can.
  worker
    .waitUntilReady()
    .then(() => deps.log.info('network pre-flight probes ready (PXE answerers on port 68, IGMP querier with tcpdump)'))
    .catch((err: Error) => deps.log.warn({ err: err.message }, 'network pre-flight probes: cannot reach Redis yet'));
  return {
    probes,
    stop: async () => {
      probes.close();
      // With Redis away, closing waits for a connection that may never come: TFTP and proxyDHCP stop anyway.
      await Promise.race([worker.close(), new Promise((r) => setTimeout(r, 2000).unref())]).catch(() => undefined);
    },
  };
}
