// Multicast benchmark (issue 14): a room restored from one multicast stream, against the same restore
// by unicast HTTP and against plain udpcast of a partclone stream (the FOG/Clonezilla way), for
// N = 10 and 30 PCs, in one run, through a server link shaped to R with tc tbf.
//
//   npm run bench -- multicast        (root; udpcast, iproute2, partclone, zstd, socat; Redis on 127.0.0.1:6379)
//   BENCH_MULTICAST_RATE=24           R in Mbit/s (default 24; the results say whether the CPU or R set the time)
//   BENCH_MULTICAST_SCALE=2           image data ×2 (default 0.5: ~7 MB stored, about 2.5 s on the wire at 24 Mbit/s)
//   BENCH_MULTICAST_PCS=10,30         the room sizes
//
// Run time: 14.5 min on this shared 2-core machine on 2026-12-07 (other sessions' QEMU and tests ran
// beside it), most of it the 30 PCs' restores, which the CPU, not R, bounded (results/multicast.md).
//
// The network: per-run namespaces on a bridge (test/support/netns.ts): the server's (10.98.0.1) and
// one per PC (10.98.0.10+k); the server's veth is shaped to R (tbf), so everything the server sends,
// multicast or HTTP, shares R, as one server link in a school does. The api (real, SQLite, Redis) and
// the PCs' restore engines run in this process (Node 20: zstd is a program run per chunk, where the
// boot client's Node 22 decompresses in-process); every PC restores onto a loop device over a blank
// sparse file, and each disk is then checked against the image (every window hashes to its chunk).
// - roomcast multicast: udp-sender in the server's namespace fed the session's record stream; each
//   PC's udp-receiver in its namespace, into MulticastImagingApi; repairs over HTTP (counted; none
//   expected) go to the api on loopback, unshaped.
// - roomcast unicast: each PC's HTTP goes through its namespace and the shaped server link to the api
//   (relays: this process → a unix socket → socat in the PC's namespace → TCP 10.98.0.1 → socat in the
//   server's namespace → a unix socket → the api on 127.0.0.1).
// - reference: the partclone images of the two partitions (partclone.ntfs, partclone.extfs), zstd -3,
//   concatenated into one file and sent by `udp-sender --file` in one session (Clonezilla runs one
//   session per partition: one here counts the session start once, in its favour); each PC runs
//   `udp-receiver | zstd -d > file` (a file, not partclone.restore onto a disk), checked by its SHA-256.
// Both udp-senders use the same options: --min-receivers N, --max-bitrate 0.95 R.
// Measured: total time from the PCs' start to the last PC done, as a ratio to the image's wire time
// (stream bytes ÷ R) and to the wire time of the bytes that method sent; the bytes the server's link
// sent; CPU: the machine's busy share of its cores, this process (api, sender's reader, N engines),
// udp-sender, the udp-receivers, the other programs (zstd). Timings are reported, never asserted.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { HttpImagingApi } from '../../services/imaging/client/api.js';
import { runTask } from '../../services/imaging/client/main.js';
import { MulticastImagingApi, MulticastSource, type MulticastCounts } from '../../services/imaging/client/multicast.js';
import { streamOrder } from '../../services/imaging/client/multicast-records.js';
import type { Manifest } from '../../services/imaging/format.js';
import { sendSession } from '../../services/imaging/multicast/sender.js';
import { SessionAllocator, checkSettings, senderArgs } from '../../services/imaging/multicast/session.js';
import { attach, buildDisk, detach, missingDiskTools, missingTools, mixedContent, pseudoRandom, windowsDiffering, type PartSpec } from '../support/disks.js';
import { REDIS_URL } from '../support/env.js';
import { ImagingPc, type RoomHost } from '../support/imaging-pc.js';
import { deleteNamespaces, inNs, joinBridge, makeBridge, txBytes } from '../support/netns.js';
import { environment, markdownTable, tempDir, writeResults, type BenchContext } from './harness.js';
import { HAVE_TIME, cpuOf, execFileP, load, reachable, round, sh, timedScript } from './imaging/common.js';
import { PARTCLONE } from './imaging/reference.js';

const MIB = 1024 * 1024;
const DISK_MIB = 96;
const LAYOUT: PartSpec[] = [
  { number: 1, name: 'Basic data partition', fs: 'ntfs', startMiB: 1, sizeMiB: 56 },
  { number: 2, name: 'donnees', fs: 'ext4', startMiB: 57, sizeMiB: 38 },
];
const TOOLS = { 'udp-sender': 'udpcast', 'udp-receiver': 'udpcast', ip: 'iproute2', tc: 'iproute2', socat: 'socat', zstd: 'zstd', 'partclone.ntfs': 'partclone', 'partclone.extfs': 'partclone', } as const;
const SRV_IP = '10.98.0.1';
const HTTP_PORT = 8080;

type Method = 'multicast' | 'unicast' | 'reference';

interface Cpu {
  /** The machine's busy share of all its cores during the run (other work on it included). */
  machineBusy: number;
  processSec: number;
  senderSec: number | null;
  receiversSec: number | null;
  otherProgramsSec: number;
}

interface Row {
  method: Method;
  pcs: number;
  ok: boolean;
  totalSec: number;
  /** Bytes the method has to deliver once (roomcast: the record stream; reference: the .zst file). */
  streamBytes: number;
  /** Bytes sent on the server's shaped link. */
  linkBytes: number;
  repairBytes: number;
  dropped: number;
  cpu: Cpu;
  note: string;
}

/** user+system seconds of all CPUs and of their busy time, from /proc/stat. */
function machineTicks(): { busy: number; all: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const all = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: all - f[3]! - f[4]!, all };
}

/** CPU seconds GNU time wrote to `file` ('%U %S'), null when it did not (a program killed). */
function timeFile(file: string): number | null {
  try {
    const [u, s] = fs.readFileSync(file, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
    return u! + s!;
  } catch {
    return null;
  }
}

/** Forwards every connection to `listen` to what `to` connects: the unicast path's relays. */
async function relay(listen: string | number, to: () => net.Socket): Promise<{ port: number; close: () => void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((c) => {
    const u = to();
    for (const s of [c, u]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => (c.destroy(), u.destroy()));
    }
    c.pipe(u).pipe(c);
  });
  await new Promise<void>((resolve) => (typeof listen === 'string' ? server.listen(listen, resolve) : server.listen(listen, '127.0.0.1', resolve)));
  const a = server.address();
  const close = () => {
    server.close();
    for (const s of sockets) s.destroy();
  };
  return { port: typeof a === 'object' && a ? a.port : 0, close };
}

export async function run(ctx: BenchContext): Promise<void> {
  const log = ctx.log;
  const missing = [...missingTools(TOOLS), ...missingDiskTools()];
  if (process.getuid?.() !== 0) return log('multicast: skipped, namespaces and loop devices need root (results left as they were)');
  if (!HAVE_TIME) missing.push('/usr/bin/time (time)');
  if (missing.length) return log(`multicast: skipped, missing ${missing.join(', ')} (results left as they were)`);
  if (!(await reachable(REDIS_URL))) return log(`multicast: skipped, no Redis at ${REDIS_URL}`);
  const rateMbit = Number(process.env.BENCH_MULTICAST_RATE ?? 24);
  const scale = Number(process.env.BENCH_MULTICAST_SCALE ?? 0.5);
  const rooms = (process.env.BENCH_MULTICAST_PCS ?? '10,30').split(',').map(Number);
  if (!(rateMbit > 0) || !(scale > 0) || !rooms.every((n) => Number.isInteger(n) && n > 0 && n <= 60)) throw new Error('BENCH_MULTICAST_RATE, _SCALE must be positive, _PCS whole numbers up to 60');
  const maxPcs = Math.max(...rooms);
  const started = performance.now();
  const loadAtStart = load();
  const dir = tempDir(ctx, 'rc-bench-mcast-');
  const id = (process.pid % 0xffff).toString(16);
  const BR = `rcb${id}b`;
  const SRV = `rcb${id}s`;
  const cli = (k: number) => `rcb${id}c${k}`;
  const ipOf = (k: number) => `10.98.0.${10 + k}`;
  const children = new Set<ChildProcess>();
  const loops = new Set<string>();
  const closers: Array<() => void> = [];
  const pc = new ImagingPc('52:54:00:bc:00:00', DISK_MIB * MIB);
  ctx.onCleanup(async () => {
    for (const c of closers.splice(0)) c();
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const l of loops) await detach(l).catch(() => {});
    deleteNamespaces([SRV, ...Array.from({ length: maxPcs }, (_, k) => cli(k)), BR]);
    await pc.stop();
  });

  // -- the image: captured by roomcast, and as partclone images
  const files = {
    1: { 'Windows/System32/big.dll': mixedContent('mb-dll', Math.round(10e6 * scale)), 'Program Files/app.exe': pseudoRandom('mb-app', Math.round(4e6 * scale)) },
    2: { 'logiciels/setup.bin': pseudoRandom('mb-setup', Math.round(5e6 * scale)), 'notes.txt': Buffer.from('multicast bench\n') },
  };
  await pc.start('Multicast bench');
  const master = pc.file('master.img');
  await buildDisk(master, DISK_MIB, LAYOUT, files);
  if (!(await pc.capture(master)).ok) throw new Error(`capture failed: ${pc.lastLog()}`);
  const manifest: Manifest = await pc.manifest(1);
  const versionId = (await pc.versions()).find((v) => v.number === 1)!.id as number;
  const order = streamOrder(manifest);
  const imageBytes = order.reduce((s, c) => s + c.storedSize, 0);
  const ref = path.join(dir, 'ref.zst');
  for (const p of LAYOUT) {
    const l = await attach(master, p.startMiB * MIB, p.sizeMiB * MIB);
    try {
      await execFileP('bash', ['-o', 'pipefail', '-c', `${PARTCLONE[p.fs]} -c -s ${l} -o - -L /dev/null 2>/dev/null | zstd -q -3 -T0 >> ${sh(ref)}`]);
    } finally {
      await detach(l);
    }
  }
  const refBytes = fs.statSync(ref).size;
  const refSha = createHash('sha256').update((await execFileP('zstd', ['-dc', ref], { encoding: 'buffer', maxBuffer: 1 << 30 })).stdout).digest('hex');
  log(`multicast: image ${(imageBytes / 1e6).toFixed(1)} MB stored in ${order.length} chunks; partclone + zstd -3: ${(refBytes / 1e6).toFixed(1)} MB; R = ${rateMbit} Mbit/s`);

  // -- the network, the hosts, the unicast relays
  makeBridge(BR);
  joinBridge(BR, SRV, 'ps', SRV_IP);
  for (let k = 0; k < maxPcs; k++) joinBridge(BR, cli(k), `p${k}`, ipOf(k));
  inNs(SRV, 'tc', 'qdisc', 'add', 'dev', 'v0', 'root', 'tbf', 'rate', `${rateMbit}mbit`, 'burst', '64kb', 'latency', '200ms');
  const hosts: RoomHost[] = [];
  for (let k = 0; k < maxPcs; k++) {
    const mac = `52:54:00:bc:00:${(k + 1).toString(16).padStart(2, '0')}`;
    const h = await pc.tech.post('/api/v1/hosts', { name: `MB-${k}`, mac });
    if (h.status !== 201) throw new Error(`host: ${JSON.stringify(h.body)}`);
    hosts.push({ id: h.body.id as number, mac, serial: `MB${k}`, uuid: `4c4c4544-0000-1010-8000-00000000bc${k.toString(16).padStart(2, '0')}`, diskSerial: `TD-MB${k}` });
  }
  const api = new URL(pc.app.url);
  const apiSock = path.join(dir, 'api.sock');
  closers.push((await relay(apiSock, () => net.connect(Number(api.port), api.hostname))).close);
  const spawnIn = (ns: string, argv: string[]) => {
    const c = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: 'ignore' });
    children.add(c);
    return c;
  };
  spawnIn(SRV, ['socat', `TCP-LISTEN:${HTTP_PORT},bind=${SRV_IP},fork,reuseaddr`, `UNIX-CONNECT:${apiSock}`]);
  const bases: string[] = [];
  for (let k = 0; k < maxPcs; k++) {
    const sock = path.join(dir, `pc${k}.sock`);
    spawnIn(cli(k), ['socat', `UNIX-LISTEN:${sock},fork`, `TCP:${SRV_IP}:${HTTP_PORT}`]);
    const r = await relay(0, () => net.connect(sock));
    closers.push(r.close);
    bases.push(`http://127.0.0.1:${r.port}`);
  }
  await new Promise((r) => setTimeout(r, 500)); // the socats listening
  // The same udp-sender options for roomcast and the reference (session.ts senderArgs).
  const settings = (n: number) => checkSettings({ interface: 'v0', groupBase: '239.255.98.1', portBase: 9600, minReceivers: n, maxWaitSec: 10, startTimeoutSec: 60, retriesUntilDrop: 30, maxBitrate: `${Math.floor(rateMbit * 0.95 * 1000)}k`, sessionTimeoutSec: 600 });
  const allocator = new SessionAllocator(settings(1));

  let run = 0;
  /**
   * Runs `fn` and measures, until it calls `stop` (the last PC done; the checks of the disks come
   * after), its time, the server link's bytes and the CPU.
   */
  const measured = async (fn: (m: { senderTime: string; receiverTime: (k: number) => string; stop: () => void }) => Promise<Omit<Row, 'totalSec' | 'linkBytes' | 'cpu'> & { senderTime: boolean }>): Promise<Row> => {
    run++;
    const senderTime = path.join(dir, `sender-${run}.time`);
    const receiverTime = (k: number) => path.join(dir, `rcv${k}-${run}.time`);
    const snap = () => ({ t: performance.now(), m: machineTicks(), c: process.cpuUsage(), all: cpuOf(process.pid), tx: txBytes(SRV) });
    const s0 = snap();
    let s1: ReturnType<typeof snap> | null = null;
    const r = await fn({ senderTime, receiverTime, stop: () => (s1 ??= snap()) });
    s1 ??= snap();
    const totalSec = round((s1.t - s0.t) / 1000, 2);
    const linkBytes = s1.tx - s0.tx;
    const processSec = round((s1.c.user + s1.c.system - s0.c.user - s0.c.system) / 1e6);
    const childSec = s1.all - s0.all - processSec;
    const m0 = s0.m;
    const m1 = s1.m;
    const senderSec = r.senderTime ? timeFile(senderTime) : null;
    const rcv = Array.from({ length: r.pcs }, (_, k) => timeFile(receiverTime(k))).filter((x): x is number => x !== null);
    const receiversSec = rcv.length ? round(rcv.reduce((a, b) => a + b, 0)) : null;
    const cpu: Cpu = { machineBusy: round((m1.busy - m0.busy) / (m1.all - m0.all)), processSec, senderSec, receiversSec, otherProgramsSec: round(Math.max(0, childSec - (senderSec ?? 0) - (receiversSec ?? 0))) };
    const row: Row = { ...r, totalSec, linkBytes, cpu };
    log(`multicast: ${r.method} N=${r.pcs}: ${r.ok ? 'ok' : 'FAILED'} in ${totalSec} s (${round(totalSec / ((r.streamBytes * 8) / (rateMbit * 1e6)))} × the wire time), link ${(linkBytes / 1e6).toFixed(1)} MB, CPU ${JSON.stringify(cpu)}${r.note ? `; ${r.note}` : ''}`);
    return row;
  };

  /** N PCs booted for a restore: their task tokens and blank disks. */
  const boot = async (n: number) => {
    const tokens: string[] = [];
    for (let k = 0; k < n; k++) tokens.push((await pc.bootForTask({ kind: 'restore', imageId: pc.imageId, version: 1 }, hosts[k]!)).token);
    return { tokens, disks: Array.from({ length: n }, (_, k) => pc.blank(`pc${k}.img`, DISK_MIB)) };
  };
  /** The PCs restore their blank disks through `apiOf`; then `stop`, and every disk is checked against the image. */
  const restoreRoom = async ({ tokens, disks }: Awaited<ReturnType<typeof boot>>, apiOf: (k: number, token: string) => HttpImagingApi | MulticastImagingApi, stop: () => void): Promise<{ ok: boolean; bad: string[] }> => {
    const oks = await Promise.all(
      disks.map(async (file, k) => {
        const l = await attach(file);
        loops.add(l);
        try {
          return await runTask(apiOf(k, tokens[k]!), l, (line) => pc.log.push(`pc${k}: ${line}`));
        } finally {
          await detach(l);
          loops.delete(l);
        }
      }),
    );
    stop();
    const bad = disks.flatMap((f, k) => (oks[k] && windowsDiffering(f, manifest).length === 0 ? [] : [`pc${k}`]));
    return { ok: bad.length === 0, bad };
  };

  const rows: Row[] = [];
  for (const n of rooms) {
    // roomcast, multicast
    let pcs = await boot(n);
    rows.push(
      await measured(async (m) => {
        const slot = allocator.take()!;
        const sources: MulticastSource[] = [];
        const room = restoreRoom(pcs, (k, token) => {
          const s = new MulticastSource({ iface: 'v0', portBase: slot.portBase, versionId, prefix: ['ip', 'netns', 'exec', cli(k), '/usr/bin/time', '-o', m.receiverTime(k), '-f', '%U %S'], startTimeoutSec: 60, receiveTimeoutSec: 30 });
          sources.push(s);
          return new MulticastImagingApi(pc.api(token), s);
        }, m.stop);
        const report = await sendSession({ settings: settings(n), slot, versionId, chunks: order, read: (cid) => fs.promises.readFile(pc.app.container.store.chunkPath(cid)), prefix: ['ip', 'netns', 'exec', SRV, '/usr/bin/time', '-o', m.senderTime, '-f', '%U %S'] });
        const done = await room;
        await Promise.all(sources.map((s) => s.close()));
        allocator.release(slot);
        const counts: MulticastCounts[] = sources.map((s) => s.counts);
        const repairBytes = counts.reduce((a, c) => a + c.repairBytes, 0);
        const verify = round(counts.reduce((a, c) => a + c.verifySeconds, 0));
        return { method: 'multicast', pcs: n, ok: done.ok && report.ok, streamBytes: report.streamBytes, repairBytes, dropped: report.dropped.length, senderTime: true, note: `sender ${report.reason} in ${report.seconds} s; checks of chunks on arrival: ${verify} s (wall time, summed over the PCs)${done.bad.length ? `; disks not equal to the image: ${done.bad.join(' ')}` : ''}` };
      }),
    );
    // roomcast, unicast HTTP through the shaped link
    pcs = await boot(n);
    rows.push(
      await measured(async (m) => {
        const done = await restoreRoom(pcs, (k, token) => new HttpImagingApi({ base: bases[k]!, token, attempts: 3, log: (l) => pc.log.push(`pc${k}: ${l}`) }), m.stop);
        return { method: 'unicast', pcs: n, ok: done.ok, streamBytes: imageBytes, repairBytes: 0, dropped: 0, senderTime: false, note: done.bad.length ? `disks not equal to the image: ${done.bad.join(' ')}` : '' };
      }),
    );
    // reference: udp-sender --file of the partclone stream, udp-receiver | zstd -d > file
    rows.push(
      await measured(async (m) => {
        const slot = allocator.take()!;
        const outs = Array.from({ length: n }, (_, k) => path.join(dir, `ref${k}.img`));
        const rcv = outs.map((out, k) =>
          timedScript(`ip netns exec ${cli(k)} /usr/bin/time -o ${sh(m.receiverTime(k))} -f '%U %S' udp-receiver --interface v0 --portbase ${slot.portBase} --nokbd --start-timeout 60 2>/dev/null | zstd -d -q > ${sh(out)}`, children),
        );
        const snd = await timedScript(`ip netns exec ${SRV} /usr/bin/time -o ${sh(m.senderTime)} -f '%U %S' udp-sender --file ${sh(ref)} ${senderArgs(settings(n), slot).map(sh).join(' ')} 2>&1`, children);
        const ok = (await Promise.allSettled(rcv)).every((r) => r.status === 'fulfilled');
        m.stop();
        allocator.release(slot);
        const bad = [];
        for (const [k, out] of outs.entries()) if (createHash('sha256').update(fs.readFileSync(out)).digest('hex') !== refSha) bad.push(`pc${k}`);
        outs.forEach((o) => fs.rmSync(o, { force: true }));
        const dropped = (snd.stdout.match(/[Dd]ropping/g) ?? []).length;
        return { method: 'reference', pcs: n, ok: ok && bad.length === 0, streamBytes: refBytes, repairBytes: 0, dropped, senderTime: true, note: bad.length ? `outputs not equal: ${bad.join(' ')}` : '' };
      }),
    );
    for (let k = 0; k < n; k++) fs.rmSync(pc.file(`pc${k}.img`), { force: true });
  }

  writeReport({ rows, rateMbit, scale, imageBytes, refBytes, chunks: order.length, loadAtStart, loadAtEnd: load(), sec: round((performance.now() - started) / 1000, 1) }, log);
}

function writeReport(r: { rows: Row[]; rateMbit: number; scale: number; imageBytes: number; refBytes: number; chunks: number; loadAtStart: number[]; loadAtEnd: number[]; sec: number }, log: (m: string) => void): void {
  const env = environment();
  const wire = (bytes: number) => (bytes * 8) / (r.rateMbit * 1e6);
  const name = { multicast: 'roomcast multicast', unicast: 'roomcast unicast HTTP', reference: 'udpcast + partclone stream (FOG/Clonezilla)' };
  const table = markdownTable(
    ['method', 'PCs', 'ok', 'total s', 'stream MB', 'wire s (stream ÷ R)', 'total ÷ wire', 'link MB sent', 'total ÷ (link bytes ÷ R)', 'repair MB', 'dropped'],
    r.rows.map((x) => [name[x.method], x.pcs, x.ok ? 'yes' : 'NO', x.totalSec, round(x.streamBytes / 1e6, 1), round(wire(x.streamBytes)), round(x.totalSec / wire(x.streamBytes)), round(x.linkBytes / 1e6, 1), round(x.totalSec / wire(x.linkBytes)), round(x.repairBytes / 1e6, 1), x.dropped]),
  );
  const cpu = markdownTable(
    ['method', 'PCs', 'machine busy, % of its CPUs', 'this process CPU s', 'udp-sender CPU s', 'udp-receivers CPU s (all)', 'other programs CPU s (zstd…)', 'notes'],
    r.rows.map((x) => [name[x.method], x.pcs, Math.round(x.cpu.machineBusy * 100), x.cpu.processSec, x.cpu.senderSec, x.cpu.receiversSec, x.cpu.otherProgramsSec, x.note || '–']),
  );
  const md = `# Multicast benchmark

${env.date} · ${env.cpuCount} CPU (${env.cpuModel}) · ${env.platform} · Node ${env.node} · load average ${r.loadAtStart.join(' / ')} at the start, ${r.loadAtEnd.join(' / ')} at the end (the machine is shared) · ${r.sec} s

A room restored by roomcast over one multicast stream, by roomcast over unicast HTTP, and by plain udpcast of a partclone stream (the FOG/Clonezilla way), through the server's link shaped to **R = ${r.rateMbit} Mbit/s** (tc tbf on its veth; both udp-senders --max-bitrate 0.95 R). Image: a ${DISK_MIB} MiB GPT disk (NTFS, ext4) with ${round(r.imageBytes / 1e6, 1)} MB stored in ${r.chunks} chunks (scale ${r.scale}); the partclone images of its partitions, zstd -3: ${round(r.refBytes / 1e6, 1)} MB. roomcast PCs: the real restore engine on loop devices over blank sparse files, each disk checked against the image afterwards; reference PCs: \`udp-receiver | zstd -d > file\` (files, not disks), each checked by its SHA-256. Total = from the PCs' start (tasks given, receivers started) to the last PC done. The wire time is the bytes ÷ R; issue 14's goal is roomcast multicast ≤ 1.25 × the wire time for 30 PCs.

${table}

## CPU

${cpu}

This process runs the api, the sender's reader and the N PCs' restore engines (Node 20 here: every chunk is decompressed by a zstd program, twice per PC on the multicast path, once on arrival and once by the engine; the boot client's Node 22 does it in-process). The machine's busy share includes every other process of the shared machine. A share well under 100 % means R, not the CPU, set the time.
`;
  const out = writeResults('multicast', r, md);
  log(`multicast: results in ${out.md}`);
}
