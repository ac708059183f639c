// A hand-written TFTP client on a raw UDP socket, for tests that make it misbehave the way real PXE
// ROMs and lossy networks do (duplicate, stale and lost ACKs, slow ACKs, windows, rollover).
import dgram from 'node:dgram';
import { buildAck, buildRequest } from '../../services/boot/tftp/packets.js';

export interface Got {
  msg: Buffer;
  port: number;
}

export class Raw {
  private queue: Got[] = [];
  private waiter: ((g: Got) => void) | undefined;
  private constructor(readonly sock: dgram.Socket) {
    sock.on('message', (msg, rinfo) => {
      const g = { msg, port: rinfo.port };
      const w = this.waiter;
      this.waiter = undefined;
      if (w) w(g);
      else this.queue.push(g);
    });
  }
  /** A socket bound on `address` (any 127.0.0.0/8 address works on loopback: other "PCs"). */
  static async open(address = '127.0.0.1'): Promise<Raw> {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => s.bind(0, address, () => resolve()));
    return new Raw(s);
  }
  /** Resolves once the packet has left (closing the socket before that would drop it). */
  send(buf: Buffer, port: number): Promise<void> {
    return new Promise((resolve) => this.sock.send(buf, port, '127.0.0.1', () => resolve()));
  }
  recv(ms: number): Promise<Got | null> {
    const next = this.queue.shift();
    if (next) return Promise.resolve(next);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiter = undefined;
        resolve(null);
      }, ms);
      this.waiter = (g) => {
        clearTimeout(t);
        resolve(g);
      };
    });
  }
  /** Everything that arrives within `ms`. */
  async drain(ms: number): Promise<Got[]> {
    const all: Got[] = [];
    const end = Date.now() + ms;
    for (let left = ms; left > 0; left = end - Date.now()) {
      const g = await this.recv(left);
      if (g) all.push(g);
    }
    return all;
  }
  close(): void {
    this.sock.close();
  }
}

export class TftpError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(`TFTP error ${code}: ${message}`);
  }
}

export function errorOf(msg: Buffer): { code: number; text: string } | null {
  if (msg.length < 4 || msg.readUInt16BE(0) !== 5) return null;
  return { code: msg.readUInt16BE(2), text: msg.subarray(4, msg.indexOf(0, 4) < 0 ? undefined : msg.indexOf(0, 4)).toString() };
}

export function optionsOf(msg: Buffer): Map<string, string> {
  const parts = msg.subarray(2).toString('latin1').split('\0');
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < parts.length; i += 2) m.set(parts[i]!, parts[i + 1]!);
  return m;
}

export interface Behaviour {
  options?: Record<string, string | number>;
  mode?: string;
  ackTwice?: boolean;
  staleAcks?: boolean;
  /** Do not send the ACK of this block the first time (the server must send the block again). */
  dropAckOnce?: number;
  /** Pretend this block was lost the first time it arrives. */
  dropDataOnce?: number;
  ackDelayMs?: number;
  onFirstPacket?: () => void;
  client?: Raw;
}

export interface Result {
  data: Buffer;
  oack: Map<string, string> | null;
  /** Times each block (logical number) arrived. */
  arrivals: Map<number, number>;
  sources: Set<number>;
}

export async function download(port: number, file: string | Buffer, b: Behaviour = {}): Promise<Result> {
  const c = b.client ?? (await Raw.open());
  try {
    const rrq = buildRequest(1, file, b.mode ?? 'octet', b.options ?? {});
    await c.send(rrq, port);
    let tid: number | undefined;
    let oack: Map<string, string> | null = null;
    let blksize = 512;
    let window = 1;
    let received = 0;
    let sinceAck = 0;
    let lastAck: Buffer | undefined;
    let finalAckDropped = false;
    const dropped = new Set<string>();
    const chunks: Buffer[] = [];
    const arrivals = new Map<number, number>();
    const sources = new Set<number>();
    let idle = 0;
    const ack = async (n: number) => {
      lastAck = buildAck(n);
      if (b.dropAckOnce === n && !dropped.has(`a${n}`)) {
        dropped.add(`a${n}`);
        return false;
      }
      if (b.ackDelayMs) await new Promise((r) => setTimeout(r, b.ackDelayMs));
      await c.send(lastAck, tid!);
      if (b.ackTwice) await c.send(lastAck, tid!);
      if (b.staleAcks && n >= 2) await c.send(buildAck(n - 2), tid!);
      return true;
    };
    for (;;) {
      const g = await c.recv(3000);
      if (!g) {
        if (++idle > 5) throw new Error(`client gave up at block ${received}`);
        if (tid === undefined) await c.send(rrq, port);
        else if (lastAck) await c.send(lastAck, tid);
        continue;
      }
      idle = 0;
      if (tid === undefined) {
        tid = g.port;
        b.onFirstPacket?.();
      }
      sources.add(g.port);
      if (g.port !== tid) continue;
      const op = g.msg.readUInt16BE(0);
      if (op === 5) {
        const e = errorOf(g.msg)!;
        throw new TftpError(e.code, e.text);
      }
      if (op === 6) {
        if (!oack) {
          oack = optionsOf(g.msg);
          blksize = Number(oack.get('blksize') ?? 512);
          window = Number(oack.get('windowsize') ?? 1);
        }
        if (received === 0) await ack(0);
        continue;
      }
      if (op !== 3) continue;
      const block = g.msg.readUInt16BE(2);
      const expected = received + 1;
      if (block !== (expected & 0xffff)) {
        // A block sent again (our ACK was lost) or out of order (one before it was lost):
        // acknowledge what we have, so the server resumes from there.
        if (block === (received & 0xffff)) arrivals.set(received, (arrivals.get(received) ?? 0) + 1);
        sinceAck = 0;
        await ack(received);
        if (finalAckDropped) break;
        continue;
      }
      if (b.dropDataOnce === expected && !dropped.has(`d${expected}`)) {
        dropped.add(`d${expected}`);
        continue;
      }
      const payload = g.msg.subarray(4);
      received = expected;
      arrivals.set(received, (arrivals.get(received) ?? 0) + 1);
      chunks.push(Buffer.from(payload));
      sinceAck++;
      const last = payload.length < blksize;
      if (last || sinceAck >= window) {
        sinceAck = 0;
        const sent = await ack(received);
        if (last && sent) break;
        if (last) finalAckDropped = true;
      }
    }
    return { data: Buffer.concat(chunks), oack, arrivals, sources };
  } finally {
    if (!b.client) c.close();
  }
}

