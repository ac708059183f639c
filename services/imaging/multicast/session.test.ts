// A multicast session's decisions: settings and their bounds, data groups and port pairs that two
// sessions never share, udp-sender's command line, and the outcome read from its log.
import { describe, expect, it } from 'vitest';
import { SessionAllocator, checkSettings, readSenderLog, senderArgs, senderOutcome } from './session.js';

const LOG_OK = `Udp-sender 20120424
UDP sender for (stdin) at 10.98.0.1 on v0
New connection from 10.98.0.4  (#0) 00000009
New connection from 10.98.0.3  (#1) 00000009
New connection from 10.98.0.2  (#2) 00000009
Starting transfer: 00000009
Dropping client #0 because of timeout
Disconnecting #0 (10.98.0.4)
Transfer complete.
`;
const end = { code: 0, signal: null, timedOut: false, streamError: null };

describe('multicast session decisions', () => {
  it('fills in defaults and refuses a setting out of range by its name', () => {
    const s = checkSettings({ interface: 'eth0' });
    expect(s).toMatchObject({ interface: 'eth0', ttl: 1, maxBitrate: null, minReceivers: 1 });
    expect(() => checkSettings({ interface: 'eth0; rm -rf /' })).toThrow(/setting interface/);
    expect(() => checkSettings({ interface: 'eth0', groupBase: '10.0.0.1' })).toThrow(/groupBase .* not an IPv4 multicast/);
    expect(() => checkSettings({ interface: 'eth0', groupBase: '224.0.0.5' })).toThrow(/224\.0\.0\.x/);
    expect(() => checkSettings({ interface: 'eth0', portBase: 9001 })).toThrow(/portBase must be even/);
    expect(() => checkSettings({ interface: 'eth0', retriesUntilDrop: 0 })).toThrow(/retriesUntilDrop must be an integer from 1/);
    expect(() => checkSettings({ interface: 'eth0', maxBitrate: 'fast' })).toThrow(/maxBitrate/);
    expect(() => checkSettings({ interface: 'eth0', sessionTimeoutSec: Infinity })).toThrow(/sessionTimeoutSec/);
  });

  it('gives sessions running at once distinct groups and port pairs, and reuses a released slot', () => {
    const a = new SessionAllocator(checkSettings({ interface: 'eth0', groupBase: '239.1.2.254', portBase: 9000, maxSessions: 3 }));
    const s0 = a.take()!;
    const s1 = a.take()!;
    const s2 = a.take()!;
    expect([s0, s1, s2].map((s) => [s.group, s.portBase])).toEqual([
      ['239.1.2.254', 9000],
      ['239.1.2.255', 9002],
      ['239.1.3.0', 9004],
    ]);
    expect(a.take()).toBeNull();
    a.release(s1);
    expect(a.take()).toEqual(s1);
    expect(a.running).toBe(3);
  });

  it('skips slots busy elsewhere, and gives a known slot again to a session taken over', () => {
    const a = new SessionAllocator(checkSettings({ interface: 'eth0', groupBase: '239.1.2.1', portBase: 9000, maxSessions: 3 }));
    expect(a.take(new Set([0, 1]))).toMatchObject({ slot: 2, group: '239.1.2.3', portBase: 9004 });
    expect(a.reserve(1)).toMatchObject({ slot: 1, group: '239.1.2.2', portBase: 9002 });
    expect(a.reserve(1)).toBeNull();
    expect(a.reserve(3)).toBeNull();
    expect(a.take(new Set([0]))).toBeNull();
    expect(a.take()).toMatchObject({ slot: 0 });
  });

  it('builds the udp-sender command line from the settings only', () => {
    const s = checkSettings({ interface: 'v0', minReceivers: 10, maxWaitSec: 5, startTimeoutSec: 20, retriesUntilDrop: 8, maxBitrate: '300m' });
    const slot = { slot: 0, group: '239.255.82.1', portBase: 9000 };
    const args = senderArgs(s, slot);
    const opt = (k: string) => args[args.indexOf(k) + 1];
    expect([opt('--interface'), opt('--mcast-data-address'), opt('--portbase'), opt('--min-receivers'), opt('--max-wait'), opt('--start-timeout'), opt('--retries-until-drop'), opt('--max-bitrate'), opt('--ttl')]).toEqual(['v0', '239.255.82.1', '9000', '10', '5', '20', '8', '300m', '1']);
    expect(args).toContain('--nokbd');
    expect(senderArgs(checkSettings({ interface: 'v0' }), slot)).not.toContain('--max-bitrate');
  });

  it('reads who joined and who was dropped from the log, and never takes exit 0 alone for success', () => {
    const log = readSenderLog(LOG_OK);
    expect(log).toEqual({ joined: ['10.98.0.4', '10.98.0.3', '10.98.0.2'], dropped: ['10.98.0.4'], started: true, complete: true });
    expect(senderOutcome(end, log)).toMatchObject({ ok: true, reason: 'complete', detail: expect.stringMatching(/sent to its end; 3 PCs joined, 1 dropped by the sender .*10\.98\.0\.4/) });
    expect(senderOutcome(end, readSenderLog('Udp-sender 20120424\nBroadcasting control to 10.98.0.255\n'))).toMatchObject({ ok: false, reason: 'no_receivers' });
    expect(senderOutcome({ ...end, timedOut: true, code: null, signal: 'SIGTERM' }, log)).toMatchObject({ ok: false, reason: 'timeout' });
    expect(senderOutcome({ ...end, streamError: 'ENOENT chunk' }, log)).toMatchObject({ ok: false, reason: 'stream_failed', detail: /ENOENT chunk/ });
    expect(senderOutcome({ ...end, code: 1 }, log)).toMatchObject({ ok: false, reason: 'sender_failed', detail: /status 1/ });
    const allGone = readSenderLog('New connection from 10.0.0.2  (#0) 9\nStarting transfer: 9\nDropping client #0 because of timeout\nTransfer complete.\n');
    expect(senderOutcome(end, allGone)).toMatchObject({ ok: false, reason: 'all_dropped' });
  });
});
