// The multicast probe of a run's session (issue 14 item 4), without I/O: where it is sent, what its
// datagrams carry, what a PC makes of what it heard, and the decision that follows. probe-io.ts sends
// and listens. Shared by the server (jobs/multicast.ts sends it) and the boot client (it listens).
//
// Rules:
// - While a run's session is being sent, the worker sends a small, low-rate probe stream to the
//   session's probe group: group PROBE_GROUP_BASE + slot on port PROBE_PORT. checkSettings
//   (session.ts) refuses data groups and port pairs that would cover them, so a probe never lands on
//   a session's data.
// - Every datagram says what it is: magic "RCP1", then a JSON header (run id, session slot, sequence
//   number, send time in ms, burst number and index), then padding to its size. A datagram of another
//   run, or not a probe at all, is counted apart and never as received.
// - The stream is a trickle (one datagram every intervalMs) and, every burstEveryMs, a short burst
//   of burstCount datagrams sent back to back: the PC measures the rate at which the bursts reached it
//   (the median of those it heard, from its own arrival times).
//   That is the rate the network delivered multicast to this PC over a few tens of kilobytes, an
//   indication, not the link's capacity.
// - The decision (decideProbe) gives a path and a reason for every outcome: nothing of the run's
//   probe heard is unicast at once ("multicast did not reach this PC (probe not received)"), so the PC
//   never waits out udp-receiver's timeouts; heard (even lossy: the stream's repair covers losses)
//   is multicast; a probe the PC could not listen for (no address on the interface) keeps multicast,
//   whose own fallbacks still apply, and says so.

export const PROBE_MAGIC = 'RCP1';
/** The probe groups: session slot k's probe goes to PROBE_GROUP_BASE + k (administratively scoped). */
export const PROBE_GROUP_BASE = '239.255.83.1';
export const PROBE_PORT = 8998;
/** Bytes of every probe datagram (under a 1500-byte MTU with its IP and UDP headers). */
export const PROBE_SIZE = 1400;

export interface ProbeHeader {
  run: number;
  slot: number;
  seq: number;
  /** Send time, ms since the epoch (the sender's clock). */
  sentAt: number;
  /** The burst this datagram belongs to, and its index in it (null: a trickle datagram). */
  burst: number | null;
  index: number | null;
}

/** What the task tells the PC so that it listens for its session's probe. */
export interface ProbeJoin {
  group: string;
  port: number;
  runId: number;
  /** Listen at most this long (ms). */
  listenMs: number;
}

const toInt = (s: string) => s.split('.').reduce((n, p) => n * 256 + Number(p), 0);
const dotted = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/** Session slot k's probe group. */
export function probeGroup(slot: number): string {
  if (!Number.isInteger(slot) || slot < 0 || slot > 255) throw new Error(`no probe group for session slot ${slot}`);
  return dotted(toInt(PROBE_GROUP_BASE) + slot);
}

/** Whether the probe groups (up to `slots` of them) are in [first, first + count). */
export function probeGroupsOverlap(first: string, count: number, slots: number): boolean {
  const a = toInt(first);
  const p = toInt(PROBE_GROUP_BASE);
  return a < p + slots && p < a + count;
}

export function encodeProbe(h: ProbeHeader, size = PROBE_SIZE): Buffer {
  const json = Buffer.from(JSON.stringify(h));
  const b = Buffer.alloc(Math.max(size, 6 + json.length));
  b.write(PROBE_MAGIC, 0, 'ascii');
  b.writeUInt16BE(json.length, 4);
  json.copy(b, 6);
  return b;
}

/** The header of a probe datagram, or null when it is not one. */
export function decodeProbe(b: Buffer): ProbeHeader | null {
  if (b.length < 6 || b.toString('ascii', 0, 4) !== PROBE_MAGIC) return null;
  const n = b.readUInt16BE(4);
  if (6 + n > b.length) return null;
  try {
    const h = JSON.parse(b.toString('utf8', 6, 6 + n)) as Partial<ProbeHeader>;
    const int = (v: unknown) => typeof v === 'number' && Number.isInteger(v);
    if (!int(h.run) || !int(h.slot) || !int(h.seq) || typeof h.sentAt !== 'number') return null;
    return { run: h.run!, slot: h.slot!, seq: h.seq!, sentAt: h.sentAt, burst: int(h.burst) ? h.burst! : null, index: int(h.index) ? h.index! : null };
  } catch {
    return null;
  }
}

/** One datagram as the PC got it: its header, its size and when it arrived (ms, a monotonic clock). */
export interface Arrival {
  h: ProbeHeader;
  bytes: number;
  at: number;
}

/** What a PC heard of its run's probe. */
export interface ProbeSeen {
  /** Datagrams of this run's probe received (each sequence number once). */
  received: number;
  /** Sequence numbers from the first to the last received, and those missing among them. */
  expected: number;
  lost: number;
  /** Bytes per second at which the median burst reached the PC (null: no burst heard in full enough). */
  rate: number | null;
  /** Datagrams on the probe port that were not this run's probe (another run, or not a probe). */
  foreign: number;
  listenMs: number;
  /** Why the PC could not listen (no IPv4 address on the interface, the port taken): null when it did. */
  error: string | null;
}

/** The figures of what was heard (pure: the listener gives its arrivals). */
export function summarize(runId: number, arrivals: Arrival[], foreign: number, listenMs: number, error: string | null = null): ProbeSeen {
  const mine = new Map<number, Arrival>();
  for (const a of arrivals) {
    if (a.h.run !== runId) foreign++;
    else if (!mine.has(a.h.seq)) mine.set(a.h.seq, a);
  }
  const seqs = [...mine.keys()].sort((x, y) => x - y);
  const expected = seqs.length ? seqs.at(-1)! - seqs[0]! + 1 : 0;
  const bursts = new Map<number, Arrival[]>();
  for (const a of mine.values()) if (a.h.burst !== null) bursts.set(a.h.burst, [...(bursts.get(a.h.burst) ?? []), a]);
  const rates: number[] = [];
  for (const b of bursts.values()) {
    if (b.length < 8) continue;
    b.sort((x, y) => x.at - y.at);
    const ms = b.at(-1)!.at - b[0]!.at;
    // The first datagram's arrival starts the clock: the bytes that came after it, over the time they took.
    if (ms > 0) rates.push((b.slice(1).reduce((t, a) => t + a.bytes, 0) * 1000) / ms);
  }
  // The median burst: one burst read late in a batch (the PC busy for a moment) does not make the figure.
  rates.sort((x, y) => x - y);
  const rate = rates.length ? rates[Math.floor((rates.length - 1) / 2)]! : null;
  return { received: mine.size, expected, lost: expected - mine.size, rate: rate === null ? null : Math.round(rate), foreign, listenMs, error };
}

export type ProbeCode = 'probe_received' | 'probe_lossy' | 'probe_not_received' | 'probe_not_listened';

export interface ProbeDecision {
  path: 'multicast' | 'unicast';
  code: ProbeCode;
  /** The sentence for the PC's log and its run's report (English; report.ts has the French). */
  text: string;
}

/** Past this share of the probe's datagrams lost, the PC still joins but the reason says so. */
export const LOSSY_SHARE = 0.2;

export const NOT_RECEIVED = 'multicast did not reach this PC (probe not received)';

const mbps = (bytesPerSec: number) => `${((bytesPerSec * 8) / 1e6).toFixed(1)} Mbit/s`;

/** Multicast or unicast for this PC, from what it heard of its run's probe, with the reason. */
export function decideProbe(s: ProbeSeen): ProbeDecision {
  if (s.error !== null) return { path: 'multicast', code: 'probe_not_listened', text: `the PC could not listen for the multicast probe (${s.error}): it joins the session anyway` };
  if (s.received === 0)
    return { path: 'unicast', code: 'probe_not_received', text: `${NOT_RECEIVED}${s.foreign ? `; ${s.foreign} datagrams of something else were heard on the probe port` : ''}` };
  const share = s.expected ? s.lost / s.expected : 0;
  const figures = `${s.received} of ${s.expected} probe datagrams in ${(s.listenMs / 1000).toFixed(1)} s${s.rate !== null ? `, bursts at ${mbps(s.rate)}` : ''}`;
  if (share > LOSSY_SHARE) return { path: 'multicast', code: 'probe_lossy', text: `multicast reached this PC with ${Math.round(share * 100)} % loss (${figures}): it joins the session and repairs over HTTP what it misses` };
  return { path: 'multicast', code: 'probe_received', text: `multicast reached this PC (${figures})` };
}
