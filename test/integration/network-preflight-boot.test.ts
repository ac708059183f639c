// The worker's half of the network pre-flight (network/service.ts, ask-boot.ts) when the boot role
// does not answer, on the real Redis: the PXE probe and the querier listen run in the boot role (it
// has the rights), so a worker whose boot role is not running says so plainly, within a bound, and
// leaves no job behind that a boot role started later would run. The interface is the loopback (it
// has an address), and nothing is sent on any network: no boot role consumes the queue here.
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { urlRedis } from '../../services/core/redis.js';
import { QUEUES } from '../../services/jobs/queues.js';
import { BootProbes } from '../../services/network/ask-boot.js';
import { Preflight } from '../../services/network/service.js';
import { REDIS_URL } from '../support/env.js';

const redis = urlRedis(REDIS_URL, `rc-test-pfb-${randomBytes(3).toString('hex')}`);

describe('the network pre-flight with no boot role answering', () => {
  const probes = new BootProbes(redis, { pickMs: 1500 });
  const preflight = new Preflight({ interface: 'lo', own: [], probes });

  afterAll(async () => {
    await preflight.close();
    await redis.stop();
  });

  it('says that both checks could not run because the boot service is not answering, within the bound, and keeps nothing', async () => {
    for (const waitQuerier of [false, true]) {
      const start = Date.now();
      const r = await preflight.check({ waitQuerier });
      const ms = Date.now() - start;
      expect(ms, `answered after ${ms} ms`).toBeLessThan(4000);
      expect(ms).toBeGreaterThanOrEqual(1400);
      expect(r).toMatchObject({ interface: 'lo', address: '127.0.0.1', verdict: 'multicast', pxe: { outcome: 'not_checked' }, querier: { outcome: 'not_checked' } });
      expect(r.warnings.map((w) => w.code)).toEqual(['preflight_pxe_not_checked', 'preflight_querier_not_checked']);
      expect(r.warnings[0]!.text).toBe('the check for other PXE servers could not run: the boot service is not answering (is the boot role running and connected to Redis?)');
      expect(r.warnings[1]!.text).toContain('the IGMP querier check could not run: the boot service is not answering');
      expect(r.warnings[0]!.fr).toContain('n’a pas pu être faite : the boot service is not answering');
      // Not kept: the next check asks the boot role again.
      expect(preflight.cached()).toBeNull();
    }
    // The requests were withdrawn: a boot role that starts later does not run stale probes.
    const q = new Queue(QUEUES.networkProbes, { connection: redis.createClient(), prefix: redis.prefix });
    expect(await q.getJobCounts('waiting', 'active')).toEqual({ waiting: 0, active: 0 });
    await q.close();
  });

  it('with Redis away (a port nothing listens on), says so within the bound instead of waiting for it', async () => {
    const away = urlRedis('redis://127.0.0.1:1', 'rc-test-pfb-away');
    const p = new Preflight({ interface: 'lo', own: [], probes: new BootProbes(away, { pickMs: 1500 }) });
    try {
      const start = Date.now();
      const r = await p.check({ waitQuerier: true });
      expect(Date.now() - start).toBeLessThan(4000);
      expect(r.pxe).toMatchObject({ outcome: 'not_checked' });
      expect(r.warnings[0]!.text).toBe('the check for other PXE servers could not run: Redis does not answer, so the boot service cannot be asked');
    } finally {
      await p.close().catch(() => undefined);
      await away.stop();
    }
  });
});
