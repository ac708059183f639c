// A simulated computer room for room runs (issue 12, deliverable 7): network namespaces, a bridge,
// and one process per PC (test/support/simpc-main.ts, bundled once with esbuild so that a hundred of
// them start quickly) with its own disk file.
//
//   root namespace (the test: api + worker)            room namespace rcsim-<id>
//   rcs<id>h 10.X.Y.1/24  <------------ veth ------------>  rcs<id>b ─┐
//                                                            br0  ─────┤
//   PC namespace rcsim-<id>-<n>: eth0 10.X.Y.(10+n)/24 <--veth-->  v<n> ─┘
//
// The api listens on 10.X.Y.1 only (ROOMCAST_HTTP_HOST), so the PCs reach it through the bridge;
// the worker's magic packets go to ROOMCAST_WOL_INTERFACES=rcs<id>h, i.e. the directed broadcast
// 10.X.Y.255, which the bridge floods to every PC and nowhere else. Nothing reaches the host's
// networks. Every name carries the run's id; close() removes the namespaces, the veths, the loop
// devices and the processes (by pid).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Manifest } from '../../services/imaging/format.js';
import type { Built } from './images.js';
import { hardwareFacts } from './facts.js';

const exec = promisify(execFile);
const ip = (args: string[]) => exec('ip', args);
const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const MIB = 1024 * 1024;

/** The bundled simulated PC (one esbuild run per process that needs it). */
let bundle: Promise<string> | null = null;
export function simpcBundle(): Promise<string> {
  bundle ??= (async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-simpc-'));
    const out = path.join(dir, 'simpc.mjs');
    await exec(path.join(REPO, 'node_modules/.bin/esbuild'), [path.join(REPO, 'test/support/simpc-main.ts'), '--bundle', '--platform=node', '--target=node20', '--format=esm', '--log-level=warning', `--outfile=${out}`]);
    return out;
  })();
  return bundle;
}

export interface SimPcEvent {
  at: string;
  event: string;
  [k: string]: unknown;
}

export interface SimPc {
  n: number;
  mac: string;
  ns: string;
  ip: string;
  disk: string;
  logFile: string;
  proc: ChildProcess | null;
  exit: Promise<number | null>;
  events(): SimPcEvent[];
}

export class SimRoom {
  readonly id = randomBytes(3).toString('hex');
  readonly ns = `rcsim-${this.id}`;
  readonly hostIf = `rcs${this.id}h`;
  private readonly bridgePort = `rcs${this.id}b`;
  /** 10.X.Y.0/24, X.Y from the id (10.200-249.*: private, and checked against the host's routes). */
  readonly prefix: string;
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-simroom-'));
  readonly pcs: SimPc[] = [];
  private namespaces: string[] = [];

  constructor() {
    const b = Buffer.from(this.id, 'hex');
    this.prefix = `10.${200 + (b[0]! % 50)}.${b[1]!}`;
  }

  get hostIp(): string {
    return `${this.prefix}.1`;
  }

  /** The room's namespace, its bridge, and the veth from this (root) namespace to it. */
  async open(): Promise<void> {
    const routes = (await ip(['-4', 'route', 'show'])).stdout;
    if (routes.includes(`${this.prefix}.`)) throw new Error(`${this.prefix}.0/24 is already routed on this machine; run again`);
    await ip(['netns', 'add', this.ns]);
    this.namespaces.push(this.ns);
    await ip(['-n', this.ns, 'link', 'set', 'lo', 'up']);
    await ip(['-n', this.ns, 'link', 'add', 'br0', 'type', 'bridge']);
    await ip(['-n', this.ns, 'link', 'set', 'br0', 'up']);
    await ip(['link', 'add', this.hostIf, 'type', 'veth', 'peer', 'name', this.bridgePort, 'netns', this.ns]);
    await ip(['addr', 'add', `${this.hostIp}/24`, 'brd', '+', 'dev', this.hostIf]);
    await ip(['link', 'set', this.hostIf, 'up']);
    await ip(['-n', this.ns, 'link', 'set', this.bridgePort, 'master', 'br0', 'up']);
  }

  /** Settings for the api/worker of this room (bind address, WoL interface, iPXE base). */
  appEnv(): Record<string, string> {
    return { ROOMCAST_HTTP_HOST: this.hostIp, ROOMCAST_BOOT_IP: this.hostIp, ROOMCAST_WOL_INTERFACES: this.hostIf, ROOMCAST_PROXYDHCP: 'off' };
  }

  static macOf(n: number): string {
    return `02:5e:00:00:${((n >> 8) & 255).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}`;
  }

  /** Adds PC n (1-based, at most 240): its namespace, its veth on the bridge, a blank sparse disk of diskMiB. */
  async addPc(n: number, diskMiB: number): Promise<SimPc> {
    if (n < 1 || n > 240) throw new Error('PCs are numbered 1 to 240');
    const ns = `${this.ns}-${n}`;
    await ip(['netns', 'add', ns]);
    this.namespaces.push(ns);
    const port = `v${n}`;
    await ip(['-n', this.ns, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await ip(['-n', this.ns, 'link', 'set', port, 'master', 'br0', 'up']);
    const addr = `${this.prefix}.${10 + n}`;
    await ip(['-n', ns, 'addr', 'add', `${addr}/24`, 'brd', '+', 'dev', 'eth0']);
    await ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    const disk = path.join(this.dir, `pc${n}.img`);
    fs.writeFileSync(disk, '');
    fs.truncateSync(disk, diskMiB * MIB);
    const logFile = path.join(this.dir, `pc${n}.log`);
    const pc: SimPc = {
      n,
      mac: SimRoom.macOf(n),
      ns,
      ip: addr,
      disk,
      logFile,
      proc: null,
      exit: Promise.resolve(null),
      events: () => readEvents(logFile),
    };
    this.pcs.push(pc);
    return pc;
  }

  /** Powers the PC's "network card" on: its process listens for its magic packet (resolves once it does). */
  async start(pc: SimPc, bootBase: string): Promise<void> {
    const script = await simpcBundle();
    const fd = fs.openSync(pc.logFile, 'a');
    const proc = spawn('nsenter', [`--net=/run/netns/${pc.ns}`, '--', process.execPath, script, '--mac', pc.mac, '--boot', bootBase, '--disk', pc.disk], { stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    pc.proc = proc;
    pc.exit = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
    const end = Date.now() + 30_000;
    while (!pc.events().some((e) => e.event === 'listening')) {
      if (proc.exitCode !== null) throw new Error(`simulated PC ${pc.n} exited: ${fs.readFileSync(pc.logFile, 'utf8').slice(-2000)}`);
      if (Date.now() > end) throw new Error(`simulated PC ${pc.n} is not listening after 30 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async close(): Promise<void> {
    for (const pc of this.pcs) {
      try {
        if (pc.proc && pc.proc.exitCode === null && pc.proc.pid) process.kill(pc.proc.pid, 'SIGKILL');
      } catch {
        // it had just powered off
      }
    }
    await Promise.all(this.pcs.map((p) => p.exit));
    for (const pc of this.pcs) {
      const loops = (await exec('losetup', ['-j', pc.disk]).catch(() => ({ stdout: '' }))).stdout;
      for (const l of loops.split('\n').map((x) => x.split(':')[0]).filter(Boolean)) await exec('losetup', ['--detach', l!]).catch(() => undefined);
    }
    await ip(['link', 'del', this.hostIf]).catch(() => undefined);
    for (const ns of this.namespaces.reverse()) await ip(['netns', 'del', ns]).catch(() => undefined);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function readEvents(file: string): SimPcEvent[] {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: SimPcEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as SimPcEvent);
    } catch {
      // a line cut by a kill
    }
  }
  return out;
}

/** Small stand-ins for the boot client's kernel and initrds, so that /boot/client/* serves real bytes. */
export function writeClientFiles(dir: string): Record<string, number> {
  fs.mkdirSync(dir, { recursive: true });
  const sizes = { vmlinuz: 256 * 1024, 'initrd.img': 512 * 1024, 'imaging.img': 768 * 1024 };
  for (const [name, size] of Object.entries(sizes)) fs.writeFileSync(path.join(dir, name), randomBytes(size));
  return sizes;
}

/**
 * Publishes `built` as a new ready version of `imageId` the way a capture does, over HTTP: the
 * reference PC's iPXE script (boot token), hello (task token), the manifest, the missing chunks,
 * commit, result. `createCapture` makes the capture task (returns nothing: the script finds it).
 */
export async function uploadImage(base: string, refMac: string, built: Built, createCapture: () => Promise<unknown>): Promise<void> {
  await createCapture();
  const script = await (await fetch(`${base}/boot/ipxe?mac=${refMac}&arch=7`)).text();
  const bootToken = /roomcast\.token=(\S+)/.exec(script)?.[1];
  if (!bootToken) throw new Error(`no boot token in the reference PC's script: ${script}`);
  const call = async (method: string, p: string, token: string, body?: Buffer | string, type = 'application/json') => {
    const res = await fetch(`${base}${p}`, { method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': type } : {}) }, ...(body !== undefined ? { body } : {}) });
    const json = (await res.json()) as Record<string, unknown>;
    if (res.status >= 300) throw new Error(`${method} ${p}: HTTP ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const hello = await call('POST', '/api/v1/boot/hello', bootToken, JSON.stringify(hardwareFacts(refMac)));
  const token = hello.token as string;
  const reg = await call('POST', '/api/v1/client/capture', token, JSON.stringify(built.manifest));
  for (const h of reg.missing as string[]) await call('PUT', `/api/v1/client/chunks/${h}`, token, built.frames.get(h)!, 'application/octet-stream');
  await call('POST', '/api/v1/client/capture/commit', token, '{}');
  await call('POST', '/api/v1/client/result', token, JSON.stringify({ ok: true }));
}

/**
 * Whether a restored disk file holds the image: every partition window's bytes hash to the
 * manifest's chunk hash, and the boot code (the first 440 bytes, what a v1 restore writes over the
 * table) is the image's. The rest of the boot area is the partition table, which the restore writes
 * from the image's table (sfdisk: the disk signature, the protective MBR, the GPT).
 * Returns the windows that differ (empty: equal).
 */
export function diskDiffers(file: string, m: Manifest, bootCode: Buffer): string[] {
  const fd = fs.openSync(file, 'r');
  const bad: string[] = [];
  try {
    const head = Buffer.alloc(bootCode.length);
    fs.readSync(fd, head, 0, head.length, 0);
    if (!head.equals(bootCode)) bad.push('boot code');
    for (const p of m.partitions) {
      for (const c of p.chunks) {
        const b = Buffer.alloc(c.length);
        fs.readSync(fd, b, 0, c.length, p.startBytes + c.offset);
        if (createHash('sha256').update(b).digest('hex') !== c.hash) bad.push(`partition ${p.number} at ${c.offset}`);
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return bad;
}
