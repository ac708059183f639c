// A room run that restores by multicast, end to end (issue 14): a real run of 3 PCs of a room (real
// SQLite, real Redis and BullMQ) decides multicast for each (none holds the version), the run's worker
// starts the real udp-sender once for the run in the server's network namespace, each PC's restore
// task names the session, and each simulated PC (its own namespace on a bridge) runs the real imaging
// client (runTask) whose udp-receiver joins it and writes its own blank disk (a loop device over a
// file). Two run workers take the PCs' jobs at once: the session is still sent once. Every disk then
// holds the image, the server sent the image's bytes once (not once per PC), and the run's view and
// morning report say each PC's path, why, and its bytes by multicast and by repair. With the session's
// multicast probe on (its sender in the server's namespace, each PC's listener in its own), the PCs
// that multicast reaches hear it and join, and one whose namespace drops multicast (nftables) restores
// over HTTP at once with the reason, which the run's view and report give per PC.
//   rmr<id>b   the bridge;  rmr<id>s  the server's udp-sender (10.98.0.1);  rmr<id>cK  PC K (10.98.0.1K)
// The api and the engines run in this process: only the multicast traffic crosses the namespaces.
// Needs root (namespaces, loop devices), udpcast, iproute2 and the disk tools.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTask } from '../../services/imaging/client/main.js';
import { streamOrder } from '../../services/imaging/client/multicast-records.js';
import type { Manifest } from '../../services/imaging/format.js';
import { storeSource } from '../../services/imaging/multicast/source.js';
import type { ProbeJoin, ProbeSeen } from '../../services/imaging/format.js';
import type { ProbeSenderOptions } from '../../services/imaging/multicast/probe-send.js';
import type { ProbeLike } from '../../services/jobs/multicast.js';
import { startRunWorker } from '../../services/jobs/runs.js';
import type { RunView } from '../../services/runs/service.js';
import { attach, buildDisk, detach, expectedHashes, missingDiskTools, missingTools, mixedContent, pseudoRandom, readDiskFiles, SMALL_DISK_MIB, SMALL_LAYOUT, windowsDiffering, type DiskFiles } from '../support/disks.js';
import { REDIS_URL } from '../support/env.js';
import { helloFacts } from '../support/facts.js';
import { ImagingPc } from '../support/imaging-pc.js';
import { BridgeLab } from '../support/netns.js';

const MIB = 1024 * 1024;
const PCS = 3;
const DISK_MIB = SMALL_DISK_MIB;
const LAYOUT = SMALL_LAYOUT;
const FILES: DiskFiles = {
  1: { 'Windows/System32/ntoskrnl.exe': mixedContent('rm-ntos', 5_000_000), 'Program Files/GeoGebra/geogebra.exe': pseudoRandom('rm-geogebra', 3_000_000) },
  2: { 'logiciels/setup.bin': pseudoRandom('rm-setup', 5_000_000), 'notes.txt': Buffer.from('run multicast\n') },
};

const missing = [...missingTools({ 'udp-sender': 'udpcast', 'udp-receiver': 'udpcast', ip: 'iproute2' }), ...missingDiskTools()];
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('runs-multicast: skipped, network namespaces and loop devices need root');
else if (missing.length) console.warn(`runs-multicast: skipped, missing ${missing.join(', ')}`);

const actor = { userId: null, name: 'tech', ip: null };
const log = pino({ level: process.env.ROOMCAST_TEST_LOG ?? 'silent' });
const ipOf = (k: number) => `10.98.0.${10 + k}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ROOT_DIR = path.resolve(import.meta.dirname, '../..');
const nodeIn = (ns: string, code: string) => ['netns', 'exec', ns, process.execPath, '--import', 'tsx', '--input-type=module', '-e', code];

/** The worker's probe sender, run in namespace `ns` (the worker itself runs in this process). */
const nsProbeSender =
  (ns: string) =>
  (o: ProbeSenderOptions): ProbeLike => {
    const code = `
      import { ProbeSender } from ${JSON.stringify(path.join(ROOT_DIR, 'services/imaging/multicast/probe-send.ts'))};
      const s = new ProbeSender(${JSON.stringify(o)});
      await s.start();
      console.log('ready');
      process.on('SIGTERM', () => { s.stop(); process.exit(0); });`;
    const child = spawn('ip', nodeIn(ns, code), { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
    return {
      start: () =>
        new Promise<void>((resolve, reject) => {
          let out = '';
          const feed = (b: Buffer) => ((out += b.toString()), /^ready$/m.test(out) && resolve());
          child.stdout.on('data', feed);
          child.stderr.on('data', feed);
          child.once('exit', (c) => reject(new Error(`the probe sender exited (${c}): ${out}`)));
        }),
      stop: () => void child.kill('SIGTERM'),
    };
  };

/** The boot client's probe listener, run in PC namespace `ns`. */
const nsListen = (ns: string) => async (iface: string, join: ProbeJoin) => {
  const code = `
    import { listenProbe } from ${JSON.stringify(path.join(ROOT_DIR, 'services/imaging/client/probe-listen.ts'))};
    console.log(JSON.stringify(await listenProbe(${JSON.stringify(iface)}, ${JSON.stringify(join)})));`;
  const { stdout } = await promisify(execFile)('ip', nodeIn(ns, code), { cwd: ROOT_DIR, timeout: 60_000 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as ProbeSeen;
};

describe.skipIf(!isRoot || missing.length > 0)('a room run restored by multicast (real run, real worker and udp-sender, real clients and udp-receivers in namespaces)', () => {
  const pc = new ImagingPc('52:54:00:5d:14:00', DISK_MIB * MIB);
  const lab = new BridgeLab(`rmr${randomBytes(3).toString('hex')}`);
  const hosts: Array<{ id: number; mac: string }> = [];
  const workers: Array<Awaited<ReturnType<typeof startRunWorker>>> = [];
  let manifest: Manifest;
  let roomId: number;
  let srv: string;
  const clients: string[] = [];

  beforeAll(async () => {
    // The api only: this test's run workers send the session from the server's namespace.
    await pc.start('Run multicast', { ROOMCAST_ROLES: 'api', ROOMCAST_MULTICAST_INTERFACE: 'v0' });
    const master = pc.file('master.img');
    await buildDisk(master, DISK_MIB, LAYOUT, FILES);
    expect((await pc.capture(master)).ok, pc.lastLog()).toBe(true);
    manifest = await pc.manifest(1);
    const room = await pc.tech.post('/api/v1/rooms', { name: 'B205' });
    expect(room.status, JSON.stringify(room.body)).toBe(201);
    roomId = room.body.id as number;
    for (let k = 0; k < PCS; k++) {
      const mac = `52:54:00:5d:14:${(k + 1).toString(16).padStart(2, '0')}`;
      const h = await pc.tech.post('/api/v1/hosts', { name: `B205-${k}`, mac, roomId });
      expect(h.status, JSON.stringify(h.body)).toBe(201);
      hosts.push({ id: h.body.id as number, mac });
    }
    lab.up();
    srv = lab.join('s', '10.98.0.1');
    for (let k = 0; k < PCS; k++) clients.push(lab.join(`c${k}`, ipOf(k)));
    const c = pc.app.container;
    for (let w = 0; w < 2; w++)
      workers.push(
        await startRunWorker(
          { redis: c.redis, runs: c.runs, tasks: c.tasks, events: c.events, log },
          {
            wol: c.config.wol,
            pollMs: 300,
            multicast: { settings: { interface: 'v0', groupBase: '239.255.99.1', portBase: 9800, maxBitrate: '200m' }, source: storeSource(c.store), prefix: BridgeLab.exec(srv), beatMs: 1000 },
          },
        ),
      );
  }, 180_000);

  afterAll(async () => {
    for (const w of workers) await w.stop().catch(() => undefined);
    lab.remove();
    const r = new Redis(REDIS_URL);
    const keys = await r.keys(`${pc.app.container.redis.prefix}:*`);
    if (keys.length) await r.del(...keys);
    r.disconnect();
    await pc.stop();
  }, 60_000);

  /** What PC k does once its restore task exists: its iPXE script, its hello, then the imaging client on its own disk. */
  async function playPc(k: number, runId: number, o: { host?: { id: number; mac: string }; probe?: boolean } = {}): Promise<{ ok: boolean; file: string; lines: string[] }> {
    const h = o.host ?? hosts[k]!;
    for (let i = 0; i < 200; i++) {
      const p = (await pc.app.container.runs.view(runId)).pcs.find((x) => x.hostId === h.id);
      if (p?.taskId) break;
      await sleep(100);
    }
    const script = await fetch(`${pc.app.url}/boot/ipxe?mac=${h.mac}&arch=7`).then((r) => r.text());
    const bootToken = /roomcast\.token=(\S+)/.exec(script)?.[1];
    expect(bootToken, script).toBeTruthy();
    const n = o.host ? k + 16 : k;
    const facts = helloFacts({ mac: h.mac, serial: `RM${n}`, uuid: `4c4c4544-0000-1010-8000-0000000015${n.toString(16).padStart(2, '0')}`, cpu: { model: 'Intel(R) Core(TM) i5-10500', cores: 6, threads: 12 }, disk: { model: 'TEST DISK', serial: `TD-RM${n}`, sizeBytes: DISK_MIB * MIB } });
    const hello = await fetch(`${pc.app.url}/api/v1/boot/hello`, { method: 'POST', headers: { authorization: `Bearer ${bootToken}`, 'content-type': 'application/json' }, body: JSON.stringify(facts) });
    const answer = (await hello.json()) as { token?: string };
    expect(hello.status, JSON.stringify(answer)).toBe(200);
    const file = pc.blank(`pc${o.host ? `p${k}` : k}.img`, DISK_MIB);
    const lines: string[] = [];
    const l = await attach(file);
    try {
      const ok = await runTask(pc.api(answer.token ?? bootToken!), l, (line) => lines.push(line), 4, undefined, { iface: 'v0', prefix: BridgeLab.exec(clients[k]!), ...(o.probe ? { listenProbe: nsListen(clients[k]!) } : {}) });
      return { ok, file, lines };
    } finally {
      await detach(l);
    }
  }

  it(`restores ${PCS} PCs from one stream sent once for the run: every disk equals the image; the view and the report say each PC's path, why, and its bytes by multicast and repair`, async () => {
    const runs = pc.app.container.runs;
    const tx0 = BridgeLab.txBytes(srv);
    const run = await runs.create(actor, { roomId, imageId: pc.imageId, version: 1, steps: ['restore', 'verify'], wakeTimeoutMinutes: 0.5, wakeAttempts: 1, silenceTimeoutMinutes: 2 });
    expect(run.options.transport).toBe('auto');
    for (const p of run.pcs) expect(p.delivery, p.hostName).toMatchObject({ path: 'multicast', reason: { code: 'path_multicast', params: { pcs: PCS, version: 1 } }, multicastBytes: 0, repairBytes: 0 });

    const played = await Promise.all(hosts.map((_, k) => playPc(k, run.id)));
    let view: RunView = await runs.view(run.id);
    for (let i = 0; i < 300 && view.state === 'running'; i++) {
      await sleep(100);
      view = await runs.view(run.id);
    }
    const image = streamOrder(manifest).reduce((s, c) => s + c.storedSize, 0);
    const sent = BridgeLab.txBytes(srv) - tx0;

    for (const [k, r] of played.entries()) {
      expect(r.ok, `pc${k}: ${r.lines.slice(-15).join('\n')}`).toBe(true);
      expect(r.lines.join('\n'), `pc${k}`).toMatch(/joining the multicast session on v0, port 9800/);
      expect(windowsDiffering(r.file, manifest), `pc${k}`).toEqual([]);
      expect(await readDiskFiles(r.file, LAYOUT), `pc${k}`).toEqual(expectedHashes(FILES));
    }
    expect(view.state, JSON.stringify(view.pcs.map((p) => [p.hostName, p.state, p.reason]))).toBe('done');
    // One session for the run, whatever the two workers asked: sent once, to the 3 PCs.
    expect(view.multicast).toMatchObject({ state: 'ended', group: '239.255.99.1', portBase: 9800, outcome: { ok: true, reason: 'complete', dropped: [] } });
    expect(view.multicast!.outcome!.joined.sort()).toEqual(hosts.map((_, k) => ipOf(k)).sort());
    expect(view.multicast!.outcome!.streamBytes).toBeGreaterThan(image);
    expect(view.multicast!.outcome!.streamBytes).toBeLessThan(image * 1.01);
    expect(sent).toBeGreaterThan(image);
    expect(sent).toBeLessThan(image * 1.3);
    for (const p of view.pcs) {
      expect(p.state, p.hostName).toBe('done');
      expect(p.delivery?.path, p.hostName).toBe('multicast');
      // What the engine wrote came from the stream (a blank disk's empty windows are not fetched at all); a lost datagram may be repaired.
      expect(p.delivery!.multicastBytes, p.hostName).toBeGreaterThan(image * 0.9);
      expect(p.delivery!.multicastBytes + p.delivery!.repairBytes, p.hostName).toBeLessThanOrEqual(image);
    }

    const report = await runs.report(run.id);
    expect(report.multicast).toMatchObject({ ok: true, reason: 'complete', streamBytes: view.multicast!.outcome!.streamBytes });
    expect(report.totals.multicastBytes).toBe(view.pcs.reduce((s, p) => s + p.delivery!.multicastBytes, 0));
    expect(report.totals.repairBytes).toBe(view.pcs.reduce((s, p) => s + p.delivery!.repairBytes, 0));
    for (const p of report.pcs) expect(p.delivery, p.hostName).toMatchObject({ path: 'multicast', code: 'path_multicast', fr: expect.stringMatching(/un seul flux multicast pour les 3 postes/), en: expect.stringMatching(/one multicast stream for the 3 PCs/) });
    const html = await pc.tech.get(`/api/v1/runs/${run.id}/report.html?lang=en`);
    expect(html.status).toBe(200);
    expect(String(html.body)).toMatch(/Multicast stream: [\d.]+ MB sent once for every PC/);
  }, 120_000);

  it("restores PCs that hold the version by the differential path; stops a run's session when the run is cancelled: its end is recorded, no udp-sender is left", async () => {
    const runs = pc.app.container.runs;
    // The room's PCs hold version 1 now: a run of it restores them by the differential path, without a session.
    const again = await runs.create(actor, { roomId, imageId: pc.imageId, version: 1, steps: ['restore', 'verify'] });
    expect(again.pcs.map((p) => p.delivery?.reason.code)).toEqual(Array(PCS).fill('path_differential'));
    await runs.cancel(actor, again.id);
    expect((await runs.view(again.id)).multicast).toBeNull();
    // Two PCs that never held it: a session, stopped by the cancel before anyone joined.
    const fresh: number[] = [];
    for (let k = 0; k < 2; k++) fresh.push(((await pc.tech.post('/api/v1/hosts', { name: `B205-new${k}`, mac: `52:54:00:5d:15:0${k + 1}`, roomId })).body as { id: number }).id);
    const run = await runs.create(actor, { roomId, hostIds: fresh, imageId: pc.imageId, version: 1, steps: ['restore', 'verify'], wakeTimeoutMinutes: 1 });
    expect(run.pcs.map((p) => p.delivery?.path)).toEqual(['multicast', 'multicast']);
    let view = await runs.view(run.id);
    for (let i = 0; i < 100 && view.multicast?.state !== 'sending'; i++) {
      await sleep(100);
      view = await runs.view(run.id);
    }
    expect(view.multicast).toMatchObject({ state: 'sending', outcome: null });
    // The programs running in the server's namespace (this test's only).
    const senders = () =>
      execFileSync('ip', ['netns', 'pids', srv], { encoding: 'utf8' })
        .split('\n')
        .filter(Boolean)
        .filter((pid) => fs.existsSync(`/proc/${pid}/comm`) && fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'udp-sender');
    // Claimed first, then started: udp-sender runs a moment later.
    for (let i = 0; i < 50 && senders().length === 0; i++) await sleep(100);
    expect(senders()).toHaveLength(1);
    await runs.cancel(actor, run.id);
    for (let i = 0; i < 100 && view.multicast?.state !== 'ended'; i++) {
      await sleep(100);
      view = await runs.view(run.id);
    }
    expect(view.multicast).toMatchObject({ state: 'ended', outcome: { ok: false, reason: 'stream_failed', detail: expect.stringContaining('cancelled') } });
    expect(senders()).toEqual([]);
  }, 60_000);

  it('a PC whose boot client lacks udp-receiver restores over HTTP and says why', async () => {
    const versionId = (await pc.versions()).find((v) => v.number === 1)!.id as number;
    const join = { portBase: 9700, versionId, startTimeoutSec: 5, receiveTimeoutSec: 5 };
    const { taskId, token } = await pc.bootForTask({ kind: 'restore', imageId: pc.imageId, version: 1, multicast: join });
    expect((await pc.task(taskId)).params).toMatchObject({ multicast: join });
    const file = pc.blank('fallback.img', DISK_MIB);
    const lines: string[] = [];
    const l = await attach(file);
    try {
      expect(await runTask(pc.api(token), l, (line) => lines.push(line), 4, undefined, { iface: 'v0', program: 'udp-receiver-not-installed' }), lines.join('\n')).toBe(true);
    } finally {
      await detach(l);
    }
    expect(lines.join('\n')).toMatch(/restoring over HTTP instead of the multicast session: udp-receiver-not-installed is missing from the boot client/);
    expect((await pc.task(taskId)).result.details).toMatchObject({ path: 'http', multicastFallback: 'udp-receiver-not-installed is missing from the boot client' });
    expect(windowsDiffering(file, manifest)).toEqual([]);
  }, 60_000);
  it("with the session's probe on: the PCs that multicast reaches hear it and join; one whose namespace drops multicast restores over HTTP at once, and the run says so per PC (fr, en)", async () => {
    // One worker with the probe takes the place of the two (a PC's task names the probe only when its worker sends it).
    for (const w of workers.splice(0)) await w.stop();
    const c = pc.app.container;
    workers.push(
      await startRunWorker(
        { redis: c.redis, runs: c.runs, tasks: c.tasks, events: c.events, log },
        { wol: c.config.wol, pollMs: 300, multicast: { settings: { interface: 'v0', groupBase: '239.255.99.1', portBase: 9800, maxBitrate: '200m' }, source: storeSource(c.store), prefix: BridgeLab.exec(srv), beatMs: 1000, probe: { listenMs: 5000, sender: nsProbeSender(srv) } } },
      ),
    );
    const BLOCKED = 2;
    const rules = `table netdev rmprobe {\n  chain in { type filter hook ingress device "v0" priority 0; policy accept; meta protocol ip ip daddr 224.0.0.0/4 drop; }\n}`;
    execFileSync('ip', ['netns', 'exec', clients[BLOCKED]!, 'nft', '-f', '-'], { input: rules, stdio: ['pipe', 'ignore', 'pipe'] });
    try {
      const runs = c.runs;
      const fresh: Array<{ id: number; mac: string }> = [];
      for (let k = 0; k < PCS; k++) {
        const mac = `52:54:00:5d:16:0${k + 1}`;
        fresh.push({ id: ((await pc.tech.post('/api/v1/hosts', { name: `B205-p${k}`, mac, roomId })).body as { id: number }).id, mac });
      }
      const run = await runs.create(actor, { roomId, hostIds: fresh.map((h) => h.id), imageId: pc.imageId, version: 1, steps: ['restore', 'verify'], wakeTimeoutMinutes: 0.25, wakeAttempts: 1, silenceTimeoutMinutes: 2 });
      const t0 = Date.now();
      const played = await Promise.all(fresh.map((host, k) => playPc(k, run.id, { host, probe: true })));
      let view: RunView = await runs.view(run.id);
      for (let i = 0; i < 300 && view.state === 'running'; i++) {
        await sleep(100);
        view = await runs.view(run.id);
      }
      for (const [k, r] of played.entries()) {
        expect(r.ok, `pc${k}: ${r.lines.slice(-15).join('\n')}`).toBe(true);
        expect(windowsDiffering(r.file, manifest), `pc${k}`).toEqual([]);
      }
      for (const k of [0, 1]) {
        expect(played[k]!.lines.join('\n'), `pc${k}`).toMatch(/multicast probe: multicast reached this PC \(\d+ of \d+ probe datagrams/);
        expect(played[k]!.lines.join('\n'), `pc${k}`).toMatch(/joining the multicast session on v0, port 9800/);
      }
      const deaf = played[BLOCKED]!.lines.join('\n');
      expect(deaf).toMatch(/restoring over HTTP instead of the multicast session: multicast did not reach this PC \(probe not received\)/);
      expect(deaf).not.toMatch(/joining the multicast session/);
      console.log(`runs-multicast: probe case done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      expect(view.state, JSON.stringify(view.pcs.map((p) => [p.hostName, p.state, p.reason]))).toBe('done');
      expect(view.multicast!.outcome!.joined.sort()).toEqual([ipOf(0), ipOf(1)]);
      const byName = Object.fromEntries(view.pcs.map((p) => [p.hostName, p]));
      for (const k of [0, 1]) expect(byName[`B205-p${k}`]!.delivery, `p${k}`).toMatchObject({ path: 'multicast', reason: { code: 'path_multicast_probed' } });
      expect(byName[`B205-p${BLOCKED}`]!.delivery).toMatchObject({ path: 'unicast', reason: { code: 'path_unicast_probe' }, multicastBytes: 0 });
      const report = await runs.report(run.id);
      expect(report.pcs.find((p) => p.hostName === `B205-p${BLOCKED}`)!.delivery).toMatchObject({ en: 'multicast did not reach this PC (probe not received): restored over unicast HTTP at once', fr: "le multicast n'atteint pas ce poste (sonde non reçue) : restauré aussitôt en unicast (HTTP)" });
      expect(report.pcs.find((p) => p.hostName === 'B205-p0')!.delivery!.fr).toMatch(/le multicast atteint ce poste \(\d+ datagrammes de la sonde reçus sur \d+/);
    } finally {
      execFileSync('ip', ['netns', 'exec', clients[BLOCKED]!, 'nft', 'delete', 'table', 'netdev', 'rmprobe']);
    }
  }, 180_000);
});
