// The README's promise, for real: `docker compose up -d` starts roomcast on a fresh machine.
//
// On a Docker engine of its own (Debian's dockerd in a network namespace with no route out, see
// ops/docker/engine.sh), with offline stand-ins for the public base images (ops/docker/standins.sh):
// build the image with the unchanged Dockerfile (through an egress proxy that allows only the
// Debian mirror and the npm registry), run exactly `docker compose up -d` in a copy of the
// repository, then use the stack from outside as a person would: log in with the one-time admin
// password from the logs, import a CSV, list the rooms, fetch undionly.kpxe over TFTP and the boot
// client (kernel, initrd) over HTTP at the URLs of an iPXE script, check the worker and the System
// view, restart the stack and find the data still there.
// Figures go to test/bench/results/docker.{json,md}. Everything is removed afterwards, also on
// failure, Ctrl-C or SIGTERM (and by a watchdog if this process is killed outright).
//
//   npm run test:docker        (root; .ci/run installs docker.io docker-compose debootstrap curl)
//   ROOMCAST_DOCKER_KEEP=1 npm run test:docker   leaves the stack running and prints how to reach it
import { createHash } from 'node:crypto';
import { cpus, loadavg, totalmem } from 'node:os';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/client.js';
import { ARTIFACTS, Lab, ROOT, progress, run, seconds } from './lab.js';

const IMAGE = 'roomcast/appliance:latest';
const ADMIN_PASSWORD = 'docker-test-admin-password';
const CSV = ['nom;mac;salle', 'B204-PC01;02:00:00:00:00:01;B204', 'B204-PC02;02:00:00:00:00:02;B204', 'B204-PC03;02:00:00:00:00:03;B204', 'C101-PC01;02:00:00:00:01:01;C101'].join('\n') + '\n';
const SERVICES = ['api', 'boot', 'worker', 'redis'] as const;

const lab = new Lab();
const done = new Set<string>();
const started = Date.now();
let failed = false;
/** The engine namespace's interface that holds NS_ADDR: the PCs' network of this stack. */
let pcsInterface = '';

const bench = {
  bench: 'docker',
  date: new Date().toISOString(),
  node: process.version,
  platform: `${process.platform} ${process.arch}`,
  cpuCount: cpus().length,
  cpuModel: cpus()[0]?.model ?? 'unknown',
  totalMemoryMb: Math.round(totalmem() / 2 ** 20),
  /** 1-minute load average at the start and the end: other work on the machine slows the build. */
  loadAverage: { start: Math.round(loadavg()[0]! * 10) / 10, end: null as number | null },
  engine: null as string | null,
  compose: null as string | null,
  standins: null as Record<string, unknown> | null,
  image: {
    tag: IMAGE,
    sizeBytes: null as number | null,
    sizeMB: null as number | null,
    buildSeconds: null as number | null,
    /** Seconds per Dockerfile stage (client, build, runtime), from the builder's "Step N/M" lines. */
    stageSeconds: {} as Record<string, number>,
  },
  bootClient: null as { vmlinuzBytes: number; initrdBytes: number; kernel: string; client: string; fetchSeconds: number } | null,
  egress: null as { allowed: number; denied: number; deniedRequests: string[] } | null,
  firstStart: { upCommandSeconds: null as number | null, upToHealthySeconds: null as number | null },
  restart: { downSeconds: null as number | null, upCommandSeconds: null as number | null, upToHealthySeconds: null as number | null },
  teardownSeconds: null as number | null,
  totalSeconds: null as number | null,
  passed: [] as string[],
};

/** Marks a step done, or skips the test when a step it needs did not pass. */
function needs(skip: (note?: string) => void, ...steps: string[]) {
  const missing = steps.filter((s) => !done.has(s));
  if (missing.length) skip(`needs ${missing.join(', ')}`);
}

async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  progress(`▶ ${name}`);
  const start = Date.now();
  try {
    const result = await fn();
    done.add(name);
    bench.passed.push(name);
    progress(`✓ ${name} (${seconds(start)}s)`);
    return result;
  } catch (err) {
    failed = true;
    progress(`✗ ${name} (${seconds(start)}s): ${(err as Error).message.split('\n')[0]}`);
    throw err;
  }
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000}s${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

const api = () => new ApiClient(`http://${lab.nsAddr}:8080`);

async function containerId(service: string): Promise<string> {
  const id = (await lab.compose(['ps', '-q', service], { logFile: undefined })).stdout.trim();
  if (!id) throw new Error(`no container for service ${service}`);
  return id;
}

/** From `docker compose up -d` until the api container is healthy and /api/health answers ok from outside. */
async function upAndHealthy(): Promise<{ upCommandSeconds: number; upToHealthySeconds: number }> {
  const start = Date.now();
  const up = await lab.compose(['up', '-d'], { timeoutMs: 5 * 60_000 });
  lab.composeStarted = true;
  const upCommandSeconds = up.seconds;
  progress(`docker compose up -d returned after ${upCommandSeconds}s`);
  const id = await containerId('api');
  await waitFor('api container healthy', 120_000, async () => {
    const status = (await lab.docker(['inspect', '--format', '{{.State.Health.Status}}', id])).stdout.trim();
    if (status === 'unhealthy') throw new Error('api container is unhealthy');
    return status === 'healthy' ? true : undefined;
  });
  const health = await waitFor('/api/health ok', 60_000, async () => {
    const r = await fetch(`http://${lab.nsAddr}:8080/api/health`, { signal: AbortSignal.timeout(5000) });
    const body = (await r.json()) as { status: string };
    return r.status === 200 && body.status === 'ok' ? body : undefined;
  });
  const upToHealthySeconds = seconds(start);
  progress(`healthy ${upToHealthySeconds}s after up: ${JSON.stringify(health)}`);
  return { upCommandSeconds, upToHealthySeconds };
}

function writeBench(): void {
  bench.totalSeconds = seconds(started);
  bench.loadAverage.end = Math.round(loadavg()[0]! * 10) / 10;
  const dir = join(ROOT, 'test/bench/results');
  writeFileSync(join(dir, 'docker.json'), JSON.stringify(bench, null, 2) + '\n');
  const s = bench.standins as { cached?: boolean; buildSeconds?: number; importSeconds?: number; steps?: Record<string, number> } | null;
  const v = (x: unknown, unit = 's') => (x === null || x === undefined ? '–' : `${x}${unit}`);
  const steps = s?.steps && Object.keys(s.steps).length ? ` (${Object.entries(s.steps).map(([k, t]) => `${k} ${t}s`).join(', ')})` : '';
  const md = [
    '# Docker stack benchmark',
    '',
    `${bench.date} · Node ${bench.node} · ${bench.cpuCount} CPU (${bench.cpuModel}) · ${bench.totalMemoryMb} MiB · ${bench.platform} · load average ${bench.loadAverage.start} at the start, ${bench.loadAverage.end} at the end`,
    `Engine: dockerd ${bench.engine ?? '?'} in a network namespace (overlay2); compose: ${bench.compose ?? '?'}; base images: offline stand-ins (debootstrap bookworm + Node from npm; Debian redis-server).`,
    '',
    '| what | value |',
    '| --- | ---: |',
    `| image size (${IMAGE}) | ${v(bench.image.sizeMB, ' MB')} |`,
    `| image build (\`docker build\`, legacy builder, no cache) | ${v(bench.image.buildSeconds)} |`,
    ...Object.entries(bench.image.stageSeconds).map(([name, t]) => `| of which stage \`${name}\` | ${v(t)} |`),
    `| boot client in the image: vmlinuz + initrd.img | ${bench.bootClient ? `${(bench.bootClient.vmlinuzBytes / 1e6).toFixed(1)} + ${(bench.bootClient.initrdBytes / 1e6).toFixed(1)} MB (kernel ${bench.bootClient.kernel})` : '–'} |`,
    `| both fetched over HTTP from the api | ${v(bench.bootClient?.fetchSeconds)} |`,
    `| \`docker compose up -d\` → api healthy, first start | ${v(bench.firstStart.upToHealthySeconds)} |`,
    `| of which \`up -d\` itself | ${v(bench.firstStart.upCommandSeconds)} |`,
    `| \`docker compose down\` (data kept) | ${v(bench.restart.downSeconds)} |`,
    `| \`docker compose up -d\` → api healthy, restart | ${v(bench.restart.upToHealthySeconds)} |`,
    `| stand-ins: build${s?.cached ? ' (cached)' : ''} | ${v(s?.cached ? 0 : s?.buildSeconds)}${steps} |`,
    `| stand-ins: \`docker import\` | ${v(s?.importSeconds)} |`,
    `| teardown (down -v, engine, namespace) | ${v(bench.teardownSeconds)} |`,
    `| whole test | ${v(bench.totalSeconds)} |`,
    '',
    `Build egress (through the proxy): ${bench.egress ? `${bench.egress.allowed} requests allowed, ${bench.egress.denied} refused${bench.egress.deniedRequests.length ? ` (${bench.egress.deniedRequests.join('; ')})` : ''}` : '–'}.`,
    `Steps passed: ${bench.passed.join(', ') || 'none'}.`,
    '',
    'The api healthcheck runs every 10 s (compose file), so "→ healthy" has a granularity of about 10 s.',
    '',
  ].join('\n');
  writeFileSync(join(dir, 'docker.md'), md);
}

describe('docker compose up -d on a fresh machine', () => {
  beforeAll(async () => {
    progress(`artifacts (logs) in ${ARTIFACTS}`);
  });

  afterAll(async () => {
    if (failed) {
      progress('a step failed: keeping the engine and stack logs in test-results/docker/');
      await lab.saveLogs().catch(() => {});
    }
    if (process.env.ROOMCAST_DOCKER_KEEP === '1' && !process.env.CI) {
      lab.keep();
    } else {
      progress('teardown: docker compose down -v, dockerd, namespace');
      bench.teardownSeconds = await lab.teardown();
      progress(`teardown done in ${bench.teardownSeconds}s`);
    }
    writeBench();
    progress(`figures written to test/bench/results/docker.{json,md}; total ${bench.totalSeconds}s`);
  }, 5 * 60_000);

  it('starts a Docker engine in a network namespace of its own', async () => {
    await step('engine', async () => {
      await lab.start();
      bench.engine = (await lab.docker(['version', '--format', '{{.Server.Version}}'])).stdout.trim();
      bench.compose = (await lab.docker(['compose', 'version', '--short'])).stdout.trim();
      // The namespace reaches nothing but its own /30.
      const routes = (await run('ip', ['-n', lab.netns, 'route', 'show'])).stdout;
      expect(routes).not.toMatch(/^default/m);
    });
  });

  it('builds and imports the offline base-image stand-ins', async ({ skip }) => {
    needs(skip, 'engine');
    await step('stand-ins', async () => {
      bench.standins = await lab.standins();
      const images = (await lab.docker(['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}'])).stdout;
      expect(images).toContain('node:22-bookworm-slim');
      expect(images).toContain('redis:7-bookworm');
    });
  });

  it('builds the image with the unchanged Dockerfile, reaching only the Debian and npm registries', async ({ skip }) => {
    needs(skip, 'stand-ins');
    await step('build', async () => {
      const proxy = await lab.proxyUp();
      progress(`egress proxy at ${proxy} inside the namespace`);
      // Each "Step N/M : FROM … AS name" starts a stage; a stage lasts until the next one starts.
      const stageStarts: Array<[string, number]> = [];
      const onStep = (line: string) => {
        if (!/^Step \d+\/\d+ :/.test(line)) return;
        progress(`build: ${line.slice(0, 110)}`);
        const from = /^Step \d+\/\d+ : FROM \S+(?: AS (\S+))?/i.exec(line);
        if (from) stageStarts.push([from[1] ?? `stage${stageStarts.length}`, Date.now()]);
      };
      try {
        const build = await lab.docker(
          ['build', '--force-rm', '--network', 'host', '--build-arg', `http_proxy=${proxy}`, '--build-arg', `https_proxy=${proxy}`, '-f', 'images/appliance/Dockerfile', '-t', IMAGE, '.'],
          {
            env: { DOCKER_BUILDKIT: '0' },
            // About 3.5 min on an idle 2-core machine (boot client stage included), over 6 when it is busy.
            timeoutMs: 14 * 60_000,
            logFile: join(ARTIFACTS, 'build.log'),
            onLine: onStep,
          },
        );
        bench.image.buildSeconds = build.seconds;
        const end = Date.now();
        stageStarts.forEach(([name, t], i) => (bench.image.stageSeconds[name] = Math.round(((stageStarts[i + 1]?.[1] ?? end) - t) / 100) / 10));
        progress(`build stages: ${Object.entries(bench.image.stageSeconds).map(([k, v]) => `${k} ${v}s`).join(', ')}`);
      } finally {
        bench.egress = await lab.proxyDown();
        progress(`egress: ${bench.egress.allowed} allowed, ${bench.egress.denied} refused ${bench.egress.deniedRequests.join('; ')}`);
      }
      const size = Number((await lab.docker(['image', 'inspect', '--format', '{{.Size}}', IMAGE])).stdout.trim());
      bench.image.sizeBytes = size;
      bench.image.sizeMB = Math.round(size / 1e5) / 10;
      progress(`image ${IMAGE}: ${bench.image.sizeMB} MB, built in ${bench.image.buildSeconds}s`);
      // The proxy build args are predefined ARGs: they must not stay in the image.
      const env = (await lab.docker(['image', 'inspect', '--format', '{{json .Config.Env}}', IMAGE])).stdout;
      expect(env).not.toMatch(/_proxy/i);
    });
  });

  it('runs `docker compose up -d` and becomes healthy', async ({ skip }) => {
    needs(skip, 'build');
    await step('up', async () => {
      // As the README asks of an RN: the server's address on the PCs' network, in .env, and the
      // interface that holds it for multicast (its pre-flight); a short querier listen for the test.
      pcsInterface = /^\d+:\s+(\S+)\s+inet /m.exec((await run('ip', ['-n', lab.netns, '-o', '-4', 'addr', 'show', 'to', `${lab.nsAddr}/32`])).stdout)?.[1] ?? '';
      expect(pcsInterface, `an interface with ${lab.nsAddr} in ${lab.netns}`).not.toBe('');
      writeFileSync(join(lab.checkout, '.env'), `ROOMCAST_BOOT_IP=${lab.nsAddr}\nROOMCAST_MULTICAST_INTERFACE=${pcsInterface}\nROOMCAST_PREFLIGHT_QUERIER_SECONDS=5\n`);
      const t = await upAndHealthy();
      bench.firstStart = t;
    });
  });

  it('logs in with the one-time admin password from the logs and changes it', async ({ skip }) => {
    needs(skip, 'up');
    await step('first login', async () => {
      const logs = (await lab.compose(['logs', '--no-color', 'api'], { logFile: undefined })).stdout;
      const m = /one-time password ([^\s"\\]+)/.exec(logs);
      expect(m, 'the api logs a one-time admin password on its first start').toBeTruthy();
      const client = api();
      expect((await client.login('admin', m![1]!)).status).toBe(200);
      const blocked = await client.get('/api/v1/rooms');
      expect(blocked.status).toBe(403);
      expect(blocked.body.code).toBe('password_change_required');
      const changed = await client.post('/api/v1/auth/password', { currentPassword: m![1], newPassword: ADMIN_PASSWORD });
      expect(changed.status).toBe(204);
      const fresh = api();
      expect((await fresh.login('admin', ADMIN_PASSWORD)).status).toBe(200);
      expect((await fresh.get('/api/v1/rooms')).status).toBe(200);
    });
  });

  it('imports a CSV and lists the rooms', async ({ skip }) => {
    needs(skip, 'first login');
    await step('inventory', async () => {
      const client = api();
      await client.login('admin', ADMIN_PASSWORD);
      const r = await client.post('/api/v1/hosts/import?fileName=salles.csv', CSV, { contentType: 'text/csv' });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body).toMatchObject({ applied: true, summary: { hostsCreated: 4 } });
      const rooms = (await client.get('/api/v1/rooms')).body as Array<{ name: string; hostCount: number }>;
      expect(rooms.find((x) => x.name === 'B204')?.hostCount).toBe(3);
      expect(rooms.find((x) => x.name === 'C101')?.hostCount).toBe(1);
    });
  });

  it('has the worker role connected to Redis', async ({ skip }) => {
    needs(skip, 'up');
    await step('worker', async () => {
      const health = await waitFor('a BullMQ worker in /api/health', 60_000, async () => {
        const r = await fetch(`http://${lab.nsAddr}:8080/api/health`, { signal: AbortSignal.timeout(5000) });
        const body = (await r.json()) as { workers: number; redis: { status: string; embedded: boolean } };
        return body.workers >= 1 ? body : undefined;
      });
      expect(health.redis).toMatchObject({ status: 'up', embedded: false });
    });
  });

  it('serves undionly.kpxe over TFTP from the boot role', async ({ skip }) => {
    needs(skip, 'up');
    await step('tftp', async () => {
      const boot = await containerId('boot');
      // The TFTP root the boot role serves (it logs it), else ROOMCAST_TFTP_ROOT, else the default.
      const bootLogs = await lab.docker(['logs', boot]);
      const logs = bootLogs.stdout + bootLogs.stderr;
      const env = JSON.parse((await lab.docker(['inspect', '--format', '{{json .Config.Env}}', boot])).stdout) as string[];
      const root =
        /"module":"tftp"[^\n]*?"root":"([^"]+)"/.exec(logs)?.[1] ??
        env.find((e) => e.startsWith('ROOMCAST_TFTP_ROOT='))?.slice('ROOMCAST_TFTP_ROOT='.length) ??
        '/var/lib/roomcast/tftp';
      const inImage = await lab.docker(['exec', boot, 'cat', `${root}/undionly.kpxe`], { allowFail: true });
      expect(inImage.code, `undionly.kpxe is not in the boot container's TFTP root ${root}: ${inImage.stderr.trim()}`).toBe(0);
      expect(inImage.stdoutBuffer.length).toBeGreaterThan(10_000);
      const out = join(lab.runDir, 'undionly.kpxe');
      const fetched = await run('curl', ['-sS', '--max-time', '60', '--tftp-blksize', '1468', '-o', out, `tftp://${lab.nsAddr}/undionly.kpxe`]);
      progress(`TFTP: ${inImage.stdoutBuffer.length} bytes in ${fetched.seconds}s from ${lab.nsAddr}:69 (${root})`);
      const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
      expect(sha(readFileSync(out))).toBe(sha(inImage.stdoutBuffer));
    });
  });

  it('serves the boot client (kernel, initrd, imaging part) over HTTP from the api, at the URLs of the iPXE script', async ({ skip }) => {
    needs(skip, 'first login');
    await step('boot client', async () => {
      const apiId = await containerId('api');
      // What the image holds, read inside the running api container: the directory the api serves
      // (the image's ROOMCAST_CLIENT_DIR), client.json (build.sh records sizes and sha256) and the
      // files' own sums. The kernel package itself must not be in the image, only its vmlinuz.
      const env = JSON.parse((await lab.docker(['inspect', '--format', '{{json .Config.Env}}', apiId])).stdout) as string[];
      const dir = env.find((e) => e.startsWith('ROOMCAST_CLIENT_DIR='))?.slice('ROOMCAST_CLIENT_DIR='.length);
      expect(dir, 'the image sets ROOMCAST_CLIENT_DIR').toBe('/app/boot/client');
      const json = await lab.docker(['exec', apiId, 'cat', `${dir}/client.json`], { allowFail: true });
      expect(json.code, `no client.json in the api container's ${dir}: ${json.stderr.trim()}`).toBe(0);
      const manifest = JSON.parse(json.stdout) as { client: string; kernel: { version: string }; files: Record<'vmlinuz' | 'initrd.img', { size: number; sha256: string }> };
      const sums = (await lab.docker(['exec', apiId, 'sha256sum', `${dir}/vmlinuz`, `${dir}/initrd.img`])).stdout;
      const inImage = new Map(sums.trim().split('\n').map((l) => [l.split(/\s+/)[1]!.split('/').pop()!, l.split(/\s+/)[0]!]));
      const kernelPkg = await lab.docker(['exec', apiId, 'sh', '-c', 'test ! -e /lib/modules && ! dpkg-query -W "linux-image*" 2>/dev/null'], { allowFail: true });
      expect(kernelPkg.code, 'the runtime image has kernel modules or a linux-image package').toBe(0);

      // The URLs a PC is sent to: the iPXE script of an unknown PC while registration is open.
      const client = api();
      await client.login('admin', ADMIN_PASSWORD);
      const opened = await client.post('/api/v1/boot/registration', { minutes: 5 });
      expect(opened.status, JSON.stringify(opened.body)).toBe(200);
      let script: string;
      try {
        const r = await fetch(`http://${lab.nsAddr}:8080/boot/ipxe?mac=02:00:00:00:99:01&arch=0`, { signal: AbortSignal.timeout(10_000) });
        script = await r.text();
        expect(r.status, script).toBe(200);
      } finally {
        await client.delete('/api/v1/boot/registration');
      }
      const base = `http://${lab.nsAddr}:8080`;
      const urls = { vmlinuz: /^kernel (\S+)/m.exec(script)?.[1], 'initrd.img': /^initrd (\S+)/m.exec(script)?.[1] };
      expect(urls, script).toEqual({ vmlinuz: `${base}/boot/client/vmlinuz`, 'initrd.img': `${base}/boot/client/initrd.img` });

      const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
      const start = Date.now();
      const bodies = {} as Record<'vmlinuz' | 'initrd.img', Buffer>;
      for (const name of ['vmlinuz', 'initrd.img'] as const) {
        const r = await fetch(urls[name]!, { signal: AbortSignal.timeout(60_000) });
        const body = Buffer.from(await r.arrayBuffer());
        expect(r.status, `${urls[name]}: ${body.subarray(0, 300).toString()}`).toBe(200);
        expect(r.headers.get('accept-ranges')).toBe('bytes');
        expect(body.length).toBeGreaterThan(2 ** 20);
        expect(body.length).toBe(manifest.files[name].size);
        expect(sha(body)).toBe(manifest.files[name].sha256);
        expect(sha(body)).toBe(inImage.get(name));
        bodies[name] = body;
      }
      const fetchSeconds = seconds(start);
      // A retried or resumed download asks for the rest: 206 with exactly those bytes.
      const size = bodies.vmlinuz.length;
      const part = await fetch(urls.vmlinuz!, { headers: { Range: `bytes=${size - 4096}-` }, signal: AbortSignal.timeout(30_000) });
      expect(part.status).toBe(206);
      expect(part.headers.get('content-range')).toBe(`bytes ${size - 4096}-${size - 1}/${size}`);
      expect(Buffer.from(await part.arrayBuffer()).equals(bodies.vmlinuz.subarray(size - 4096))).toBe(true);
      // The imaging part (captures and restores): served too, equal to what imaging.json records,
      // and /api/health calls the boot client complete.
      const imgJson = JSON.parse((await lab.docker(['exec', apiId, 'cat', `${dir}/imaging.json`])).stdout) as { node: string; files: { 'imaging.img': { size: number; sha256: string } } };
      const img = await fetch(`${base}/boot/client/imaging.img`, { signal: AbortSignal.timeout(120_000) });
      const imgBody = Buffer.from(await img.arrayBuffer());
      expect(img.status).toBe(200);
      expect(imgBody.length).toBe(imgJson.files['imaging.img'].size);
      expect(sha(imgBody)).toBe(imgJson.files['imaging.img'].sha256);
      expect(imgJson.node).toMatch(/^v22\./);
      const health = (await (await fetch(`${base}/api/health`, { signal: AbortSignal.timeout(10_000) })).json()) as { bootClient?: { status: string; missing: string[] } };
      expect(health.bootClient).toEqual({ status: 'complete', missing: [] });
      const zstd = await lab.docker(['exec', apiId, 'node', '-p', 'typeof require("node:zlib").zstdDecompress'], { allowFail: true });
      expect(zstd.stdout.trim(), 'the api checks uploaded chunks with node:zlib zstd (Node >= 22.15)').toBe('function');
      bench.bootClient = { vmlinuzBytes: size, initrdBytes: bodies['initrd.img'].length, kernel: manifest.kernel.version, client: manifest.client, fetchSeconds };
      progress(`boot client ${manifest.client} (kernel ${manifest.kernel.version}): vmlinuz ${size} + initrd.img ${bodies['initrd.img'].length} bytes over HTTP in ${fetchSeconds}s, sha256 = client.json = image; Range → 206`);
    });
  });

  it('runs the network pre-flight on demand: the boot role probes for PXE answerers and a querier, the worker decides', async ({ skip }) => {
    needs(skip, 'first login', 'worker');
    await step('network pre-flight', async () => {
      const admin = api();
      await admin.login('admin', ADMIN_PASSWORD);
      const tech = await admin.userClient('tech', 'technician');
      // The boot container starts after the api is healthy: give it the time to consume its queue.
      let start = Date.now();
      const r = await waitFor('the boot role answering the pre-flight', 90_000, async () => {
        start = Date.now();
        const a = await tech.post('/api/v1/network/preflight', {});
        return /boot service is not answering/.test(JSON.stringify(a.body)) ? undefined : a;
      });
      const secs = seconds(start);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const result = r.body.result as { interface: string; address: string; verdict: string; pxe: { outcome: string; reason: { text: string } }; querier: { outcome: string; reason: { text: string } } };
      progress(`pre-flight in ${secs}s: pxe ${result.pxe?.outcome} (${result.pxe?.reason.text}); querier ${result.querier?.outcome} (${result.querier?.reason.text})`);
      expect(r.body.available, JSON.stringify(r.body)).toBe(true);
      expect(result).toMatchObject({ interface: pcsInterface, address: lab.nsAddr, verdict: 'multicast' });
      // Before, the worker (no capability, no-new-privileges) said "could not run" for both checks.
      // The boot role's own proxyDHCP answers the probe and is left out; nothing else answers PXE here.
      expect(result.pxe.outcome, result.pxe.reason.text).toBe('none');
      // tcpdump runs in the boot role with its file capability; this network has no querier.
      expect(result.querier.outcome, result.querier.reason.text).toBe('absent');
      expect(JSON.stringify(result)).not.toContain('could not run');
    });
  });

  it('shows the stack in the admin System view (GET /api/v1/system/containers)', async ({ skip }) => {
    needs(skip, 'first login');
    await step('system view', async () => {
      const client = api();
      await client.login('admin', ADMIN_PASSWORD);
      let last: unknown;
      await waitFor('api, boot, worker and redis running and not unhealthy/starting', 90_000, async () => {
        const r = await client.get('/api/v1/system/containers?logs=0');
        last = r.body;
        if (r.status !== 200 || !r.body.available) return undefined;
        const byService = new Map((r.body.containers as Array<{ service: string | null; state: string; health: string }>).map((c) => [c.service, c]));
        const ok = SERVICES.every((s) => byService.get(s)?.state === 'running' && ['healthy', 'none'].includes(byService.get(s)!.health));
        return ok ? true : undefined;
      }).catch((err: Error) => {
        throw new Error(`${err.message}; last answer: ${JSON.stringify(last)?.slice(0, 1500)}`);
      });
      const r = await client.get('/api/v1/system/containers?logs=0');
      const byService = new Map((r.body.containers as Array<{ service: string; health: string }>).map((c) => [c.service, c]));
      expect(byService.get('api')?.health).toBe('healthy');
      expect(byService.get('redis')?.health).toBe('healthy');
      // The proxy is what keeps the api read-only: from inside the api container, a write or an
      // endpoint outside the list is refused by the real proxy in front of the real engine.
      const probe = `const u='http://docker-proxy:2375';Promise.all([fetch(u+'/containers/create',{method:'POST',headers:{'content-type':'application/json'},body:'{"Image":"redis:7-bookworm"}'}),fetch(u+'/images/json'),fetch(u+'/containers/json?all=1')]).then(async([a,b,c])=>console.log(JSON.stringify({create:a.status,images:b.status,list:c.status,names:(await c.json()).map(x=>x.Labels['com.docker.compose.project'])})))`;
      const out = await lab.compose(['exec', '-T', 'api', 'node', '-e', probe], { timeoutMs: 60_000 });
      const seen = JSON.parse(out.stdout.trim().split('\n').pop()!) as { create: number; images: number; list: number; names: string[] };
      expect(seen.create).toBe(403);
      expect(seen.images).toBe(403);
      expect(seen.list).toBe(200);
      expect(new Set(seen.names).size).toBe(1);
    });
  });

  it('keeps the data across `docker compose down` and `up -d`', async ({ skip }) => {
    needs(skip, 'inventory');
    await step('restart', async () => {
      const down = await lab.compose(['down'], { timeoutMs: 120_000 });
      bench.restart.downSeconds = down.seconds;
      progress(`docker compose down took ${down.seconds}s`);
      const t = await upAndHealthy();
      bench.restart.upCommandSeconds = t.upCommandSeconds;
      bench.restart.upToHealthySeconds = t.upToHealthySeconds;
      const client = api();
      expect((await client.login('admin', ADMIN_PASSWORD)).status).toBe(200);
      const rooms = (await client.get('/api/v1/rooms')).body as Array<{ name: string; hostCount: number }>;
      expect(rooms.find((x) => x.name === 'B204')?.hostCount).toBe(3);
      const hosts = (await client.get('/api/v1/hosts')).body as Array<{ mac: string }>;
      expect(hosts.map((h) => h.mac.toLowerCase())).toContain('02:00:00:00:01:01');
      // No second admin, no second one-time password.
      const logs = (await lab.compose(['logs', '--no-color', 'api'], { logFile: undefined })).stdout;
      expect(logs).not.toMatch(/one-time password/);
    });
  });
});
