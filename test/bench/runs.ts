// Room-run benchmark: runs of 30 and 100 simulated PCs (test/support/simpc.ts: one process and one
// network namespace per PC, its own 8 MiB loop-backed disk, the real imaging client) restoring a
// 3 MiB image, all at once (maxParallel = the room). For each run:
//   - the run's wall time (created → ended, database timestamps) and the restores' own durations
//     (each PC's client: hello answered → client finished, from the PC's log);
//   - the orchestration's own overhead per PC: (PC ended − run created) − its restore's duration
//     (wake stagger, magic packet to script, hello, the worker noticing the end);
//   - database queries per PC (every query through Kysely in this process: a counter on the query
//     executor), Redis commands per PC (INFO commandstats of a private redis-server started here);
//   - CPU seconds and peak RSS of the api + worker process (this process; the bench itself only
//     waits for the run's end event meanwhile), from /proc/self.
// Sizes: BENCH_RUNS_SIZES (default 30,100). Database: the first of --dialect (SQLite by default).
// Needs root (namespaces, loop devices). Reports only; nothing is asserted.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import type { RunView } from '../../services/runs/service.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { buildImage } from '../support/images.js';
import { SimRoom, uploadImage, writeClientFiles, type SimPc } from '../support/simpc.js';
import { environment, markdownTable, median, RESULTS_DIR, writeResults, type BenchContext } from './harness.js';

export const name = 'runs';
const exec = promisify(execFile);
const actor = { userId: null, name: 'bench', ip: null };
const r2 = (n: number | null) => (n === null ? null : Math.round(n * 100) / 100);

/** Counts every query run through Kysely in this process (the executor's base class is shared by transactions). */
function countQueries(db: { getExecutor(): object }): { count(): number; stop(): void } {
  let proto = Object.getPrototypeOf(db.getExecutor()) as Record<string, unknown> | null;
  while (proto && !Object.prototype.hasOwnProperty.call(proto, 'executeQuery')) proto = Object.getPrototypeOf(proto) as Record<string, unknown> | null;
  if (!proto) throw new Error('runs bench: no executeQuery on the Kysely executor');
  const owner = proto;
  const original = owner.executeQuery as (...a: unknown[]) => unknown;
  let n = 0;
  owner.executeQuery = function (this: unknown, ...a: unknown[]) {
    n++;
    return original.apply(this, a);
  };
  return { count: () => n, stop: () => void (owner.executeQuery = original) };
}

function cpuSeconds(): number {
  const f = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (100 Hz)
}
const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function privateRedis(ctx: BenchContext): Promise<{ url: string; commands(): Promise<number> }> {
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], { stdio: 'ignore' });
  ctx.onCleanup(async () => void (proc.exitCode === null && proc.kill('SIGTERM')));
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, '127.0.0.1', () => (sock.end(), resolve(true)));
      sock.on('error', () => resolve(false));
    });
    if (up) break;
    if (i > 100) throw new Error(`redis-server did not start on port ${port}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  r.on('error', () => undefined);
  ctx.onCleanup(async () => void r.disconnect());
  return {
    url,
    // Every command served, less this INFO itself.
    commands: async () => {
      const info = await r.info('commandstats');
      return [...info.matchAll(/calls=(\d+)/g)].reduce((s, m) => s + Number(m[1]), 0);
    },
  };
}

interface SizeResult {
  pcs: number;
  /** The PCs' states when the run had not ended within BENCH_RUNS_TIMEOUT_SEC (then cancelled); null when it ended. */
  stuck: Record<string, number> | null;
  /** The failed PCs' reasons (code: text, first 120 characters) and how many PCs each. */
  failures: Record<string, number>;
  done: number;
  failed: number;
  runWallSec: number;
  restoreSec: { sum: number; max: number; median: number };
  overheadPerPcSec: { median: number; max: number; mean: number };
  /** Where the overhead goes (medians over the PCs): run created → magic packet heard, packet → hello answered, client finished → PC ended in the database. */
  phasesMedianSec: { toWoken: number; wokenToHello: number; clientEndToPcEnded: number };
  runWallMinusLongestRestoreSec: number;
  dbQueries: number;
  dbQueriesPerPc: number;
  redisCommands: number;
  redisCommandsPerPc: number;
  apiCpuSec: number;
  apiCpuSecPerPc: number;
  apiPeakRssMiB: number;
  apiRssBeforeMiB: number;
  setupSec: number;
  loadAvg: string;
}

async function oneSize(ctx: BenchContext, n: number): Promise<SizeResult> {
  const setupStart = Date.now();
  const room = new SimRoom();
  ctx.onCleanup(() => room.close());
  await room.open();
  const clientDir = path.join(room.dir, 'client');
  writeClientFiles(clientDir);
  const redis = await privateRedis(ctx);
  const dialect = ctx.options.dialects[0] ?? 'sqlite';
  const app: TestApp = await startTestApp(dialect, { ...room.appEnv(), ROOMCAST_CLIENT_DIR: clientDir, ROOMCAST_REDIS_URL: redis.url });
  ctx.onCleanup(() => app.stop());
  const base = `http://${room.hostIp}:${new URL(app.url).port}`;
  const c = app.container;
  const roomId = (await c.inventory.createRoom(actor, { name: `BENCH-${n}` })).id;
  const pcs: Array<{ pc: SimPc; hostId: number }> = [];
  const ref = await c.inventory.createHost(actor, { name: 'REF', mac: '02:5e:00:00:ff:01', roomId: null });
  const imageId = (await c.catalogue.createImage(actor, { name: 'Windows 11' })).id;
  const built = await buildImage(Array.from({ length: 48 }, (_, i) => `w${i % 40}`));
  await uploadImage(base, ref.mac, built, () => c.tasks.create(actor, [ref.id], 'capture', { imageId }));
  for (let i = 1; i <= n; i++) {
    const h = await c.inventory.createHost(actor, { name: `PC-${i}`, mac: SimRoom.macOf(i), roomId });
    const pc = await room.addPc(i, 8);
    pcs.push({ pc, hostId: h.id });
  }
  // Start the PCs a few at a time (each waits until it listens).
  for (let i = 0; i < pcs.length; i += 10) await Promise.all(pcs.slice(i, i + 10).map((p) => room.start(p.pc, base)));
  const setupSec = (Date.now() - setupStart) / 1000;
  ctx.log(`runs: ${n} simulated PCs listening (setup ${setupSec.toFixed(1)} s)`);

  const queries = countQueries(c.database.db as unknown as { getExecutor(): object });
  const redis0 = await redis.commands();
  const cpu0 = cpuSeconds();
  const rss0 = rssMiB();
  let peak = rss0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB())), 200);
  let view: RunView;
  let stuckCounts: Record<string, number> | null = null;
  try {
    const ended = new Promise<void>((resolve) => {
      const off = c.events.on('run.changed', (e) => {
        if (e.state !== 'running' && e.runId === runId) {
          off();
          resolve();
        }
      });
    });
    let runId = -1;
    runId = (await c.runs.create(actor, { roomId, imageId, maxParallel: n, wakeAttempts: 3, wakeTimeoutMinutes: 3, silenceTimeoutMinutes: 30, wakePerSecond: 20 })).id;
    // A run that does not end (PCs left open: e.g. their jobs failed in BullMQ) is reported as stuck, then cancelled.
    const limitMs = Number(process.env.BENCH_RUNS_TIMEOUT_SEC ?? 900) * 1000;
    let timer: NodeJS.Timeout | undefined;
    const stuck = await Promise.race([ended.then(() => null), new Promise<string>((resolve) => (timer = setTimeout(() => resolve('timeout'), limitMs)))]);
    clearTimeout(timer);
    if (stuck) {
      const v = await c.runs.view(runId);
      ctx.log(`runs: ${n} PCs: the run did not end within ${limitMs / 1000} s: ${JSON.stringify(v.counts)}`);
      stuckCounts = v.counts;
      await c.runs.cancel(actor, runId);
    }
    clearInterval(sampler);
    const cpu = cpuSeconds() - cpu0;
    const redisCommands = (await redis.commands()) - redis0 - 1;
    const dbQueries = queries.count();
    queries.stop();
    view = await c.runs.view(runId);
    const runEnd = Math.max(...view.pcs.map((p) => Date.parse(p.endedAt ?? view.createdAt)));
    const created = Date.parse(view.createdAt);
    const restore: number[] = [];
    const overhead: number[] = [];
    const phases = { toWoken: [] as number[], wokenToHello: [] as number[], clientEndToPcEnded: [] as number[] };
    for (const { pc } of pcs) {
      const ev = pc.events();
      const hello = ev.find((e) => e.event === 'hello');
      const exit = ev.find((e) => e.event === 'client-exit');
      const v = view.pcs.find((p) => p.mac === pc.mac);
      if (!hello || !exit || !v?.endedAt) continue;
      const own = (Date.parse(exit.at) - Date.parse(hello.at)) / 1000;
      restore.push(own);
      overhead.push((Date.parse(v.endedAt) - created) / 1000 - own);
      const woken = ev.find((e) => e.event === 'woken');
      if (woken) {
        phases.toWoken.push((Date.parse(woken.at) - created) / 1000);
        phases.wokenToHello.push((Date.parse(hello.at) - Date.parse(woken.at)) / 1000);
      }
      phases.clientEndToPcEnded.push((Date.parse(v.endedAt) - Date.parse(exit.at)) / 1000);
    }
    const sum = restore.reduce((s, x) => s + x, 0);
    const result: SizeResult = {
      pcs: n,
      stuck: stuckCounts,
      failures: view.pcs.filter((p) => p.state === 'failed').reduce<Record<string, number>>((acc, p) => {
        const key = `${p.reason?.code ?? '?'}: ${(p.reason?.text ?? '').slice(0, 120)}`;
        acc[key] = (acc[key] ?? 0) + 1;
        return acc;
      }, {}),
      done: view.counts.done ?? 0,
      failed: view.counts.failed ?? 0,
      runWallSec: r2((runEnd - created) / 1000)!,
      restoreSec: { sum: r2(sum)!, max: r2(Math.max(...restore))!, median: r2(median(restore)) ?? 0 },
      overheadPerPcSec: { median: r2(median(overhead)) ?? 0, max: r2(Math.max(...overhead))!, mean: r2(overhead.reduce((s, x) => s + x, 0) / overhead.length)! },
      phasesMedianSec: { toWoken: r2(median(phases.toWoken)) ?? 0, wokenToHello: r2(median(phases.wokenToHello)) ?? 0, clientEndToPcEnded: r2(median(phases.clientEndToPcEnded)) ?? 0 },
      runWallMinusLongestRestoreSec: r2((runEnd - created) / 1000 - Math.max(...restore))!,
      dbQueries,
      dbQueriesPerPc: r2(dbQueries / n)!,
      redisCommands,
      redisCommandsPerPc: r2(redisCommands / n)!,
      apiCpuSec: r2(cpu)!,
      apiCpuSecPerPc: r2(cpu / n)!,
      apiPeakRssMiB: r2(peak)!,
      apiRssBeforeMiB: r2(rss0)!,
      setupSec: r2(setupSec)!,
      loadAvg: os.loadavg().map((l) => l.toFixed(2)).join(' / '),
    };
    ctx.log(`runs: ${n} PCs: ${JSON.stringify(result)}`);
    return result;
  } finally {
    clearInterval(sampler);
    queries.stop();
    await app.stop();
    await room.close();
  }
}

export async function run(ctx: BenchContext): Promise<void> {
  const env = environment();
  if (process.getuid?.() !== 0) {
    writeResults(name, { name, environment: env, skipped: 'needs root' }, '# Room-run benchmark\n\nSkipped: needs root (network namespaces, loop devices).');
    return;
  }
  await exec('modprobe', ['loop']).catch(() => undefined);
  const sizes = (process.env.BENCH_RUNS_SIZES ?? '30,100').split(',').map((s) => Number(s.trim())).filter((s) => s >= 1 && s <= 240);
  // Sizes not run this time keep their last figures (with their date), so one size can be measured again alone.
  let kept: Array<SizeResult & { date?: string }> = [];
  try {
    const last = JSON.parse(fs.readFileSync(path.join(RESULTS_DIR, `${name}.json`), 'utf8')) as { environment?: { date?: string }; results?: Array<SizeResult & { date?: string }> };
    kept = (last.results ?? []).filter((r) => !sizes.includes(r.pcs)).map((r) => ({ ...r, date: r.date ?? last.environment?.date }));
  } catch {
    // no earlier results
  }
  const results: Array<SizeResult & { date?: string }> = [];
  for (const n of sizes) {
    results.push({ ...(await oneSize(ctx, n)), date: new Date().toISOString() });
    write(ctx, env, [...kept, ...results].sort((a, b) => a.pcs - b.pcs));
  }
}

function write(ctx: BenchContext, env: ReturnType<typeof environment>, results: Array<SizeResult & { date?: string }>): void {
  const md = [
    '# Room-run benchmark',
    '',
    `Simulated PCs (test/support/simpc.ts): one process and one network namespace per PC (a veth to the room's bridge), each with its own 8 MiB sparse disk on a loop device, woken by the worker's real magic packets, fetching its iPXE script and the (small stand-in) kernel and initrds it names, saying hello and running the real imaging client. Image: 3 MiB in 49 chunks of 64 KiB (format v1). maxParallel = the room's size; Wake-on-LAN ${'20'} PCs per second. Database: ${ctx.options.dialects[0] ?? 'sqlite'}; Redis: a private redis-server (commands counted with INFO commandstats). api + worker: one process (this one); CPU and RSS from /proc/self.`,
    '',
    `Machine: ${env.cpuCount} × ${env.cpuModel}, load average at the end of each run in the table (the machine is shared: timings are noisy).`,
    '',
    markdownTable(
      ['PCs', 'measured', 'done / failed', 'run wall (s)', 'restores: sum / max / median (s)', 'overhead per PC: median / max (s)', 'of which (medians, s): to woken / woken → hello / client end → PC ended', 'wall − longest restore (s)', 'DB queries per PC', 'Redis cmds per PC', 'api CPU (s) / per PC', 'api RSS before → peak (MiB)', 'load'],
      results.map((r) => [
        r.pcs,
        r.date?.slice(0, 16) ?? '',
        `${r.done} / ${r.failed}${r.stuck ? ` (stuck: ${JSON.stringify(r.stuck)})` : ''}`,
        r.runWallSec,
        `${r.restoreSec.sum} / ${r.restoreSec.max} / ${r.restoreSec.median}`,
        `${r.overheadPerPcSec.median} / ${r.overheadPerPcSec.max}`,
        (r.phasesMedianSec as SizeResult['phasesMedianSec'] | undefined) ? `${r.phasesMedianSec.toWoken} / ${r.phasesMedianSec.wokenToHello} / ${r.phasesMedianSec.clientEndToPcEnded}` : 'not measured',
        r.runWallMinusLongestRestoreSec,
        r.dbQueriesPerPc,
        r.redisCommandsPerPc,
        `${r.apiCpuSec} / ${r.apiCpuSecPerPc}`,
        `${r.apiRssBeforeMiB} → ${r.apiPeakRssMiB}`,
        r.loadAvg,
      ]),
    ),
    '',
    'Overhead per PC = (the PC ended − the run was created) − its restore (the client from hello answered to finished): the wake stagger, magic packet → iPXE script → hello, and the worker noticing the end. The api serves the restores themselves too, so its CPU includes their chunk downloads.',
  ].join('\n');
  const files = writeResults(name, { name, environment: env, results }, md);
  ctx.log(`runs: results in ${files.md}`);
}
