// The lab's power controller: the mains socket and power button of the lab's QEMU PCs. A small
// process on the lab LAN (a peer namespace of lab.sh up --peers, whose addresses receive the LAN's
// directed broadcast) listens for Wake-on-LAN magic packets on UDP 9 and 7 and starts the QEMU PC
// whose MAC a packet carries, as a powered-off PC with Wake-on-LAN on would: the PC then boots for
// real (disk first, then the network: machineArgs() of client-vm.ts). A PC already running ignores
// further packets; a packet for an unknown MAC, or one that is not a magic packet, starts nothing.
// It writes one JSON line per thing that happens on stdout (listening, packet, started, exited), so
// the test can assert what it started, and stops its QEMUs on SIGTERM.
//
//   ip netns exec NS node --import tsx test/lab/power.ts CONFIG.json     (the program)
//   PowerController.start(...)                                           (the test's handle on it)
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { QEMU, ROOT_DIR, machineArgs, type Firmware, type PcDisk } from './client-vm.js';

export interface Machine {
  mac: string;
  firmware: Firmware;
  /** Where the SeaBIOS sercon file and the OVMF variables of this PC go (kept from one power-on to the next). */
  dir: string;
  tap: string;
  disk: PcDisk;
  /** The serial console; each power-on gets its own file: NAME-<n>.log for NAME.log (n = 1, 2 ...). */
  serialLog: string;
  memoryMiB?: number;
}

export interface PowerConfig {
  /** The lab namespace where the taps are (QEMU runs there). */
  lanNs: string;
  machines: Machine[];
  /** UDP ports (default 9 and 7). */
  ports?: number[];
}

export type PowerEvent =
  | { event: 'listening'; ports: number[]; at: number }
  | { event: 'packet'; mac: string | null; port: number; from: string; action: 'start' | 'already-on' | 'unknown-mac' | 'not-magic'; at: number }
  | { event: 'started'; mac: string; pid: number; serialLog: string; at: number }
  | { event: 'exited'; mac: string; code: number | null; signal: string | null; at: number };

/** The MAC a magic packet carries (6 × 0xFF, then the same 6 bytes 16 times), lower-case with colons; null for anything else. */
export function magicMac(buf: Buffer): string | null {
  if (buf.length < 102) return null;
  for (let i = 0; i < 6; i++) if (buf[i] !== 0xff) return null;
  const mac = buf.subarray(6, 12);
  for (let k = 1; k < 16; k++) if (!buf.subarray(6 + 6 * k, 12 + 6 * k).equals(mac)) return null;
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

async function main(configFile: string): Promise<void> {
  const config = JSON.parse(fs.readFileSync(configFile, 'utf8')) as PowerConfig;
  const byMac = new Map(config.machines.map((m) => [m.mac.toLowerCase(), m]));
  const running = new Map<string, ChildProcess>();
  const powerOns = new Map<string, number>();
  const say = (e: PowerEvent) => process.stdout.write(`${JSON.stringify(e)}\n`);
  let stopping = false;

  const powerOn = (m: Machine) => {
    const n = (powerOns.get(m.mac) ?? 0) + 1;
    powerOns.set(m.mac, n);
    const serialLog = `${m.serialLog.replace(/\.log$/, '')}-${n}.log`;
    const args = machineArgs({ firmware: m.firmware, pc: { dir: m.dir, tap: m.tap, mac: m.mac, keepVars: true }, disk: m.disk, serialLog, ...(m.memoryMiB ? { memoryMiB: m.memoryMiB } : {}) });
    // ip netns exec execs QEMU: the child's pid is QEMU's.
    const child = spawn('ip', ['netns', 'exec', config.lanNs, QEMU, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
    running.set(m.mac, child);
    say({ event: 'started', mac: m.mac, pid: child.pid ?? -1, serialLog, at: Date.now() });
    child.once('exit', (code, signal) => {
      running.delete(m.mac);
      if (stderr.trim()) process.stderr.write(`power: QEMU ${m.mac}: ${stderr}\n`);
      say({ event: 'exited', mac: m.mac, code, signal, at: Date.now() });
    });
  };

  const ports = config.ports ?? [9, 7];
  const sockets = await Promise.all(
    ports.map(
      (port) =>
        new Promise<dgram.Socket>((resolve, reject) => {
          const s = dgram.createSocket('udp4');
          s.once('error', reject);
          s.on('message', (buf, rinfo) => {
            if (stopping) return;
            const mac = magicMac(buf);
            const m = mac ? byMac.get(mac) : undefined;
            const action = !mac ? 'not-magic' : !m ? 'unknown-mac' : running.has(m.mac) ? 'already-on' : 'start';
            say({ event: 'packet', mac, port, from: rinfo.address, action, at: Date.now() });
            if (action === 'start') powerOn(m!);
          });
          s.bind(port, () => resolve(s));
        }),
    ),
  );
  say({ event: 'listening', ports, at: Date.now() });

  const stop = async () => {
    if (stopping) return;
    stopping = true;
    for (const s of sockets) s.close();
    const left = [...running.values()];
    await Promise.all(left.map((c) => new Promise((r) => { c.once('exit', r); c.kill('SIGTERM'); })));
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

/** The test's handle on a power controller process (the program above, in a lab namespace). */
export class PowerController {
  readonly events: PowerEvent[] = [];
  private constructor(private readonly child: ChildProcess, readonly stderr: string[]) {}

  /** Starts it in `ns` with these machines, once it listens. The config goes to `dir`. */
  static async start(ns: string, config: PowerConfig, dir: string): Promise<PowerController> {
    const file = path.join(dir, 'power.json');
    fs.writeFileSync(file, JSON.stringify(config, null, 2));
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', path.join(ROOT_DIR, 'test/lab/power.ts'), file], { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
    const pc = new PowerController(child, []);
    let pending = '';
    child.stdout!.on('data', (b: Buffer) => {
      const parts = (pending + b.toString()).split('\n');
      pending = parts.pop()!;
      for (const l of parts.filter(Boolean)) {
        try {
          pc.events.push(JSON.parse(l) as PowerEvent);
        } catch {
          pc.stderr.push(l);
        }
      }
    });
    child.stderr!.on('data', (b: Buffer) => pc.stderr.push(b.toString()));
    const end = Date.now() + 30_000;
    while (!pc.events.some((e) => e.event === 'listening')) {
      if (child.exitCode !== null || Date.now() > end) throw new Error(`the power controller did not start: ${pc.stderr.join('')}`);
      await sleep(100);
    }
    return pc;
  }

  started(mac?: string) {
    return this.events.filter((e): e is Extract<PowerEvent, { event: 'started' }> => e.event === 'started' && (!mac || e.mac === mac));
  }
  exited(mac?: string) {
    return this.events.filter((e): e is Extract<PowerEvent, { event: 'exited' }> => e.event === 'exited' && (!mac || e.mac === mac));
  }
  /** Whether the PC is on (started more often than it exited). */
  isOn(mac: string): boolean {
    return this.started(mac).length > this.exited(mac).length;
  }

  /** Stops it (its QEMUs with it). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await Promise.race([exited, sleep(15_000)]);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main(process.argv[2] ?? '').catch((err: Error) => {
    process.stderr.write(`power: ${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
