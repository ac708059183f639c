// Network namespaces joined by a bridge (the multicast lab test, the multicast bench, runs-multicast): a namespace
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

/**
 * The same as a class that remembers its namespaces: a bridge namespace `<prefix>b` and members
 * `<prefix><name>`, each on port p<k>; remove() deletes them all (the bridge's last).
 */
export class BridgeLab {
  readonly bridge: string;
  private readonly members: string[] = [];

  /** `prefix`: unique per test run (a few random hex digits), at most 9 characters so that names stay short. */
  constructor(readonly prefix: string) {
    this.bridge = `${prefix}b`;
  }

  up(): void {
    makeBridge(this.bridge);
  }

  /** A namespace `<prefix><name>` on the bridge with `addr` (/24) on its veth v0; its name. */
  join(name: string, addr: string): string {
    const ns = `${this.prefix}${name}`;
    const port = `p${this.members.length}`;
    this.members.push(ns);
    joinBridge(this.bridge, ns, port, addr);
    return ns;
  }

  /** Runs a program inside namespace `ns`: the prefix for spawn. */
  static exec(ns: string): string[] {
    return ['ip', 'netns', 'exec', ns];
  }

  static txBytes(ns: string): number {
    return txBytes(ns);
  }

  remove(): void {
    deleteNamespaces([...this.members.splice(0), this.bridge]);
  }
}
