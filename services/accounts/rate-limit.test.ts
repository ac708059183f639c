import { describe, expect, it } from 'vitest';
import { LoginLimiter } from './rate-limit.js';

describe('LoginLimiter', () => {
  it('blocks a key after maxFailures within the window and frees it when the oldest failure expires', () => {
    const l = new LoginLimiter({ maxFailures: 3, windowMs: 60_000 });
    const keys = ['ip:1', 'user:bob'];
    for (let t = 0; t < 3; t++) l.fail(keys, 1000 * t);
    expect(l.retryAfter(keys, 2500)).toBe(58);
    expect(l.retryAfter(['user:alice'], 2500)).toBe(0);
    expect(l.retryAfter(['ip:1'], 59_999)).toBe(1);
    expect(l.retryAfter(keys, 60_000)).toBe(0);
  });

  it('forgets a key on success', () => {
    const l = new LoginLimiter({ maxFailures: 2, windowMs: 60_000 });
    l.fail(['user:bob'], 0);
    l.fail(['user:bob'], 1);
    expect(l.retryAfter(['user:bob'], 2)).toBeGreaterThan(0);
    l.succeed(['user:bob']);
    expect(l.retryAfter(['user:bob'], 3)).toBe(0);
  });
});
