// The multicast probe's sender (probe.ts has the format and the decision; the PC's listener is
// client/probe-listen.ts): on the worker's interface to the PCs, for as long as a run's session is
// being sent.
import dgram from 'node:dgram';
import os from 'node:os';
import { encodeProbe } from './probe.js';

/** The interface's first IPv4 address (null: none, or no such interface). */
export function ipv4Of(iface: string): string | null {
  return os.networkInterfaces()[iface]?.find((a) => a.family === 'IPv4')?.address ?? null;
}

export interface ProbeSenderOptions {
  iface: string;
  group: string;
  port: number;
  runId: number;
  slot: number;
  /** One trickle datagram every intervalMs (default 200), and a burst of burstCount (default 32) every burstEveryMs (default 1000). */
  intervalMs?: number;
  burstCount?: number;
  burstEveryMs?: number;
  ttl?: number;
}

/** Sends a run's probe until stop(). start() rejects when the interface has no IPv4 address. */
export class ProbeSender {
  private socket: dgram.Socket | null = null;
  private timers: NodeJS.Timeout[] = [];
  private seq = 0;
  private burst = 0;
  sent = 0;

  constructor(private readonly o: ProbeSenderOptions) {}

  async start(): Promise<void> {
    const address = ipv4Of(this.o.iface);
    if (!address) throw new Error(`the interface ${this.o.iface} has no IPv4 address`);
    const s = dgram.createSocket('udp4');
    this.socket = s;
    s.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(0, address, () => resolve());
    });
    s.setMulticastInterface(address);
    s.setMulticastTTL(this.o.ttl ?? 1);
    s.setMulticastLoopback(false);
    const one = (burst: number | null, index: number | null) => {
      const b = encodeProbe({ run: this.o.runId, slot: this.o.slot, seq: this.seq++, sentAt: Date.now(), burst, index });
      s.send(b, this.o.port, this.o.group, (err) => err || this.sent++);
    };
    one(null, null);
    this.timers.push(setInterval(() => one(null, null), this.o.intervalMs ?? 200));
    this.timers.push(
      setInterval(() => {
        const n = this.burst++;
        for (let i = 0; i < (this.o.burstCount ?? 32); i++) one(n, i);
      }, this.o.burstEveryMs ?? 1000),
    );
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.socket?.close();
    this.socket = null;
  }
}
