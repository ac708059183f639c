import { describe, expect, it } from 'vitest';
import { decideDelivery, type PcDeliveryFacts, type RunDeliveryFacts } from './delivery.js';

const GB = 1e9;
const RUN: RunDeliveryFacts = { imageId: 7, versionNumber: 4, versionBytes: 40 * GB, transport: 'auto', multicastOff: null };
const blank = (key: number): PcDeliveryFacts => ({ key, lastDone: null, sharedBytes: null });
const nightly = (key: number, shared: number, versionNumber = 3, imageId = 7): PcDeliveryFacts => ({ key, lastDone: { imageId, versionNumber, versionId: 100 + versionNumber }, sharedBytes: shared });
const paths = (m: ReturnType<typeof decideDelivery>) => Object.fromEntries([...m].map(([id, d]) => [id, `${d.path}:${d.reason.code}`]));

describe('how each PC of a run gets its version (pure)', () => {
  it('differential for a PC whose disk holds most of the version; one multicast stream for the others', () => {
    const m = decideDelivery(RUN, [nightly(1, 38 * GB), blank(2), blank(3), nightly(4, 10 * GB)]);
    expect(paths(m)).toEqual({ 1: 'differential:path_differential', 2: 'multicast:path_multicast', 3: 'multicast:path_multicast', 4: 'multicast:path_multicast' });
    const diff = m.get(1)!.reason;
    expect(diff.params).toEqual({ percent: 95, from: 3, version: 4 });
    expect(diff.text).toMatch(/holds 95 % of version 4 .*version 3, ended done/);
    expect(m.get(2)!.reason.params).toEqual({ pcs: 3, version: 4 });
    expect(m.get(2)!.reason.text).toMatch(/one multicast stream for the 3 PCs/);
  });

  it('the same version already on the disk is differential; the threshold is inclusive', () => {
    const m = decideDelivery(RUN, [nightly(1, 40 * GB, 4), nightly(2, 32 * GB)]);
    expect(paths(m)).toEqual({ 1: 'differential:path_differential', 2: 'differential:path_differential' });
    expect(m.get(1)!.reason.text).toMatch(/already holds version 4/);
  });

  it('a last restore of another image, or below the threshold, is not differential', () => {
    const m = decideDelivery({ ...RUN, differentialShare: 0.9 }, [nightly(1, 40 * GB, 4, 8), nightly(2, 35 * GB)]);
    expect(paths(m)).toEqual({ 1: 'multicast:path_multicast', 2: 'multicast:path_multicast' });
  });

  it('unicast when only one PC needs the whole version (auto)', () => {
    expect(paths(decideDelivery(RUN, [blank(1)]))).toEqual({ 1: 'unicast:path_unicast_single' });
    expect(paths(decideDelivery(RUN, [blank(1), nightly(2, 39 * GB)]))).toEqual({ 1: 'unicast:path_unicast_single', 2: 'differential:path_differential' });
  });

  it('transport multicast streams even for one PC; transport unicast never streams', () => {
    expect(paths(decideDelivery({ ...RUN, transport: 'multicast' }, [blank(1)]))).toEqual({ 1: 'multicast:path_multicast' });
    expect(paths(decideDelivery({ ...RUN, transport: 'unicast' }, [blank(1), blank(2), nightly(3, 40 * GB, 4)]))).toEqual({ 1: 'unicast:path_unicast_forced', 2: 'unicast:path_unicast_forced', 3: 'differential:path_differential' });
  });

  it('multicast off on the server: unicast with the reason, whatever the transport', () => {
    for (const transport of ['auto', 'multicast'] as const) {
      const m = decideDelivery({ ...RUN, transport, multicastOff: 'ROOMCAST_MULTICAST_INTERFACE is not set' }, [blank(1), blank(2)]);
      expect(paths(m)).toEqual({ 1: 'unicast:path_unicast_multicast_off', 2: 'unicast:path_unicast_multicast_off' });
      expect(m.get(1)!.reason.text).toMatch(/multicast is off on this server \(ROOMCAST_MULTICAST_INTERFACE is not set\)/);
    }
  });

  it('an empty version or an unknown share is never differential', () => {
    expect(paths(decideDelivery({ ...RUN, versionBytes: 0 }, [nightly(1, 0), nightly(2, 0)]))).toEqual({ 1: 'multicast:path_multicast', 2: 'multicast:path_multicast' });
    expect(paths(decideDelivery(RUN, [{ key: 1, lastDone: { imageId: 7, versionNumber: 4, versionId: 104 }, sharedBytes: null }, blank(2)]))).toEqual({ 1: 'multicast:path_multicast', 2: 'multicast:path_multicast' });
  });
});
