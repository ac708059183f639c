// Entry point of `npm run bench`: runs the named benchmarks (all by default) one after the other.
// Add a benchmark by writing test/bench/<name>.ts (or a folder, test/bench/<name>/index.ts) exporting
// `run(ctx: BenchContext)` and listing it below.
//
//   npm run bench                                   # every benchmark, SQLite and PostgreSQL
//   npm run bench -- inventory --dialect postgres   # one benchmark, one dialect (or BENCH_DIALECT=postgres)
//   npm run bench -- --rates 100,300 --duration 5   # other load levels (BENCH_RATES, BENCH_DURATION)
//   npm run bench -- --profile                      # also write results/profiles.tmp/*.cpuprofile (server thread)
//
// Results go to test/bench/results/<name>.json and .md. Timings are reported, never asserted.
import { parseArgs } from 'node:util';
import { DIALECTS, type TestDialect } from '../support/env.js';
import type { BenchContext, BenchOptions } from './harness.js';

const BENCHES: Record<string, () => Promise<{ run: (ctx: BenchContext) => Promise<void> }>> = {
  inventory: () => import('./inventory.js'),
  tftp: () => import('./tftp.js'),
  boot: () => import('./boot.js'),
  imaging: () => import('./imaging/index.js'),
  multicast: () => import('./multicast.js'),
  labboot: () => import('./labboot.js'),
  runs: () => import('./runs.js'),
  web: () => import('./web.js'),
};

function usage(message?: string): never {
  if (message) process.stderr.write(`bench: ${message}\n`);
  process.stderr.write(
    `usage: npm run bench -- [${Object.keys(BENCHES).join('|')} ...] [--dialect sqlite|postgres|both] [--rates 200,500] [--duration 10] [--warmup 2] [--connections 10] [--time-limit 175] [--profile]\n`,
  );
  process.exit(2);
}

function parseOptions(): { names: string[]; options: BenchOptions; timeLimitSec: number } {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        dialect: { type: 'string' },
        rates: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        connections: { type: 'string' },
        'time-limit': { type: 'string' },
        profile: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    usage((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) usage();
  const env = process.env;
  const num = (v: string | undefined, fallback: number, what: string) => {
    if (v === undefined || v === '') return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) usage(`${what} must be a non-negative number, got "${v}"`);
    return n;
  };

  const dialectArg = (values.dialect ?? env.BENCH_DIALECT ?? 'both').toLowerCase();
  const dialects: TestDialect[] =
    dialectArg === 'both' || dialectArg === 'all' ? [...DIALECTS] : dialectArg.split(',').map((d) => d.trim() as TestDialect);
  for (const d of dialects) if (!(DIALECTS as readonly string[]).includes(d)) usage(`unknown dialect "${d}" (sqlite, postgres or both)`);

  const rates = (values.rates ?? env.BENCH_RATES ?? '200,500').split(',').map((r) => num(r.trim(), NaN, 'each rate'));
  if (rates.some((r) => !(r >= 1))) usage('rates must be positive numbers of requests per second');

  const names = positionals.length ? positionals : Object.keys(BENCHES);
  for (const n of names) if (!BENCHES[n]) usage(`unknown benchmark "${n}"`);

  return {
    names,
    // The imaging benchmark alone takes 5–10 minutes (2.2 GB captured and restored several times).
    timeLimitSec: num(values['time-limit'] ?? env.BENCH_TIME_LIMIT, 175 + (names.includes('imaging') ? 900 : 0) + (names.includes('tftp') ? 300 : 0) + (names.includes('runs') ? 2400 : 0) + (names.includes('multicast') ? 900 : 0), '--time-limit'),
    options: {
      dialects: [...new Set(dialects)],
      rates,
      durationSec: num(values.duration ?? env.BENCH_DURATION, 10, '--duration'),
      warmupSec: num(values.warmup ?? env.BENCH_WARMUP, 2, '--warmup'),
      connections: num(values.connections ?? env.BENCH_CONNECTIONS, 10, '--connections'),
      profile: values.profile ?? ['1', 'true', 'yes'].includes(env.BENCH_PROFILE ?? ''),
    },
  };
}

async function main(): Promise<void> {
  const { names, options, timeLimitSec } = parseOptions();
  const started = Date.now();
  const log = (message: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${message}\n`);

  // Everything that must be undone (servers, databases) registers here, so that a failure, Ctrl-C or the
  // time limit still stops the servers and drops the throwaway PostgreSQL databases.
  const cleanups = new Set<() => Promise<void>>();
  const cleanupAll = async () => {
    for (const fn of [...cleanups].reverse()) {
      cleanups.delete(fn);
      await Promise.race([fn().catch((err) => log(`cleanup failed: ${(err as Error).message}`)), new Promise((r) => setTimeout(r, 15_000).unref())]);
    }
  };
  const abort = (reason: string, code: number) => {
    log(reason);
    void cleanupAll().finally(() => process.exit(code));
  };
  const watchdog = setTimeout(() => abort(`time limit of ${timeLimitSec} s reached; stopping (see --time-limit)`, 1), timeLimitSec * 1000);
  process.once('SIGINT', () => abort('interrupted', 130));
  process.once('SIGTERM', () => abort('terminated', 143));

  const ctx: BenchContext = {
    options,
    log,
    onCleanup(fn) {
      cleanups.add(fn);
      return () => cleanups.delete(fn);
    },
  };
  log(`benchmarks: ${names.join(', ')}; dialects: ${options.dialects.join(', ')}; rates: ${options.rates.join(', ')} req/s; ${options.durationSec} s each; limit ${timeLimitSec} s`);
  try {
    for (const n of names) {
      const bench = await BENCHES[n]!();
      log(`--- ${n}`);
      await bench.run(ctx);
    }
    log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (err) {
    process.exitCode = 1;
    log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  } finally {
    clearTimeout(watchdog);
    await cleanupAll();
    // Stopped servers leave nothing behind; if a stray handle still holds the process, do not hang.
    setTimeout(() => {
      const handles = (process as unknown as { _getActiveHandles?: () => object[] })._getActiveHandles?.() ?? [];
      log(`a handle is still open 2 s after the end (${handles.map((h) => { const s = h as { constructor: { name: string }; remotePort?: number; fd?: number }; return `${s.constructor.name}${s.remotePort ? ` to :${s.remotePort}` : ''}`; }).join(', ')}); exiting anyway`);
      process.exit(process.exitCode ?? 0);
    }, 2000).unref();
  }
}

void main();
