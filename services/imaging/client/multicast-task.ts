// A restore task that names a multicast session (a room run's, issue 14): the client joins it with
// udp-receiver on the interface that routes to the api, and restores through MulticastImagingApi
// (chunks from the stream, the rest repaired over HTTP). When it cannot join (udp-receiver missing,
// no route to the api), it restores over HTTP and says why in its result.
import { lookup } from 'node:dns/promises';
import type { MulticastJoin } from '../format.js';
import type { ImagingApi } from './api.js';
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
}

export type Joined = { api: MulticastImagingApi; source: MulticastSource } | { fallback: string };

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
  log(`roomcast: joining the multicast session on ${iface}, port ${join.portBase}`);
  const source = new MulticastSource({ iface, portBase: join.portBase, versionId: join.versionId, startTimeoutSec: join.startTimeoutSec, receiveTimeoutSec: join.receiveTimeoutSec, program, ...(o.prefix ? { prefix: o.prefix } : {}), log });
  return { api: new MulticastImagingApi(http, source), source };
}

/** What the result's details say of a multicast restore: bytes by multicast and by repair, chunks dropped (damaged) and evicted. */
export function multicastDetails(c: MulticastCounts): Record<string, unknown> {
  return { path: 'multicast', multicastBytes: c.multicastBytes, repairBytes: c.repairBytes, multicastChunks: c.multicastChunks, repairChunks: c.repairChunks, droppedChunks: c.badChunks, evictedChunks: c.evictedChunks, streamEnded: c.ended };
}
