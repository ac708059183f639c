// How long a run should take, before it starts: from the image version's used bytes and what past
// runs' PCs took. Pure. A PC that restored this same version before gives its duration as it was
// (median); otherwise the restore throughput seen on past PCs of any version (bytes over the time
// spent past the wake and boot overhead) scales to this version's size; with no history at all, a
// conservative default throughput. PCs restore in waves of maxParallel; the estimate is the waves
// times one PC's duration (it does not model a saturated server link beyond what history shows).

/** One past PC that ended done: how long it took from its start (wake) to its end, and the bytes it wrote. */
export interface PastPc {
  seconds: number;
  bytes: number;
  sameVersion: boolean;
}

export interface RunEstimate {
  /** The whole run, in seconds. */
  seconds: number;
  /** One PC, from its wake to its end. */
  perPcSeconds: number;
  /** What the figure rests on. */
  basis: 'same_version' | 'throughput' | 'default';
  /** How many past PCs it rests on. */
  samples: number;
  pcs: number;
  waves: number;
  usedBytes: number;
}

/** Waking and network-booting a PC, and the verify step's start, before and around the bytes. */
export const OVERHEAD_SECONDS = 180;
/** Assumed when no PC was ever restored here: a modest gigabit restore with decompression. */
export const DEFAULT_BYTES_PER_SECOND = 40e6;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export function estimateRun(input: { pcs: number; maxParallel: number; usedBytes: number; past: readonly PastPc[] }): RunEstimate {
  const pcs = Math.max(0, Math.floor(input.pcs));
  const waves = pcs === 0 ? 0 : Math.ceil(pcs / Math.max(1, input.maxParallel));
  const usable = input.past.filter((p) => p.seconds > 0 && Number.isFinite(p.seconds));
  const same = usable.filter((p) => p.sameVersion);
  let perPc: number;
  let basis: RunEstimate['basis'];
  let samples: number;
  if (same.length) {
    perPc = median(same.map((p) => p.seconds));
    basis = 'same_version';
    samples = same.length;
  } else {
    const withBytes = usable.filter((p) => p.bytes > 0);
    const bytes = withBytes.reduce((a, p) => a + p.bytes, 0);
    const seconds = withBytes.reduce((a, p) => a + Math.max(1, p.seconds - OVERHEAD_SECONDS), 0);
    const rate = withBytes.length ? bytes / seconds : DEFAULT_BYTES_PER_SECOND;
    perPc = OVERHEAD_SECONDS + input.usedBytes / rate;
    basis = withBytes.length ? 'throughput' : 'default';
    samples = withBytes.length;
  }
  perPc = Math.round(perPc);
  return { seconds: waves * perPc, perPcSeconds: perPc, basis, samples, pcs, waves, usedBytes: input.usedBytes };
}
