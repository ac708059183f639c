// Network namespaces joined by a bridge (the multicast lab test and the multicast bench): a namespace
// holding the bridge br0, and namespaces each on one port of it through a veth pair (v0 inside, the
// named port on the bridge). Names are the caller's (per run); deleteNamespaces removes them, and with
// them their veth ends, qdiscs and nft tables. Needs root and iproute2.
import { execFileSync } from 'node:child_process';

export const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
export const inNs = (ns: string, ...cmd: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });

/** The bridge's namespace `br` with br0 up (no STP, no forward delay). */
export function makeBridge(br: string): void {
  ip('netns', 'add', br);
  ip('-n', br, 'link', 'set', 'lo', 'up');
  ip('-n', br, 'link', 'add', 'br0', 'type', 'bridge');
  ip('-n', br, 'link', 'set', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0');
  ip('-n', br, 'link', 'set', 'br0', 'up');
}

/** A namespace on the bridge with `addr` on its veth v0 (brd +: udpcast needs a broadcast address; the multicast route). */
export function joinBridge(br: string, ns: string, port: string, addr: string): void {
  ip('netns', 'add', ns);
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  ip('link', 'add', 'v0', 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', br);
  ip('-n', br, 'link', 'set', port, 'master', 'br0', 'up');
  ip('-n', ns, 'addr', 'add', `${addr}/24`, 'brd', '+', 'dev', 'v0');
  ip('-n', ns, 'link', 'set', 'v0', 'up');
  ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'v0');
}

/** Bytes sent so far on `dev` of namespace `ns`. */
export const txBytes = (ns: string, dev = 'v0') => (JSON.parse(ip('-n', ns, '-s', '-j', 'link', 'show', dev)) as Array<{ stats64: { tx: { bytes: number } } }>)[0]!.stats64.tx.bytes;

/** Deletes the namespaces that exist among `names` (the bridge's last, so its ports go with their peers). */
export function deleteNamespaces(names: string[]): void {
  for (const ns of names) {
    try {
      ip('netns', 'del', ns);
    } catch {
      // not created
    }
  }
}
