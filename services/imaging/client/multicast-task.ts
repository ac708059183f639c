// A restore task that names a multicast session (a room run's, issue 14): the client joins it with
// udp-receiver on the interface that routes to the api, and restores through MulticastImagingApi
// (chunks from the stream, the rest repaired over HTTP). When it cannot join (udp-receiver missing,
// no route to the api), it restores over HTTP and says why in its result.
// When the task names the session's multicast probe, the client listens for it first, for a bounded
// time (probe.ts): a PC that heard none restores over HTTP at once ("multicast did not reach this PC
// (probe not received)") instead of waiting out udp-receiver's timeouts; what it heard goes into its
// result either way, and the server records it on the PC's run line.
import { lookup } from 'node:dns/promises';
import type { ImagingApi } from './api.js';
import { listenProbe } from './probe-listen.js';
import { decideProbe, type MulticastJoin, type ProbeDecision, type ProbeJoin, type ProbeSeen } from '../format.js';
import { MulticastImagingApi, MulticastSource, type MulticastCounts } from './multicast.js';
import { tryRun } from './sys.js';

export interface MulticastClientOptions {
  /** The PC's interface on the room's network; default the one `ip route get` gives for the api's address. */
  iface?: string;
  /** The api's host (name or address), to find that interface. */
  apiHost?: string;
  program?: string;
  /** Runs udp-receiver and ip through another program (tests: ip netns exec NS). */
  prefix?: string[];
  /** Listens for the session's probe (default probe-io.ts listenProbe, in this process's network namespace). */
  listenProbe?: (iface: string, probe: ProbeJoin) => Promise<ProbeSeen>;
}

/** What the PC heard of its session's probe and what it decided, as its result's details carry it. */
export type ProbeReport = ProbeSeen & ProbeDecision;

export type Joined = ({ api: MulticastImagingApi; source: MulticastSource } | { fallback: string }) & { probe?: ProbeReport };

/** Listens for the session's probe on `iface` and decides (probe.ts); the line for the PC's log too. */
export async function probeFirst(iface: string, probe: ProbeJoin, log: (line: string) => void, listen = listenProbe): Promise<ProbeReport> {
  log(`roomcast: listening for the multicast probe on ${iface} (${probe.group}:${probe.port}, at most ${(probe.listenMs / 1000).toFixed(1)} s)`);
  const seen = await listen(iface, probe);
  const decision = decideProbe(seen);
  log(`roomcast: multicast probe: ${decision.text}`);
  return { ...seen, ...decision };
}

const through = (prefix: string[] | undefined, cmd: string, args: string[]): [string, string[]] => (prefix?.length ? [prefix[0]!, [...prefix.slice(1), cmd, ...args]] : [cmd, args]);

/** The interface the api is reached through ("dev X" of `ip route get`), or why it is not known. */
async function routeTo(host: string, prefix?: string[]): Promise<string | { why: string }> {
  const address = /^\d+\.\d+\.\d+\.\d+$/.test(host) ? host : await lookup(host, { family: 4 }).then((a) => a.address, () => null);
  if (!address) return { why: `the api's host ${host} has no IPv4 address` };
  const r = await tryRun(...through(prefix, 'ip', ['-4', 'route', 'get', address]));
  const dev = r && /\bdev (\S+)/.exec(r.stdout)?.[1];
  return dev ?? { why: `no route to the api (${address}) was found` };
}

/** Joins the task's session, or says why the restore goes over HTTP. */
export async function joinSession(http: ImagingApi, join: MulticastJoin, o: MulticastClientOptions, log: (line: string) => void): Promise<Joined> {
  const program = o.program ?? 'udp-receiver';
  if (!(await tryRun(...through(o.prefix, 'sh', ['-c', `command -v ${program}`])))) return { fallback: `${program} is missing from the boot client` };
  let iface = o.iface;
  if (!iface) {
    if (!o.apiHost) return { fallback: "the interface to the room's network is not known" };
    const found = await routeTo(o.apiHost, o.prefix);
    if (typeof found !== 'string') return { fallback: found.why };
    iface = found;
  }
  const probe = join.probe ? await probeFirst(iface, join.probe, log, o.listenProbe) : undefined;
  if (probe?.path === 'unicast') return { fallback: probe.text, probe };
  log(`roomcast: joining the multicast session on ${iface}, port ${join.portBase}`);
  const source = new MulticastSource({ iface, portBase: join.portBase, versionId: join.versionId, startTimeoutSec: join.startTimeoutSec, receiveTimeoutSec: join.receiveTimeoutSec, program, ...(o.prefix ? { prefix: o.prefix } : {}), log });
  return { api: new MulticastImagingApi(http, source), source, ...(probe ? { probe } : {}) };
}

/** What the result's details say of a multicast restore: bytes by multicast and by repair, chunks dropped (damaged) and evicted. */
export function multicastDetails(c: MulticastCounts): Record<string, unknown> {
  return { path: 'multicast', multicastBytes: c.multicastBytes, repairBytes: c.repairBytes, multicastChunks: c.multicastChunks, repairChunks: c.repairChunks, droppedChunks: c.badChunks, evictedChunks: c.evictedChunks, streamEnded: c.ended };
}
