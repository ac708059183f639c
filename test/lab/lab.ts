// The network-boot lab for tests: ops/lab/lab.sh builds it (namespaces on a bridge, dnsmasq as the
// Region's DHCP, the real roomcast server), this module drives it from a test process:
//   Lab.up()        sweeps leftovers (lab.sh clean), builds a lab owned by this process, and starts
//                   a watchdog that tears it down should this process die without doing so
//   lab.down()      lab.sh down (idempotent), and the watchdog goes
//   lab.roomcast()  roomcast's log (pino JSON lines), lab.waitForLog(): poll it
//   lab.capture()   tcpdump in a lab namespace, lines as they come
//   lab.exec()      a command in a lab namespace
// QEMU PCs go through bootClient() of client-vm.ts with netns: lab.ns.lan (where the taps are).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { ROOT_DIR, onPath } from './client-vm.js';

const run = promisify(execFile);
export const LAB_SH = path.join(ROOT_DIR, 'ops/lab/lab.sh');

/** What the lab needs on this machine beyond clientPrereqs(); empty when it can run. */
export function labPrereqs(): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (network namespaces, ports 67/69/4011)');
  const tools: Array<[string, string]> = [['ip', 'iproute2'], ['dnsmasq', 'dnsmasq'], ['tcpdump', 'tcpdump'], ['busybox', 'busybox-static'], ['curl', 'curl'], ['redis-server', 'redis-server'], ['flock', 'util-linux']];
  for (const [bin, pkg] of tools) if (!onPath(bin)) missing.push(`${bin} (apt-get install ${pkg})`);
  for (const [file, pkg] of [
    ['/usr/lib/ipxe/qemu/efi-e1000.rom', 'ipxe-qemu'],
    ['/usr/share/OVMF/OVMF_CODE_4M.fd', 'ovmf'],
  ]) {
    if (!fs.existsSync(file!)) missing.push(`${file} (apt-get install ${pkg})`);
  }
  return missing;
}

export interface LogLine {
  level: number;
  time: string;
  msg: string;
  [key: string]: unknown;
}

export interface Capture {
  lines: string[];
  stop(): Promise<void>;
}

export class Lab {
  private watchdog: ChildProcess | undefined;
  private constructor(readonly env: Record<string, string>) {}

  get id() { return this.env.LAB_ID!; }
  get runDir() { return this.env.RUN_DIR!; }
  get ns() { return { lan: this.env.NS_LAN!, dhcp: this.env.NS_DHCP!, rc: this.env.NS_RC!, cli: this.env.NS_CLI! }; }
  get taps() { return this.env.TAPS!.split(' '); }
  get roomcastIp() { return this.env.ROOMCAST_IP!; }
  get regionIp() { return this.env.REGION_IP!; }
  get apiUrl() { return this.env.API_URL!; }
  get adminPassword() { return this.env.ADMIN_PASSWORD!; }
  get tftpDir() { return this.env.TFTP_DIR!; }
  /** The peer namespaces (up({ peers })), each with its static LAN addresses. */
  get peers(): Array<{ ns: string; addrs: string[] }> {
    const n = Number(this.env.PEERS ?? 0);
    const prefix = this.env.LAN_PREFIX!;
    return Array.from({ length: n }, (_, i) => ({
      ns: `rclab-${this.id}-p${i + 1}`,
      addrs: Array.from({ length: Number(this.env.PEER_ADDRS ?? 10) }, (_, j) => `${prefix}.${160 + 10 * i + j}`),
    }));
  }
  /** The roomcast server's pid (all roles in one Node process). */
  roomcastPid(): number {
    return Number(fs.readFileSync(path.join(this.runDir, 'roomcast.pid'), 'utf8').trim());
  }

  /**
   * Sweeps earlier labs left behind, then builds one owned by this process (ops/lab/lab.sh up).
   * roomcastEnv: settings passed to roomcast (lab.sh up --env), e.g. { ROOMCAST_WOL_INTERFACES: 'lan0' }.
   */
  static async up(opts: { clientDir: string; peers?: number; roomcastEnv?: Record<string, string> }): Promise<Lab> {
    const clean = await run('bash', [LAB_SH, 'clean'], { timeout: 120_000 });
    for (const line of clean.stderr.split('\n').filter(Boolean)) console.log(line);
    let out: { stdout: string; stderr: string };
    try {
      const env = Object.entries(opts.roomcastEnv ?? {}).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
      out = await run('bash', [LAB_SH, 'up', '--client', opts.clientDir, '--peers', String(opts.peers ?? 0), ...env], {
        timeout: 180_000,
        env: { ...process.env, ROOMCAST_LAB_OWNER_PID: String(process.pid) },
      });
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string; message: string };
      throw new Error(`ops/lab/lab.sh up failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
    }
    const env: Record<string, string> = {};
    for (const line of out.stdout.split('\n')) {
      const m = /^([A-Z_]+)=(.*)$/.exec(line);
      if (m) env[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
    }
    const lab = new Lab(env);
    // If this process dies without lab.down() (SIGKILL, a crash), the watchdog tears the lab down.
    lab.watchdog = spawn('bash', [LAB_SH, 'watch', lab.runDir, String(process.pid)], { detached: true, stdio: 'ignore' });
    lab.watchdog.unref();
    return lab;
  }

  async down(): Promise<void> {
    try {
      const r = await run('bash', [LAB_SH, 'down', this.runDir], { timeout: 120_000 });
      for (const line of r.stderr.split('\n').filter(Boolean)) console.log(line);
    } finally {
      if (this.watchdog?.pid) {
        try {
          process.kill(this.watchdog.pid, 'SIGTERM');
        } catch {
          // it saw the run directory gone and exited
        }
      }
      this.watchdog = undefined;
    }
  }

  /** roomcast's log so far, parsed (lines that are not JSON are kept as { msg }). */
  roomcast(): LogLine[] {
    let text = '';
    try {
      text = fs.readFileSync(path.join(this.runDir, 'roomcast.log'), 'utf8');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        try {
          return JSON.parse(l) as LogLine;
        } catch {
          return { level: 0, time: '', msg: l };
        }
      });
  }

  async waitForLog(pred: (l: LogLine) => boolean, ms: number): Promise<LogLine | undefined> {
    const end = Date.now() + ms;
    for (;;) {
      const hit = this.roomcast().find(pred);
      if (hit || Date.now() > end) return hit;
      await sleep(250);
    }
  }

  /** The Region-like dnsmasq's log (--log-dhcp). */
  dnsmasqLog(): string {
    try {
      return fs.readFileSync(path.join(this.runDir, 'dnsmasq.log'), 'utf8');
    } catch {
      return '';
    }
  }

  exec(ns: string, cmd: string[], timeoutMs = 30_000) {
    return run('ip', ['netns', 'exec', ns, ...cmd], { timeout: timeoutMs });
  }

  /** tcpdump -n -l in a lab namespace (default: on the bridge), until stop(). Resolves once it listens. */
  async capture(filter: string, where: { ns?: string; iface?: string } = {}): Promise<Capture> {
    const child = spawn('ip', ['netns', 'exec', where.ns ?? this.ns.lan, 'tcpdump', '-i', where.iface ?? 'br0', '-n', '-l', '-e', filter], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let pending = '';
    child.stdout!.on('data', (b: Buffer) => {
      const parts = (pending + b.toString()).split('\n');
      pending = parts.pop()!;
      lines.push(...parts.filter(Boolean));
    });
    await new Promise<void>((resolve, reject) => {
      let err = '';
      const timer = setTimeout(() => reject(new Error(`tcpdump did not start: ${err}`)), 15_000);
      child.stderr!.on('data', (b: Buffer) => {
        err += b.toString();
        if (/listening on/.test(err)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`tcpdump exited (${code}): ${err}`));
      });
    });
    return {
      lines,
      stop: async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGINT');
        await Promise.race([exited, sleep(3000)]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      },
    };
  }
}

/** Date.parse of a pino time, in ms. */
export const logTime = (l: LogLine) => Date.parse(l.time);
