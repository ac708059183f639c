// Network namespaces joined by a bridge, for tests that send real traffic (multicast, DHCP...) only
// between namespaces they make: a bridge namespace `<prefix>b` holding br0, and member namespaces,
// each with a veth v0 on the bridge (an address with its broadcast, udpcast needs one, and the
// multicast route). remove() deletes them all, which deletes their links, qdiscs and nft tables.
// (The pattern of test/integration/multicast-lab.test.ts, which could use this helper too.)
import { execFileSync } from 'node:child_process';

export const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

export class BridgeLab {
  readonly bridge: string;
  private readonly members: string[] = [];

  /** `prefix`: unique per test run (a few random hex digits), at most 9 characters so that names stay short. */
  constructor(readonly prefix: string) {
    this.bridge = `${prefix}b`;
  }

  up(): void {
    ip('netns', 'add', this.bridge);
    ip('-n', this.bridge, 'link', 'set', 'lo', 'up');
    ip('-n', this.bridge, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', this.bridge, 'link', 'set', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0');
    ip('-n', this.bridge, 'link', 'set', 'br0', 'up');
  }

  /** A namespace `<prefix><name>` on the bridge with `addr` (/24) on its veth v0; its name. */
  join(name: string, addr: string): string {
    const ns = `${this.prefix}${name}`;
    const port = `p${this.members.length}`;
    ip('netns', 'add', ns);
    this.members.push(ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('link', 'add', 'v0', 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', this.bridge);
    ip('-n', this.bridge, 'link', 'set', port, 'master', 'br0', 'up');
    ip('-n', ns, 'addr', 'add', `${addr}/24`, 'brd', '+', 'dev', 'v0');
    ip('-n', ns, 'link', 'set', 'v0', 'up');
    ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'v0');
    return ns;
  }

  /** Runs a program inside namespace `ns`: the prefix for spawn. */
  static exec(ns: string): string[] {
    return ['ip', 'netns', 'exec', ns];
  }

  /** Bytes sent on v0 of namespace `ns` so far. */
  static txBytes(ns: string): number {
    return (JSON.parse(ip('-n', ns, '-s', '-j', 'link', 'show', 'v0')) as Array<{ stats64: { tx: { bytes: number } } }>)[0]!.stats64.tx.bytes;
  }

  remove(): void {
    for (const ns of [...this.members.splice(0), this.bridge]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // not created
      }
    }
  }
}
