// Lab boot benchmark: time from QEMU start to the client's hello through the whole real chain of the
// namespace lab (ops/lab/lab.sh): Region-like dnsmasq lease, roomcast's proxyDHCP, TFTP (UEFI:
// snponly.efi), the api's iPXE script, kernel and initrd over HTTP, client, hello — BIOS (iPXE ROM)
// and UEFI (OVMF's own PXE). A known PC with an inventory task each time; 3 runs each, median, min,
// max, next to the direct kernel boot of the `boot` benchmark (same client, no firmware, no network
// boot) as the reference. QEMU under TCG. Reports only; needs root and the lab's packages.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApiClient } from '../support/client.js';
import { bootClient, buildClient, clientPrereqs, pxeArgs } from '../lab/client-vm.js';
import { Lab, labPrereqs, logTime } from '../lab/lab.js';
import { RESULTS_DIR, environment, killedAtEnd, markdownTable, median, tempDir, writeResults, type BenchContext } from './harness.js';

export const name = 'labboot';

const RUNS = 3;
const BOOT_LIMIT_MS = 240_000;
const MACS = { bios: '52:54:00:7b:00:01', uefi: '52:54:00:7b:00:02' } as const;
type Firmware = keyof typeof MACS;

const r2 = (n: number | null) => (n === null ? null : Math.round(n * 100) / 100);

/** The direct kernel boot figures of the `boot` benchmark, when it ran: the reference. */
function directBoot(): Record<Firmware, number | null> {
  try {
    const j = JSON.parse(fs.readFileSync(path.join(RESULTS_DIR, 'boot.json'), 'utf8')) as { summary?: Array<{ firmware: Firmware; medianSec: number | null }> };
    const get = (f: Firmware) => j.summary?.find((r) => r.firmware === f)?.medianSec ?? null;
    return { bios: get('bios'), uefi: get('uefi') };
  } catch {
    return { bios: null, uefi: null };
  }
}

export async function run(ctx: BenchContext): Promise<void> {
  const env = environment();
  const missing = [...clientPrereqs(), ...labPrereqs()];
  if (missing.length) {
    ctx.log(`labboot: skipped, missing ${missing.join(', ')}`);
    writeResults(name, { name, environment: env, skipped: missing }, `# Lab boot benchmark\n\nSkipped: missing ${missing.join(', ')}.`);
    return;
  }
  const dir = tempDir(ctx, 'rc-bench-lab-');
  const children = killedAtEnd(ctx);

  const build = await buildClient();
  const lab = await Lab.up({ clientDir: build.dir });
  ctx.onCleanup(() => lab.down());
  const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' / ');
  const loadStart = load();
  const admin = new ApiClient(lab.apiUrl);
  if ((await admin.login('admin', lab.adminPassword)).status !== 200) throw new Error('labboot: cannot log in to the lab api');
  const hosts: Record<Firmware, number> = { bios: 0, uefi: 0 };
  for (const f of ['bios', 'uefi'] as const) {
    const h = await admin.post('/api/v1/hosts', { name: `BENCH-${f.toUpperCase()}`, mac: MACS[f] });
    if (h.status !== 201) throw new Error(`labboot: cannot add the ${f} PC: ${JSON.stringify(h.body)}`);
    hosts[f] = h.body.id as number;
  }
  const results: Record<Firmware, Array<{ helloSec: number | null; scriptSec: number | null; qemuSec: number }>> = { bios: [], uefi: [] };
  for (let i = 0; i < RUNS; i++) {
    for (const f of ['bios', 'uefi'] as const) {
      const mac = MACS[f];
      const task = await admin.post('/api/v1/tasks', { hostIds: [hosts[f]], kind: 'inventory' });
      if (task.status !== 201) throw new Error(`labboot: no task: ${JSON.stringify(task.body)}`);
      const tap = lab.taps[0]!;
      const firmwareArgs = pxeArgs(f, { dir, tap, mac, vars: path.join(dir, `vars-${i}.fd`) });
      const r = await bootClient({ build, children, netns: lab.ns.lan, serialLog: path.join(dir, `${f}-${i}.serial.log`), limitMs: BOOT_LIMIT_MS, args: firmwareArgs });
      const after = (l: Parameters<typeof logTime>[0]) => logTime(l) >= r.startedAt;
      const hello = lab.roomcast().find((l) => l.url === '/api/v1/boot/hello' && l.user === `machine:${mac}` && after(l));
      // The request log has no query string; one PC boots at a time, so the first script GET is its.
      const script = lab.roomcast().find((l) => l.url === '/boot/ipxe' && after(l));
      const row = { helloSec: hello ? (logTime(hello) - r.startedAt) / 1000 : null, scriptSec: script ? (logTime(script) - r.startedAt) / 1000 : null, qemuSec: r.ms / 1000 };
      results[f].push(row);
      ctx.log(`labboot: ${f} run ${i + 1}: script at ${row.scriptSec?.toFixed(1) ?? '–'} s, hello at ${row.helloSec?.toFixed(1) ?? '–'} s, QEMU ran ${row.qemuSec.toFixed(1)} s`);
    }
  }
  const direct = directBoot();
  const rows = (['bios', 'uefi'] as const).map((f) => {
    const hellos = results[f].map((x) => x.helloSec).filter((x): x is number => x !== null);
    const scripts = results[f].map((x) => x.scriptSec).filter((x): x is number => x !== null);
    const med = median(hellos);
    return {
      firmware: f,
      path: f === 'bios' ? 'iPXE option ROM → proxyDHCP → script' : "OVMF's PXE → proxyDHCP → TFTP snponly.efi → proxyDHCP → script",
      okRuns: `${hellos.length}/${RUNS}`,
      medianHelloSec: r2(med),
      minHelloSec: r2(hellos.length ? Math.min(...hellos) : null),
      maxHelloSec: r2(hellos.length ? Math.max(...hellos) : null),
      medianScriptSec: r2(median(scripts)),
      directKernelBootSec: direct[f],
      ratioToDirect: med !== null && direct[f] ? r2(med / direct[f]!) : null,
    };
  });
  const md = [
    '# Lab boot benchmark',
    '',
    `${env.date} · ${env.cpuCount} CPU (${env.cpuModel}) · load ${loadStart} at the start, ${load()} at the end (1/5/15 min)`,
    '',
    'QEMU under TCG in the namespace lab (ops/lab/lab.sh): Region-like dnsmasq for the address, roomcast for everything else (proxyDHCP, TFTP, iPXE script, client over HTTP). A known PC with an inventory task; time from QEMU start to the client\'s POST /api/v1/boot/hello in roomcast\'s log; 3 runs each. Reference: the direct kernel boot of the same client (`npm run bench -- boot`, no firmware PXE), when results/boot.json exists.',
    '',
    markdownTable(
      ['firmware', 'path', 'ok runs', 'median s to script', 'median s to hello', 'min s', 'max s', 'direct kernel boot s', 'lab ÷ direct'],
      rows.map((r) => [r.firmware, r.path, r.okRuns, r.medianScriptSec, r.medianHelloSec, r.minHelloSec, r.maxHelloSec, r.directKernelBootSec, r.ratioToDirect]),
    ),
    '',
  ].join('\n');
  const written = writeResults(name, { name, environment: env, loadStart, loadEnd: load(), rows, runs: results }, md);
  process.stdout.write(`\n${md}\nwritten: ${written.json}, ${written.md}\n`);
}
