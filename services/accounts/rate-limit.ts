// Failed-login limiter, in this process's memory. Two rules over a sliding window:
// one address guessing one account (tight), and one address spraying many accounts (loose).
// A whole school often sits behind one NAT address, so a per-address rule alone would let one
// pupil lock every teacher out. A restart forgets it: argon2 already makes each guess cost ~50 ms.

export interface LimiterOptions {
  windowMs: number;
  /** Failures allowed from one address for one username. */
  perPair: number;
  /** Failures allowed from one address over all usernames. */
  perAddress: number;
}

export class LoginLimiter {
  private failures = new Map<string, number[]>();

  constructor(private readonly opts: LimiterOptions = { windowMs: 15 * 60_000, perPair: 10, perAddress: 100 }) {}

  private rules(ip: string, username: string): Array<[string, number]> {
    return [
      [`pair:${ip}|${username.toLowerCase()}`, this.opts.perPair],
      [`ip:${ip}`, this.opts.perAddress],
    ];
  }

  private recent(key: string, now: number): number[] {
    const list = (this.failures.get(key) ?? []).filter((t) => now - t < this.opts.windowMs);
    if (list.length) this.failures.set(key, list);
    else this.failures.delete(key);
    return list;
  }

  /** Seconds to wait before another attempt is allowed, or 0. */
  retryAfter(ip: string, username: string, now = Date.now()): number {
    let wait = 0;
    for (const [key, max] of this.rules(ip, username)) {
      const list = this.recent(key, now);
      if (list.length >= max) {
        const oldest = list[list.length - max] ?? now;
        wait = Math.max(wait, Math.ceil((oldest + this.opts.windowMs - now) / 1000));
      }
    }
    return wait;
  }

  fail(ip: string, username: string, now = Date.now()): void {
    for (const [key] of this.rules(ip, username)) this.failures.set(key, [...this.recent(key, now), now]);
    if (this.failures.size > 100_000) this.failures.clear(); // bounded memory under a flood
  }

  /** A successful login clears that account's failures from that address. */
  succeed(ip: string, username: string): void {
    this.failures.delete(this.rules(ip, username)[0]![0]);
  }
}
