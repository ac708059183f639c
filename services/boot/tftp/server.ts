// Read-only TFTP server for the iPXE binaries (RFC 1350, 2347, 2348, 2349, 7440), on node:dgram.
//
// The listener only takes requests. Each accepted read gets its own socket on an ephemeral port
// (the server's TID, RFC 1350 §4), bound to the listener's address and connected to the client, and
// a Transfer that runs it: transfer.ts on node:dgram, or, for octet transfers, the C data pump
// (pump.ts: the same rules in one epoll loop, with tftpd-hpa's speed; `engine` chooses). Malformed packets are dropped without an answer; a well-formed request
// that cannot be served gets one ERROR packet from the listener. One log line per request served or
// refused (refusals for being busy are throttled: a flood cannot flood the log).
//
// Capacity: no small global cap turns PCs away. One address may hold `maxPerClient` transfers at a
// time (a PC needs one or two; a stranger's flood of requests that never ACK only blocks itself), and
// `maxTransfers` is a safety net sized for a whole school. Files come from a shared cache of the few
// boot files, or are streamed from disk (files.ts): memory does not grow with the number of clients.
import dgram from 'node:dgram';
import net from 'node:net';
import type { Logger } from '../../core/logger.js';
import { LogThrottle } from '../../core/ratelimit.js';
import { BootFileCache, type FileCacheOptions, type FileData } from './files.js';
import { negotiate, MAX_BLKSIZE } from './options.js';
import { ERR, OP, buildError, buildOack, parseRequest, type Request } from './packets.js';
import { normaliseName, openInsideRoot, type Opened } from './paths.js';
import { TftpPump, defaultPumpBinary, type PumpTransferParams } from './pump.js';
import { bindErrorMessage, logOutcome } from './report.js';
import { Transfer, type RunningTransfer } from './transfer.js';

export interface TftpServerOptions {
  /** The boot directory; nothing outside it is ever read. */
  root: string;
  host: string;
  /** 0 picks a free port (returned by start()). */
  port: number;
  log: Logger;
  /** Transfers at once, all clients together (beyond it: ERROR "server busy"). Default 2000. */
  maxTransfers?: number;
  /** Transfers at once from one IP address (beyond it: ERROR "server busy" to that address). Default 8. */
  maxPerClient?: number;
  /** Retransmissions of one packet or window before a transfer is abandoned. Default 5. */
  retries?: number;
  /** First retransmission timeout when the client negotiates none; doubles on each retry. Default 1000. */
  timeoutMs?: number;
  /** Largest block size granted (8–65464). Default 65464: clients get what they ask for. */
  maxBlksize?: number;
  /** Largest window granted (RFC 7440). Default 64. */
  maxWindowsize?: number;
  /** Largest file served. Default 64 MiB: TFTP is for the iPXE binaries; the rest goes over HTTP. */
  maxFileBytes?: number;
  /** The shared cache of small boot files (files.ts). */
  cache?: FileCacheOptions;
  /**
   * Who sends the data of octet transfers: 'node' (transfer.ts on node:dgram), 'pump' (the C data
   * pump, pump.ts: start() fails without it) or 'auto' (the pump when it is built and starts, else
   * Node). netascii is always Node's. Default 'node'.
   */
  engine?: 'node' | 'pump' | 'auto';
  /** The pump's binary; default: the one built next to the code (dist/bin). */
  pumpBinary?: string;
  /** Wait before starting a pump that died again (default 5000 ms). */
  pumpRestartMs?: number;
}

interface Slot {
  key: string;
  address: string;
  request: Buffer;
  cancelled: boolean;
  transfer?: RunningTransfer;
}

const ERROR_CODES = { not_found: ERR.FILE_NOT_FOUND, access: ERR.ACCESS_VIOLATION } as const;

export class TftpServer {
  private readonly log: Logger;
  private readonly maxTransfers: number;
  private readonly maxPerClient: number;
  private readonly perAddress = new Map<string, number>();
  private readonly busyLog = new LogThrottle(10_000);
  readonly files: BootFileCache;
  private readonly retries: number;
  private readonly timeoutMs: number;
  private readonly maxBlksize: number;
  private readonly maxWindowsize: number;
  private readonly maxFileBytes: number;
  private listener: dgram.Socket | undefined;
  private readonly slots = new Map<string, Slot>();
  private readonly running = new Set<Promise<void>>();
  private stopping = false;
  private pump: TftpPump | undefined;

  constructor(private readonly opts: TftpServerOptions) {
    this.log = opts.log.child({ module: 'tftp' });
    this.maxTransfers = opts.maxTransfers ?? 2000;
    this.maxPerClient = Math.max(1, opts.maxPerClient ?? 8);
    this.files = new BootFileCache(opts.cache);
    this.retries = opts.retries ?? 5;
    this.timeoutMs = opts.timeoutMs ?? 1000;
    this.maxBlksize = Math.max(8, Math.min(opts.maxBlksize ?? MAX_BLKSIZE, MAX_BLKSIZE));
    this.maxWindowsize = Math.max(1, Math.min(opts.maxWindowsize ?? 64, 65535));
    this.maxFileBytes = opts.maxFileBytes ?? 64 * 1024 * 1024;
  }

  async start(): Promise<{ port: number }> {
    if (this.listener) throw new Error('TFTP server already started');
    const { host, port } = this.opts;
    // Requests of a whole room arrive together: a 4 MiB receive buffer (capped by net.core.rmem_max) holds them.
    const socket = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4', recvBufferSize: 4 * 1024 * 1024 });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind({ port, address: host }, () => {
          socket.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      socket.close();
      throw new Error(bindErrorMessage(err as NodeJS.ErrnoException, host, port), { cause: err });
    }
    socket.on('error', (err) => this.log.error({ err: err.message }, 'tftp: listener socket error'));
    socket.on('message', (msg, rinfo) => {
      try {
        this.onRequest(msg, rinfo);
      } catch (err) {
        this.log.error({ err: (err as Error).message, client: `${rinfo.address}:${rinfo.port}` }, 'tftp: request handling failed');
      }
    });
    try {
      await this.startPump();
    } catch (err) {
      socket.close();
      throw err;
    }
    this.listener = socket;
    this.stopping = false;
    const bound = socket.address().port;
    const engine = this.pump ? `the data pump ${this.pump.binary}` : 'the Node engine';
    this.log.info({ host, port: bound, root: this.opts.root, engine: this.pump ? 'pump' : 'node' }, `tftp listening on ${host}:${bound}, serving ${this.opts.root} with ${engine}`);
    return { port: bound };
  }

  /** The engine in use for octet transfers now ('pump' can fall back to 'node' while the pump restarts). */
  get engine(): 'node' | 'pump' {
    return this.pump?.alive ? 'pump' : 'node';
  }

  /** The data pump's process id while it runs (for operators' tools and tests). */
  get pumpPid(): number | undefined {
    return this.pump?.pid;
  }

  private async startPump(): Promise<void> {
    const engine = this.opts.engine ?? 'node';
    if (engine === 'node') return;
    const binary = this.opts.pumpBinary ?? defaultPumpBinary();
    if (!binary) {
      if (engine === 'pump') throw new Error('the TFTP data pump is not built (npm run build makes dist/bin/roomcast-tftp-pump; it needs a C compiler)');
      this.log.warn('tftp: the data pump is not built (npm run build needs a C compiler): serving with the Node engine');
      return;
    }
    const pump = new TftpPump(binary, this.log, this.opts.pumpRestartMs);
    try {
      await pump.start();
      this.pump = pump;
    } catch (err) {
      if (engine === 'pump') throw err;
      this.log.warn({ err: (err as Error).message }, 'tftp: serving with the Node engine');
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const listener = this.listener;
    this.listener = undefined;
    for (const slot of this.slots.values()) this.cancel(slot, 'server stopping');
    if (listener) await new Promise<void>((resolve) => listener.close(() => resolve()));
    await Promise.allSettled([...this.running]);
    await this.pump?.stop();
    this.pump = undefined;
  }

  /** Transfers currently open (including requests whose file is being read). */
  get activeTransfers(): number {
    return this.slots.size;
  }

  private onRequest(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.stopping || rinfo.port === 0) return;
    const req = parseRequest(msg);
    const client = `${rinfo.address}:${rinfo.port}`;
    if (!req) {
      this.log.debug({ client, bytes: msg.length }, 'tftp: ignored a packet that is not a request');
      return;
    }
    const existing = this.slots.get(client);
    // The same request again from the same port: a retransmission or a network duplicate. The
    // transfer already running answers it (its own timer resends); a second one would fight it.
    if (existing && existing.request.equals(msg)) return;
    const file = req.filename;
    if (req.op === OP.WRQ) return this.refuse(rinfo, file, ERR.ACCESS_VIOLATION, 'read-only server: writing is not allowed');
    if (req.mode !== 'octet' && req.mode !== 'netascii') {
      return this.refuse(rinfo, file, ERR.ILLEGAL_OPERATION, `unsupported transfer mode "${req.mode.slice(0, 20)}"`);
    }
    if (file === undefined) return this.refuse(rinfo, file, ERR.FILE_NOT_FOUND, 'file name is not valid UTF-8');
    const name = normaliseName(file);
    if (!name.ok) return this.refuse(rinfo, file, ERR.ACCESS_VIOLATION, `access violation: ${name.reason}`, 'warn');
    // A different request from the same port: the client gave up on the previous one (the PXE
    // "tsize query, abort, ask again" pattern when its ERROR went missing).
    if (existing) this.cancel(existing, 'client sent a new request');
    const mine = this.perAddress.get(rinfo.address) ?? 0;
    if (mine >= this.maxPerClient || this.slots.size >= this.maxTransfers) {
      const why = mine >= this.maxPerClient ? `${mine} transfers already running for ${rinfo.address}` : `${this.slots.size} transfers running (the limit)`;
      return this.busy(rinfo, file, why);
    }
    const slot: Slot = { key: client, address: rinfo.address, request: Buffer.from(msg), cancelled: false };
    this.slots.set(client, slot);
    this.perAddress.set(rinfo.address, mine + 1);
    const run = this.serve(slot, req, name.relative, rinfo)
      .catch((err: unknown) => this.log.error({ err: (err as Error).message, client, file }, 'tftp: transfer failed'))
      .finally(() => {
        this.release(slot);
        this.running.delete(run);
      });
    this.running.add(run);
  }

  /** Frees a slot once (its transfer ended, or it was cancelled). */
  private release(slot: Slot): void {
    if (this.slots.get(slot.key) !== slot) return;
    this.slots.delete(slot.key);
    const n = (this.perAddress.get(slot.address) ?? 1) - 1;
    if (n > 0) this.perAddress.set(slot.address, n);
    else this.perAddress.delete(slot.address);
  }

  /** ERROR "server busy"; logged once per address and once overall every 10 s, with what was held back. */
  private busy(rinfo: dgram.RemoteInfo, file: string | undefined, why: string): void {
    this.listener?.send(buildError(ERR.NOT_DEFINED, 'server busy, try again later'), rinfo.port, rinfo.address, () => undefined);
    const perAddress = this.busyLog.allow(rinfo.address);
    const overall = perAddress && this.busyLog.allow('*');
    if (!overall) return;
    const shown = file === undefined ? undefined : JSON.stringify(file).slice(1, -1).slice(0, 200);
    this.log.warn({ client: `${rinfo.address}:${rinfo.port}`, file: shown, outcome: 'refused', reason: why, suppressed: perAddress.suppressed + overall.suppressed }, `tftp: busy, refused ${shown ?? '(unreadable name)'} to ${rinfo.address}: ${why}`);
  }

  private async serve(slot: Slot, req: Request, relative: string, rinfo: dgram.RemoteInfo): Promise<void> {
    const client = slot.key;
    const opened = await openInsideRoot(this.opts.root, relative, this.maxFileBytes);
    if (slot.cancelled) {
      if (opened.ok) await opened.handle.close().catch(() => undefined);
      return;
    }
    if (!opened.ok) {
      const message = opened.code === 'not_found' ? 'file not found' : 'access violation';
      this.refuse(rinfo, relative, ERROR_CODES[opened.code], message, opened.code === 'access' ? 'warn' : 'info', opened.reason);
      return;
    }
    const source = await this.source(opened, req.mode === 'netascii' ? 'netascii' : 'octet');
    if ('tooLarge' in source) {
      this.refuse(rinfo, relative, ERR.ACCESS_VIOLATION, 'access violation', 'warn', `netascii is served for files up to ${this.files.maxFileBytes} bytes only`);
      return;
    }
    const close = () => ('pump' in source ? Promise.resolve() : source.data.close());
    if (slot.cancelled) return close();
    const size = 'pump' in source ? source.pump.size : source.data.size;
    const neg = negotiate(req.options, size, { maxBlksize: this.maxBlksize, maxWindowsize: this.maxWindowsize, timeoutMs: this.timeoutMs });
    const params = {
      peer: { address: rinfo.address, port: rinfo.port },
      blksize: neg.blksize,
      windowsize: neg.windowsize,
      timeoutMs: neg.timeoutMs,
      retries: this.retries,
      oack: neg.accepted.length > 0 ? buildOack(neg.accepted) : null,
    };
    let transfer: RunningTransfer;
    if ('pump' in source) {
      const localAddress = this.listener?.address().address;
      if (!localAddress || !this.pump) return;
      transfer = this.pump.transfer({ ...params, localAddress, file: source.pump });
    } else {
      let socket: dgram.Socket;
      try {
        socket = await this.transferSocket(rinfo);
      } catch (err) {
        await close();
        this.refuse(rinfo, relative, ERR.NOT_DEFINED, 'server error', 'error', `no transfer socket: ${(err as Error).message}`);
        return;
      }
      if (slot.cancelled) {
        socket.close();
        return close();
      }
      transfer = new Transfer({ ...params, socket, file: source.data });
    }
    slot.transfer = transfer;
    transfer.start();
    const outcome = await transfer.done;
    const s = transfer.stats;
    const fields = {
      client,
      file: relative,
      mode: req.mode,
      bytes: size,
      blksize: neg.blksize,
      windowsize: neg.windowsize,
      tsize: neg.tsizeAsked,
      options: neg.accepted.map(([k]) => k).join(',') || 'none',
      blocks: transfer.totalBlocks,
      retransmits: s.retransmits,
      ignoredAcks: s.ignoredAcks,
      ms: s.durationMs,
      engine: 'pump' in source ? 'pump' : 'node',
    };
    logOutcome(this.log, this.retries, outcome, fields, s.blocksSent);
  }

  /**
   * What a transfer sends from: for an octet transfer while the pump runs, the checked file's path
   * and identity (the pump opens it itself and refuses any other file); else the file's data
   * (cached or streamed, files.ts). Takes over the opened handle.
   */
  private async source(opened: Extract<Opened, { ok: true }>, mode: 'octet' | 'netascii'): Promise<{ pump: PumpTransferParams['file'] } | { data: FileData } | { tooLarge: true }> {
    if (mode === 'octet' && this.pump?.alive) {
      void opened.handle.close().catch(() => undefined); // not awaited: the pump opens it itself
      const { dev, ino, size } = opened.stat;
      return { pump: { realPath: opened.realPath, dev, ino, size } };
    }
    const data = await this.files.open(opened.realPath, opened.handle, opened.stat, mode);
    return 'tooLarge' in data ? data : { data };
  }

  private cancel(slot: Slot, reason: string): void {
    slot.cancelled = true;
    slot.transfer?.cancel(reason);
    this.release(slot);
  }

  private refuse(
    rinfo: dgram.RemoteInfo,
    file: string | undefined,
    code: number,
    message: string,
    level: 'info' | 'warn' | 'error' = 'info',
    detail?: string,
  ): void {
    const client = `${rinfo.address}:${rinfo.port}`;
    const shown = file === undefined ? undefined : JSON.stringify(file).slice(1, -1).slice(0, 200);
    this.log[level]({ client, file: shown, errorCode: code, reason: detail ?? message, outcome: 'refused' }, `tftp: refused ${shown ?? '(unreadable name)'} to ${client}: ${detail ?? message}`);
    this.listener?.send(buildError(code, message), rinfo.port, rinfo.address, () => undefined);
  }

  /** A socket on a new port (the transfer's TID), connected to the client: sends need no address lookup. */
  private async transferSocket(peer: dgram.RemoteInfo): Promise<dgram.Socket> {
    const listener = this.listener;
    if (!listener) throw new Error('server stopped');
    const { address, family } = listener.address();
    const socket = dgram.createSocket({ type: family === 'IPv6' ? 'udp6' : 'udp4' });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind({ port: 0, address }, () => {
          socket.connect(peer.port, peer.address, () => {
            socket.off('error', reject);
            resolve();
          });
        });
      });
    } catch (err) {
      socket.close();
      throw err;
    }
    return socket;
  }
}
