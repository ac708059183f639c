import { describe, expect, it } from 'vitest';
import { DEFAULT_BYTES_PER_SECOND, estimateRun, OVERHEAD_SECONDS } from './estimate.js';

describe('estimateRun', () => {
  it('uses the median duration of past PCs of the same version, in waves of maxParallel', () => {
    const past = [300, 500, 400].map((seconds) => ({ seconds, bytes: 1e9, sameVersion: true }));
    const e = estimateRun({ pcs: 40, maxParallel: 35, usedBytes: 2e9, past: [...past, { seconds: 9999, bytes: 1, sameVersion: false }] });
    expect(e).toMatchObject({ basis: 'same_version', perPcSeconds: 400, waves: 2, seconds: 800, samples: 3 });
  });

  it("scales other versions' throughput to this version's size", () => {
    const past = [{ seconds: OVERHEAD_SECONDS + 100, bytes: 5e9, sameVersion: false }];
    const e = estimateRun({ pcs: 3, maxParallel: 35, usedBytes: 10e9, past });
    expect(e).toMatchObject({ basis: 'throughput', perPcSeconds: OVERHEAD_SECONDS + 200, seconds: OVERHEAD_SECONDS + 200, waves: 1 });
  });

  it('falls back to a default throughput with no history, and to nothing for no PC', () => {
    const e = estimateRun({ pcs: 1, maxParallel: 1, usedBytes: 4e9, past: [] });
    expect(e).toMatchObject({ basis: 'default', samples: 0, perPcSeconds: Math.round(OVERHEAD_SECONDS + 4e9 / DEFAULT_BYTES_PER_SECOND) });
    expect(estimateRun({ pcs: 0, maxParallel: 5, usedBytes: 1, past: [] }).seconds).toBe(0);
  });
});
