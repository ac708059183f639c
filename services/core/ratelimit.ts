// Small limiters: a token bucket per key (a looping PC cannot flood the proxyDHCP or the api behind
// it; the api's anonymous and machine routes) and a log throttle (garbage cannot flood the log).

export class KeyedTokenBucket {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /**
   * @param ratePerSecond tokens added per second
   * @param burst bucket size (a fresh key starts full)
   * @param maxKeys keys tracked at most; beyond it the least recently used are forgotten
   */
  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly maxKeys = 4096,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one token for `key`; false when its bucket is empty. */
  take(key: string): boolean {
    const t = this.now();
    const b = this.buckets.get(key);
    let tokens = this.burst;
    if (b) {
      tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.ratePerSecond);
      this.buckets.delete(key); // re-inserted below: Map order is the LRU order
    }
    const ok = tokens >= 1;
    this.buckets.set(key, { tokens: ok ? tokens - 1 : tokens, at: t });
    while (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value as string);
    return ok;
  }
}

/** Lets one log line per key through every intervalMs and counts the ones held back. */
export class LogThrottle {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly intervalMs: number,
    private readonly maxKeys = 1024,
    private readonly now: () => number = Date.now,
  ) {}

  /** null: stay quiet; otherwise log, mentioning how many were suppressed since the last line. */
  allow(key: string): { suppressed: number } | null {
    const t = this.now();
    const e = this.last.get(key);
    if (e && t - e.at < this.intervalMs) {
      e.suppressed++;
      return null;
    }
    const suppressed = e?.suppressed ?? 0;
    this.last.delete(key);
    this.last.set(key, { at: t, suppressed: 0 });
    while (this.last.size > this.maxKeys) this.last.delete(this.last.keys().next().value as string);
    return { suppressed };
  }
}
