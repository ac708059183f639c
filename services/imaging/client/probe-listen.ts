// The PC's side of the multicast probe (probe.ts, through format.ts): it listens for its run's probe on
// its interface for a bounded time before it joins the session, and says what it heard.
import dgram from 'node:dgram';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { decodeProbe, summarizeProbe as summarize, type ProbeArrival as Arrival, type ProbeJoin, type ProbeSeen } from '../format.js';

/** The interface's first IPv4 address (null: none, or no such interface). */
function ipv4Of(iface: string): string | null {
  return os.networkInterfaces()[iface]?.find((a) => a.family === 'IPv4')?.address ?? null;
}

/**
 * Listens for the run's probe on `iface` for at most join.listenMs, ending early once enough was heard
 * (`enoughBursts` bursts of the run's probe, default 3). Never throws: a listener that could not
 * start says why in the result's `error`.
 */
export async function listenProbe(iface: string, join: ProbeJoin, enoughBursts = 3): Promise<ProbeSeen> {
  const started = performance.now();
  const arrivals: Arrival[] = [];
  let foreign = 0;
  const address = ipv4Of(iface);
  if (!address) return summarize(join.runId, [], 0, 0, `the interface ${iface} has no IPv4 address`);
  const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      // Bound to the group's address: only datagrams sent to that group reach this socket.
      s.bind(join.port, join.group, () => resolve());
    });
    s.addMembership(join.group, address);
    // Past the bind, an error of the socket ends nothing: the listen is bounded by its timer.
    s.on('error', () => undefined);
  } catch (err) {
    s.close();
    return summarize(join.runId, [], 0, performance.now() - started, `could not listen on ${join.group}:${join.port}: ${(err as Error).message}`);
  }
  await new Promise<void>((resolve) => {
    const bursts = new Set<number>();
    const timer = setTimeout(resolve, join.listenMs);
    s.on('message', (b) => {
      const h = decodeProbe(b);
      if (!h) return void foreign++;
      arrivals.push({ h, bytes: b.length, at: performance.now() });
      // A burst counts once a later datagram shows it is over.
      if (h.run === join.runId && h.burst === null && arrivals.some((a) => a.h.run === join.runId && a.h.burst !== null)) {
        for (const a of arrivals) if (a.h.run === join.runId && a.h.burst !== null) bursts.add(a.h.burst);
        if (bursts.size >= enoughBursts) {
          clearTimeout(timer);
          resolve();
        }
      }
    });
  });
  const ms = performance.now() - started;
  s.close();
  return summarize(join.runId, arrivals, foreign, Math.round(ms));
}
