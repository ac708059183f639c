// Inventory API benchmark: the real roomcast (SQLite and/or PostgreSQL, real Redis) loaded with 1,000 PCs in
// 30 rooms through the CSV import API, then GET one room's PCs and GET the whole inventory at fixed request
// rates with an API token. A plain node:http server sending the same bytes is measured in the same run, so
// the figures read as ratios to what this machine can do at all. Reports only; asserts nothing on timings.
import { performance } from 'node:perf_hooks';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from '../support/app.js';
import { ApiClient } from '../support/client.js';
import type { TestDialect } from '../support/env.js';
import {
  environment,
  markdownTable,
  maybeProfile,
  ratio,
  LoadGenerator,
  startReferenceServer,
  writeResults,
  type BenchContext,
  type LoadStats,
} from './harness.js';

export const name = 'inventory';

const HOSTS = 1000;
const ROOMS = 30;
/** The room measured: 33 PCs (the first 10 rooms get 34). */
const BENCH_ROOM = 'B204';

type EndpointKey = 'room' | 'inventory';
const ENDPOINTS: Record<EndpointKey, { label: string; referencePath: string }> = {
  room: { label: 'GET /api/v1/rooms/:id/hosts', referencePath: '/room' },
  inventory: { label: 'GET /api/v1/hosts', referencePath: '/hosts' },
};

interface Scenario {
  server: 'reference' | TestDialect;
  endpoint: EndpointKey;
  path: string;
  hostsInBody: number;
  bodyBytes: number;
  targetRps: number;
  stats: LoadStats;
  /** roomcast p50 and p99 divided by the reference's for the same body at the same rate. */
  p50VsReference?: number | null;
  p99VsReference?: number | null;
}

/** `nom;mac;salle`, rooms A201..C210, PCs named like B204-PC01, MACs 02:52:43:00:xx:yy (locally administered, unicast). */
export function inventoryCsv(hosts = HOSTS, rooms = ROOMS): string {
  const lines = ['nom;mac;salle'];
  const base = Math.floor(hosts / rooms);
  const extra = hosts % rooms;
  let i = 0;
  for (let r = 0; r < rooms; r++) {
    const room = `${'ABCDEFGHIJ'[Math.floor(r / 10)]}${201 + (r % 10)}`;
    const count = base + (r < extra ? 1 : 0);
    for (let n = 1; n <= count; n++, i++) {
      const mac = `02:52:43:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
      lines.push(`${room}-PC${String(n).padStart(2, '0')};${mac};${room}`);
    }
  }
  return `${lines.join('\r\n')}\r\n`;
}

interface Prepared {
  token: string;
  importMs: number;
  dryRunMs: number;
  paths: Record<EndpointKey, string>;
  bodies: Record<EndpointKey, Buffer>;
  hostsInBody: Record<EndpointKey, number>;
}

/** Logs in as the admin, imports the inventory, creates an API token and checks both endpoints answer what we expect. */
async function prepare(app: TestApp): Promise<Prepared> {
  const admin = new ApiClient(app.url);
  const login = await admin.login('admin', TEST_ADMIN_PASSWORD);
  if (login.status !== 200) throw new Error(`admin login failed: ${login.status} ${JSON.stringify(login.body)}`);

  const csv = inventoryCsv();
  // A dry run first (parses, plans, writes nothing) so the timed import does not pay for cold code alone.
  const t = performance.now();
  const dry = await admin.post('/api/v1/hosts/import?dryRun=true', csv, { contentType: 'text/csv' });
  const dryRunMs = Math.round((performance.now() - t) * 10) / 10;
  if (dry.status !== 200 || dry.body.errors.length || dry.body.summary.hostsCreated !== HOSTS) {
    throw new Error(`CSV dry run failed: ${dry.status} ${JSON.stringify(dry.body).slice(0, 500)}`);
  }
  const t0 = performance.now();
  const imported = await admin.post('/api/v1/hosts/import?fileName=bench.csv', csv, { contentType: 'text/csv' });
  const importMs = Math.round((performance.now() - t0) * 10) / 10;
  if (imported.status !== 200 || !imported.body.applied || imported.body.summary.hostsCreated !== HOSTS) {
    throw new Error(`CSV import failed: ${imported.status} ${JSON.stringify(imported.body).slice(0, 500)}`);
  }

  const created = await admin.post('/api/v1/tokens', { name: 'bench' });
  if (created.status !== 201 || typeof created.body.token !== 'string') throw new Error(`token creation failed: ${created.status} ${JSON.stringify(created.body)}`);
  const token: string = created.body.token;

  const rooms = await admin.get<Array<{ id: number; name: string; hostCount: number }>>('/api/v1/rooms');
  const room = rooms.body.find((r) => r.name === BENCH_ROOM);
  if (rooms.body.length !== ROOMS || !room) throw new Error(`expected ${ROOMS} rooms including ${BENCH_ROOM}, got ${JSON.stringify(rooms.body).slice(0, 300)}`);

  const paths: Record<EndpointKey, string> = { room: `/api/v1/rooms/${room.id}/hosts`, inventory: '/api/v1/hosts' };
  const bodies = {} as Record<EndpointKey, Buffer>;
  const hostsInBody = {} as Record<EndpointKey, number>;
  for (const key of Object.keys(paths) as EndpointKey[]) {
    const res = await fetch(app.url + paths[key], { headers: { authorization: `Bearer ${token}` } });
    const body = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200) throw new Error(`${paths[key]} answered ${res.status}: ${body.toString().slice(0, 300)}`);
    bodies[key] = body;
    hostsInBody[key] = (JSON.parse(body.toString()) as unknown[]).length;
  }
  if (hostsInBody.inventory !== HOSTS || hostsInBody.room !== room.hostCount) {
    throw new Error(`unexpected host counts: inventory ${hostsInBody.inventory}, room ${hostsInBody.room} (room says ${room.hostCount})`);
  }
  return { token, importMs, dryRunMs, paths, bodies, hostsInBody };
}

/** A short unrecorded run at the lowest rate, then one recorded run per rate. */
async function measureEndpoint(ctx: BenchContext, load: LoadGenerator, url: string, headers: Record<string, string>, label: string): Promise<Array<{ rate: number; stats: LoadStats }>> {
  const { rates, connections, durationSec, warmupSec } = ctx.options;
  if (warmupSec > 0) await load.run({ url, headers, rate: rates[0]!, connections, durationSec: warmupSec });
  const out: Array<{ rate: number; stats: LoadStats }> = [];
  for (const rate of rates) {
    const stats = await load.run({ url, headers, rate, connections, durationSec });
    const l = stats.latencyMs;
    ctx.log(`${label} @ ${rate} req/s: ${stats.achievedRps} req/s, p50 ${l.p50} ms, p90 ${l.p90} ms, p99 ${l.p99} ms, errors ${stats.errors + stats.timeouts}, non-2xx ${stats.non2xx}, server ELU ${stats.serverElu}`);
    out.push({ rate, stats });
  }
  return out;
}

export async function run(ctx: BenchContext): Promise<void> {
  const { options } = ctx;
  const scenarios: Scenario[] = [];
  const imports: Array<{ dialect: TestDialect; hosts: number; rooms: number; csvBytes: number; dryRunMs: number; importMs: number }> = [];
  let referenceDone = false;
  const load = new LoadGenerator();
  const forgetLoad = ctx.onCleanup(() => load.stop());
  try {
    for (const dialect of options.dialects) {
      ctx.log(`starting roomcast (${dialect})`);
      const app = await startTestApp(dialect);
      const forget = ctx.onCleanup(() => app.stop());
      try {
        const prepared = await prepare(app);
        imports.push({ dialect, hosts: HOSTS, rooms: ROOMS, csvBytes: Buffer.byteLength(inventoryCsv()), dryRunMs: prepared.dryRunMs, importMs: prepared.importMs });
        ctx.log(`${dialect}: imported ${HOSTS} hosts in ${ROOMS} rooms in ${prepared.importMs} ms (dry run before it: ${prepared.dryRunMs} ms)`);

        if (!referenceDone) {
          // Same bytes roomcast sent, from a bare node:http server on this same thread.
          const reference = await startReferenceServer({ '/room': prepared.bodies.room, '/hosts': prepared.bodies.inventory });
          const forgetRef = ctx.onCleanup(() => reference.stop());
          try {
            for (const key of Object.keys(ENDPOINTS) as EndpointKey[]) {
              const path = ENDPOINTS[key].referencePath;
              for (const { rate, stats } of await measureEndpoint(ctx, load, reference.url + path, {}, `reference ${path}`)) {
                scenarios.push({ server: 'reference', endpoint: key, path, hostsInBody: prepared.hostsInBody[key], bodyBytes: prepared.bodies[key].length, targetRps: rate, stats });
              }
            }
          } finally {
            await reference.stop();
            forgetRef();
          }
          referenceDone = true;
        }

        const headers = { authorization: `Bearer ${prepared.token}` };
        for (const key of Object.keys(ENDPOINTS) as EndpointKey[]) {
          const path = prepared.paths[key];
          const measured = await maybeProfile(options, `inventory-${dialect}-${key}`, () => measureEndpoint(ctx, load, app.url + path, headers, `${dialect} ${ENDPOINTS[key].label}`));
          for (const { rate, stats } of measured) {
            const ref = scenarios.find((s) => s.server === 'reference' && s.endpoint === key && s.targetRps === rate);
            scenarios.push({
              server: dialect,
              endpoint: key,
              path,
              hostsInBody: prepared.hostsInBody[key],
              bodyBytes: prepared.bodies[key].length,
              targetRps: rate,
              stats,
              p50VsReference: ratio(stats.latencyMs.p50, ref?.stats.latencyMs.p50 ?? null),
              p99VsReference: ratio(stats.latencyMs.p99, ref?.stats.latencyMs.p99 ?? null),
            });
          }
        }
      } finally {
        await app.stop();
        forget();
      }
    }
  } finally {
    await load.stop();
    forgetLoad();
  }

  const env = environment();
  const settings = {
    rates: options.rates,
    connections: options.connections,
    durationSec: options.durationSec,
    warmupSec: options.warmupSec,
    auth: 'Authorization: Bearer <API token>',
    loadGenerator: 'autocannon 9 (overallRate) in a worker thread; latency percentiles from every 2xx response time',
  };
  const json = { bench: name, ...env, dialects: options.dialects, settings, imports, scenarios };

  const rows = scenarios.map((s) => {
    const l = s.stats.latencyMs;
    return [
      s.server,
      s.server === 'reference' ? `node:http ${s.path}` : ENDPOINTS[s.endpoint].label,
      s.hostsInBody,
      Math.round(s.bodyBytes / 102.4) / 10,
      s.targetRps,
      s.stats.achievedRps,
      l.p50,
      l.p90,
      l.p99,
      s.p50VsReference ?? null,
      s.p99VsReference ?? null,
      s.stats.errors + s.stats.timeouts,
      s.stats.non2xx,
      s.stats.serverElu,
    ];
  });
  const short = scenarios.filter((s) => s.stats.achievedRps < s.targetRps * 0.95 || s.stats.errors + s.stats.timeouts + s.stats.non2xx > 0);
  const markdown = [
    `# Inventory API benchmark`,
    '',
    `${env.date} · Node ${env.node} · ${env.cpuCount} CPU (${env.cpuModel}) · ${env.platform} · dialect(s): ${options.dialects.join(', ')}`,
    '',
    `Load: autocannon, ${options.connections} connections, fixed overall rate, ${options.durationSec} s per row after a ${options.warmupSec} s warm-up per endpoint; token auth; all on 127.0.0.1.`,
    `Reference: a plain node:http server on the same thread sending the same bytes. "× ref" = roomcast ÷ reference at the same rate.`,
    '',
    `CSV import of ${HOSTS.toLocaleString('en-US')} PCs in ${ROOMS} rooms (one POST /api/v1/hosts/import, after a dry run of the same file): ${imports.map((i) => `${i.dialect} ${i.importMs} ms (dry run ${i.dryRunMs} ms)`).join(' · ')}`,
    '',
    markdownTable(
      ['server', 'endpoint', 'hosts', 'body KiB', 'target req/s', 'achieved req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'p50 × ref', 'p99 × ref', 'errors', 'non-2xx', 'server ELU'],
      rows,
    ),
    '',
    short.length
      ? `Not sustained (achieved < 95 % of target, or errors): ${short.map((s) => `${s.server} ${s.endpoint} @ ${s.targetRps}`).join(', ')}.`
      : 'Every row sustained its target rate without errors.',
    '',
    'server ELU = event-loop utilisation of the server thread during the row (1.0 = never idle, requests queue).',
    'Latency with autocannon rates: each connection sends its share of the second back-to-back at the start of each second, so p90/p99 include queueing behind the other connections.',
  ].join('\n');

  const written = writeResults(name, json, markdown);
  process.stdout.write(`\n${markdown}\n\nwritten: ${written.json}, ${written.md}\n`);
}
