// The TFTP data pump: one long-lived C process (pump/pump.c, built into dist/bin/roomcast-tftp-pump)
// that runs the octet-mode transfers the server has accepted, every one in one epoll loop. Node keeps
// the judgement (requests, names, limits, options, logs); the pump moves the bytes, with the same
// transfer rules as transfer.ts. Lines on its stdin and stdout (the protocol is in pump.c's header).
//
// If the pump cannot start or dies, the server serves with the Node engine (transfer.ts): a transfer
// running in a dead pump ends with a socket-error (its client asks again and gets the Node engine),
// and the pump is started again after RESTART_MS.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../core/logger.js';
import { parseError } from './packets.js';
import { MAX_BACKOFF_MS, type Outcome, type RunningTransfer, type TransferStats } from './transfer.js';

export const PUMP_BINARY_NAME = 'roomcast-tftp-pump';
const RESTART_MS = 5_000;
const START_TIMEOUT_MS = 5_000;

/**
 * Where the built pump is, next to the code: dist/bin/ for the compiled services (the appliance), the
 * same place under the checkout when the sources run under tsx. Undefined when it was not built.
 */
export function defaultPumpBinary(): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [
    path.resolve(here, '../../../bin', PUMP_BINARY_NAME), // dist/services/boot/tftp → dist/bin
    path.resolve(here, '../../../dist/bin', PUMP_BINARY_NAME), // services/boot/tftp → dist/bin
  ];
  return candidates.find((p) => fs.existsSync(p));
}

export interface PumpTransferParams {
  /** The listener's address: the transfer's socket is bound there, on a new port. */
  localAddress: string;
  peer: { address: string; port: number };
  /** The checked real path, and the identity Node saw: the pump refuses any other file. */
  file: { realPath: string; dev: bigint; ino: bigint; size: number };
  blksize: number;
  windowsize: number;
  timeoutMs: number;
  retries: number;
  oack: Buffer | null;
}

interface Pending {
  resolve(line: string[]): void;
}

export class TftpPump {
  private child: ChildProcess | undefined;
  private ready = false;
  private stopping = false;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly binary: string,
    private readonly log: Logger,
    private readonly restartMs = RESTART_MS,
  ) {}

  /** The pump's process id while it runs. */
  get pid(): number | undefined {
    return this.ready ? this.child?.pid : undefined;
  }

  /** True while the pump runs and takes transfers. */
  get alive(): boolean {
    return this.ready;
  }

  /** Starts the pump and waits for its ready line. Rejects (with the reason) when it cannot start. */
  async start(): Promise<void> {
    this.stopping = false;
    const child = spawn(this.binary, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-2000);
      this.log.warn({ pump: b.toString().trim().slice(0, 500) }, 'tftp pump: message');
    });
    child.stdin!.on('error', () => undefined); // a dead pump: handled by 'exit'
    const lines = readline.createInterface({ input: child.stdout! });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`no ready line within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      const fail = (err: Error) => {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(new Error(`cannot start the TFTP pump ${this.binary}: ${err.message}${stderr ? ` (${stderr.trim()})` : ''}`));
      };
      child.once('error', fail);
      child.once('exit', (code, signal) => fail(new Error(`it exited at once (${signal ?? `code ${code}`})`)));
      lines.once('line', (line) => {
        if (line !== 'R') return fail(new Error(`unexpected first line ${JSON.stringify(line.slice(0, 80))}`));
        clearTimeout(timer);
        child.removeAllListeners('error');
        child.removeAllListeners('exit');
        resolve();
      });
    });
    this.ready = true;
    lines.on('line', (line) => this.onLine(line));
    child.on('error', (err) => this.log.error({ err: err.message }, 'tftp pump: process error'));
    child.once('exit', (code, signal) => this.onExit(child, code, signal));
  }

  /** Ends every transfer and the process. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin!.end();
    const kill = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(kill);
  }

  /** A transfer for the pump; it runs from start(). */
  transfer(p: PumpTransferParams): PumpTransfer {
    return new PumpTransfer(this, this.nextId++, p);
  }

  /** @internal: sends a command line, and registers for the transfer's end line. */
  send(id: number, line: string, pending?: Pending): boolean {
    if (!this.ready || !this.child?.stdin?.writable) return false;
    if (pending) this.pending.set(id, pending);
    this.child.stdin.write(`${line}\n`);
    return true;
  }

  private onLine(line: string): void {
    const f = line.split(' ');
    if (f[0] !== 'E' || f.length !== 8) {
      this.log.warn({ line: line.slice(0, 200) }, 'tftp pump: unexpected line');
      return;
    }
    const id = Number(f[1]);
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.resolve(f);
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.ready = false;
    this.child = undefined;
    const why = `the TFTP pump stopped (${signal ?? `code ${code}`})`;
    for (const [id, p] of this.pending) p.resolve(['E', String(id), 'socket-error', '0', '0', '0', '0', Buffer.from(why).toString('hex')]);
    this.pending.clear();
    if (this.stopping) return;
    this.log.error({ code, signal }, `tftp: ${why}; serving with the Node engine, restarting the pump in ${this.restartMs / 1000} s`);
    this.restartTimer = setTimeout(() => {
      this.start().then(
        () => this.log.info('tftp: the pump runs again'),
        (err: unknown) => this.log.error({ err: (err as Error).message }, 'tftp: the pump did not restart; the Node engine serves'),
      );
    }, this.restartMs);
    this.restartTimer.unref();
  }
}

/** One transfer run by the pump, with the surface of transfer.ts's Transfer. */
export class PumpTransfer implements RunningTransfer {
  readonly totalBlocks: number;
  readonly done: Promise<Outcome>;
  private resolveDone!: (o: Outcome) => void;
  private cancelReason: string | undefined;
  private ended = false;
  private readonly started = performance.now();
  private final: TransferStats | undefined;

  constructor(
    private readonly pump: TftpPump,
    private readonly id: number,
    private readonly p: PumpTransferParams,
  ) {
    this.totalBlocks = Math.floor(p.file.size / p.blksize) + 1;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  start(): void {
    const { p } = this;
    const hex = (b: Buffer | null) => (b && b.length > 0 ? b.toString('hex') : '-');
    const line = [
      'S',
      this.id,
      p.localAddress,
      p.peer.address,
      p.peer.port,
      p.file.dev,
      p.file.ino,
      p.file.size,
      p.blksize,
      p.windowsize,
      p.timeoutMs,
      p.retries,
      MAX_BACKOFF_MS,
      hex(p.oack),
      hex(Buffer.from(p.file.realPath)),
    ].join(' ');
    const sent = this.pump.send(this.id, line, { resolve: (f) => this.onEnd(f) });
    if (!sent) this.end({ kind: 'socket-error', message: 'the TFTP pump is not running' }, undefined);
  }

  cancel(reason: string): void {
    if (this.ended) return;
    this.cancelReason = reason;
    if (!this.pump.send(this.id, `C ${this.id}`)) this.end({ kind: 'cancelled', reason }, undefined);
  }

  get stats(): TransferStats {
    return this.final ?? { blocksSent: 0, retransmits: 0, ignoredAcks: 0, foreignPackets: 0, durationMs: Math.round(performance.now() - this.started) };
  }

  private onEnd(f: string[]): void {
    const [, , kind, blocksSent, retransmits, ignoredAcks, ms, detailHex] = f as [string, string, string, string, string, string, string, string];
    const detail = detailHex === '-' ? Buffer.alloc(0) : Buffer.from(detailHex, 'hex');
    const stats: TransferStats = { blocksSent: Number(blocksSent), retransmits: Number(retransmits), ignoredAcks: Number(ignoredAcks), foreignPackets: 0, durationMs: Number(ms) };
    let outcome: Outcome;
    switch (kind) {
      case 'complete':
        outcome = { kind: 'complete' };
        break;
      case 'client-error': {
        const e = parseError(detail);
        outcome = { kind: 'client-error', code: e?.code ?? 0, message: e?.message ?? '' };
        break;
      }
      case 'timeout':
        outcome = detail.length > 0 ? { kind: 'timeout', lastSendError: detail.toString() } : { kind: 'timeout' };
        break;
      case 'cancelled':
        outcome = { kind: 'cancelled', reason: this.cancelReason ?? 'cancelled by the pump' };
        break;
      default:
        outcome = { kind: 'socket-error', message: detail.toString() || `pump reported ${kind}` };
    }
    this.end(outcome, stats);
  }

  private end(outcome: Outcome, stats: TransferStats | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.final = stats ?? this.stats;
    this.resolveDone(outcome);
  }
}
