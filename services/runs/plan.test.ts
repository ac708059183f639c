import { describe, expect, it } from 'vitest';
import { DEFAULT_BYTES_PER_SECOND, OVERHEAD_SECONDS } from './estimate.js';
import { blindPaths, CHECK_BYTES_PER_SECOND, DEFAULT_LINK_BYTES_PER_SECOND, plannedVsActual, planRun, spoken, type PlanInput, type PlanPc } from './plan.js';

const GBIT = 125e6;
const pcs = (n: number, path: PlanPc['path'], share: number | null = null): PlanPc[] => Array.from({ length: n }, () => ({ path, share }));
const base: PlanInput = { usedBytes: 20e9, storedBytes: 10e9, pcs: [], maxParallel: 35, configuredRate: GBIT, measuredRate: null, multicastCap: null, past: [], windowSeconds: null };

describe('planRun: 30 PCs of a 20 GB version (10 GB stored) on a 1 Gbit/s server link', () => {
  const perPc = OVERHEAD_SECONDS + 20e9 / DEFAULT_BYTES_PER_SECOND;

  it('unicast: 30 × the stored bytes share the link, which is the limit', () => {
    const p = planRun({ ...base, pcs: pcs(30, 'unicast') });
    expect(p.paths.unicast).toEqual({ pcs: 30, bytes: 300e9 });
    expect(p.totalBytes).toBe(300e9);
    expect(p.seconds).toBe(OVERHEAD_SECONDS + 300e9 / GBIT);
    expect(p.bound).toBe('server_link');
    expect(p.reasons.bound.code).toBe('plan_bound_server_link');
    expect(p.reasons.bound.en).toContain('300 GB');
    expect(p.reasons.bound.fr).toContain('300 Go');
    expect(p.limits.perPc).toBe(perPc);
  });

  it('multicast: the stored bytes once; each PC\'s own restore is the limit, several times faster than unicast on the link', () => {
    const p = planRun({ ...base, pcs: pcs(30, 'multicast') });
    expect(p.paths.multicast).toEqual({ pcs: 30, bytes: 10e9 });
    expect(p.totalBytes).toBe(10e9);
    expect(p.limits.serverLink).toBe(OVERHEAD_SECONDS + 10e9 / GBIT);
    expect(p).toMatchObject({ bound: 'per_pc', seconds: perPc });
    expect(p.reasons.bound.code).toBe('plan_bound_per_pc');
    expect(p.reasons.overflow).toBeNull();
    expect(p.seconds).toBeLessThan(planRun({ ...base, pcs: pcs(30, 'unicast') }).seconds / 3);
  });

  it('multicast under a rate cap: the cap is the limit', () => {
    const p = planRun({ ...base, pcs: pcs(30, 'multicast'), multicastCap: 10e6 });
    expect(p).toMatchObject({ bound: 'multicast_cap', seconds: OVERHEAD_SECONDS + 1000, multicastCap: 10e6 });
    expect(p.reasons.bound).toMatchObject({ code: 'plan_bound_multicast_cap', params: { mbit: 80 } });
  });

  it('multicast PCs beyond maxParallel start after the stream and count as unicast', () => {
    const p = planRun({ ...base, pcs: pcs(30, 'multicast'), maxParallel: 20 });
    expect(p.paths.multicast).toEqual({ pcs: 20, bytes: 10e9 });
    expect(p.paths.unicast).toEqual({ pcs: 10, bytes: 100e9 });
    expect(p.reasons.overflow).toMatchObject({ code: 'plan_multicast_overflow', params: { pcs: 10, maxParallel: 20 } });
    // Two waves of PCs.
    expect(p.limits.perPc).toBe(2 * perPc);
  });

  it('differential: only the part the disks lack moves, plus reading each disk', () => {
    const p = planRun({ ...base, pcs: pcs(30, 'differential', 0.95) });
    expect(p.paths.differential.pcs).toBe(30);
    expect(p.paths.differential.bytes).toBe(Math.round(30 * 10e9 * 0.05));
    expect(p.limits.perPc).toBe(Math.round(OVERHEAD_SECONDS + (20e9 / DEFAULT_BYTES_PER_SECOND) * 0.05 + 20e9 / CHECK_BYTES_PER_SECOND));
    expect(p).toMatchObject({ bound: 'server_link', seconds: OVERHEAD_SECONDS + 15e9 / GBIT });
    expect(p.seconds).toBeLessThan(planRun({ ...base, pcs: pcs(30, 'unicast') }).seconds / 5);
  });

  it('a mixed run adds each path\'s bytes', () => {
    const p = planRun({ ...base, pcs: [...pcs(2, 'differential', 0.9), ...pcs(5, 'multicast'), ...pcs(1, 'unicast')] });
    expect(p.paths).toEqual({ differential: { pcs: 2, bytes: 2e9 }, multicast: { pcs: 5, bytes: 10e9 }, unicast: { pcs: 1, bytes: 10e9 } });
    expect(p.totalBytes).toBe(22e9);
    expect(p.pcs).toBe(8);
  });
});

describe('planRun: the rate and where it comes from', () => {
  it('configured, else measured, else a 1 Gbit/s default', () => {
    const c = planRun({ ...base, pcs: pcs(2, 'unicast'), configuredRate: 1.25e9, measuredRate: { bytesPerSecond: 50e6, samples: 3 } });
    expect(c.rate).toEqual({ bytesPerSecond: 1.25e9, source: 'configured', samples: 0 });
    expect(c.reasons.rate).toMatchObject({ code: 'plan_rate_configured', params: { mbit: 10000 } });
    const m = planRun({ ...base, pcs: pcs(2, 'unicast'), configuredRate: null, measuredRate: { bytesPerSecond: 50e6, samples: 3 } });
    expect(m.rate).toEqual({ bytesPerSecond: 50e6, source: 'measured', samples: 3 });
    expect(m.reasons.rate).toMatchObject({ code: 'plan_rate_measured', params: { mbit: 400, samples: 3 } });
    expect(m.limits.serverLink).toBe(OVERHEAD_SECONDS + 20e9 / 50e6);
    const d = planRun({ ...base, pcs: pcs(2, 'unicast'), configuredRate: null });
    expect(d.rate).toEqual({ bytesPerSecond: DEFAULT_LINK_BYTES_PER_SECOND, source: 'default', samples: 0 });
    expect(d.reasons.rate.code).toBe('plan_rate_default');
    expect(d.reasons.rate.fr).toContain('1 Gbit/s');
  });

  it("past PCs of the same version set each PC's duration", () => {
    const past = [600, 700, 800].map((seconds) => ({ seconds, bytes: 20e9, sameVersion: true }));
    const p = planRun({ ...base, pcs: pcs(3, 'multicast'), past });
    expect(p.perPc).toEqual({ seconds: 700, basis: 'same_version', samples: 3 });
    expect(p).toMatchObject({ bound: 'per_pc', seconds: 700 });
  });

  it('no PC: nothing to move, no time', () => {
    const p = planRun({ ...base, pcs: [], windowSeconds: 60 });
    expect(p).toMatchObject({ pcs: 0, seconds: 0, totalBytes: 0, bound: 'none', window: { fits: true, marginSeconds: 60 } });
    expect(p.reasons.bound.code).toBe('plan_no_pcs');
    expect(p.limits.serverLink).toBeNull();
  });
});

describe('planRun: the window', () => {
  it('fits, with its margin', () => {
    const p = planRun({ ...base, pcs: pcs(30, 'multicast'), windowSeconds: 3600 });
    expect(p.window).toEqual({ seconds: 3600, fits: true, marginSeconds: 3600 - p.seconds });
    expect(p.reasons.window).toMatchObject({ code: 'plan_fits' });
    expect(p.reasons.window.en).toContain('to spare');
    expect(p.reasons.window.fr).toContain('de marge');
  });

  it('does not fit: by how much, and what to do', () => {
    const p = planRun({ ...base, pcs: pcs(30, 'unicast'), windowSeconds: 1800 });
    expect(p.window.fits).toBe(false);
    expect(p.window.marginSeconds).toBe(1800 - p.seconds);
    expect(p.reasons.window).toMatchObject({ code: 'plan_too_long', params: { over: spoken(p.seconds - 1800) } });
    expect(p.reasons.window.en).toContain('start earlier');
  });

  it('no window: nothing to fit', () => {
    const p = planRun({ ...base, pcs: pcs(1, 'unicast') });
    expect(p.window).toEqual({ seconds: null, fits: null, marginSeconds: null });
    expect(p.reasons.window.code).toBe('plan_no_window');
  });
});

describe('spoken and blindPaths', () => {
  it('says durations as people read them', () => {
    expect([spoken(40), spoken(600), spoken(7500)]).toEqual(['40 s', '10 min', '2 h 05 min']);
  });

  it("follows delivery.ts's rule for PCs that need the whole version", () => {
    expect(blindPaths(3, { transport: 'auto', multicastOff: null }).map((p) => p.path)).toEqual(['multicast', 'multicast', 'multicast']);
    expect(blindPaths(1, { transport: 'auto', multicastOff: null })[0]!.path).toBe('unicast');
    expect(blindPaths(1, { transport: 'multicast', multicastOff: null })[0]!.path).toBe('multicast');
    expect(blindPaths(3, { transport: 'auto', multicastOff: 'off' })[0]!.path).toBe('unicast');
    expect(blindPaths(3, { transport: 'unicast', multicastOff: null })[0]!.path).toBe('unicast');
  });
});

describe('plannedVsActual', () => {
  it('says whether the run took as long as planned, longer or less', () => {
    expect(plannedVsActual(3600, 3700)).toMatchObject({ code: 'plan_as_planned', en: 'took 1 h 02 min, as planned (1 h 00 min)' });
    expect(plannedVsActual(3600, 5400)).toMatchObject({ code: 'plan_longer', params: { difference: '30 min' }, fr: 'a pris 1 h 30 min : 30 min de plus que prévu (1 h 00 min)' });
    expect(plannedVsActual(3600, 1800)).toMatchObject({ code: 'plan_shorter', params: { difference: '30 min' } });
  });
});
