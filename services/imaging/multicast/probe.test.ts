import { describe, expect, it } from 'vitest';
import { deliveredPath } from '../../runs/delivery.js';
import { decideProbe, decodeProbe, encodeProbe, NOT_RECEIVED, PROBE_GROUP_BASE, PROBE_PORT, probeGroup, summarize, type Arrival, type ProbeHeader } from './probe.js';
import { checkSettings } from './session.js';

const h = (seq: number, o: Partial<ProbeHeader> = {}): ProbeHeader => ({ run: 7, slot: 0, seq, sentAt: 1000 + seq, burst: null, index: null, ...o });
const at = (hd: ProbeHeader, ms: number, bytes = 1400): Arrival => ({ h: hd, bytes, at: ms });

describe('multicast probe: datagrams and where they go', () => {
  it('a datagram says what it is; anything else is not a probe', () => {
    const b = encodeProbe(h(5, { burst: 2, index: 3 }));
    expect(b.length).toBe(1400);
    expect(decodeProbe(b)).toEqual(h(5, { burst: 2, index: 3 }));
    expect(decodeProbe(Buffer.from('hello world, not a probe'))).toBeNull();
    const bad = Buffer.from(b);
    bad.writeUInt16BE(2000, 4);
    expect(decodeProbe(bad)).toBeNull();
  });

  it('probe groups and port never collide with the data groups and port pairs of the sessions', () => {
    expect(probeGroup(0)).toBe(PROBE_GROUP_BASE);
    expect(probeGroup(3)).toBe('239.255.83.4');
    expect(() => checkSettings({ interface: 'eth0' })).not.toThrow();
    expect(() => checkSettings({ interface: 'eth0', groupBase: '239.255.82.250', maxSessions: 16 })).toThrow(/covers the probe groups/);
    expect(() => checkSettings({ interface: 'eth0', portBase: PROBE_PORT - 10, maxSessions: 16 })).toThrow(/covers the probe port/);
  });
});

describe('multicast probe: what the PC heard, and the decision (a reason for every outcome)', () => {
  it('nothing heard: unicast at once, with the reason', () => {
    const d = decideProbe(summarize(7, [], 0, 4000));
    expect(d).toEqual({ path: 'unicast', code: 'probe_not_received', text: NOT_RECEIVED });
    expect(d.text).toBe('multicast did not reach this PC (probe not received)');
  });

  it("only another run's probe, or datagrams that are not probes: not received, and said", () => {
    const s = summarize(7, [at(h(1, { run: 8 }), 1), at(h(2, { run: 8 }), 2)], 1, 4000);
    expect(s).toMatchObject({ received: 0, foreign: 3 });
    const d = decideProbe(s);
    expect(d.path).toBe('unicast');
    expect(d.text).toContain(NOT_RECEIVED);
    expect(d.text).toContain('3 datagrams of something else');
  });

  it('the probe heard with its bursts: multicast, with the count, the loss and the burst rate', () => {
    // A trickle 0..2, then a burst of 10 (seq 3..12) arriving 1 ms apart: 9 × 1400 bytes in 9 ms.
    const arrivals = [0, 1, 2].map((s) => at(h(s), s * 200));
    for (let i = 0; i < 10; i++) arrivals.push(at(h(3 + i, { burst: 0, index: i }), 500 + i));
    arrivals.push(at(h(3), 600)); // a duplicate counts once
    const s = summarize(7, arrivals, 0, 2100);
    expect(s).toMatchObject({ received: 13, expected: 13, lost: 0, rate: 1_400_000 });
    const d = decideProbe(s);
    expect(d).toMatchObject({ path: 'multicast', code: 'probe_received' });
    expect(d.text).toBe('multicast reached this PC (13 of 13 probe datagrams in 2.1 s, bursts at 11.2 Mbit/s)');
  });

  it('a lossy probe still joins (the stream repairs), and the reason says the loss', () => {
    const s = summarize(7, [at(h(0), 0), at(h(9), 10)], 0, 4000);
    expect(s).toMatchObject({ received: 2, expected: 10, lost: 8, rate: null });
    const d = decideProbe(s);
    expect(d).toMatchObject({ path: 'multicast', code: 'probe_lossy' });
    expect(d.text).toContain('80 % loss');
  });

  it('a probe the PC could not listen for keeps multicast and says why', () => {
    const d = decideProbe(summarize(7, [], 0, 0, 'the interface eth9 has no IPv4 address'));
    expect(d).toMatchObject({ path: 'multicast', code: 'probe_not_listened' });
    expect(d.text).toContain('eth9');
  });

  it("the server's path for the PC follows its report: unicast with the probe's reason, or multicast with what it heard", () => {
    const none = deliveredPath(NOT_RECEIVED, { code: 'probe_not_received', text: NOT_RECEIVED, received: 0, expected: 0, rate: null });
    expect(none).toEqual({ path: 'unicast', reason: { code: 'path_unicast_probe', params: { received: 0 }, text: `${NOT_RECEIVED}: restored over unicast HTTP at once` } });
    const heard = deliveredPath(null, { code: 'probe_received', text: 'multicast reached this PC (13 of 13 probe datagrams in 2.1 s, bursts at 11.2 Mbit/s)', received: 13, expected: 13, rate: 1_400_000 });
    expect(heard).toMatchObject({ path: 'multicast', reason: { code: 'path_multicast_probed', params: { received: 13, expected: 13, mbps: 11.2 } } });
    expect(deliveredPath('udp-receiver is missing from the boot client', null)?.reason.code).toBe('path_unicast_fallback');
    expect(deliveredPath(null, null)).toBeUndefined();
  });
});
