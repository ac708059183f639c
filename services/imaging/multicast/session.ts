// The decisions of a multicast session on the server (issue 14), without I/O: the settings and their
// defaults, which data group and ports a session takes, the udp-sender command line, and what
// udp-sender's log says happened. sender.ts runs the program.
//
// Rules:
// - Every option of udp-sender comes from MulticastSettings; a missing setting takes its default
//   (DEFAULT_SETTINGS), and a setting out of range is refused with its name (checkSettings).
// - Sessions never share a data group or a port pair: session k of the allocator takes the k-th
//   address from `groupBase` and the ports portBase + 2k and portBase + 2k + 1 (udpcast uses a
//   port pair, its control on the broadcast address of the interface), so two rooms run at once
//   without seeing each other's data. A released slot is taken again by a later session.
// - The sender is bounded whatever the PCs do: it starts when `minReceivers` joined, or `maxWaitSec`
//   after a first PC joined; with no PC at all it gives up after `startTimeoutSec`; a PC that does
//   not acknowledge for `retriesUntilDrop` retransmission rounds is dropped (it repairs over HTTP);
//   and sender.ts kills it after `sessionTimeoutSec` whatever it is doing.
// - udp-sender exits 0 when no PC joined too: the outcome is read from its log (joined, dropped,
//   started, complete), never from its exit status alone.

import { PROBE_GROUP_BASE, PROBE_PORT, probeGroupsOverlap } from './probe.js';

export interface MulticastSettings {
  /** The server's interface on the PCs' network (udp-sender --interface). */
  interface: string;
  /** First multicast data group (administratively scoped 239.0.0.0/8 by default); session k takes the k-th address from it. */
  groupBase: string;
  /** First port of the port pairs (even); session k uses portBase + 2k and portBase + 2k + 1. */
  portBase: number;
  /** Sessions that can run at once (data groups and port pairs available). */
  maxSessions: number;
  /** The transfer starts as soon as this many PCs joined... */
  minReceivers: number;
  /** ...or this many seconds after the first PC joined. */
  maxWaitSec: number;
  /** With no PC joined after this many seconds, the session gives up. */
  startTimeoutSec: number;
  /** A PC silent for this many retransmission rounds is dropped (it repairs over HTTP). */
  retriesUntilDrop: number;
  /** udp-sender --max-bitrate ('300m', '1g'), null for no limit. */
  maxBitrate: string | null;
  /** Multicast TTL: 1 keeps the stream on the PCs' own network. */
  ttl: number;
  /** Hard bound on a whole session: sender.ts kills udp-sender past it. */
  sessionTimeoutSec: number;
}

export const DEFAULT_SETTINGS: Omit<MulticastSettings, 'interface'> = {
  groupBase: '239.255.82.1',
  portBase: 9000,
  maxSessions: 16,
  minReceivers: 1,
  maxWaitSec: 30,
  startTimeoutSec: 300,
  retriesUntilDrop: 30,
  maxBitrate: null,
  ttl: 1,
  sessionTimeoutSec: 4 * 3600,
};

/** The settings with their defaults; throws naming the first setting out of range. */
export function checkSettings(s: Partial<MulticastSettings> & { interface: string }): MulticastSettings {
  const o: MulticastSettings = { ...DEFAULT_SETTINGS, ...s };
  const bad = (name: string, why: string): never => {
    throw new Error(`multicast setting ${name} ${why}`);
  };
  if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(o.interface)) bad('interface', `"${o.interface}" is not an interface name`);
  const g = ipv4(o.groupBase);
  if (g === null || g >>> 28 !== 0xe) bad('groupBase', `${o.groupBase} is not an IPv4 multicast address (224.0.0.0/4)`);
  if (g !== null && ((g + o.maxSessions - 1) >>> 28 !== 0xe || (g & 0xffffff00) >>> 0 === 0xe0000000)) bad('groupBase', `${o.groupBase} + ${o.maxSessions} sessions leaves the multicast range or uses 224.0.0.x`);
  const int = (name: keyof MulticastSettings, min: number, max: number) => {
    const v = o[name] as number;
    if (!Number.isInteger(v) || v < min || v > max) bad(name, `must be an integer from ${min} to ${max} (is ${v})`);
  };
  int('portBase', 1024, 65534 - 2 * o.maxSessions);
  if (o.portBase % 2) bad('portBase', `must be even (is ${o.portBase})`);
  // The sessions' probes (probe.ts) have their own groups and port: no data group or port pair covers them.
  if (g !== null && probeGroupsOverlap(o.groupBase, o.maxSessions, o.maxSessions)) bad('groupBase', `${o.groupBase} + ${o.maxSessions} sessions covers the probe groups from ${PROBE_GROUP_BASE}`);
  if (PROBE_PORT >= o.portBase && PROBE_PORT < o.portBase + 2 * o.maxSessions) bad('portBase', `${o.portBase} + ${2 * o.maxSessions} ports covers the probe port ${PROBE_PORT}`);
  int('maxSessions', 1, 256);
  int('minReceivers', 1, 1000);
  int('maxWaitSec', 0, 86_400);
  int('startTimeoutSec', 1, 86_400);
  int('retriesUntilDrop', 1, 1000);
  int('ttl', 1, 32);
  int('sessionTimeoutSec', 10, 7 * 86_400);
  if (o.maxBitrate !== null && !/^\d+(\.\d+)?[kmg]?$/i.test(o.maxBitrate)) bad('maxBitrate', `"${o.maxBitrate}" is not a rate like 300m or 1g`);
  return o;
}

function ipv4(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const p = m.slice(1).map(Number);
  if (p.some((x) => x > 255)) return null;
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

const dotted = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/** Where one session's data goes: what a PC's udp-receiver needs to join it. */
export interface SessionSlot {
  slot: number;
  group: string;
  portBase: number;
}

/** Hands out data groups and port pairs so that sessions running at once never share one. */
export class SessionAllocator {
  private readonly used = new Set<number>();
  constructor(private readonly s: MulticastSettings) {}

  /** A free slot, or null when maxSessions run already. `busy`: slots taken elsewhere (another worker's sessions). */
  take(busy: ReadonlySet<number> = new Set()): SessionSlot | null {
    for (let k = 0; k < this.s.maxSessions; k++) {
      if (this.used.has(k) || busy.has(k)) continue;
      return this.reserve(k);
    }
    return null;
  }

  /** Slot k again (a session taken over from a worker that died: its PCs know its ports), or null when it is out of range or in use here. */
  reserve(k: number): SessionSlot | null {
    if (!Number.isInteger(k) || k < 0 || k >= this.s.maxSessions || this.used.has(k)) return null;
    this.used.add(k);
    return { slot: k, group: dotted(ipv4(this.s.groupBase)! + k), portBase: this.s.portBase + 2 * k };
  }

  release(slot: SessionSlot): void {
    this.used.delete(slot.slot);
  }

  get running(): number {
    return this.used.size;
  }
}

/** udp-sender's arguments for a session; the record stream goes to its stdin. */
export function senderArgs(s: MulticastSettings, slot: SessionSlot): string[] {
  const args = [
    '--interface', s.interface,
    '--mcast-data-address', slot.group,
    '--portbase', String(slot.portBase),
    '--min-receivers', String(s.minReceivers),
    '--max-wait', String(s.maxWaitSec),
    '--start-timeout', String(s.startTimeoutSec),
    '--retries-until-drop', String(s.retriesUntilDrop),
    '--ttl', String(s.ttl),
    '--nokbd',
    '--no-progress',
  ];
  if (s.maxBitrate) args.push('--max-bitrate', s.maxBitrate);
  return args;
}

export type SenderReason =
  /** udp-sender sent the stream to its end with at least one PC still joined (each PC checks what it got itself). */
  | 'complete'
  /** No PC joined within startTimeoutSec. */
  | 'no_receivers'
  /** sessionTimeoutSec passed: udp-sender was killed. */
  | 'timeout'
  /** Every PC that joined was dropped before the end. */
  | 'all_dropped'
  /** The record stream could not be read (a chunk missing from the store...). */
  | 'stream_failed'
  /** udp-sender failed (exit status, signal, or it would not start). */
  | 'sender_failed';

export interface SenderLog {
  joined: string[];
  dropped: string[];
  started: boolean;
  complete: boolean;
}

/** What udp-sender's log (its stderr) says: PCs joined and dropped (by address), started, complete. */
export function readSenderLog(text: string): SenderLog {
  const joined: string[] = [];
  const byNumber = new Map<string, string>();
  const dropped: string[] = [];
  for (const line of text.split('\n')) {
    const j = /^New connection from (\S+)\s+\(#(\d+)\)/.exec(line);
    if (j) {
      joined.push(j[1]!);
      byNumber.set(j[2]!, j[1]!);
    }
    const d = /^Dropping client #(\d+)/.exec(line);
    if (d) dropped.push(byNumber.get(d[1]!) ?? `#${d[1]}`);
  }
  return { joined, dropped, started: /^Starting transfer/m.test(text), complete: /^Transfer complete/m.test(text) };
}

/** The outcome of a session from how udp-sender ended and what it logged. */
export function senderOutcome(end: { code: number | null; signal: string | null; timedOut: boolean; streamError: string | null }, log: SenderLog): { ok: boolean; reason: SenderReason; detail: string } {
  if (end.timedOut) return { ok: false, reason: 'timeout', detail: `the session ran past its bound and udp-sender was stopped (${log.joined.length} PCs joined, ${log.dropped.length} dropped)` };
  if (end.streamError) return { ok: false, reason: 'stream_failed', detail: `the chunk stream failed: ${end.streamError}` };
  if (end.code !== 0) return { ok: false, reason: 'sender_failed', detail: `udp-sender ended with ${end.signal ? `signal ${end.signal}` : `status ${end.code}`}` };
  if (!log.joined.length || !log.started) return { ok: false, reason: 'no_receivers', detail: 'no PC joined the session before its start timeout' };
  if (log.dropped.length >= log.joined.length) return { ok: false, reason: 'all_dropped', detail: `every PC that joined was dropped (${log.dropped.join(', ')})` };
  if (!log.complete) return { ok: false, reason: 'sender_failed', detail: 'udp-sender ended without saying the transfer was complete' };
  // The sender knows who joined and whom it dropped, not what each PC wrote: a PC still joined may
  // have lost chunks it repairs over HTTP. So the sentence claims only what the sender saw.
  return { ok: true, reason: 'complete', detail: `the stream was sent to its end; ${log.joined.length} PCs joined, ${log.dropped.length} dropped by the sender${log.dropped.length ? ` (they repair over HTTP: ${log.dropped.join(', ')})` : ''}` };
}
