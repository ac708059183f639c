// Shared pieces for the benchmarks: options, the fixed-rate load runner (autocannon in a worker thread),
// a plain node:http reference server, cleanup on failure, result files. No assertions on timings anywhere.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Session } from 'node:inspector/promises';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { TestDialect } from '../support/env.js';

export const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

export interface BenchOptions {
  dialects: TestDialect[];
  /** Target request rates (req/s), each measured separately. */
  rates: number[];
  connections: number;
  durationSec: number;
  warmupSec: number;
  /** Write a CPU profile of the server thread per measured phase (see --profile). */
  profile: boolean;
}

export interface BenchContext {
  options: BenchOptions;
  /** Registers a cleanup that runs at the end, on failure, on SIGINT/SIGTERM and on the time limit. */
  onCleanup(fn: () => Promise<void>): () => void;
  log(message: string): void;
}

export interface LoadTarget {
  url: string;
  headers?: Record<string, string>;
  rate: number;
  connections: number;
  durationSec: number;
}

export interface LoadStats {
  elapsedSec: number;
  responses: number;
  ok2xx: number;
  achievedRps: number;
  latencyMs: { p50: number | null; p90: number | null; p99: number | null; max: number | null; mean: number | null };
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  wireBytesPerResponse: number | null;
  autocannon: Record<string, number>;
  /** Event-loop utilisation of this (server) thread during the run: 1 means the server had no idle time. */
  serverElu: number;
}

const WORKER_URL = new URL('./load-worker.mjs', import.meta.url);

type WorkerReply = { id: number; ok: true; stats: Omit<LoadStats, 'serverElu'> } | { id: number; ok: false; error: string };

/**
 * Drives targets at a fixed overall rate from one worker thread (autocannon), kept for a whole benchmark so
 * that warm-ups warm the load generator too; the server under test stays on this thread.
 */
export class LoadGenerator {
  private readonly worker = new Worker(WORKER_URL);
  private nextId = 1;
  private failure: Error | undefined;
  private pending = new Map<number, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>();

  constructor() {
    const failAll = (err: Error) => {
      this.failure ??= err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    this.worker.on('message', (m: WorkerReply) => {
      this.pending.get(m.id)?.resolve(m);
      this.pending.delete(m.id);
    });
    this.worker.on('error', failAll);
    this.worker.on('exit', (code) => failAll(new Error(`load worker exited (code ${code})`)));
  }

  async run(target: LoadTarget): Promise<LoadStats> {
    if (this.failure) throw this.failure;
    const id = this.nextId++;
    const hardLimitMs = (target.durationSec + 20) * 1000;
    const eluBefore = performance.eventLoopUtilization();
    const reply = await new Promise<WorkerReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.worker.postMessage({ type: 'stop' });
        reject(new Error(`load run against ${target.url} did not finish within ${hardLimitMs / 1000} s`));
      }, hardLimitMs);
      this.pending.set(id, {
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.worker.postMessage({ type: 'run', id, target: { ...target, headers: target.headers ?? {}, timeoutSec: 10 } });
    });
    if (!reply.ok) throw new Error(`autocannon failed: ${reply.error}`);
    const serverElu = Math.round(performance.eventLoopUtilization(eluBefore).utilization * 1000) / 1000;
    return { ...reply.stats, serverElu };
  }

  async stop(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}

/** A plain node:http server on 127.0.0.1 answering each path with a precomputed JSON body: the floor to compare with. */
export async function startReferenceServer(bodies: Record<string, Buffer>): Promise<{ url: string; stop: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const body = bodies[req.url ?? ''];
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Profiles land in a git-ignored folder (results/*.tmp); open them in Chrome DevTools (Performance) or speedscope. */
export const PROFILES_DIR = path.join(RESULTS_DIR, 'profiles.tmp');

/** Runs `fn` under the V8 CPU profiler of this (server) thread when options.profile is set; writes PROFILES_DIR/<name>.cpuprofile. */
export async function maybeProfile<T>(options: BenchOptions, name: string, fn: () => Promise<T>): Promise<T> {
  if (!options.profile) return fn();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  try {
    return await fn();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    fs.mkdirSync(PROFILES_DIR, { recursive: true });
    fs.writeFileSync(path.join(PROFILES_DIR, `${name}.cpuprofile`), JSON.stringify(profile));
  }
}

export function environment() {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpuCount: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    totalMemoryMb: Math.round(os.totalmem() / 2 ** 20),
  };
}

export function writeResults(name: string, json: unknown, markdown: string): { json: string; md: string } {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const jsonPath = path.join(RESULTS_DIR, `${name}.json`);
  const mdPath = path.join(RESULTS_DIR, `${name}.md`);
  fs.writeFileSync(jsonPath, `${JSON.stringify(json, null, 2)}\n`);
  fs.writeFileSync(mdPath, markdown.endsWith('\n') ? markdown : `${markdown}\n`);
  return { json: jsonPath, md: mdPath };
}

export function markdownTable(header: string[], rows: Array<Array<string | number | null>>): string {
  const cell = (v: string | number | null) => (v === null ? '–' : String(v));
  // Columns holding numbers are right-aligned.
  const align = header.map((_, i) => (rows.some((r) => typeof r[i] === 'number') ? '---:' : '---'));
  return [`| ${header.join(' | ')} |`, `| ${align.join(' | ')} |`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}

export const ratio = (value: number | null, reference: number | null): number | null =>
  value === null || reference === null || reference <= 0 ? null : Math.round((value / reference) * 10) / 10;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The median of some numbers; null for none. */
export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? null : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** A new directory os.tmpdir()/PREFIX…, removed at the end of the run (also on failure or the time limit). */
export function tempDir(ctx: BenchContext, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  ctx.onCleanup(async () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A list for the child processes a benchmark starts (QEMU): those still running at the end are killed. */
export function killedAtEnd(ctx: BenchContext): ChildProcess[] {
  const children: ChildProcess[] = [];
  ctx.onCleanup(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
  return children;
}
