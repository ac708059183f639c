// Read-only TFTP server for the iPXE binaries (RFC 1350, 2347, 2348, 2349, 7440), on node:dgram.
//
// The listener only takes requests. Each accepted read gets its own socket on an ephemeral port
// (the server's TID, RFC 1350 §4), bound to the listener's address, and a Transfer that runs it.
// Malformed packets are dropped without an answer; a well-formed request that cannot be served
// gets one ERROR packet from the listener. One log line per request served or refused.
import dgram from 'node:dgram';
import net from 'node:net';
import type { Logger } from '../../core/logger.js';
import { negotiate, MAX_BLKSIZE } from './options.js';
import { ERR, OP, buildError, buildOack, parseRequest, toNetascii, type Request } from './packets.js';
import { normaliseName, readInsideRoot } from './paths.js';
import { Transfer, type Outcome } from './transfer.js';

export interface TftpServerOptions {
  /** The boot directory; nothing outside it is ever read. */
  root: string;
  host: string;
  /** 0 picks a free port (returned by start()). */
  port: number;
  log: Logger;
  /** Transfers at once (requests beyond it get ERROR "server busy"). Default 64. */
  maxTransfers?: number;
  /** Retransmissions of one packet or window before a transfer is abandoned. Default 5. */
  retries?: number;
  /** First retransmission timeout when the client negotiates none; doubles on each retry. Default 1000. */
  timeoutMs?: number;
  /** Largest block size granted (8–65464). Default 65464: clients get what they ask for. */
  maxBlksize?: number;
  /** Largest window granted (RFC 7440). Default 64. */
  maxWindowsize?: number;
  /** Largest file served (it is read into memory for the transfer). Default 64 MiB. */
  maxFileBytes?: number;
}

interface Slot {
  key: string;
  request: Buffer;
  cancelled: boolean;
  transfer?: Transfer;
}

const ERROR_CODES = { not_found: ERR.FILE_NOT_FOUND, access: ERR.ACCESS_VIOLATION } as const;

export class TftpServer {
  private readonly log: Logger;
  private readonly maxTransfers: number;
  private readonly retries: number;
  private readonly timeoutMs: number;
  private readonly maxBlksize: number;
  private readonly maxWindowsize: number;
  private readonly maxFileBytes: number;
  private listener: dgram.Socket | undefined;
  private readonly slots = new Map<string, Slot>();
  private readonly running = new Set<Promise<void>>();
  private stopping = false;

  constructor(private readonly opts: TftpServerOptions) {
    this.log = opts.log.child({ module: 'tftp' });
    this.maxTransfers = opts.maxTransfers ?? 64;
    this.retries = opts.retries ?? 5;
    this.timeoutMs = opts.timeoutMs ?? 1000;
    this.maxBlksize = Math.max(8, Math.min(opts.maxBlksize ?? MAX_BLKSIZE, MAX_BLKSIZE));
    this.maxWindowsize = Math.max(1, Math.min(opts.maxWindowsize ?? 64, 65535));
    this.maxFileBytes = opts.maxFileBytes ?? 64 * 1024 * 1024;
  }

  async start(): Promise<{ port: number }> {
    if (this.listener) throw new Error('TFTP server already started');
    const { host, port } = this.opts;
    const socket = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4' });
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
    this.listener = socket;
    this.stopping = false;
    const bound = socket.address().port;
    this.log.info({ host, port: bound, root: this.opts.root }, `tftp listening on ${host}:${bound}, serving ${this.opts.root}`);
    return { port: bound };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const listener = this.listener;
    this.listener = undefined;
    for (const slot of this.slots.values()) this.cancel(slot, 'server stopping');
    if (listener) await new Promise<void>((resolve) => listener.close(() => resolve()));
    await Promise.allSettled([...this.running]);
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
    if (this.slots.size >= this.maxTransfers) {
      return this.refuse(rinfo, file, ERR.NOT_DEFINED, 'server busy, try again later', 'warn');
    }
    const slot: Slot = { key: client, request: Buffer.from(msg), cancelled: false };
    this.slots.set(client, slot);
    const run = this.serve(slot, req, name.relative, rinfo)
      .catch((err: unknown) => this.log.error({ err: (err as Error).message, client, file }, 'tftp: transfer failed'))
      .finally(() => {
        if (this.slots.get(client) === slot) this.slots.delete(client);
        this.running.delete(run);
      });
    this.running.add(run);
  }

  private async serve(slot: Slot, req: Request, relative: string, rinfo: dgram.RemoteInfo): Promise<void> {
    const client = slot.key;
    const opened = await readInsideRoot(this.opts.root, relative, this.maxFileBytes);
    if (slot.cancelled) return;
    if (!opened.ok) {
      const message = opened.code === 'not_found' ? 'file not found' : 'access violation';
      this.refuse(rinfo, relative, ERROR_CODES[opened.code], message, opened.code === 'access' ? 'warn' : 'info', opened.reason);
      return;
    }
    const data = req.mode === 'netascii' ? toNetascii(opened.data) : opened.data;
    const neg = negotiate(req.options, data.length, {
      maxBlksize: this.maxBlksize,
      maxWindowsize: this.maxWindowsize,
      timeoutMs: this.timeoutMs,
    });
    let socket: dgram.Socket;
    try {
      socket = await this.transferSocket();
    } catch (err) {
      this.refuse(rinfo, relative, ERR.NOT_DEFINED, 'server error', 'error', `no transfer socket: ${(err as Error).message}`);
      return;
    }
    if (slot.cancelled) {
      socket.close();
      return;
    }
    const transfer = new Transfer({
      socket,
      peer: { address: rinfo.address, port: rinfo.port },
      data,
      blksize: neg.blksize,
      windowsize: neg.windowsize,
      timeoutMs: neg.timeoutMs,
      retries: this.retries,
      oack: neg.accepted.length > 0 ? buildOack(neg.accepted) : null,
    });
    slot.transfer = transfer;
    transfer.start();
    const outcome = await transfer.done;
    const s = transfer.stats;
    const fields = {
      client,
      file: relative,
      mode: req.mode,
      bytes: data.length,
      blksize: neg.blksize,
      windowsize: neg.windowsize,
      tsize: neg.tsizeAsked,
      options: neg.accepted.map(([k]) => k).join(',') || 'none',
      blocks: transfer.totalBlocks,
      retransmits: s.retransmits,
      ignoredAcks: s.ignoredAcks,
      ms: s.durationMs,
    };
    this.logOutcome(outcome, fields, s.blocksSent);
  }

  private logOutcome(outcome: Outcome, fields: Record<string, unknown>, blocksSent: number): void {
    const what = `${String(fields.file)} to ${String(fields.client)}`;
    switch (outcome.kind) {
      case 'complete':
        this.log.info({ ...fields, outcome: 'complete' }, `tftp: sent ${what} (${String(fields.bytes)} bytes)`);
        break;
      case 'client-error': {
        // PXE firmware asks for the size (tsize), then aborts with ERROR 8 and asks again: benign.
        const probe = outcome.code === ERR.OPTION_REFUSED || blocksSent === 0;
        this.log[probe ? 'info' : 'warn'](
          { ...fields, outcome: 'aborted by client', errorCode: outcome.code, errorMessage: outcome.message },
          probe ? `tftp: ${what}: client ended after option negotiation (size query)` : `tftp: ${what}: client aborted (error ${outcome.code})`,
        );
        break;
      }
      case 'timeout':
        this.log.warn(
          { ...fields, outcome: 'timeout', sendError: outcome.lastSendError },
          `tftp: ${what}: gave up after ${this.retries} retransmissions without an answer`,
        );
        break;
      case 'socket-error':
        this.log.warn({ ...fields, outcome: 'socket error', err: outcome.message }, `tftp: ${what}: socket error`);
        break;
      case 'cancelled':
        this.log.info({ ...fields, outcome: 'cancelled', reason: outcome.reason }, `tftp: ${what}: stopped (${outcome.reason})`);
        break;
    }
  }

  private cancel(slot: Slot, reason: string): void {
    slot.cancelled = true;
    slot.transfer?.cancel(reason);
    if (this.slots.get(slot.key) === slot) this.slots.delete(slot.key);
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

  private async transferSocket(): Promise<dgram.Socket> {
    const listener = this.listener;
    if (!listener) throw new Error('server stopped');
    const { address, family } = listener.address();
    const socket = dgram.createSocket({ type: family === 'IPv6' ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port: 0, address }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return socket;
  }
}

function bindErrorMessage(err: NodeJS.ErrnoException, host: string, port: number): string {
  const where = `${host}:${port}`;
  switch (err.code) {
    case 'EACCES':
      return `cannot listen for TFTP on UDP ${where}: permission denied. Ports below 1024 need root or the CAP_NET_BIND_SERVICE capability (for example \`setcap cap_net_bind_service=ep "$(command -v node)"\`, or the appliance image's node-netboot); for a test, set ROOMCAST_TFTP_PORT to a port above 1023`;
    case 'EADDRINUSE':
      return `cannot listen for TFTP on UDP ${where}: the port is already in use (is another TFTP server running, e.g. tftpd-hpa, atftpd or dnsmasq with enable-tftp?)`;
    case 'EADDRNOTAVAIL':
      return `cannot listen for TFTP on UDP ${where}: ${host} is not an address of this host (check ROOMCAST_TFTP_HOST)`;
    default:
      return `cannot listen for TFTP on UDP ${where}: ${err.message}`;
  }
}
