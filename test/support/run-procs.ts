// Room runs with real processes, for the crash tests (test/integration/runs-crash.test.ts): roomcast's
// roles started as the appliance starts them (services/main.ts), a private redis-server that a test may
// restart, simulated PCs that answer their magic packets and play the boot client over HTTP from their
// own loopback address, and a look into Redis for what a run left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { helloFacts } from './facts.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const MAIN = path.join(ROOT, 'services/main.ts');

export interface Proc {
  child: ChildProcess;
  lines: () => Array<Record<string, unknown>>;
  waitFor: (pred: (l: Record<string, unknown>) => boolean, ms?: number) => Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

/** roomcast's entry point as a child process (pino JSON lines on stdout are kept). */
export function launch(env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    cwd: ROOT,
    // TFTP on a free loopback port: the boot role may run too, and port 69 may be taken or need root.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ROOMCAST_HTTP_HOST: '127.0.0.1', ROOMCAST_HTTP_PORT: '0', ROOMCAST_TFTP_HOST: '127.0.0.1', ROOMCAST_TFTP_PORT: '0', ROOMCAST_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const parsed: Array<Record<string, unknown>> = [];
  let buffer = '';
  const take = (b: Buffer) => {
    buffer += b.toString();
    let i;
    while ((i = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      try {
        parsed.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        parsed.push({ msg: line });
      }
    }
  };
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    lines: () => parsed,
    waitFor: async (pred, ms = 30_000) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const hit = parsed.find(pred);
        if (hit) return hit;
        if (child.exitCode !== null || child.signalCode !== null) break;
        await sleep(25);
      }
      throw new Error(`log line not seen; log so far:\n${parsed.map((l) => JSON.stringify(l)).join('\n')}`);
    },
  };
}

/** Kills a process and waits for it (SIGKILL: nothing of it runs any more). */
export async function kill(p: Proc, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill(signal);
  await p.exited;
}

/**
 * The processes whose parent is `pid` (/proc), as "pid command line". tsx's esbuild service (the
 * TypeScript runner of these tests; the appliance runs compiled JavaScript) is not counted.
 */
export function childrenOf(pid: number): string[] {
  const out: string[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      if (ppid === pid && !/\/esbuild\b.*--service=/.test(cmd)) out.push(`${d} ${cmd}`);
    } catch {
      /* gone */
    }
  }
  return out;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** A private redis-server on a free loopback port, in its own directory; restart() keeps the port. */
export class PrivateRedis {
  private proc: ChildProcess | undefined;
  constructor(
    readonly dir: string,
    readonly port: number,
    /** appendonly yes (the next start keeps what the server held) or no. */
    public persist: boolean,
  ) {}

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    fs.mkdirSync(this.dir, { recursive: true });
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', this.persist ? 'yes' : 'no', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction'];
    this.proc = spawn('redis-server', args, { stdio: 'ignore' });
    const end = Date.now() + 10_000;
    while (Date.now() < end) {
      const r = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      r.on('error', () => undefined);
      try {
        await r.connect();
        // With AOF, the server answers LOADING until its data is back.
        if ((await r.ping()) === 'PONG') return;
      } catch {
        /* not yet */
      } finally {
        r.disconnect();
      }
      await sleep(50);
    }
    throw new Error(`redis-server did not start on port ${this.port}`);
  }

  /** kill -9 of the server: with appendonly no, everything it held is lost. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  }
}

/** Every Redis key of a run's BullMQ jobs, and the run's ids in the queues' lists and sets. */
export async function runLeftovers(redisUrl: string, prefix: string, runId: number): Promise<string[]> {
  const r = new Redis(redisUrl);
  try {
    const found: string[] = [];
    const keys = await r.keys(`${prefix}:*`);
    const id = new RegExp(`^run-${runId}(-pc-\\d+)?$`);
    for (const k of keys) {
      if (new RegExp(`:run-${runId}(-pc-\\d+)?(:|$)`).test(k)) found.push(k);
      const type = await r.type(k);
      const members = type === 'list' ? await r.lrange(k, 0, -1) : type === 'zset' ? await r.zrange(k, 0, -1) : type === 'set' ? await r.smembers(k) : [];
      for (const m of members) if (id.test(m)) found.push(`${k} ∋ ${m}`);
    }
    return found;
  } finally {
    r.disconnect();
  }
}

/** An HTTP request from a chosen local address (a PC's own), as the boot client makes it. */
export function from(address: string, base: string, method: string, p: string, opts: { token?: string; json?: unknown; body?: Buffer; type?: string } = {}): Promise<{ status: number; body: any }> {
  const u = new URL(p, base);
  const payload = opts.body ?? (opts.json === undefined ? undefined : Buffer.from(JSON.stringify(opts.json)));
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (payload) headers['content-type'] = opts.type ?? 'application/json';
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers, localAddress: address }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: /json/.test(String(res.headers['content-type'])) && text ? JSON.parse(text) : text }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

export interface SimPc {
  mac: string;
  ip: string;
  /** How it behaves when woken: boots and restores, fetches its script only, or stays off. */
  mode: 'restore' | 'script-only' | 'off';
  /** Progress reports (250 ms apart) of its restore. */
  steps: number;
  /** What happened, in order (script, hello, restore start, progress answers, result, stop). */
  log: string[];
  busy: boolean;
  restores: number;
  /** The status of the api's answer that stopped its client (a cancelled task). */
  stoppedWith?: number;
}

/**
 * Powered-off PCs on a loopback address: a magic packet for one of them (UDP 9 or 7) boots it: it
 * fetches its iPXE script from its own address, says hello with the script's token, and restores as
 * the boot client does (progress, verify, result), stopping when the api says its task is over.
 */
export class SimRoom {
  private sockets: dgram.Socket[] = [];
  readonly pcs = new Map<string, SimPc>();
  readonly wakes: Array<{ mac: string; at: number }> = [];
  api = '';
  private running = new Set<Promise<void>>();

  constructor(readonly wolAddress: string) {}

  async listen(): Promise<void> {
    for (const port of [9, 7]) {
      const s = dgram.createSocket('udp4');
      s.on('message', (m) => {
        if (m.length !== 102 || !m.subarray(0, 6).equals(Buffer.alloc(6, 0xff))) return;
        const mac = m.subarray(6, 12).toString('hex').match(/../g)!.join(':');
        this.wakes.push({ mac, at: Date.now() });
        const pc = this.pcs.get(mac);
        if (!pc || pc.busy || pc.mode === 'off') return;
        pc.busy = true;
        const p = this.boot(pc)
          .catch((err: Error) => void pc.log.push(`error ${err.message}`))
          .finally(() => {
            pc.busy = false;
            this.running.delete(p);
          });
        this.running.add(p);
      });
      await new Promise<void>((r) => s.bind(port, this.wolAddress, r));
      this.sockets.push(s);
    }
  }

  add(mac: string, ip: string, mode: SimPc['mode'], steps = 8): SimPc {
    const pc: SimPc = { mac, ip, mode, steps, log: [], busy: false, restores: 0 };
    this.pcs.set(mac, pc);
    return pc;
  }

  private async boot(pc: SimPc): Promise<void> {
    await sleep(100);
    const script = (await from(pc.ip, this.api, 'GET', `/boot/ipxe?mac=${pc.mac}&arch=7`)).body as string;
    const bootToken = /roomcast\.token=(\S+)/.exec(script)?.[1];
    pc.log.push(bootToken ? 'script client' : 'script other');
    if (!bootToken || pc.mode === 'script-only') return;
    const n = Number.parseInt(pc.mac.slice(-2), 16);
    const hello = await from(pc.ip, this.api, 'POST', '/api/v1/boot/hello', {
      token: bootToken,
      json: helloFacts({ mac: pc.mac, serial: `SN${n}`, uuid: `4c4c4544-0035-5810-8059-${String(n).padStart(12, '0')}`, cpu: { model: 'i5', cores: 4, threads: 4 }, disk: { model: 'SSD', serial: `DISK${n}`, sizeBytes: 256e9 } }),
    });
    pc.log.push(`hello ${hello.status} ${hello.body?.action ?? hello.body?.code}`);
    if (hello.status !== 200 || hello.body.action !== 'restore') return;
    pc.restores++;
    const token = hello.body.token as string;
    const total = 1000 * pc.steps;
    for (let i = 1; i <= pc.steps; i++) {
      const phase = i > pc.steps * 0.75 ? 'verify' : 'restore';
      const r = await from(pc.ip, this.api, 'POST', '/api/v1/client/progress', { token, json: { phase, bytesDone: i * 1000, bytesTotal: total, chunksDone: i, chunksTotal: pc.steps, rateBytesPerSecond: 4000, etaSeconds: (pc.steps - i) / 4 } });
      if (r.status !== 200 && r.status !== 204) {
        pc.stoppedWith = r.status;
        pc.log.push(`stopped ${r.status} ${r.body?.code}`);
        return;
      }
      await sleep(250);
    }
    const result = await from(pc.ip, this.api, 'POST', '/api/v1/client/result', { token, json: { ok: true, details: { fetched: pc.steps } } });
    pc.log.push(`result ${result.status} ${result.body?.state ?? result.body?.code}`);
    if (result.status !== 200) pc.stoppedWith = result.status;
  }

  /** Waits for the PCs' clients under way. */
  async settle(): Promise<void> {
    while (this.running.size) await Promise.all([...this.running]);
  }

  async close(): Promise<void> {
    await this.settle();
    for (const s of this.sockets) s.close();
  }
}
