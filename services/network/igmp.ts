// Network pre-flight (issue 14): is there an IGMP querier on the PCs' network? Switches with IGMP
// snooping learn who wants a group from the PCs' reports, which PCs send when they join and then only
// in answer to a querier's queries; with no querier the switch forgets the members after its
// membership timeout (a few minutes) and stops delivering the stream.
//
// How it is seen: a querier sends a General Query (IGMP type 0x11) to 224.0.0.1 every query interval
// (125 s by default in RFC 2236/3376 and on Linux bridges, 60 s on many Cisco switches). Node has no
// raw sockets, so `tcpdump -p -l -n -c 1 -i IF 'igmp and igmp[0] = 0x11'` listens for one (tcpdump
// ships in the worker's image). `igmp[0]` is the IGMP type wherever the IP header ends: queries carry
// the Router Alert option (a 24-byte IP header), so a fixed `ip[20]` would miss them.
// /proc/net/igmp is not used: its Querier column (net/ipv4/igmp.c igmp_mc_seq_show) prints "V1" or
// "V2" only while such a querier was heard recently, and "V3" otherwise, so an IGMPv3 querier and no
// querier at all look the same there.
//
// The listen lasts one query interval and a little (default 130 s) because a shorter silence proves
// nothing; a query ends it at once.
import { spawn } from 'node:child_process';
import type { PreflightReason } from './pxe-answers.js';

export const DEFAULT_QUERIER_LISTEN_MS = 130_000;
export const QUERY_FILTER = 'igmp and igmp[0] = 0x11';

export interface QuerierCheck {
  outcome: 'present' | 'absent';
  /** The querier's address as seen (0.0.0.0 for a switch querier without an address). */
  querier: string | null;
  /** IGMP version of the query when tcpdump names it. */
  version: string | null;
  listenedMs: number;
  reason: PreflightReason;
}

/** The querier in one tcpdump line ("… IP 10.0.0.1 > 224.0.0.1: igmp query v2"), or null. */
export function parseQueryLine(line: string): { querier: string; version: string | null } | null {
  const m = /\bIP6? (\d{1,3}(?:\.\d{1,3}){3}) > [\d.]+: igmp query(?: (v\d))?/.exec(line);
  return m ? { querier: m[1]!, version: m[2] ?? null } : null;
}

/** The check's outcome and its sentence, from what the listen heard. */
export function querierCheck(heard: { querier: string; version: string | null } | null, listenedMs: number): QuerierCheck {
  const seconds = Math.round(listenedMs / 1000);
  if (heard) {
    const v = heard.version ? ` (IGMP${heard.version})` : '';
    return {
      outcome: 'present',
      querier: heard.querier,
      version: heard.version,
      listenedMs,
      reason: {
        code: 'preflight_querier_present',
        params: { querier: heard.querier },
        text: `an IGMP querier answers on this network (${heard.querier}${v}): switches keep delivering multicast for the whole run`,
        fr: `un querier IGMP est présent sur ce réseau (${heard.querier}${v}) : les switchs continuent de distribuer le multicast pendant toute la restauration`,
      },
    };
  }
  return {
    outcome: 'absent',
    querier: null,
    version: null,
    listenedMs,
    reason: {
      code: 'preflight_querier_absent',
      params: { seconds },
      text: `no IGMP querier was heard in ${seconds} s: switches with IGMP snooping and no querier stop delivering multicast after a few minutes. Turn on the IGMP querier on the switch or the router of this network`,
      fr: `aucun querier IGMP entendu en ${seconds} s : les switchs avec IGMP snooping et sans querier cessent de distribuer le multicast au bout de quelques minutes. Activez le querier IGMP sur le switch ou le routeur de ce réseau`,
    },
  };
}

export interface QuerierListenOptions {
  interface: string;
  listenMs?: number;
  /** Default 'tcpdump'. */
  program?: string;
  /** Runs tcpdump through another program (tests: ip netns exec NS). */
  prefix?: string[];
  signal?: AbortSignal;
}

/** Listens for one IGMP query on the interface. Throws with a sentence when tcpdump cannot run. */
export function listenForQuerier(o: QuerierListenOptions): Promise<QuerierCheck> {
  const listenMs = o.listenMs ?? DEFAULT_QUERIER_LISTEN_MS;
  const args = ['-p', '-l', '-n', '-c', '1', '-i', o.interface, QUERY_FILTER];
  const cmd = [...(o.prefix ?? []), o.program ?? 'tcpdump', ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    const started = Date.now();
    let heard: { querier: string; version: string | null } | null = null;
    let err = '';
    let out = '';
    let timer: NodeJS.Timeout | undefined;
    const stop = () => child.exitCode === null && child.signalCode === null && child.kill('SIGTERM');
    const onAbort = () => stop();
    if (o.signal?.aborted) stop();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      for (const line of out.split('\n')) heard ??= parseQueryLine(line);
      if (heard) stop();
    });
    child.stderr.on('data', (b: Buffer) => {
      err = (err + b.toString()).slice(-2000);
      // The listen window starts when tcpdump listens.
      if (!timer && /listening on/.test(err)) timer = setTimeout(stop, listenMs);
    });
    child.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(e.code === 'ENOENT' ? `cannot look for an IGMP querier: ${cmd[0]} is not installed (apt-get install tcpdump)` : `cannot look for an IGMP querier: ${e.message}`));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      if (heard) return resolve(querierCheck(heard, Date.now() - started));
      if (o.signal?.aborted) return reject(new Error('the IGMP querier check was cancelled'));
      if (!timer) return reject(new Error(`cannot look for an IGMP querier on ${o.interface}: tcpdump exited (${code}): ${err.trim().split('\n').pop() ?? ''}`));
      resolve(querierCheck(null, listenMs));
    });
  });
}
