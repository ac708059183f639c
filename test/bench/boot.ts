// Boot client benchmark: time from QEMU start to the client's POST /api/v1/boot/hello, BIOS and UEFI
// (OVMF), with the helpers of test/lab/client-vm.ts (direct kernel boot, TCG, slirp networking; a tiny
// HTTP server here stands for the api and answers "poweroff"). 3 runs each: median, min and max.
// Reports only; leaves the bench out (with a note in the results) when QEMU, a kernel or OVMF is missing.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { OVMF_CODE, OVMF_VARS, bootClient, buildClient, clientLines, clientPrereqs } from '../lab/client-vm.js';
import { environment, killedAtEnd, markdownTable, median, tempDir, writeResults, type BenchContext } from './harness.js';

export const name = 'boot';

const RUNS = 3;
const BOOT_LIMIT_MS = 150_000;
const TOKEN = 'BENCHTOKEN.abc';

type Firmware = 'bios' | 'uefi';

interface BootRun {
  helloSec: number | null;
  qemuExitSec: number;
  ok: boolean;
  note?: string;
}

const round = (n: number) => Math.round(n * 100) / 100;

export async function run(ctx: BenchContext): Promise<void> {
  const env = environment();
  const missing = clientPrereqs();
  const haveOvmf = fs.existsSync(OVMF_CODE) && fs.existsSync(OVMF_VARS);
  if (missing.length) {
    ctx.log(`boot: skipped, missing ${missing.join(', ')}`);
    writeResults(name, { name, environment: env, skipped: missing }, `# Boot client benchmark\n\nSkipped: missing ${missing.join(', ')}.`);
    return;
  }

  const dir = tempDir(ctx, 'rc-bench-boot-');
  const children = killedAtEnd(ctx);

  const build = await buildClient();
  ctx.log(`boot: client ${build.built ? `built in ${(build.buildMs / 1000).toFixed(1)} s` : 'cached'} (${build.dir})`);

  const hellos: number[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/api/v1/boot/hello') hellos.push(Date.now());
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"action":"poweroff"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  ctx.onCleanup(() => new Promise<void>((resolve) => (server.close(() => resolve()), server.closeAllConnections())));
  const port = (server.address() as AddressInfo).port;
  const append = `roomcast.api=http://10.0.2.2:${port} roomcast.token=${TOKEN} roomcast.mode=task console=tty0 console=ttyS0,115200n8 quiet`;

  const results: Record<Firmware, BootRun[]> = { bios: [], uefi: [] };
  const firmwares: Firmware[] = haveOvmf ? ['bios', 'uefi'] : ['bios'];
  if (!haveOvmf) ctx.log('boot: UEFI left out, no OVMF (apt-get install ovmf)');
  for (const fw of firmwares) {
    for (let i = 0; i < RUNS; i++) {
      hellos.length = 0;
      let args: string[];
      if (fw === 'bios') {
        args = ['-netdev', 'user,id=n0', '-device', 'e1000,netdev=n0,mac=52:54:00:12:34:56'];
      } else {
        const vars = path.join(dir, `OVMF_VARS-${i}.fd`);
        fs.copyFileSync(OVMF_VARS, vars);
        args = [
          '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`,
          '-drive', `if=pflash,format=raw,unit=1,file=${vars}`,
          '-netdev', 'user,id=n0', '-device', 'virtio-net-pci,netdev=n0,mac=52:54:00:ab:cd:ef',
        ];
      }
      const r = await bootClient({ build, children, serialLog: path.join(dir, `${fw}-${i}.log`), limitMs: BOOT_LIMIT_MS, append, args });
      const first = hellos[0];
      const boot: BootRun = {
        helloSec: first === undefined ? null : round((first - r.startedAt) / 1000),
        qemuExitSec: round(r.ms / 1000),
        ok: first !== undefined && !r.timedOut,
      };
      if (!boot.ok) boot.note = r.timedOut ? 'timed out' : `no hello (QEMU exit ${r.code}): ${clientLines(r.serial).slice(-3).join(' | ')}`;
      results[fw].push(boot);
      ctx.log(`boot: ${fw} run ${i + 1}: hello after ${boot.helloSec ?? '–'} s, QEMU exited after ${boot.qemuExitSec} s${boot.note ? ` (${boot.note})` : ''}`);
    }
  }

  const summary = firmwares.map((fw) => {
    const times = results[fw].flatMap((r) => (r.helloSec === null ? [] : [r.helloSec]));
    const m = median(times);
    return {
      firmware: fw,
      runs: results[fw].length,
      ok: times.length,
      medianSec: m === null ? null : round(m),
      minSec: times.length ? Math.min(...times) : null,
      maxSec: times.length ? Math.max(...times) : null,
      medianQemuExitSec: median(results[fw].map((r) => r.qemuExitSec)),
    };
  });
  for (const s of summary) ctx.log(`boot: ${s.firmware}: QEMU start → hello median ${s.medianSec} s (min ${s.minSec}, max ${s.maxSec}; ${s.ok}/${s.runs} ok)`);

  const json = { name, environment: env, runs: RUNS, client: build.dir, summary, results };
  const markdown = [
    '# Boot client benchmark',
    '',
    `${env.date} · Node ${env.node} · ${env.cpuCount} CPU (${env.cpuModel}) · ${env.platform}`,
    '',
    `QEMU under TCG (q35, 512 MiB, 2 vCPU), direct kernel boot of the roomcast client (test/lab/client-vm.ts), slirp networking; a local HTTP server answers the hello with "poweroff". Time from QEMU start to the hello POST arriving; ${RUNS} runs each. BIOS: SeaBIOS + e1000. UEFI: OVMF + virtio-net.`,
    '',
    markdownTable(
      ['firmware', 'median s', 'min s', 'max s', 'ok runs', 'median QEMU start → exit s'],
      summary.map((s) => [s.firmware, s.medianSec, s.minSec, s.maxSec, `${s.ok}/${s.runs}`, s.medianQemuExitSec]),
    ),
    ...(haveOvmf ? [] : ['', 'UEFI left out: no OVMF on this machine.']),
  ].join('\n');
  const written = writeResults(name, json, markdown);
  process.stdout.write(`\n${markdown}\n\nwritten: ${written.json}, ${written.md}\n`);
}
