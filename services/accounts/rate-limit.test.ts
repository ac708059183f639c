import { describe, expect, it } from 'vitest';
import { LoginLimiter } from './rate-limit.js';

describe('LoginLimiter', () => {
  it('blocks one address guessing one account, until the oldest failure leaves the window', () => {
    const l = new LoginLimiter({ windowMs: 60_000, perPair: 3, perAddress: 100 });
    for (let t = 0; t < 3; t++) l.fail('10.0.0.1', 'bob', 1000 * t);
    expect(l.retryAfter('10.0.0.1', 'BOB', 2500)).toBe(58);
    expect(l.retryAfter('10.0.0.1', 'bob', 59_999)).toBe(1);
    expect(l.retryAfter('10.0.0.1', 'bob', 60_000)).toBe(0);
  });

  it('does not lock other accounts behind the same address (a school NAT) until the address sprays', () => {
    const l = new LoginLimiter({ windowMs: 60_000, perPair: 3, perAddress: 5 });
    for (let t = 0; t < 3; t++) l.fail('10.0.0.1', 'bob', t);
    expect(l.retryAfter('10.0.0.1', 'alice', 10)).toBe(0);
    expect(l.retryAfter('10.0.0.2', 'bob', 10)).toBe(0);
    l.fail('10.0.0.1', 'carol', 11);
    l.fail('10.0.0.1', 'dave', 12);
    expect(l.retryAfter('10.0.0.1', 'alice', 13)).toBeGreaterThan(0);
  });

  it('forgets an account’s failures on success', () => {
    const l = new LoginLimiter({ windowMs: 60_000, perPair: 2, perAddress: 100 });
    l.fail('10.0.0.1', 'bob', 0);
    l.fail('10.0.0.1', 'bob', 1);
    expect(l.retryAfter('10.0.0.1', 'bob', 2)).toBeGreaterThan(0);
    l.succeed('10.0.0.1', 'bob');
    expect(l.retryAfter('10.0.0.1', 'bob', 3)).toBe(0);
  });
});
