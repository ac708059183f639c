// The machinery of test/docker: a throwaway Docker engine in a network namespace of its own
// (ops/docker/engine.sh), the offline base-image stand-ins (ops/docker/standins.sh), the egress
// proxy for `docker build`, the `docker compose` CLI-plugin shim, and progress lines for CI logs.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const ARTIFACTS = join(ROOT, 'test-results', 'docker');
const ENGINE = join(ROOT, 'ops/docker/engine.sh');
const STANDINS = join(ROOT, 'ops/docker/standins.sh');
const T0 = Date.now();

/** A progress line on stderr, outside vitest's console capture, so a CI log reads as it goes. */
export function progress(message: string): void {
  const s = Math.round((Date.now() - T0) / 1000);
  process.stderr.write(`[docker ${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s] ${message}\n`);
}

export const seconds = (startMs: number) => Math.round((Date.now() - startMs) / 100) / 10;

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  stdoutBuffer: Buffer;
  seconds: number;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  /** Append stdout and stderr to this file (under test-results/docker/). */
  logFile?: string;
  /** Called for each line of stdout and stderr as it arrives. */
  onLine?: (line: string) => void;
  /** Resolve with the result instead of rejecting on a non-zero exit. */
  allowFail?: boolean;
  input?: string;
}

const tail = (text: string, lines = 25) => text.trimEnd().split('\n').slice(-lines).join('\n');

/** Runs a command without a shell; rejects with the output's tail when it fails. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    } catch (err) {
      reject(err);
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const partial = { out: '', err: '' };
    const feed = (key: 'out' | 'err', chunk: Buffer) => {
      if (opts.logFile) appendFileSync(opts.logFile, chunk);
      if (!opts.onLine) return;
      const text = partial[key] + chunk.toString('utf8');
      const lines = text.split(/\r?\n/);
      partial[key] = lines.pop() ?? '';
      for (const line of lines) opts.onLine(line);
    };
    child.stdout!.on('data', (c: Buffer) => (out.push(c), feed('out', c)));
    child.stderr!.on('data', (c: Buffer) => (err.push(c), feed('err', c)));
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
    let timedOut = false;
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          try {
            process.kill(-child.pid!, 'SIGKILL');
          } catch {
            child.kill('SIGKILL');
          }
        }, opts.timeoutMs)
      : undefined;
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`${cmd}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdoutBuffer = Buffer.concat(out);
      const result: RunResult = { code: code ?? -1, stdout: stdoutBuffer.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBuffer, seconds: seconds(start) };
      if (result.code === 0 || opts.allowFail) {
        resolve(result);
        return;
      }
      const why = timedOut ? `timed out after ${opts.timeoutMs! / 1000}s` : signal ? `killed by ${signal}` : `exited with ${code}`;
      const where = opts.logFile ? ` (full log: ${relative(ROOT, opts.logFile)})` : '';
      reject(new Error(`${cmd} ${args.join(' ')} ${why}${where}:\n${tail(result.stderr + result.stdout)}`));
    });
  });
}

function parseEnvLines(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** The compose plugin shim: the v28 docker CLI has no compose plugin, Debian ships docker-compose 1.29. */
const COMPOSE_SHIM = `#!/bin/sh
# docker CLI plugin shim (test/docker): \`docker compose …\` runs Debian's docker-compose 1.29.
if [ "$1" = docker-cli-plugin-metadata ]; then
  echo '{"SchemaVersion":"0.1.0","Vendor":"roomcast test shim","Version":"1.29.2","ShortDescription":"Docker Compose (Debian docker-compose 1.29)"}'
  exit 0
fi
shift
exec docker-compose "$@"
`;

/** Files and folders of the repository the compose checkout leaves out (like a fresh clone, no .env). */
const BIG_FILE = 64 * 2 ** 20;
const NOT_COPIED = new Set(['node_modules', '.git', 'dist', 'data', 'coverage', 'test-results', '.env', '.vscode', '.idea']);

export class Lab {
  runDir = '';
  netns = '';
  nsAddr = '';
  hostAddr = '';
  dockerHost = '';
  project = '';
  /** A copy of the repository root: the build context and compose's working directory. */
  checkout = '';
  dockerConfig = '';
  proxyUrl = '';
  composeStarted = false;
  private watchdog: ChildProcess | undefined;
  private torndown = false;
  private readonly onSignal = (signal: NodeJS.Signals) => {
    progress(`${signal}: tearing down ${this.netns || 'the engine'}`);
    this.teardownSync();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };

  constructor() {
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
  }

  /** Environment for docker and docker compose: this engine only, nothing from the caller's Docker/compose/roomcast settings. */
  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (/^(DOCKER_|COMPOSE_|ROOMCAST_|BUILDKIT_)/.test(k) || k === 'TZ') continue;
      env[k] = v;
    }
    return { ...env, DOCKER_HOST: this.dockerHost, DOCKER_CONFIG: this.dockerConfig, COMPOSE_PROJECT_NAME: this.project, ...extra };
  }

  /** Removes leftovers of earlier runs, starts dockerd in its namespace, prepares the checkout and the CLI config. */
  async start(): Promise<void> {
    for (const tool of ['dockerd', 'docker', 'docker-compose', 'debootstrap', 'nsenter', 'unshare', 'ip']) {
      if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
        throw new Error(`${tool} is missing: apt-get install docker.io docker-compose debootstrap iproute2 util-linux (.ci/run installs them)`);
      }
    }
    if (process.getuid?.() !== 0) throw new Error('test:docker needs root (network namespaces, dockerd, debootstrap)');
    const clean = await run('bash', [ENGINE, 'clean']);
    for (const line of clean.stderr.trim().split('\n').filter(Boolean)) progress(line);
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    const up = await run('bash', [ENGINE, 'up'], { env: { ...process.env, ROOMCAST_CI_OWNER_PID: String(process.pid) } });
    const vars = parseEnvLines(up.stdout);
    this.runDir = vars.RUN_DIR!;
    this.netns = vars.NETNS!;
    this.nsAddr = vars.NS_ADDR!;
    this.hostAddr = vars.HOST_ADDR!;
    this.dockerHost = vars.DOCKER_HOST!;
    this.project = this.netns.replace(/-/g, '');
    // A watchdog in its own session: if this process dies without tearing down (SIGKILL, a crash),
    // it removes the engine, the namespace and the run directory.
    this.watchdog = spawn('bash', [ENGINE, 'watch', this.runDir, String(process.pid)], { detached: true, stdio: 'ignore' });
    this.watchdog.unref();

    this.dockerConfig = join(this.runDir, 'docker-config');
    mkdirSync(join(this.dockerConfig, 'cli-plugins'), { recursive: true });
    writeFileSync(join(this.dockerConfig, 'config.json'), '{}\n');
    writeFileSync(join(this.dockerConfig, 'cli-plugins', 'docker-compose'), COMPOSE_SHIM);
    chmodSync(join(this.dockerConfig, 'cli-plugins', 'docker-compose'), 0o755);

    this.checkout = join(this.runDir, 'roomcast');
    cpSync(ROOT, this.checkout, {
      recursive: true,
      filter: (src) => {
        const rel = relative(ROOT, src);
        if (rel === '') return true;
        if (NOT_COPIED.has(basename(src)) && !rel.includes('/')) return false;
        if (basename(src) === 'node_modules' || rel.startsWith('test/bench/results')) return false;
        // A fresh clone has no big files; a developer's tree may (disk images of other tests).
        const st = statSync(src);
        if (st.isFile() && st.size > BIG_FILE) {
          progress(`not copied into the checkout (over ${BIG_FILE / 2 ** 20} MiB): ${rel}`);
          return false;
        }
        return true;
      },
    });
    const version = await this.docker(['version', '--format', '{{.Server.Version}}']);
    progress(`engine ${version.stdout.trim()} up in namespace ${this.netns} (${this.nsAddr}), run dir ${this.runDir}`);
  }

  docker(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return run('docker', args, { cwd: this.checkout || ROOT, ...opts, env: this.env(opts.env as Record<string, string>) });
  }

  /** `docker compose …` exactly as a user types it, in the checkout. */
  compose(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.docker(['compose', ...args], { logFile: join(ARTIFACTS, 'compose.log'), ...opts });
  }

  async standins(): Promise<Record<string, unknown>> {
    const timesFile = join(this.runDir, 'standins.json');
    await run('bash', [STANDINS, 'import'], {
      // The caller's environment (ROOMCAST_CI_CACHE, npm settings) plus this engine.
      env: { ...process.env, DOCKER_HOST: this.dockerHost, DOCKER_CONFIG: this.dockerConfig, STANDINS_TIMES: timesFile },
      logFile: join(ARTIFACTS, 'standins.log'),
      onLine: (line) => line.startsWith('standins:') && progress(line),
      timeoutMs: 8 * 60_000,
    });
    return JSON.parse(readFileSync(timesFile, 'utf8')) as Record<string, unknown>;
  }

  async proxyUp(): Promise<string> {
    const r = await run('bash', [ENGINE, 'proxy-up', this.runDir]);
    this.proxyUrl = parseEnvLines(r.stdout).PROXY_URL!;
    return this.proxyUrl;
  }

  /** Stops the relay and the proxy (the running stack then has no way out) and returns what they let through. */
  async proxyDown(): Promise<{ allowed: number; denied: number; deniedRequests: string[] }> {
    await run('bash', [ENGINE, 'proxy-down', this.runDir], { allowFail: true });
    const logPath = join(this.runDir, 'egress.log');
    const text = existsSync(logPath) ? readFileSync(logPath, 'utf8') : '';
    if (text) writeFileSync(join(ARTIFACTS, 'egress.log'), text);
    const lines = text.split('\n');
    const deniedRequests = [...new Set(lines.filter((l) => / DENY /.test(l)).map((l) => l.replace(/^\S+ DENY /, '')))];
    return { allowed: lines.filter((l) => / ALLOW /.test(l)).length, denied: lines.filter((l) => / DENY /.test(l)).length, deniedRequests };
  }

  /** Keeps the engine's log and the stack's logs for a failed run. */
  async saveLogs(): Promise<void> {
    if (!this.runDir) return;
    for (const f of ['dockerd.log', 'egress.log', 'relay.log']) {
      const p = join(this.runDir, f);
      if (existsSync(p)) cpSync(p, join(ARTIFACTS, f));
    }
    if (this.composeStarted) {
      await this.compose(['logs', '--no-color', '--timestamps'], { logFile: join(ARTIFACTS, 'stack.log'), allowFail: true, timeoutMs: 30_000 }).catch(() => {});
    }
  }

  /** `docker compose down -v`, then the engine, the namespace and the run directory. */
  async teardown(): Promise<number> {
    if (this.torndown) return 0;
    const start = Date.now();
    if (this.composeStarted && this.runDir) {
      await this.compose(['down', '-v', '--remove-orphans'], { allowFail: true, timeoutMs: 90_000 }).catch((e: Error) => progress(`compose down failed: ${e.message}`));
    }
    if (this.runDir) {
      const r = await run('bash', [ENGINE, 'down', this.runDir], { allowFail: true, timeoutMs: 120_000 }).catch((e: Error) => ({ code: 1, stderr: e.message }));
      if (r.code !== 0) progress(`engine down: ${r.stderr.trim()}`);
    }
    this.finish();
    return seconds(start);
  }

  /** ROOMCAST_DOCKER_KEEP=1: leave the stack running for a look; the next run (or `engine.sh down`) removes it. */
  keep(): void {
    if (this.watchdog?.pid) {
      try {
        process.kill(this.watchdog.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
    this.finish();
    progress('ROOMCAST_DOCKER_KEEP=1: the stack keeps running. To use it:');
    progress(`  export DOCKER_HOST=${this.dockerHost} DOCKER_CONFIG=${this.dockerConfig} COMPOSE_PROJECT_NAME=${this.project}; cd ${this.checkout}`);
    progress(`  api: http://${this.nsAddr}:8080 · TFTP: ${this.nsAddr}:69 · shell: nsenter --net=/run/netns/${this.netns} bash`);
    progress(`  remove it: bash ops/docker/engine.sh down ${this.runDir} (the next test:docker run does it too)`);
  }

  teardownSync(): void {
    if (this.torndown || !this.runDir) return;
    spawnSync('bash', [ENGINE, 'down', this.runDir], { stdio: 'inherit', timeout: 120_000 });
    this.finish();
  }

  private finish(): void {
    this.torndown = true;
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    // The watchdog sees the run directory gone and exits by itself.
    this.watchdog = undefined;
  }
}

/** Appends a line to a file under test-results/docker/. */
export function note(file: string, line: string): void {
  appendFileSync(join(ARTIFACTS, file), `${line}\n`);
}
