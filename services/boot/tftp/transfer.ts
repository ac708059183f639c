// One read transfer's state machine, on its own socket (the server's TID for this client).
//
// Blocks are numbered logically from 1 and sent as (n & 0xffff), so block numbers wrap to 0 past
// 65535. The server sends a window of `windowsize` blocks (1 without RFC 7440) and waits:
//   - an ACK for a block inside the window moves the window on (an ACK for a block before the
//     window's end means the client lost one: the window restarts after the acknowledged block);
//   - a duplicate or stale ACK (already acknowledged, or not yet sent) is ignored: answering it
//     would double the traffic for the rest of the transfer (Sorcerer's Apprentice) or stall;
//   - on timeout the window (or the OACK) is sent again, with exponential backoff, up to `retries`
//     times; then the transfer ends.
// Packets from any other address or port are ignored and never disturb the transfer (the socket is
// connected to the client: the kernel drops them, and a client that is gone — ICMP port unreachable —
// ends the transfer at once instead of after its retries).
// The file is read through FileData (files.ts): a block not yet in memory pauses the window until
// its segment is loaded.
import type dgram from 'node:dgram';
import type { FileData } from './files.js';
import { OP, dataHeader, parseAck, parseError } from './packets.js';

/** Longest wait between two retransmissions, unless the negotiated timeout is longer. */
export const MAX_BACKOFF_MS = 10_000;

export interface TransferParams {
  /** Bound, and connected to the peer (socket.connect) before start(). */
  socket: dgram.Socket;
  peer: { address: string; port: number };
  file: FileData;
  blksize: number;
  windowsize: number;
  timeoutMs: number;
  retries: number;
  /** The OACK to send first, or null to start with DATA 1 (no options accepted). */
  oack: Buffer | null;
}

export type Outcome =
  | { kind: 'complete' }
  | { kind: 'client-error'; code: number; message: string }
  | { kind: 'timeout'; lastSendError?: string }
  | { kind: 'socket-error'; message: string }
  | { kind: 'cancelled'; reason: string };

export interface TransferStats {
  blocksSent: number;
  retransmits: number;
  ignoredAcks: number;
  foreignPackets: number;
  durationMs: number;
}

/** What the server holds of a running transfer: this file's Transfer, or the pump's (pump.ts). */
export interface RunningTransfer {
  readonly totalBlocks: number;
  /** Resolves once, when the transfer has ended. */
  readonly done: Promise<Outcome>;
  readonly stats: TransferStats;
  start(): void;
  cancel(reason: string): void;
}

export class Transfer implements RunningTransfer {
  readonly totalBlocks: number;
  /** Resolves once, when the transfer has ended and its socket is closed. */
  readonly done: Promise<Outcome>;
  private phase: 'oack' | 'data' | 'done';
  private acked = 0;
  private sentUpTo = 0;
  private attempts = 0;
  private timer: NodeJS.Timeout | undefined;
  private waiting = false;
  private timerMs = 0;
  private readonly onTimeoutBound = () => this.onTimeout();
  private readonly afterSend = (err: Error | null) => {
    // A failed send is a lost packet: the retransmission timer covers it.
    if (err) this.lastSendError = err.message;
  };
  private lastSendError: string | undefined;
  private resolveDone!: (o: Outcome) => void;
  private readonly started = performance.now();
  private readonly counters = { blocksSent: 0, retransmits: 0, ignoredAcks: 0, foreignPackets: 0 };

  constructor(private readonly p: TransferParams) {
    this.totalBlocks = Math.floor(p.file.size / p.blksize) + 1;
    this.phase = p.oack ? 'oack' : 'data';
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    p.socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    p.socket.on('error', (err) => this.finish({ kind: 'socket-error', message: err.message }));
  }

  start(): void {
    if (this.phase === 'oack') this.sendOack();
    else this.sendWindow();
  }

  /** Ends the transfer without telling the client (server stopping, or the client started over). */
  cancel(reason: string): void {
    this.finish({ kind: 'cancelled', reason });
  }

  get stats(): TransferStats {
    return { ...this.counters, durationMs: Math.round(performance.now() - this.started) };
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.phase === 'done') return;
    if (rinfo.address !== this.p.peer.address || rinfo.port !== this.p.peer.port) {
      this.counters.foreignPackets++;
      return;
    }
    if (msg.length < 4) return;
    const op = msg.readUInt16BE(0);
    if (op === OP.ACK) {
      this.onAck(parseAck(msg)!);
    } else if (op === OP.ERROR) {
      const e = parseError(msg)!;
      this.finish({ kind: 'client-error', code: e.code, message: e.message });
    }
    // Anything else (DATA, a request sent to the wrong port, garbage) is ignored.
  }

  private onAck(block: number): void {
    if (this.phase === 'oack') {
      if (block !== 0) {
        this.counters.ignoredAcks++;
        return;
      }
      this.phase = 'data';
      this.attempts = 0;
      this.sendWindow();
      return;
    }
    // Distance from the last acknowledged block, modulo 2^16: 1..(blocks in flight) is progress.
    const ahead = (block - this.acked) & 0xffff;
    if (ahead === 0 || ahead > this.sentUpTo - this.acked) {
      this.counters.ignoredAcks++;
      return;
    }
    this.acked += ahead;
    this.attempts = 0;
    if (this.acked >= this.totalBlocks) this.finish({ kind: 'complete' });
    else this.sendWindow();
  }

  private sendOack(): void {
    this.send([this.p.oack!]);
    this.arm();
  }

  private sendWindow(): void {
    const { blksize, file } = this.p;
    const last = Math.min(this.acked + this.p.windowsize, this.totalBlocks);
    const from = this.acked * blksize;
    // The whole window must be readable now; otherwise load it, then send (the timer keeps running:
    // a disk that does not answer ends the transfer like a silent client).
    if (!file.has(from, (last - this.acked) * blksize)) {
      if (!this.waiting) {
        this.waiting = true;
        file.load(from, (last - this.acked) * blksize).then(
          () => {
            this.waiting = false;
            if (this.phase === 'data') this.sendWindow();
          },
          (err: unknown) => this.finish({ kind: 'socket-error', message: `cannot read the file: ${(err as Error).message}` }),
        );
      }
      this.arm();
      return;
    }
    for (let n = this.acked + 1; n <= last; n++) {
      this.send([dataHeader(n), file.slice((n - 1) * blksize, blksize)!]);
      this.counters.blocksSent++;
    }
    this.sentUpTo = last;
    this.arm();
  }

  /** (Re)starts the retransmission timer: refreshed in place on the hot path, recreated when its duration changes. */
  private arm(): void {
    const cap = Math.max(this.p.timeoutMs, MAX_BACKOFF_MS);
    const wait = Math.min(this.p.timeoutMs * 2 ** this.attempts, cap);
    if (this.timer && this.timerMs === wait) {
      this.timer.refresh();
      return;
    }
    clearTimeout(this.timer);
    this.timerMs = wait;
    this.timer = setTimeout(this.onTimeoutBound, wait);
  }

  private onTimeout(): void {
    if (this.phase === 'done') return;
    this.attempts++;
    if (this.attempts > this.p.retries) {
      this.finish(this.lastSendError ? { kind: 'timeout', lastSendError: this.lastSendError } : { kind: 'timeout' });
      return;
    }
    this.counters.retransmits++;
    if (this.phase === 'oack') this.sendOack();
    else this.sendWindow();
  }

  private send(parts: Buffer[]): void {
    try {
      this.p.socket.send(parts, this.afterSend);
    } catch (err) {
      // Only when the socket is already closed.
      this.lastSendError = (err as Error).message;
    }
  }

  private finish(outcome: Outcome): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    clearTimeout(this.timer);
    this.timer = undefined;
    const closed = () => void this.p.file.close().finally(() => this.resolveDone(outcome));
    try {
      this.p.socket.close(closed);
    } catch {
      closed();
    }
  }
}
