// Failed-login limiter: per client address and per username, in this process's memory.
// A restart forgets it, which is acceptable: argon2 already makes each guess cost ~50 ms.

export interface LimiterOptions {
  maxFailures: number;
  windowMs: number;
}

export class LoginLimiter {
  private failures = new Map<string, number[]>();

  constructor(private readonly opts: LimiterOptions = { maxFailures: 10, windowMs: 15 * 60_000 }) {}

  private recent(key: string, now: number): number[] {
    const list = (this.failures.get(key) ?? []).filter((t) => now - t < this.opts.windowMs);
    if (list.length) this.failures.set(key, list);
    else this.failures.delete(key);
    return list;
  }

  /** Seconds to wait before another attempt is allowed, or 0. */
  retryAfter(keys: string[], now = Date.now()): number {
    let wait = 0;
    for (const key of keys) {
      const list = this.recent(key, now);
      if (list.length >= this.opts.maxFailures) {
        const oldest = list[list.length - this.opts.maxFailures] ?? now;
        wait = Math.max(wait, Math.ceil((oldest + this.opts.windowMs - now) / 1000));
      }
    }
    return wait;
  }

  fail(keys: string[], now = Date.now()): void {
    for (const key of keys) this.failures.set(key, [...this.recent(key, now), now]);
    if (this.failures.size > 100_000) this.failures.clear(); // bounded memory under a flood
  }

  succeed(keys: string[]): void {
    for (const key of keys) this.failures.delete(key);
  }
}
