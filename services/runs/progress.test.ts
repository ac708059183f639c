import { describe, expect, it } from 'vitest';
import { ProgressSmoother } from './progress.js';

describe('run PC progress: smoothed rate, ETA, at most one per second per PC', () => {
  it('tells the first report, then one a second; a report in between feeds the rate only', () => {
    const s = new ProgressSmoother(1000);
    const MB = 1_000_000;
    // 10 MB/s for 3 s, reported every 250 ms.
    const told: Array<{ t: number; r: ReturnType<ProgressSmoother['update']> }> = [];
    for (let t = 0; t <= 3000; t += 250) {
      const r = s.update(1, 'restore', (t / 1000) * 10 * MB, 100 * MB, t);
      if (r) told.push({ t, r });
    }
    expect(told.map((x) => x.t)).toEqual([0, 1000, 2000, 3000]);
    expect(told[0]!.r).toEqual({ rateBytesPerSecond: 0, etaSeconds: null });
    // A steady rate smooths to itself: 10 MB/s, 70 MB left at 3 s: 7 s.
    expect(told[3]!.r).toEqual({ rateBytesPerSecond: 10 * MB, etaSeconds: 7 });
  });

  it('smooths a sudden change, tells the end of a phase at once, and starts the rate over in a new phase', () => {
    const s = new ProgressSmoother(1000);
    s.update(1, 'restore', 0, 1000, 0);
    s.update(1, 'restore', 100, 1000, 1000); // 100 B/s
    const jump = s.update(1, 'restore', 900, 1000, 2000)!; // 800 B/s for one second
    expect(jump.rateBytesPerSecond).toBeGreaterThan(100);
    expect(jump.rateBytesPerSecond).toBeLessThan(800);
    expect(s.update(1, 'restore', 1000, 1000, 2100)).toMatchObject({ etaSeconds: 0 });
    expect(s.update(1, 'verify', 0, 1000, 2200)).toEqual({ rateBytesPerSecond: 0, etaSeconds: null });
    expect(s.update(1, 'verify', 100, 1000, 2300)).toBeNull();
    // Another PC is throttled on its own.
    expect(s.update(2, 'restore', 0, 1000, 2300)).not.toBeNull();
  });
});
