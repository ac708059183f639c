// Contract of the Docker deliverables: docker-compose.yml, .env.example,
// images/appliance/Dockerfile and .dockerignore.
//
// Runs Debian's docker-compose 1.29 (`apt-get install docker-compose`) offline: `config -q`
// validates the file, and the YAML that `config` prints is what the assertions check.
// No Docker engine is needed. Without docker-compose the compose tests fail; they do not skip.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { MALLOC_TUNABLES } from '../../services/imaging/malloc.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const COMPOSE_FILE = join(ROOT, 'docker-compose.yml');
const ENV_EXAMPLE = join(ROOT, '.env.example');
const DOCKERFILE = join(ROOT, 'images/appliance/Dockerfile');
const DOCKERIGNORE = join(ROOT, '.dockerignore');

const NODE_ROLES = ['api', 'boot', 'worker'] as const;
const DATA_DIR = '/var/lib/roomcast';
const IMAGES_DIR = '/var/lib/roomcast/images';

// ---------------------------------------------------------------------------------------------
// Running docker-compose

interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

const INSTALL_HINT =
  'docker-compose is not installed. These tests need Debian\'s docker-compose 1.29: ' +
  'run `apt-get install docker-compose` (CI installs it).';

/**
 * Runs docker-compose against the repository's compose file, hermetically. The developer's
 * shell and .env do not leak in: ROOMCAST_*, TZ and COMPOSE_* are removed from the environment,
 * and an explicit --env-file replaces the project's .env.
 */
function compose(args: string[], envFileText = ''): RunResult {
  const dir = mkdtempSync(join(tmpdir(), 'roomcast-compose-'));
  try {
    const envFile = join(dir, 'env');
    writeFileSync(envFile, envFileText);
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (key.startsWith('ROOMCAST_') || key.startsWith('COMPOSE_') || key === 'TZ') continue;
      env[key] = value;
    }
    const result = spawnSync(
      'docker-compose',
      ['--env-file', envFile, '--project-directory', ROOT, '-f', COMPOSE_FILE, ...args],
      { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 },
    );
    if (result.error) {
      const code = (result.error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new Error(INSTALL_HINT);
      throw new Error(`docker-compose ${args.join(' ')} failed to run: ${result.error.message}`);
    }
    return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// The resolved configuration (`docker-compose config`), normalised so that both the short
// syntax (what 1.29 prints for most keys) and the long syntax are understood.

type Dict = Record<string, unknown>;

interface ComposeConfig {
  services: Record<string, Dict>;
  volumes?: Record<string, unknown>;
}

interface Port {
  hostIp: string | undefined;
  published: string | undefined;
  target: string;
}

interface Mount {
  type: string;
  source: string;
  target: string;
  readOnly: boolean;
}

let cached: ComposeConfig | undefined;

function loadConfig(): ComposeConfig {
  if (cached) return cached;
  const result = compose(['config']);
  if (result.status !== 0) {
    throw new Error(`docker-compose config exited with ${result.status}:\n${result.stderr}`);
  }
  const config = parse(result.stdout) as ComposeConfig;
  cached = config;
  return config;
}

function service(name: string): Dict {
  const svc = loadConfig().services[name];
  if (!svc) throw new Error(`service ${name} is missing`);
  return svc;
}

function environment(svc: Dict): Record<string, string> {
  const env = svc['environment'];
  const out: Record<string, string> = {};
  if (Array.isArray(env)) {
    for (const item of env as string[]) {
      const eq = item.indexOf('=');
      if (eq === -1) out[item] = '';
      else out[item.slice(0, eq)] = item.slice(eq + 1);
    }
  } else if (env && typeof env === 'object') {
    for (const [key, value] of Object.entries(env as Dict)) out[key] = value == null ? '' : String(value);
  }
  return out;
}

function ports(svc: Dict): Port[] {
  const list = (svc['ports'] ?? []) as unknown[];
  return list.map((entry): Port => {
    if (typeof entry === 'object' && entry !== null) {
      const p = entry as Dict;
      return {
        hostIp: p['host_ip'] == null ? undefined : String(p['host_ip']),
        published: p['published'] == null ? undefined : String(p['published']),
        target: String(p['target']),
      };
    }
    // [host_ip:][published:]target[/protocol]
    const parts = String(entry).replace(/\/(tcp|udp|sctp)$/, '').split(':');
    const target = parts.pop() ?? '';
    const published = parts.pop();
    const hostIp = parts.length > 0 ? parts.join(':') : undefined;
    return { hostIp, published, target };
  });
}

function mounts(svc: Dict): Mount[] {
  const list = (svc['volumes'] ?? []) as unknown[];
  return list.map((entry): Mount => {
    if (typeof entry === 'object' && entry !== null) {
      const m = entry as Dict;
      return {
        type: String(m['type'] ?? 'volume'),
        source: String(m['source'] ?? ''),
        target: String(m['target'] ?? ''),
        readOnly: m['read_only'] === true,
      };
    }
    const [source = '', target = '', mode = 'rw'] = String(entry).split(':');
    return {
      type: source.startsWith('/') || source.startsWith('.') ? 'bind' : 'volume',
      source,
      target,
      readOnly: mode.split(',').includes('ro'),
    };
  });
}

function command(svc: Dict): string[] {
  const cmd = svc['command'];
  if (Array.isArray(cmd)) return cmd.map(String);
  if (typeof cmd === 'string') return cmd.trim().split(/\s+/);
  return [];
}

function dependsOn(svc: Dict): Record<string, string> {
  const deps = svc['depends_on'];
  const out: Record<string, string> = {};
  if (Array.isArray(deps)) {
    for (const name of deps as string[]) out[name] = 'service_started';
  } else if (deps && typeof deps === 'object') {
    for (const [name, spec] of Object.entries(deps as Dict)) {
      out[name] = String((spec as Dict | null)?.['condition'] ?? 'service_started');
    }
  }
  return out;
}

function hasHealthcheck(svc: Dict): boolean {
  const hc = svc['healthcheck'] as Dict | undefined;
  if (!hc || hc['disable'] === true) return false;
  const test = hc['test'];
  if (Array.isArray(test)) return test.length > 0 && test[0] !== 'NONE';
  return typeof test === 'string' && test.trim() !== '' && test.trim() !== 'NONE';
}

/** Pairs `--flag value` (or `flag value`, as in redis.conf syntax) from a command line. */
function flagValue(args: string[], flag: string): string | undefined {
  const i = args.findIndex((a) => a === `--${flag}` || a === flag);
  return i === -1 ? undefined : args[i + 1];
}

// ---------------------------------------------------------------------------------------------
// .env.example and the Dockerfile

function envExample(): { names: string[]; lines: string[] } {
  const lines = readFileSync(ENV_EXAMPLE, 'utf8').split('\n');
  const names: string[] = [];
  for (const line of lines) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/.exec(line);
    if (m?.[1]) names.push(m[1]);
  }
  return { names, lines };
}

interface Instruction {
  op: string;
  args: string;
}

function dockerfileInstructions(): Instruction[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of readFileSync(DOCKERFILE, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#')) continue; // comments, also inside continuations
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' ';
      continue;
    }
    current += line;
    if (current.trim() !== '') logical.push(current.trim());
    current = '';
  }
  if (current.trim() !== '') logical.push(current.trim());
  return logical.map((l) => {
    const m = /^(\S+)\s*(.*)$/.exec(l);
    return { op: (m?.[1] ?? '').toUpperCase(), args: m?.[2] ?? '' };
  });
}

function stages(): Instruction[][] {
  const out: Instruction[][] = [];
  for (const ins of dockerfileInstructions()) {
    if (ins.op === 'FROM') out.push([ins]);
    else out.at(-1)?.push(ins);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

describe('docker-compose.yml', () => {
  it('validates offline with docker-compose 1.29 (`config -q` exits 0)', () => {
    const result = compose(['config', '-q']);
    expect(result.status, result.stderr).toBe(0);
  });

  it('defines exactly the services api, boot, worker, redis and the read-only docker-proxy', () => {
    expect(Object.keys(loadConfig().services).sort()).toEqual(['api', 'boot', 'docker-proxy', 'redis', 'worker']);
  });

  it('gives the Docker socket only to docker-proxy, read-only, with no capabilities, and points the api at it', () => {
    for (const [name, svc] of Object.entries(loadConfig().services)) {
      const socket = mounts(svc).filter((m) => m.source.includes('docker.sock'));
      if (name === 'docker-proxy') {
        expect(socket).toHaveLength(1);
        expect(socket[0]!.readOnly).toBe(true);
      } else expect(socket, name).toEqual([]);
    }
    const proxy = service('docker-proxy');
    expect(proxy['cap_drop']).toEqual(['ALL']);
    expect(proxy['read_only']).toBe(true);
    expect(proxy['ports']).toBeUndefined();
    expect(proxy['image']).toBe(service('api')['image']);
    expect(environment(service('api'))['ROOMCAST_DOCKER_URL']).toBe('http://docker-proxy:2375');
  });

  it('runs api, boot and worker from one appliance image, built from images/appliance/Dockerfile', () => {
    const images = NODE_ROLES.map((name) => service(name)['image']);
    expect(new Set(images).size).toBe(1);
    expect(images[0]).toBe('roomcast/appliance:latest');

    const builds = NODE_ROLES.map((name) => service(name)['build'] as Dict | undefined).filter(
      (b): b is Dict => b !== undefined,
    );
    expect(builds.length).toBeGreaterThan(0);
    for (const build of builds) {
      expect(build['dockerfile']).toBe('images/appliance/Dockerfile');
      const context = String(build['context']);
      expect(existsSync(join(context, String(build['dockerfile'])))).toBe(true);
    }
  });

  it('sets ROOMCAST_ROLES of each Node service to exactly its role', () => {
    for (const name of NODE_ROLES) {
      expect(environment(service(name))['ROOMCAST_ROLES'], name).toBe(name);
    }
  });

  it('puts boot and worker on the host network, and not the api', () => {
    expect(service('boot')['network_mode']).toBe('host');
    expect(service('worker')['network_mode']).toBe('host');
    expect(service('api')['network_mode']).not.toBe('host');
    expect(service('redis')['network_mode']).not.toBe('host');
  });

  it('gives boot only NET_BIND_SERVICE and NET_RAW, after dropping ALL', () => {
    const boot = service('boot');
    expect(boot['cap_drop']).toEqual(['ALL']);
    expect([...((boot['cap_add'] as string[] | undefined) ?? [])].sort()).toEqual(['NET_BIND_SERVICE', 'NET_RAW']);
    expect(boot['privileged']).not.toBe(true);
    // no-new-privileges would cancel the file capabilities of node-netboot (see the Dockerfile)
    const securityOpt = (boot['security_opt'] as string[] | undefined) ?? [];
    expect(securityOpt.some((o) => o.startsWith('no-new-privileges') && !o.endsWith(':false'))).toBe(false);
    for (const name of ['api', 'worker', 'redis']) {
      expect(service(name)['privileged'], name).not.toBe(true);
      expect(service(name)['cap_add'], name).toBeUndefined();
    }
  });

  it('keeps the worker without any capability and under no-new-privileges: the pre-flight probes that need rights run in boot', () => {
    const worker = service('worker');
    expect(worker['cap_drop']).toEqual(['ALL']);
    expect(worker['security_opt']).toContain('no-new-privileges:true');
    expect(command(worker).join(' ')).not.toContain('node-netboot');
    // The worker and the boot role see the same PCs' interface setting through .env.
    expect(environment(worker)).toHaveProperty('ROOMCAST_MULTICAST_INTERFACE');
    expect(environment(service('boot'))['ROOMCAST_PREFLIGHT_QUERIER_SECONDS']).toBe('130');
  });

  it('publishes the api on 8080 by default', () => {
    const api = ports(service('api'));
    expect(api).toContainEqual(expect.objectContaining({ published: '8080', target: '8080' }));
    // Host-network services cannot publish ports (Docker would ignore them).
    expect(ports(service('boot'))).toEqual([]);
    expect(ports(service('worker'))).toEqual([]);
  });

  it('runs redis with AOF and noeviction, published on 127.0.0.1 only', () => {
    const redis = service('redis');
    expect(redis['image']).toBe('redis:7-bookworm');
    const args = command(redis);
    expect(flagValue(args, 'appendonly')).toBe('yes');
    expect(flagValue(args, 'maxmemory-policy')).toBe('noeviction');
    const published = ports(redis);
    expect(published.length).toBeGreaterThan(0);
    for (const port of published) {
      expect(port.hostIp, 'redis must not listen on every interface').toBe('127.0.0.1');
      expect(port.published).toBe('6379');
      expect(port.target).toBe('6379');
    }
  });

  it('points each role at Redis and at the api the way its network reaches them', () => {
    expect(environment(service('api'))['ROOMCAST_REDIS_URL']).toBe('redis://redis:6379');
    for (const name of ['boot', 'worker']) {
      const env = environment(service(name));
      expect(env['ROOMCAST_REDIS_URL'], name).toBe('redis://127.0.0.1:6379');
      expect(env['ROOMCAST_API_URL'], name).toBe('http://127.0.0.1:8080');
    }
  });

  it('declares the named volumes data, images and redis; api and worker mount data and images', () => {
    const volumes = Object.keys(loadConfig().volumes ?? {});
    expect(volumes).toEqual(expect.arrayContaining(['data', 'images', 'redis']));
    for (const name of ['api', 'worker']) {
      const m = mounts(service(name));
      expect(m, name).toContainEqual(expect.objectContaining({ type: 'volume', source: 'data', target: DATA_DIR }));
      expect(m, name).toContainEqual(expect.objectContaining({ type: 'volume', source: 'images', target: IMAGES_DIR }));
      expect(environment(service(name))['ROOMCAST_IMAGES_DIR'] ?? IMAGES_DIR, name).toBe(IMAGES_DIR);
    }
    expect(mounts(service('redis'))).toContainEqual(expect.objectContaining({ type: 'volume', source: 'redis' }));
  });

  it('gives every service a healthcheck or a dependency on a healthy service', () => {
    const services = loadConfig().services;
    for (const [name, svc] of Object.entries(services)) {
      const deps = dependsOn(svc);
      const healthyDeps = Object.entries(deps).filter(([, condition]) => condition === 'service_healthy');
      // A service_healthy dependency only works if the target has a healthcheck.
      for (const [dep] of healthyDeps) {
        const target = services[dep];
        expect(target, `${name} depends on unknown service ${dep}`).toBeDefined();
        expect(hasHealthcheck(target ?? {}), `${name} waits for ${dep} to be healthy, but ${dep} has no healthcheck`).toBe(true);
      }
      expect(hasHealthcheck(svc) || healthyDeps.length > 0, name).toBe(true);
    }
    expect(hasHealthcheck(service('api'))).toBe(true);
    expect(hasHealthcheck(service('redis'))).toBe(true);
    expect(JSON.stringify(service('api')['healthcheck'])).toContain('/api/health');
    expect(JSON.stringify(service('redis')['healthcheck'])).toContain('redis-cli');
    expect(dependsOn(service('api'))).toMatchObject({ redis: 'service_healthy' });
    expect(dependsOn(service('worker'))).toMatchObject({ redis: 'service_healthy', api: 'service_healthy' });
    expect(dependsOn(service('boot'))).toMatchObject({ api: 'service_healthy' });
  });

  it('sets a restart policy everywhere, and an init process for the Node services', () => {
    for (const [name, svc] of Object.entries(loadConfig().services)) {
      expect(['always', 'unless-stopped', 'on-failure'], name).toContain(svc['restart']);
    }
    for (const name of NODE_ROLES) expect(service(name)['init'], name).toBe(true);
  });

  it('never mounts the Docker socket writable', () => {
    for (const [name, svc] of Object.entries(loadConfig().services)) {
      for (const m of mounts(svc)) {
        if (m.source.includes('docker.sock') || m.target.includes('docker.sock')) {
          expect(m.readOnly, `${name} mounts ${m.source} writable`).toBe(true);
        }
      }
    }
  });

  it('works without env_file: no service reads one', () => {
    for (const [name, svc] of Object.entries(loadConfig().services)) {
      expect(svc['env_file'], name).toBeUndefined();
    }
  });
});

describe('.env.example', () => {
  it('has at most six variables, each with a one-line comment above it', () => {
    const { names, lines } = envExample();
    expect(names.length).toBeGreaterThan(0);
    expect(names.length).toBeLessThanOrEqual(6);
    expect(new Set(names).size).toBe(names.length);
    lines.forEach((line, i) => {
      if (/^\s*[A-Za-z_][A-Za-z0-9_]*\s*=/.test(line)) {
        expect(lines[i - 1]?.trim().startsWith('#'), `no comment above: ${line}`).toBe(true);
      }
    });
  });

  it('only holds variables that docker-compose.yml actually uses', () => {
    const { names } = envExample();
    // Give each variable a distinctive value and look for it in the resolved configuration.
    const sentinels = new Map(
      names.map((name, i) => [name, name.endsWith('_PORT') ? String(41_000 + i) : `sentinel-${i}-${name.toLowerCase()}`]),
    );
    const envFile = [...sentinels].map(([name, value]) => `${name}=${value}`).join('\n') + '\n';
    const result = compose(['config'], envFile);
    expect(result.status, result.stderr).toBe(0);
    for (const [name, value] of sentinels) {
      expect(result.stdout.includes(value), `${name} from .env.example is not used by docker-compose.yml`).toBe(true);
    }
  });

  it('is accepted by docker-compose as an env file', () => {
    const result = compose(['config', '-q'], readFileSync(ENV_EXAMPLE, 'utf8'));
    expect(result.status, result.stderr).toBe(0);
  });
});

describe('images/appliance/Dockerfile', () => {
  it('is multi-stage and builds native addons with its own toolchain', () => {
    const all = stages();
    expect(all.length).toBeGreaterThanOrEqual(2);
    // The stage that installs the npm dependencies (not necessarily the first: the boot client's
    // stages come first or beside it).
    const build = all.find((st) => st.some((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.args))) ?? [];
    const runs = build.filter((i) => i.op === 'RUN').map((i) => i.args);
    const toolchain = runs.findIndex((r) => /apt-get install/.test(r) && /\bpython3\b/.test(r) && /\bmake\b/.test(r) && /\bg\+\+/.test(r));
    const npmCi = runs.findIndex((r) => /\bnpm ci\b/.test(r));
    expect(toolchain, 'the build stage must apt-get install python3 make g++').toBeGreaterThanOrEqual(0);
    expect(npmCi).toBeGreaterThan(toolchain);
  });

  it('ends as a non-root user with a HEALTHCHECK, running dist/services/main.js', () => {
    const final = stages().at(-1) ?? [];
    const users = final.filter((i) => i.op === 'USER');
    expect(users.length, 'the final stage must set USER').toBeGreaterThan(0);
    const user = (users.at(-1)?.args ?? '').trim().split(':')[0];
    expect(['', 'root', '0']).not.toContain(user);

    const healthchecks = final.filter((i) => i.op === 'HEALTHCHECK');
    expect(healthchecks.length).toBeGreaterThan(0);
    expect(healthchecks.at(-1)?.args.trim()).not.toBe('NONE');

    const cmd = final.filter((i) => i.op === 'CMD').at(-1)?.args ?? '';
    expect(cmd).toContain('dist/services/main.js');
  });

  it('has a .dockerignore that keeps host builds and secrets out of the context', () => {
    const entries = readFileSync(DOCKERIGNORE, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    for (const entry of ['node_modules', 'dist', 'data', '.git', '.env', 'coverage', 'test/bench/results']) {
      expect(entries, entry).toContain(entry);
    }
  });
});

describe('malloc settings (services/imaging/malloc.ts)', () => {
  it('are the ones the appliance image and the boot client run Node with, and glibc takes every one of them', () => {
    const dockerfile = readFileSync(DOCKERFILE, 'utf8');
    const imageSh = readFileSync(join(ROOT, 'images/client/rootfs/roomcast/actions/image.sh'), 'utf8');
    expect(/^\s*GLIBC_TUNABLES=(\S+)\s*\\?$/m.exec(dockerfile)?.[1], 'the Dockerfile\'s ENV').toBe(MALLOC_TUNABLES);
    expect(/GLIBC_TUNABLES=(\S+) ROOMCAST_BOOT_CLIENT=1 \/usr\/local\/bin\/node \/roomcast\/client\.mjs/.exec(imageSh)?.[1], 'actions/image.sh').toBe(MALLOC_TUNABLES);
    // glibc ignores a name it does not know: its dynamic loader lists what it took (glibc >= 2.33).
    const listed = spawnSync('/lib64/ld-linux-x86-64.so.2', ['--list-tunables'], { env: { GLIBC_TUNABLES: MALLOC_TUNABLES }, encoding: 'utf8' });
    expect(listed.status).toBe(0);
    for (const setting of MALLOC_TUNABLES.split(':')) {
      const [name, value] = setting.split('=');
      const line = listed.stdout.split('\n').find((l) => l.startsWith(`${name}:`));
      expect(line, name).toBeDefined();
      expect(Number(/: (0x[0-9a-f]+)/.exec(line!)?.[1]), name).toBe(Number(value));
    }
  });
});
