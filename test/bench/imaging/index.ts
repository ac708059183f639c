// Imaging benchmark: roomcast's capture and restore against the FOG/Clonezilla pipeline, on the same
// machine and the same disk (issue 5, "npm run bench adds").
//
//   npm run bench -- imaging                 (root; partclone, ntfs-3g, zstd, ...; Redis on 127.0.0.1:6379)
//   BENCH_IMAGING_SCALE=0.05 npm run bench -- imaging    (a quick trial with 5 % of the data; results not written)
//   npm run bench -- imaging --profile       (also CPU profiles of the api and of each client run in results/profiles.tmp)
//
// Data: a 4.1 GiB GPT disk built on a sparse file with test/support/disks.ts (ESP FAT32, MSR, NTFS
// 2.5 GiB written through ntfs-3g, ext4 1.5 GiB), ~2.2 GB of files whose content compresses like a
// school PC's (programs, installers and media, text), deterministic.
// Reference: per partition `partclone.<fs> -c -s <loop> -o - | zstd -3 -T0 > file` (partclone.dd for
// the MSR), the table with sfdisk and the boot code with dd; back with `zstd -dc | partclone.restore`
// (`partclone.dd` for the MSR) onto loop devices of a blank disk, each partition flushed.
// roomcast: the real api and image store (test/support/app.ts's startTestApp in its own process on
// the appliance's Node 22, with better-sqlite3 built for it in the cache (roomcast.ts sqliteFor), as
// on the appliance: SQLite, the real Redis; on this Node when none is found) and the real imaging client: the esbuild bundle of services/imaging/client/main.ts run by Node 22
// as a subprocess (what the boot client runs), on a loop device over the disk file, with a task token
// got the way a PC gets it (iPXE script, hello). Without a Node 22 binary the client runs in this
// process under Node 20 (runTask), and the results say so.
// Measured: capture (time, used bytes per second), restore onto a blank disk, store size after two
// versions (the second with 5 % of the used bytes rewritten) against two partclone images, and the
// differential restore of the second version over a disk holding the first (bytes fetched, time)
// against a full restore of it. Every restore is checked: every file hash-equal, fsck clean.
// Timings are reported, never asserted; the page cache is warm for both sides (24 GiB of RAM).
//
// The files of this folder: disk.ts (the disk and its files), reference.ts (partclone + zstd),
// roomcast.ts (the api process and the client), checks.ts (files and fsck after each restore),
// chunk-costs.ts (the api's per-chunk costs), report.ts (results/imaging.json and .md), common.ts.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Manifest } from '../../../services/imaging/format.js';
import { TEST_ADMIN_PASSWORD } from '../../support/app.js';
import { ApiClient } from '../../support/client.js';
import { attach, buildDisk, detach, expectedHashes, missingDiskTools, schoolFiles } from '../../support/disks.js';
import { REDIS_URL } from '../../support/env.js';
import { helloFacts } from '../../support/facts.js';
import { PROFILES_DIR, type BenchContext } from '../harness.js';
import { badWindows, checkDisk, checkText, duplicateWindows, type RestoreFailure } from './checks.js';
import { measureChunkCosts } from './chunk-costs.js';
import { MIB, duBytes, execFileP, load, mb, mbOf, name, peakRssMb, reachable, round } from './common.js';
import { DISK_MIB, LAYOUT, pickChanges, planFiles, releaseDevices, writePlanned, type Hashes } from './disk.js';
import { refCapture, refRestore } from './reference.js';
import { findNode22 } from '../../support/node22.js';
import { prepareClient, runClient, startApiProcess, type ApiProcess, type ClientRun, type RoomcastRun } from './roomcast.js';
import { writeReport } from './report.js';

export { name };

const CHANGE_SHARE = 0.05;
const MAC = '52:54:00:be:0c:01';
const EXTRA_TOOLS = ['partclone.fat', 'partclone.extfs', 'partclone.dd', 'partclone.restore', 'mkfs.vfat', 'mkfs.ext4', 'e2fsck', 'fsck.vfat', 'blockdev', 'lsblk', 'blkid', 'du'];

export async function run(ctx: BenchContext): Promise<void> {
  const log = ctx.log;
  const missingTools = missingDiskTools();
  for (const t of EXTRA_TOOLS) {
    try {
      await execFileP('sh', ['-c', `command -v ${t}`]);
    } catch {
      missingTools.push(t);
    }
  }
  if (process.getuid?.() !== 0) {
    log('imaging: skipped, loop devices and mounts need root (results left as they were)');
    return;
  }
  if (missingTools.length) {
    log(`imaging: skipped, missing ${missingTools.join(', ')} (apt-get install partclone ntfs-3g fdisk gdisk dosfstools mtools zstd e2fsprogs; results left as they were)`);
    return;
  }
  if (!(await reachable(REDIS_URL))) {
    log(`imaging: skipped, no Redis at ${REDIS_URL} (redis-server --daemonize yes, or ROOMCAST_TEST_REDIS_URL)`);
    return;
  }
  const scale = Number(process.env.BENCH_IMAGING_SCALE ?? 1);
  if (!(scale > 0 && scale <= 1)) throw new Error(`BENCH_IMAGING_SCALE must be in (0, 1], got ${process.env.BENCH_IMAGING_SCALE}`);

  const started = performance.now();
  const loadAtStart = load();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-bench-imaging-'));
  const children = new Set<ChildProcess>();
  const loops = new Set<string>();
  let app: ApiProcess | undefined;
  const cleanup = async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const l of loops) await detach(l).catch(() => {});
    loops.clear();
    await releaseDevices(tmp, log);
    if (app) await app.stop().catch((e: Error) => log(`imaging: stopping the api: ${e.message}`));
    app = undefined;
    fs.rmSync(tmp, { recursive: true, force: true });
  };
  const unregister = ctx.onCleanup(cleanup);
  const phaseLoad: Record<string, { start: number[]; end: number[] }> = {};
  const file = (n: string) => path.join(tmp, n);
  const blank = (n: string) => {
    fs.writeFileSync(file(n), '');
    fs.truncateSync(file(n), DISK_MIB * MIB);
    return file(n);
  };
  const sync = () => execFileP('sync', []);

  try {
    // -- the disk, version 1
    const plan = planFiles(scale);
    const fileBytes = plan.reduce((s, f) => s + f.size, 0);
    log(`imaging: building a ${(DISK_MIB / 1024).toFixed(1)} GiB disk with ${plan.length} files, ${mb(fileBytes)} MB (scale ${scale}), in ${tmp}`);
    const t = performance.now();
    const espFiles = { 1: schoolFiles('bench')[1]! };
    await buildDisk(file('master.img'), DISK_MIB, LAYOUT, espFiles);
    const v1: Hashes = expectedHashes(espFiles);
    await writePlanned(file('master.img'), plan, '', v1);
    await sync();
    const buildSec = round((performance.now() - t) / 1000, 1);
    log(`imaging: disk built in ${buildSec} s`);

    // -- roomcast: api, image, host, client runtime
    // --profile: CPU profiles of the api process (written when it stops) and of each client run in results/profiles.tmp.
    if (ctx.options.profile) fs.mkdirSync(PROFILES_DIR, { recursive: true });
    // The api runs on the appliance's Node (22) when the bench finds one, as the client does.
    app = await startApiProcess(tmp, ctx.options.profile ? PROFILES_DIR : null, (await findNode22(log)).node, log);
    const admin = new ApiClient(app.url);
    await admin.login('admin', TEST_ADMIN_PASSWORD);
    const tech = await admin.userClient('tech', 'technician');
    const host = await tech.post('/api/v1/hosts', { name: 'BENCH-PC01', mac: MAC });
    if (host.status !== 201) throw new Error(`host: ${JSON.stringify(host.body)}`);
    const img = await tech.post('/api/v1/images', { name: 'Windows 11 bench', description: 'imaging benchmark' });
    if (img.status !== 201) throw new Error(`image: ${JSON.stringify(img.body)}`);
    const hostId = host.body.id as number;
    const imageId = img.body.id as number;
    const rt = await prepareClient(tmp, log);
    log(`imaging: client: ${rt.kind} (Node ${rt.nodeVersion}, zstd ${rt.zstdEngine}); ${rt.note}; api: pid ${app.pid}, Node ${app.nodeVersion}, chunk checks: ${app.intakeEngine} (${app.note})`);
    const apiUrl = app.url;
    const facts = helloFacts({
      mac: MAC,
      serial: 'BENCH0001',
      uuid: '4c4c4544-0000-1010-8000-0000000000be',
      cpu: { model: 'bench', cores: 2, threads: 2 },
      disk: { model: 'BENCH DISK', serial: 'BD-1', sizeBytes: DISK_MIB * MIB },
    });

    /** A task for the PC, then what the PC does: iPXE script (boot token), hello (task token). */
    const bootForTask = async (body: Record<string, unknown>) => {
      const created = await tech.post('/api/v1/tasks', { hostIds: [hostId], ...body });
      if (created.status !== 201) throw new Error(`task: ${JSON.stringify(created.body)}`);
      const taskId = created.body.tasks[0].id as number;
      const script = await fetch(`${apiUrl}/boot/ipxe?mac=${MAC}&arch=7`).then((r) => r.text());
      const bootToken = /roomcast\.token=(\S+)/.exec(script)?.[1];
      if (!bootToken) throw new Error(`no token in the iPXE script: ${script.slice(0, 500)}`);
      const hello = await fetch(`${apiUrl}/api/v1/boot/hello`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bootToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(facts),
      });
      const answer = (await hello.json()) as { action: string; token?: string };
      if (hello.status !== 200 || answer.action !== body.kind) throw new Error(`hello: ${hello.status} ${JSON.stringify(answer)}`);
      return { taskId, token: answer.token ?? bootToken };
    };
    const taskOf = async (id: number) => ((await tech.get(`/api/v1/tasks?hostId=${hostId}`)).body as Array<Record<string, any>>).find((x) => x.id === id)!;

    let clientRuns = 0;
    const roomcast = async (kind: 'capture' | 'restore', disk: string, version?: number): Promise<RoomcastRun> => {
      const { taskId, token } = await bootForTask({ kind, imageId, ...(version ? { version } : {}) });
      const loop = await attach(disk);
      loops.add(loop);
      let r: ClientRun;
      try {
        r = await runClient(rt, app!, token, file('token'), loop, children, ctx.options.profile ? path.join(PROFILES_DIR, `imaging-client-${++clientRuns}-${kind}`) : null);
      } finally {
        await detach(loop);
        loops.delete(loop);
      }
      const task = await taskOf(taskId);
      const ok = r.ok && task.state === 'done';
      if (!ok && kind === 'capture') {
        throw new Error(`roomcast ${kind} failed (task ${task.state}: ${task.error ?? ''}):\n${r.log.slice(-20).join('\n')}`);
      }
      return { ...r, ok, error: ok ? null : String(task.error ?? r.log.at(-1) ?? 'failed'), details: (task.result?.details ?? {}) as Record<string, number> };
    };
    const manifestOf = async (number: number): Promise<Manifest> => {
      const v = ((await tech.get(`/api/v1/images/${imageId}`)).body as { versions: Array<Record<string, any>> }).versions.find((x) => x.number === number)!;
      return JSON.parse(fs.readFileSync(path.join(app!.dataDir, 'images', 'manifests', `${v.id}.json`), 'utf8')) as Manifest;
    };
    const chunksDir = path.join(app.dataDir, 'images', 'chunks');
    const failures: RestoreFailure[] = [];
    /**
     * A measured roomcast restore. When the client reports a failure, it is recorded (with the windows
     * that differ from the image, read from the disk) and the restore is run once more, as a technician
     * would, so that the later steps start from the disk they expect; the row keeps the failed run.
     */
    const restoreRun = async (label: string, disk: string, version: number) => {
      const r = await measured(label, () => roomcast('restore', disk, version));
      log(`imaging: ${label}: the client's ${r.log.find((l) => l.startsWith('roomcast: restore timings: '))?.slice('roomcast: '.length) ?? 'timings: not logged'}`);
      if (r.ok) return r;
      log(`imaging: !!! ${label} FAILED: ${r.error}`);
      const bad = await badWindows(disk, await manifestOf(version));
      log(`imaging: !!! windows that differ from the image: ${JSON.stringify(bad.slice(0, 10))}`);
      const again = await roomcast('restore', disk, version);
      log(`imaging: !!! ${label}: run again: ${again.ok ? `ok in ${again.sec} s, ${again.details.fetchedChunks ?? '–'} chunks fetched` : `FAILED again: ${again.error}`}`);
      failures.push({ label, error: r.error!, badWindows: bad.slice(0, 50), badWindowCount: bad.length, retry: { ok: again.ok, sec: again.sec, fetchedChunks: again.details.fetchedChunks ?? null, error: again.error } });
      if (!again.ok) throw new Error(`roomcast ${label} failed twice: ${again.error}`);
      return r;
    };
    const measured = async <T>(label: string, fn: () => Promise<T>): Promise<T> => {
      await sync();
      const at = load();
      log(`imaging: ${label} (load ${at.join(' ')})`);
      const out = await fn();
      phaseLoad[label] = { start: at, end: load() };
      return out;
    };

    // -- capture version 1: reference, then roomcast
    const refCap1 = await measured('reference capture v1', () => refCapture(file('master.img'), file('ref/v1'), children, loops));
    log(`imaging: reference capture v1: ${refCap1.sec} s, ${mb(refCap1.bytes)} MB in ${refCap1.parts.length} files`);
    const rcCap1 = await measured('roomcast capture v1', () => roomcast('capture', file('master.img')));
    const m1 = await manifestOf(1);
    const used1 = m1.partitions.reduce((s, p) => s + p.usedBytes, 0) + m1.bootArea.write.reduce((s, [, l]) => s + l, 0);
    const store1 = await duBytes(chunksDir);
    log(`imaging: version 1 windows: ${JSON.stringify(duplicateWindows(m1))}`);
    const serverRssAfterCapture = peakRssMb(app.pid);
    log(`imaging: roomcast capture v1: ${rcCap1.sec} s (${JSON.stringify(rcCap1.phases)}), ${rcCap1.details.uploadedChunks} chunks, store ${mb(store1.apparent)} MB`);

    // -- restore version 1 onto blank disks, and check both
    const refRes1 = await measured('reference restore v1', () => refRestore(file('ref/v1'), blank('ref-target.img'), children, loops));
    log(`imaging: reference restore v1: ${refRes1.sec} s; checking`);
    const refCheck1 = await checkDisk(file('ref-target.img'), v1, true);
    log(`imaging: reference restore v1: ${checkText(refCheck1)}`);
    fs.rmSync(file('ref-target.img'), { force: true });
    const rcRes1 = await restoreRun('roomcast restore v1 (blank disk)', blank('pc1.img'), 1);
    log(`imaging: roomcast restore v1: ${rcRes1.sec} s (${JSON.stringify(rcRes1.phases)}); checking`);
    const rcCheck1 = await checkDisk(file('pc1.img'), v1);
    log(`imaging: roomcast restore v1: ${checkText(rcCheck1)}`);

    // -- the server's per-chunk costs
    const costs = await measureChunkCosts(chunksDir, tmp, rt.node, children);
    if (costs) log(`imaging: server per-chunk costs: ${JSON.stringify(costs)}`);

    // -- version 2: 5 % of the used bytes rewritten
    const changes = pickChanges(plan, used1 * CHANGE_SHARE);
    const changedBytes = changes.reduce((s, f) => s + f.size, 0);
    log(`imaging: version 2: rewriting ${changes.length} files, ${mb(changedBytes)} MB (${round((changedBytes / used1) * 100, 1)} % of ${mb(used1)} MB used)`);
    const v2: Hashes = JSON.parse(JSON.stringify(v1)) as Hashes;
    await writePlanned(file('master.img'), changes, '-v2', v2);
    await sync();

    const refCap2 = await measured('reference capture v2', () => refCapture(file('master.img'), file('ref/v2'), children, loops));
    const rcCap2 = await measured('roomcast capture v2', () => roomcast('capture', file('master.img')));
    const m2 = await manifestOf(2);
    const used2 = m2.partitions.reduce((s, p) => s + p.usedBytes, 0) + m2.bootArea.write.reduce((s, [, l]) => s + l, 0);
    const store2 = await duBytes(chunksDir);
    const manifestsDir = path.join(app.dataDir, 'images', 'manifests');
    const manifestsBytes = fs.readdirSync(manifestsDir).reduce((sum, f) => sum + fs.statSync(path.join(manifestsDir, f)).size, 0);
    log(`imaging: capture v2: reference ${refCap2.sec} s, roomcast ${rcCap2.sec} s (${rcCap2.details.uploadedChunks} chunks uploaded); store ${mb(store2.apparent)} MB vs ${mb(refCap1.bytes + refCap2.bytes)} MB`);

    // -- restore version 2: over the disk holding version 1, and onto a blank disk
    const rcDiff = await restoreRun('roomcast differential restore v2 (over v1)', file('pc1.img'), 2);
    log(`imaging: differential restore: ${rcDiff.sec} s, ${rcDiff.details.fetchedChunks ?? '–'} chunks fetched (${mbOf(rcDiff.details.fetchedBytes) ?? '–'} MB); checking`);
    const diffCheck = await checkDisk(file('pc1.img'), v2);
    log(`imaging: differential restore v2: ${checkText(diffCheck)}`);
    fs.rmSync(file('pc1.img'), { force: true });
    const rcFull2 = await restoreRun('roomcast full restore v2 (blank disk)', blank('pc2.img'), 2);
    log(`imaging: full restore v2: ${rcFull2.sec} s, ${rcFull2.details.fetchedChunks ?? '–'} chunks fetched (${mbOf(rcFull2.details.fetchedBytes) ?? '–'} MB); checking`);
    const fullCheck2 = await checkDisk(file('pc2.img'), v2);
    log(`imaging: full restore v2: ${checkText(fullCheck2)}`);
    fs.rmSync(file('pc2.img'), { force: true });

    // -- results (report.ts)
    await writeReport(
      { scale, plan, fileBytes, buildSec, started, loadAtStart, phaseLoad, rt, api: { nodeVersion: app.nodeVersion, intakeEngine: app.intakeEngine, note: app.note }, apiPid: app.pid, serverRssAfterCapture, refCap1, refRes1, refCap2, rcCap1, rcRes1, rcCap2, rcDiff, rcFull2, m1, used1, used2, store1, store2, manifestsBytes, changes, changedBytes, refCheck1, rcCheck1, diffCheck, fullCheck2, failures, costs },
      log,
    );
  } finally {
    await cleanup();
    unregister();
  }
}
