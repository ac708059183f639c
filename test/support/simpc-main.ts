// A simulated PC (test/support/simpc.ts starts it in its own network namespace): a powered-off PC
// that listens for its magic packet on UDP 9, then does what iPXE and the roomcast boot client do
// over HTTP, for real, against the api:
//   1. GET <boot base>/boot/ipxe?mac=…&arch=… (the URL proxyDHCP hands iPXE: ipxeScriptUrl)
//   2. parses the script: chain (followed), kernel (URL + command line), initrd, imgargs, boot
//      lines, with ${netX/mac:hexhyp} expanded; a script without a kernel boots the local disk
//   3. GETs the kernel and the initrds it names (small stand-in files in tests: the whole file,
//      its byte count checked against Content-Length)
//   4. takes roomcast.api and roomcast.token from the kernel command line, says hello
//      (POST /api/v1/boot/hello, as steps/hello.sh does) and, for a capture or a restore, runs the
//      real imaging client (services/imaging/client: runTask, as client.mjs run --api --token-file
//      --disk does) on a loop device over its own disk file
//   5. honours the end action: the boot client always powers off (actions/image.sh, poweroff.sh):
//      the process detaches its loop device and exits.
// Every step is one JSON line on stdout ({ at, event, ... }); the client's own log lines too.
//
//   node simpc.mjs --mac 02:00:00:00:00:01 --boot http://10.1.2.1:8080 --disk /tmp/pc1.img [--arch 7] [--port 9]
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import { parseArgs, promisify } from 'node:util';
import { ipxeScriptUrl } from '../../services/boot/proxydhcp/decide.js';
import { HttpImagingApi } from '../../services/imaging/client/api.js';
import { runTask } from '../../services/imaging/client/main.js';
import { hardwareFacts } from './facts.js';

const exec = promisify(execFile);

const { values: args } = parseArgs({
  options: { mac: { type: 'string' }, boot: { type: 'string' }, disk: { type: 'string' }, arch: { type: 'string', default: '7' }, port: { type: 'string', default: '9' } },
});
const mac = (args.mac ?? '').toLowerCase();
if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac) || !args.boot || !args.disk) {
  process.stderr.write('usage: simpc --mac MAC --boot http://HOST:PORT --disk FILE [--arch 7] [--port 9]\n');
  process.exit(2);
}
const bootBase = args.boot;
const diskFile = args.disk;
const arch = Number(args.arch);

const say = (event: string, extra: Record<string, unknown> = {}) => process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), event, ...extra })}\n`);

/** The magic packet for our MAC: 6 × 0xFF, then the MAC 16 times. */
function isOurs(msg: Buffer): boolean {
  if (msg.length < 102 || !msg.subarray(0, 6).equals(Buffer.alloc(6, 0xff))) return false;
  const m = Buffer.from(mac.replace(/:/g, ''), 'hex');
  for (let i = 0; i < 16; i++) if (!msg.subarray(6 + i * 6, 12 + i * 6).equals(m)) return false;
  return true;
}

interface Script {
  kernel: { url: string; cmdline: string } | null;
  initrds: string[];
  boots: boolean;
  echo: string[];
}

/** The lines iPXE acts on, in order (the retry labels and `|| goto` branches are iPXE's; one pass here). */
export function parseScript(text: string): Script & { chain: string | null } {
  const expand = (s: string) => s.replace(/\$\{netX\/mac:hexhyp\}/g, mac.replace(/:/g, '-')).replace(/\$\{netX\/mac\}/g, mac).replace(/\$\{platform\}/g, arch === 0 ? 'pcbios' : 'efi');
  const out: Script & { chain: string | null } = { kernel: null, initrds: [], boots: false, echo: [], chain: null };
  const lines = text.split('\n');
  if (lines[0]?.trim() !== '#!ipxe') throw new Error(`not an iPXE script: ${JSON.stringify(text.slice(0, 60))}`);
  for (const raw of lines.slice(1)) {
    const line = expand(raw.replace(/\s+\|\|.*$/, '').trim());
    const [cmd, ...rest] = line.split(/\s+/);
    if (!cmd || cmd.startsWith('#') || cmd.startsWith(':')) continue;
    if (cmd === 'chain' || cmd === 'chainload') {
      out.chain ??= rest.filter((r) => !r.startsWith('--'))[0] ?? null;
      break;
    }
    if (cmd === 'kernel' || cmd === 'imgexec') out.kernel ??= { url: rest[0]!, cmdline: rest.slice(1).join(' ') };
    else if (cmd === 'initrd' || cmd === 'module') out.initrds.push(rest[0]!);
    else if (cmd === 'imgargs' && out.kernel) out.kernel.cmdline = rest.slice(1).join(' ');
    else if (cmd === 'echo') out.echo.push(rest.join(' '));
    else if (cmd === 'boot') {
      out.boots = true;
      break;
    } else if (cmd === 'exit' || cmd === 'sanboot') break;
  }
  return out;
}

async function fetchScript(url: string, depth = 0): Promise<Script> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  const s = parseScript(await res.text());
  say('script', { url, kernel: s.kernel?.url ?? null, initrds: s.initrds, echo: s.echo });
  if (s.chain) {
    if (depth >= 4) throw new Error('too many chained scripts');
    return fetchScript(new URL(s.chain, url).toString(), depth + 1);
  }
  return s;
}

/** What iPXE's `kernel`/`initrd` do over HTTP: the whole file (small stand-ins in tests), checked against Content-Length. */
async function download(url: string): Promise<number> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  const body = Buffer.from(await res.arrayBuffer());
  const declared = res.headers.get('content-length');
  if (declared !== null && Number(declared) !== body.length) throw new Error(`GET ${url}: ${body.length} bytes, Content-Length ${declared}`);
  say('fetched', { url, bytes: body.length });
  return body.length;
}

const cmdlineValue = (cmdline: string, key: string) => cmdline.split(/\s+/).find((a) => a.startsWith(`${key}=`))?.slice(key.length + 1) ?? null;

async function boot(): Promise<number> {
  const script = await fetchScript(ipxeScriptUrl(bootBase, mac, arch));
  if (!script.kernel || !script.boots) {
    // The exit script: the PC boots its own disk (its operating system); for the room, it is on and not ours.
    say('local-boot');
    return 0;
  }
  await download(script.kernel.url);
  for (const i of script.initrds) await download(i);
  const api = cmdlineValue(script.kernel.cmdline, 'roomcast.api');
  const bootToken = cmdlineValue(script.kernel.cmdline, 'roomcast.token');
  if (!api || !bootToken) throw new Error(`the kernel command line lacks roomcast.api or roomcast.token: ${script.kernel.cmdline}`);
  say('kernel', { api, mode: cmdlineValue(script.kernel.cmdline, 'roomcast.mode') });

  const sizeBytes = fs.statSync(diskFile).size;
  const facts = hardwareFacts(mac, { disks: [{ name: 'sda', model: 'SIMPC DISK', serial: `SIM-${mac.replace(/:/g, '')}`, sizeBytes, rotational: false, transport: 'sata' }] });
  const hello = await fetch(`${api}/api/v1/boot/hello`, { method: 'POST', headers: { authorization: `Bearer ${bootToken}`, 'content-type': 'application/json' }, body: JSON.stringify(facts) });
  const answer = (await hello.json()) as { action?: string; token?: string; taskId?: number | null };
  say('hello', { status: hello.status, action: answer.action ?? null, taskId: answer.taskId ?? null });
  if (!hello.ok) return 1;
  if (answer.action !== 'restore' && answer.action !== 'capture') return 0;

  const loop = (await exec('losetup', ['--find', '--show', diskFile])).stdout.trim();
  say('disk', { loop, sizeBytes });
  try {
    const client = new HttpImagingApi({ base: api.replace(/\/$/, ''), token: answer.token ?? bootToken, log: (line) => say('client', { line }) });
    const ok = await runTask(client, loop, (line) => say('client', { line }));
    say('client-exit', { ok });
    return ok ? 0 : 1;
  } finally {
    await exec('losetup', ['--detach', loop]).catch(() => undefined);
  }
}

const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
let state: 'off' | 'on' = 'off';
socket.on('message', (msg, from) => {
  if (state !== 'off' || !isOurs(msg)) return;
  state = 'on';
  say('woken', { from: from.address });
  boot().then(
    (code) => {
      say('poweroff', { code });
      socket.close();
      process.exitCode = code;
    },
    (err: unknown) => {
      say('error', { message: (err as Error).stack ?? String(err) });
      say('poweroff', { code: 1 });
      socket.close();
      process.exitCode = 1;
    },
  );
});
socket.bind(Number(args.port), '0.0.0.0', () => say('listening', { mac, port: Number(args.port) }));
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(143));
