// Helpers for tests that boot the roomcast boot client (images/client) in QEMU under TCG:
//   clientPrereqs()   what is missing to build and boot it (empty: all there)
//   buildClient()     images/client/build.sh into a cache directory keyed by the inputs' hash;
//                     with { imaging: true } also build-imaging.sh (imaging.img, the part captures
//                     and restores load), into a directory whose key covers services/imaging too
//   bootClient()      one QEMU run with -kernel/-initrd, until the guest powers off or a time limit
//   pxeArgs()         the firmware and NIC of a PC that network-boots from a lab tap: BIOS (SeaBIOS,
//                     e1000 with its iPXE ROM) or UEFI (OVMF, its own PXE on virtio-net)
//   machineArgs()     a whole PC (firmware, NIC, one disk booted before the network), for power.ts
// /dev/kvm does not run guests on the dev and CI machines (shared/notes/lab-recipe.md): TCG only.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const ROOT_DIR = path.resolve(import.meta.dirname, '../..');
export const CLIENT_DIR = path.join(ROOT_DIR, 'images/client');
/** The imaging client build-imaging.sh bundles (services/imaging/client/main.ts and what it imports). */
export const IMAGING_DIR = path.join(ROOT_DIR, 'services/imaging');
/** Files outside services/imaging the client bundle imports (the images/appliance/Dockerfile imaging stage copies them too). */
export const IMAGING_SHARED = [path.join(ROOT_DIR, 'services/core/progress.ts'), path.join(ROOT_DIR, 'services/inventory/computer-name.ts')];
export const QEMU = 'qemu-system-x86_64';
export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

/** Whether `cmd` is on PATH. */
export function onPath(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The newest /boot/vmlinuz-* (what build.sh takes), or null. */
export function newestKernel(): string | null {
  let names: string[];
  try {
    names = fs.readdirSync('/boot').filter((n) => n.startsWith('vmlinuz-'));
  } catch {
    return null;
  }
  const byVersion = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });
  const last = names.sort(byVersion).at(-1);
  return last ? path.join('/boot', last) : null;
}

/** Reasons the client cannot be booted here (QEMU or a kernel missing); empty when it can. */
export function clientPrereqs(): string[] {
  const missing: string[] = [];
  if (!onPath(QEMU)) missing.push(`${QEMU} (apt-get install qemu-system-x86)`);
  if (!newestKernel()) missing.push('a kernel in /boot (apt-get install linux-image-amd64)');
  return missing;
}

export interface ClientBuild {
  dir: string;
  vmlinuz: string;
  initrd: string;
  /** imaging.img (Node.js, the bundled imaging client, partclone, ntfs-3g ...): with { imaging: true } only. */
  imaging: string | null;
  info: Record<string, unknown>;
  /** imaging.json of build-imaging.sh, with { imaging: true }. */
  imagingInfo: Record<string, unknown> | null;
  /** true when this call ran build.sh, false when the cache had it. */
  built: boolean;
  buildMs: number;
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p));
    else if (e.isFile()) out.push(p);
  }
  return out.sort();
}

/** The programs imaging.list names (build-imaging.sh copies them with their libraries). */
function imagingPrograms(): string[] {
  const list = fs.readFileSync(path.join(CLIENT_DIR, 'imaging.list'), 'utf8');
  return list
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

/** The version of an npm package in node_modules (esbuild and zod shape the bundle), or 'missing'. */
function moduleVersion(name: string): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(ROOT_DIR, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'missing';
  }
}

/**
 * Hash of everything the build reads: images/client/**, and the kernel, busybox and dmidecode it
 * copies; with imaging, also services/imaging/** (bundled into imaging.img; its tests excepted), the
 * versions of esbuild and zod, the Node binary's origin and the programs of imaging.list.
 */
function inputsHash(imaging: boolean): string {
  const h = createHash('sha256');
  const sources = listFiles(CLIENT_DIR).map((f) => ({ f, rel: path.relative(CLIENT_DIR, f) }));
  if (imaging) {
    for (const f of [...listFiles(IMAGING_DIR), ...IMAGING_SHARED]) if (!f.endsWith('.test.ts')) sources.push({ f, rel: path.relative(ROOT_DIR, f) });
  }
  for (const { f, rel } of sources) {
    h.update(rel).update('\0');
    h.update(String(fs.statSync(f).mode & 0o111)).update('\0');
    h.update(fs.readFileSync(f)).update('\0');
  }
  const copied = [newestKernel() ?? '', '/bin/busybox', '/usr/sbin/dmidecode'];
  if (imaging) {
    h.update(`imaging esbuild ${moduleVersion('esbuild')} zod ${moduleVersion('zod')} node ${process.env.ROOMCAST_CLIENT_NODE ?? 'npm'}\0`);
    copied.push(...imagingPrograms());
  }
  for (const f of copied) {
    try {
      const s = fs.statSync(f);
      h.update(`${f} ${s.size} ${s.mtimeMs}\0`);
    } catch {
      h.update(`${f} missing\0`);
    }
  }
  return h.digest('hex').slice(0, 16);
}

function cacheRoot(): string {
  for (const dir of ['/var/cache/roomcast-ci', path.join(os.tmpdir(), 'roomcast-ci')]) {
    try {
      fs.mkdirSync(dir, { recursive: true });
      fs.accessSync(dir, fs.constants.W_OK);
      return dir;
    } catch {
      // next candidate
    }
  }
  throw new Error('no writable cache directory for the boot client');
}

async function runBuild(script: string, dir: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  try {
    await run('bash', [path.join(CLIENT_DIR, script), dir], { timeout: 300_000, maxBuffer: 16 << 20, env });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`images/client/${script} failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}

/**
 * Runs `fn` holding <root>/build.lock (a directory: made atomically; it holds the owner's pid). A lock
 * whose owner is gone (a killed test run) is taken over.
 */
async function withBuildLock<T>(root: string, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(root, 'build.lock');
  for (;;) {
    try {
      fs.mkdirSync(lock);
      fs.writeFileSync(path.join(lock, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let owner = 0;
      let age = 0;
      try {
        age = Date.now() - fs.statSync(lock).mtimeMs;
        owner = Number(fs.readFileSync(path.join(lock, 'pid'), 'utf8')) || 0;
      } catch {
        // released meanwhile, or its owner is between mkdir and writing its pid
      }
      let alive = owner > 0;
      try {
        if (alive) process.kill(owner, 0);
      } catch {
        alive = false;
      }
      // No pid after 10 s: its owner died between mkdir and writing it.
      if (!alive && (owner > 0 || age > 10_000)) fs.rmSync(lock, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * Builds the boot client once per set of inputs: OUT = <cache>/client-<hash> with vmlinuz and
 * initrd.img (build.sh), reused while images/client and the Debian files it copies are unchanged.
 * With { imaging: true }, OUT = <cache>/client-img-<hash> also has imaging.img (build-imaging.sh),
 * and the hash also covers services/imaging; build-imaging.sh keeps the Node binary it fetches from
 * the npm registry under the same cache root (ROOMCAST_CACHE_DIR). Older client-* builds (over a
 * day old) are removed.
 */
export async function buildClient(opts: { imaging?: boolean } = {}): Promise<ClientBuild> {
  const imaging = opts.imaging === true;
  const root = cacheRoot();
  const dir = path.join(root, `client-${imaging ? 'img-' : ''}${inputsHash(imaging)}`);
  const files = {
    vmlinuz: path.join(dir, 'vmlinuz'),
    initrd: path.join(dir, 'initrd.img'),
    json: path.join(dir, 'client.json'),
    imaging: path.join(dir, 'imaging.img'),
    imagingJson: path.join(dir, 'imaging.json'),
  };
  const started = Date.now();
  let built = false;
  // Each script writes its files under temporary names and its .json last: present means complete.
  // Lab files run side by side (vitest.lab.config.ts): one build at a time, the others wait for it.
  await withBuildLock(root, async () => {
    if (![files.vmlinuz, files.initrd, files.json].every((f) => fs.existsSync(f))) {
      await runBuild('build.sh', dir);
      built = true;
    }
    if (imaging && ![files.imaging, files.imagingJson].every((f) => fs.existsSync(f))) {
      await runBuild('build-imaging.sh', dir, { ...process.env, ROOMCAST_CACHE_DIR: process.env.ROOMCAST_CACHE_DIR ?? root });
      built = true;
    }
  });
  for (const name of fs.readdirSync(root)) {
    const p = path.join(root, name);
    if (!name.startsWith('client-') || p === dir) continue;
    try {
      if (Date.now() - fs.statSync(p).mtimeMs > 86_400_000) fs.rmSync(p, { recursive: true, force: true });
    } catch {
      // another run may be removing it
    }
  }
  const info = JSON.parse(fs.readFileSync(files.json, 'utf8')) as Record<string, unknown>;
  const imagingInfo = imaging ? (JSON.parse(fs.readFileSync(files.imagingJson, 'utf8')) as Record<string, unknown>) : null;
  return { dir, vmlinuz: files.vmlinuz, initrd: files.initrd, imaging: imaging ? files.imaging : null, info, imagingInfo, built, buildMs: Date.now() - started };
}

export interface BootOptions {
  build: ClientBuild;
  /**
   * Direct kernel boot (-kernel/-initrd) with this command line (roomcast.* and console=...;
   * initrd=initrd.img is added when missing). Without it the PC network-boots (-boot n) through
   * its NIC's iPXE option ROM, as a real one does.
   */
  append?: string;
  /** Extra QEMU arguments: NIC, disks, -smbios, firmware. */
  args: string[];
  /** Serial console log file. */
  serialLog: string;
  memoryMiB?: number;
  /** The guest must power off (QEMU exits) within this time; it is killed after. */
  limitMs: number;
  /** Every QEMU started is added here, so afterAll can kill leftovers. */
  children: ChildProcess[];
  /** Run QEMU in this network namespace (`ip netns exec`, which execs: the child is QEMU itself), e.g. where its tap is. */
  netns?: string;
}

export interface BootResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Date.now() when QEMU was started, and how long it ran. */
  startedAt: number;
  ms: number;
  serial: string;
  timedOut: boolean;
  stderr: string;
}

/** The machine every lab PC is: q35 under TCG, 2 vCPUs, no display, QEMU exits when the guest reboots or powers off. */
function baseArgs(memoryMiB: number): string[] {
  return [
    '-accel', 'tcg', '-machine', 'q35', '-m', String(memoryMiB), '-smp', '2,sockets=1,cores=2,threads=1',
    '-nodefaults', '-no-user-config', '-display', 'none', '-monitor', 'none', '-no-reboot',
  ];
}

/** Boots the client under TCG (q35 machine: AHCI on board, bus ide.0 ... ide.5) and waits for QEMU to exit. */
export function bootClient(o: BootOptions): Promise<BootResult> {
  const args = [
    ...baseArgs(o.memoryMiB ?? 512),
    ...(o.append === undefined
      ? ['-boot', 'n']
      : ['-kernel', o.build.vmlinuz, '-initrd', o.build.initrd, '-append', /(^| )initrd=/.test(o.append) ? o.append : `initrd=initrd.img ${o.append}`]),
    '-serial', `file:${o.serialLog}`,
    ...o.args,
  ];
  const started = Date.now();
  const child = o.netns ? spawn('ip', ['netns', 'exec', o.netns, QEMU, ...args], { stdio: ['ignore', 'ignore', 'pipe'] }) : spawn(QEMU, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  o.children.push(child);
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, o.limitMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      let serial = '';
      try {
        serial = fs.readFileSync(o.serialLog, 'utf8');
      } catch {
        // QEMU failed before creating it
      }
      resolve({ code, signal, startedAt: started, ms: Date.now() - started, serial, timedOut, stderr });
    });
  });
}

export type Firmware = 'bios' | 'uefi';

export interface PxePc {
  /** Where the SeaBIOS sercon file and the PC's copy of the OVMF variables go. */
  dir: string;
  /** The tap (in the lab's LAN namespace) the NIC is on. */
  tap: string;
  mac: string;
  /** UEFI: the PC's copy of the OVMF variables; default DIR/OVMF_VARS-<mac without colons>.fd. */
  vars?: string;
  /** UEFI: keep the vars file when it is there (the PC keeps its EFI variables from one boot to the next, as a real one does); default: a fresh copy each boot. */
  keepVars?: boolean;
}

const tapNetdev = (tap: string) => ['-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`];

/** A BIOS PC: SeaBIOS, the NIC an e1000 with its iPXE option ROM, iPXE's screen copied to the serial console. */
export function biosArgs(pc: PxePc): string[] {
  const sercon = path.join(pc.dir, 'sercon');
  if (!fs.existsSync(sercon)) fs.writeFileSync(sercon, Buffer.from([0xf8, 0x03, 0, 0, 0, 0, 0, 0])); // SeaBIOS: copy the screen (iPXE) to ttyS0
  return ['-fw_cfg', `name=etc/sercon-port,file=${sercon}`, ...tapNetdev(pc.tap), '-device', `e1000,netdev=n0,mac=${pc.mac},bootindex=1`];
}

/** A UEFI PC: OVMF with its own variables file, the NIC a virtio-net without option ROM. */
export function uefiArgs(pc: PxePc): string[] {
  const vars = pc.vars ?? path.join(pc.dir, `OVMF_VARS-${pc.mac.replace(/:/g, '')}.fd`);
  if (!pc.keepVars || !fs.existsSync(vars)) fs.copyFileSync(OVMF_VARS, vars);
  return [
    '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`, '-drive', `if=pflash,format=raw,unit=1,file=${vars}`,
    // romfile= : no iPXE option ROM; OVMF's own PXE stack (VirtioNetDxe + PxeBcDxe) boots the NIC (snponly.efi from roomcast's TFTP).
    ...tapNetdev(pc.tap), '-device', `virtio-net-pci,netdev=n0,mac=${pc.mac},romfile=,bootindex=1`,
  ];
}

/** The QEMU arguments of a PC that network-boots with this firmware (biosArgs or uefiArgs). */
export function pxeArgs(firmware: Firmware, pc: PxePc): string[] {
  return firmware === 'bios' ? biosArgs(pc) : uefiArgs(pc);
}

export interface PcDisk {
  file: string;
  bus: 'ahci' | 'virtio';
  serial: string;
}

/**
 * The whole QEMU command line of a lab PC that is switched on as a real one is: its firmware boots
 * the disk first (bootindex 0) and the network after it (the NIC's bootindex 1), so a PC whose disk
 * is blank or has no boot signature or GPT falls through to PXE. Used by the power controller (power.ts).
 */
export function machineArgs(m: { firmware: Firmware; pc: PxePc; disk: PcDisk; serialLog: string; memoryMiB?: number }): string[] {
  const d = m.disk;
  return [
    ...baseArgs(m.memoryMiB ?? 512),
    '-serial', `file:${m.serialLog}`,
    ...pxeArgs(m.firmware, m.pc),
    '-drive', `file=${d.file},if=none,id=d0,format=raw`,
    '-device', d.bus === 'ahci' ? `ide-hd,drive=d0,bus=ide.0,serial=${d.serial},bootindex=0` : `virtio-blk-pci,drive=d0,serial=${d.serial},bootindex=0`,
  ];
}

/** The client's own console lines ("roomcast: ..."), for assertion messages. */
export function clientLines(serial: string): string[] {
  return serial.split(/\r?\n/).filter((l) => l.includes('roomcast:'));
}
