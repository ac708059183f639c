// What a MAC may boot, as the proxyDHCP sees it: 'boot' (answer it) or 'ignore' (stay silent, so
// the PC falls through to its next boot device). The real answer comes from the api (known hosts,
// plus unknown ones while registration is open); the boot role injects it, wrapped in cachedPolicy
// so a PC's retries and its iPXE stage do not each cost an api call.

export type BootDecision = 'boot' | 'ignore';

/** mac is lower-case aa:bb:cc:dd:ee:ff; arch is the client's option 93 value. May reject: the proxy then stays silent. */
export type BootPolicy = (mac: string, arch: number) => Promise<BootDecision>;

/** Answers every PXE client: for protocol tests and the lab; the boot role uses the api's /boot/policy. */
export const bootEveryPxeClient: BootPolicy = () => Promise.resolve('boot');

export interface CachedPolicyOptions {
  /** How long an answer is reused. Default 10 s: one boot (DHCP, 4011, iPXE's own DHCP) costs one lookup. */
  ttlMs?: number;
  /** A lookup slower than this counts as failed (PXE firmware waits ~4 s per round). Default 2000. */
  timeoutMs?: number;
  /** Entries kept at most (oldest dropped first). Default 4096. */
  maxEntries?: number;
  now?: () => number;
}

/**
 * Caches `lookup` per MAC and architecture; concurrent calls for the same key share one lookup.
 * Failures (including timeouts) are not cached: they reject, and the next request asks again.
 */
export function cachedPolicy(lookup: BootPolicy, opts: CachedPolicyOptions = {}): BootPolicy {
  const ttlMs = opts.ttlMs ?? 10_000;
  const timeoutMs = opts.timeoutMs ?? 2000;
  const maxEntries = opts.maxEntries ?? 4096;
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { at: number; value: BootDecision }>();
  const pending = new Map<string, Promise<BootDecision>>();

  return (mac, arch) => {
    const key = `${mac}/${arch}`;
    const hit = cache.get(key);
    if (hit && now() - hit.at < ttlMs) return Promise.resolve(hit.value);
    const inFlight = pending.get(key);
    if (inFlight) return inFlight;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`boot policy lookup timed out after ${timeoutMs} ms`)), timeoutMs);
    });
    const p = Promise.race([Promise.resolve().then(() => lookup(mac, arch)), timeout])
      .then((value) => {
        if (value !== 'boot' && value !== 'ignore') throw new Error(`boot policy answered ${String(value)}`);
        cache.delete(key);
        cache.set(key, { at: now(), value });
        while (cache.size > maxEntries) cache.delete(cache.keys().next().value as string);
        return value;
      })
      .finally(() => {
        clearTimeout(timer);
        pending.delete(key);
      });
    pending.set(key, p);
    return p;
  };
}
