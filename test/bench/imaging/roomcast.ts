// roomcast's side: the real api and image store in a Node process of its own (as on the appliance),
// and the real imaging client, the esbuild bundle of services/imaging/client/main.ts run by Node 22
// as a subprocess (what the boot client runs); without a Node 22 binary, runTask in this process.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { HttpImagingApi } from '../../../services/imaging/client/api.js';
import { runTask } from '../../../services/imaging/client/main.js';
import { zstdEngine } from '../../../services/imaging/zstd.js';
import { MALLOC_TUNABLES } from '../../../services/imaging/malloc.js';
import { cacheDir, findNode22 } from '../../support/node22.js';
import { HAVE_TIME, ROOT_DIR, cpuOf, cpuSplitOf, execFileP, round, timedSpawn } from './common.js';


// ---- the api, in its own process (as on the appliance) ----------------------------------------------

export interface ApiProcess {
  url: string;
  dataDir: string;
  pid: number;
  /** The api's Node (the appliance's, Node 22, when the bench found one) and how it checks uploaded chunks. */
  nodeVersion: string;
  intakeEngine: string;
  note: string;
  stop(): Promise<void>;
}


/**
 * better-sqlite3 built for `node` (another ABI than the tests' Node 20), in the cache: installed there
 * once with that Node's npm run (node_modules, which the tests use, is left alone). Null when it cannot be built.
 */
export async function sqliteFor(node: string, log: (m: string) => void): Promise<string | null> {
  const version = (JSON.parse(fs.readFileSync(path.join(ROOT_DIR, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies['better-sqlite3']!;
  const abi = (await execFileP(node, ['-p', 'process.versions.modules'])).stdout.trim();
  const dir = path.join(cacheDir(), `better-sqlite3-${version}-abi${abi}`);
  const entry = path.join(dir, 'node_modules', 'better-sqlite3', 'lib', 'index.js');
  const loads = async () => {
    try {
      await execFileP(node, ['-e', `new (require(${JSON.stringify(entry)}))(':memory:').close()`]);
      return true;
    } catch {
      return false;
    }
  };
  if (fs.existsSync(entry) && (await loads())) return entry;
  log(`imaging: building better-sqlite3 ${version} for Node ABI ${abi} into ${dir} (several minutes)`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), '{"name":"roomcast-bench-sqlite","private":true}\n');
  try {
    await execFileP('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', `better-sqlite3@${version}`], { cwd: dir, timeout: 300_000 });
    // npm's own node-gyp, run by `node`, against that Node's headers (next to its bin/, see findNode22).
    const gyp = path.join((await execFileP('npm', ['root', '-g'])).stdout.trim(), 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    const nodedir = path.dirname(path.dirname(node));
    const headers = fs.existsSync(path.join(nodedir, 'include', 'node'));
    // npm run exports its config as npm_config_*; a nodedir there (an npmrc's nodedir=/usr: this
    // machine's Node 20 headers) wins over --nodedir, and the module came out for the wrong ABI.
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.toLowerCase() === 'npm_config_nodedir') delete env[k];
    if (headers) env.npm_config_nodedir = nodedir;
    await execFileP(node, [gyp, 'rebuild', '--release', ...(headers ? [`--nodedir=${nodedir}`] : [])], {
      cwd: path.join(dir, 'node_modules', 'better-sqlite3'),
      timeout: 1_800_000,
      env,
    });
  } catch (err) {
    log(`imaging: building better-sqlite3 for Node ABI ${abi} failed: ${(err as Error).message.split('\n')[0]}`);
    return null;
  }
  return (await loads()) ? entry : null;
}

/**
 * test/support/app.ts's startTestApp (api + worker roles, SQLite, the real Redis) in a child Node process:
 * `node` (the appliance's Node 22) with better-sqlite3 built for it, loaded through a resolve hook in
 * place of node_modules' copy; this Node otherwise.
 * Stopped by its own stop() (SIGTERM, then SIGKILL after 15 s), not with the other children, so the api shuts down cleanly (and writes its profile).
 */
export async function startApiProcess(tmp: string, profileDir: string | null, node: string | null, log: (m: string) => void): Promise<ApiProcess> {
  const script = path.join(tmp, 'api.mjs');
  const sqlite = node ? await sqliteFor(node, log) : null;
  const bin = node && sqlite ? node : process.execPath;
  const note = node && !sqlite ? `no better-sqlite3 for ${node}: the api ran on the bench's Node` : node ? `better-sqlite3 from ${path.dirname(path.dirname(path.dirname(sqlite!)))}` : 'no Node 22 found';
  const hook = sqlite
    ? `export async function resolve(s, c, next) { return next(s === 'better-sqlite3' ? ${JSON.stringify(pathToFileURL(sqlite).href)} : s, c); }`
    : '';
  fs.writeFileSync(
    script,
    [
      ...(hook ? [`import { register } from 'node:module';`, `register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});`] : []),
      `const { startTestApp } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT_DIR, 'test/support/app.ts')).href)});`,
      `const app = await startTestApp('sqlite');`,
      `const { frameChecker } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT_DIR, 'services/imaging/frame-check.ts')).href)});`,
      `process.stdout.write(JSON.stringify({ url: app.url, dataDir: app.dataDir, nodeVersion: process.version, intakeEngine: frameChecker().engine }) + '\\n');`,
      `const stop = () => app.stop().finally(() => process.exit(0));`,
      `process.once('SIGTERM', stop); process.once('SIGINT', stop);`,
    ].join('\n'),
  );
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []; // one CPU.*.cpuprofile per thread (tsx's loader has one)
  // As the appliance image runs it: GLIBC_TUNABLES from services/imaging/malloc.ts.
  const child = spawn(bin, [...profile, '--import', 'tsx', script], { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GLIBC_TUNABLES: MALLOC_TUNABLES } });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const info = await new Promise<{ url: string; dataDir: string; nodeVersion: string; intakeEngine: string }>((resolve, reject) => {
    child.once('error', reject);
    let out = '';
    const t = setTimeout(() => reject(new Error(`the api process did not start within 60 s: ${stderr}`)), 60_000);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (!out.includes('\n')) return;
      clearTimeout(t);
      resolve(JSON.parse(out.split('\n')[0]!) as { url: string; dataDir: string; nodeVersion: string; intakeEngine: string });
    });
    child.once('exit', (code) => (clearTimeout(t), reject(new Error(`the api process exited (${code}): ${stderr}`))));
  }).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  return {
    ...info,
    note,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
          child.once('exit', () => (clearTimeout(t), resolve()));
          child.kill('SIGTERM');
        });
      }
      fs.rmSync(info.dataDir, { recursive: true, force: true });
    },
  };
}

// ---- the roomcast client --------------------------------------------------------------------

export interface ClientRuntime {
  kind: 'node22-bundle' | 'in-process';
  node: string | null;
  nodeVersion: string;
  bundle: string | null;
  zstdEngine: string;
  note: string;
}

export async function prepareClient(tmp: string, log: (m: string) => void): Promise<ClientRuntime> {
  const inProcess = (note: string): ClientRuntime => ({ kind: 'in-process', node: null, nodeVersion: process.version, bundle: null, zstdEngine, note });
  const found = await findNode22(log);
  if (!found.node) return inProcess(`no Node 22 (${found.note}): the client ran in the bench process under Node ${process.version} (runTask)`);
  const bundle = path.join(tmp, 'client', 'client.mjs');
  try {
    // The bundle of images/client/build-imaging.sh, built the same way.
    await execFileP(
      path.join(ROOT_DIR, 'node_modules', '.bin', 'esbuild'),
      [path.join(ROOT_DIR, 'services/imaging/client/main.ts'), '--bundle', '--platform=node', '--target=node22', '--format=esm', '--legal-comments=none', '--log-level=warning', `--outfile=${bundle}`],
      { cwd: ROOT_DIR },
    );
  } catch (err) {
    return inProcess(`esbuild could not bundle the client (${(err as Error).message.split('\n')[0]}): the client ran in the bench process under Node ${process.version}`);
  }
  const nodeVersion = (await execFileP(found.node, ['-p', 'process.version'])).stdout.trim();
  return { kind: 'node22-bundle', node: found.node, nodeVersion, bundle, zstdEngine: 'node:zlib', note: `${found.note}; bundle ${path.basename(bundle)} ${Math.round(fs.statSync(bundle).size / 1024)} KiB` };
}

export interface ClientRun {
  ok: boolean;
  sec: number;
  /** Seconds from the start of each phase (client log "roomcast: <phase>: ...") to the next, or the end. */
  phases: Record<string, number>;
  /** CPU seconds of the client process and what it ran (partclone -D, losetup, ...). */
  clientCpuSec: number | null;
  clientUserSec: number | null;
  /** CPU seconds of the api process and the zstd programs it spawned during the run. */
  serverCpuSec: number;
  serverUserSec: number;
  clientMaxRssMb: number | null;
  log: string[];
}

export const PHASE_LINE = /^roomcast: (scan|hash|upload|capture|commit|restore|verify): /;

export async function runClient(rt: ClientRuntime, api: ApiProcess, token: string, tokenFile: string, disk: string, children: Set<ChildProcess>, profileDir: string | null): Promise<ClientRun> {
  const apiUrl = api.url;
  const marks: Array<[string, number]> = [];
  const lines: string[] = [];
  const onLine = (line: string) => {
    lines.push(line);
    const m = PHASE_LINE.exec(line);
    if (m) marks.push([m[1]!, performance.now()]);
  };
  const serverBefore = cpuOf(api.pid);
  const serverUserBefore = cpuSplitOf(api.pid).user;
  const t0 = performance.now();
  let ok: boolean;
  let clientCpuSec: number | null = null;
  let clientUserSec: number | null = null;
  let clientMaxRssMb: number | null = null;
  if (rt.kind === 'node22-bundle') {
    fs.writeFileSync(tokenFile, token, { mode: 0o600 });
    const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
    // As actions/image.sh runs it: GLIBC_TUNABLES from services/imaging/malloc.ts.
    const argv = ['env', `GLIBC_TUNABLES=${MALLOC_TUNABLES}`, rt.node!, ...profile, rt.bundle!, 'run', '--api', apiUrl, '--token-file', tokenFile, '--disk', disk];
    try {
      const t = await timedSpawn(HAVE_TIME ? ['/usr/bin/time', '-f', 'RCTIME %e %U %S %M', ...argv] : argv, children, onLine);
      clientCpuSec = t.cpuSec;
      clientUserSec = t.userSec;
      clientMaxRssMb = t.maxRssMb;
      ok = true;
    } catch (err) {
      lines.push(`client failed: ${(err as Error).message}`);
      ok = false;
    }
  } else {
    const cpu0 = process.cpuUsage();
    ok = await runTask(new HttpImagingApi({ base: apiUrl, token }), disk, onLine);
    const cpu = process.cpuUsage(cpu0);
    clientCpuSec = round((cpu.user + cpu.system) / 1e6); // without the programs it ran
  }
  const end = performance.now();
  const serverCpuSec = round(cpuOf(api.pid) - serverBefore);
  const serverUserSec = round(cpuSplitOf(api.pid).user - serverUserBefore);
  const phases: Record<string, number> = {};
  marks.forEach(([ph, t], i) => (phases[ph] = round(((marks[i + 1]?.[1] ?? end) - t) / 1000)));
  return {
    ok,
    sec: round((end - t0) / 1000, 3),
    phases,
    clientCpuSec,
    clientUserSec,
    serverCpuSec,
    serverUserSec,
    clientMaxRssMb,
    log: lines,
  };
}

/** A client run for a task, with the task's outcome: its error, and the details of its result (chunks, bytes). */
export type RoomcastRun = ClientRun & { error: string | null; details: Record<string, number> };
