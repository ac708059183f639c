// Multicast room restore (issue 14, first slice) in network namespaces joined by a bridge:
//   rcm<id>b   the bridge (one port per namespace below, shaped or lossy per test)
//   rcm<id>s   the server's udp-sender (10.97.0.1), fed the record stream of a captured version
//   rcm<id>cK  PC K's udp-receiver (10.97.0.(10+K)), piped into the real restore engine
// The api (real, SQLite) and the engines run in this process: only the multicast traffic crosses the
// namespaces, the HTTP repair goes to the api on loopback. Ten PCs restore their own blank disk (a
// loop device over a file) and each disk then holds the image (every window's masked bytes hash to
// its chunk, every file equal); the server sent the stream once, not once per PC. The other cases
// run on three PCs (two rooms: two each), enough for what each shows, so the file stays about as
// long as it was with four (CI's time budget). Then one PC on a
// link shaped to a tenth of the others is dropped and repairs over HTTP while the others finish
// without it; a PC that joins after the stream started repairs everything; 2 % random loss on one
// link is repaired; a chunk damaged on the way is dropped and repaired; two rooms run at once on two
// groups without seeing each other's data; a PC whose receiver dies mid-stream is dropped without
// holding the others; a session nobody joins, or one past its bound, ends.
// Needs root (namespaces, loop devices, mounts), udpcast, iproute2, nftables.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTask } from '../../services/imaging/client/main.js';
import { MulticastImagingApi, MulticastSource } from '../../services/imaging/client/multicast.js';
import { streamOrder } from '../../services/imaging/client/multicast-records.js';
import type { Manifest } from '../../services/imaging/format.js';
import { sendSession, type SenderReport } from '../../services/imaging/multicast/sender.js';
import { SessionAllocator, checkSettings, type MulticastSettings } from '../../services/imaging/multicast/session.js';
import { attach, buildDisk, detach, expectedHashes, missingDiskTools, missingTools, mixedContent, pseudoRandom, readDiskFiles, SMALL_DISK_MIB, SMALL_LAYOUT, windowsDiffering, type DiskFiles } from '../support/disks.js';
import { ImagingPc } from '../support/imaging-pc.js';
import { deleteNamespaces, inNs, ip, joinBridge, makeBridge, txBytes } from '../support/netns.js';

const MIB = 1024 * 1024;
const TOOLS = { 'udp-sender': 'udpcast', 'udp-receiver': 'udpcast', ip: 'iproute2', tc: 'iproute2', nft: 'nftables' } as const;
const missing = [...missingTools(TOOLS), ...missingDiskTools()];
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('multicast-lab: skipped, network namespaces and loop devices need root (run the tests as root, as .ci/run does)');
else if (missing.length) console.warn(`multicast-lab: skipped, missing ${missing.join(', ')}`);

/** The room of the main case (issue 14: ten PCs); the other cases use FEW of them (two rooms: two and two). */
const PCS = 10;
const FEW = 3;
const DISK_MIB = SMALL_DISK_MIB;
const LAYOUT = SMALL_LAYOUT;
const FILES: DiskFiles = {
  1: { 'Windows/System32/ntoskrnl.exe': mixedContent('mc-ntos', 4_000_000), 'Program Files/GeoGebra/geogebra.exe': pseudoRandom('mc-geogebra', 2_000_000) },
  2: { 'logiciels/setup.bin': pseudoRandom('mc-setup', 3_000_000), 'logiciels/aw.msi': mixedContent('mc-aw', 1_500_000), 'notes.txt': Buffer.from('multicast\n') },
};

const id = randomBytes(3).toString('hex');
const BR = `rcm${id}b`;
const SRV = `rcm${id}s`;
const cli = (k: number) => `rcm${id}c${k}`;
const ipOf = (k: number) => `10.97.0.${10 + k}`;

/** Bytes sent on the server's link so far. */
const serverTxBytes = () => txBytes(SRV);


interface PcRun {
  k: number;
  ok: boolean;
  seconds: number;
  source: MulticastSource;
  file: string;
}

describe.skipIf(!isRoot || missing.length > 0)('multicast room restore in network namespaces (udp-sender, udp-receiver, the real restore engine)', () => {
  const pc = new ImagingPc('52:54:00:5c:14:00', DISK_MIB * MIB);
  const hosts: Array<{ id: number; mac: string }> = [];
  let manifest: Manifest;
  let versionId: number;
  let allocator: SessionAllocator;
  const loops: string[] = [];
  /** The multicast source of each PC's current restore. */
  const sources = new Map<number, MulticastSource>();

  beforeAll(async () => {
    await pc.start('Multicast');
    const master = pc.file('master.img');
    await buildDisk(master, DISK_MIB, LAYOUT, FILES);
    expect((await pc.capture(master)).ok, pc.lastLog()).toBe(true);
    manifest = await pc.manifest(1);
    versionId = (await pc.versions()).find((v) => v.number === 1)!.id as number;
    for (let k = 0; k < PCS; k++) {
      const mac = `52:54:00:5c:14:${(k + 1).toString(16).padStart(2, '0')}`;
      const h = await pc.tech.post('/api/v1/hosts', { name: `MC-${k}`, mac });
      expect(h.status, JSON.stringify(h.body)).toBe(201);
      hosts.push({ id: h.body.id as number, mac });
    }
    makeBridge(BR);
    joinBridge(BR, SRV, 'ps', '10.97.0.1');
    for (let k = 0; k < PCS; k++) joinBridge(BR, cli(k), `p${k}`, ipOf(k));
    allocator = new SessionAllocator(settings({}));
  }, 180_000);

  afterAll(async () => {
    for (const l of loops.splice(0)) await detach(l).catch(() => {});
    // Deleting a namespace deletes its veth ends, their qdiscs and nft tables; killing the programs in it is the sessions' job.
    deleteNamespaces([SRV, ...Array.from({ length: PCS }, (_, k) => cli(k)), BR]);
    await pc.stop();
  }, 60_000);

  const settings = (s: Partial<MulticastSettings>) =>
    checkSettings({ interface: 'v0', groupBase: '239.255.97.1', portBase: 9400, minReceivers: FEW, maxWaitSec: 5, startTimeoutSec: 20, retriesUntilDrop: 30, maxBitrate: '200m', sessionTimeoutSec: 120, ...s });

  /** A restore task for host k, then what its PC does: iPXE script (boot token), hello (task token). */
  async function taskToken(k: number): Promise<string> {
    const host = { ...hosts[k]!, serial: `MC${k}`, uuid: `4c4c4544-0000-1010-8000-0000000014${k.toString(16).padStart(2, '0')}`, diskSerial: `TD-MC${k}` };
    return (await pc.bootForTask({ kind: 'restore', imageId: pc.imageId, version: 1 }, host)).token;
  }

  /** PC k joins the session (udp-receiver in its namespace) and restores a blank disk through it. */
  async function restorePc(k: number, portBase: number, receiver: { startTimeoutSec?: number } = {}): Promise<PcRun> {
    const token = await taskToken(k);
    const file = pc.blank(`pc${k}.img`, DISK_MIB);
    // A 30 s receive timeout: the PCs share this process's event loop, and on a loaded machine a stall of
    // it holds every receiver (the sender waits for them), which a 5 s timeout turned into every PC
    // leaving the stream after a few chunks and repairing the rest over HTTP.
    const source = new MulticastSource({ iface: 'v0', portBase, versionId, prefix: ['ip', 'netns', 'exec', cli(k)], startTimeoutSec: receiver.startTimeoutSec ?? 30, receiveTimeoutSec: 30, log: (l) => pc.log.push(`pc${k}: ${l}`) });
    sources.set(k, source);
    const began = Date.now();
    const l = await attach(file);
    loops.push(l);
    try {
      const ok = await runTask(new MulticastImagingApi(pc.api(token), source), l, (line) => pc.log.push(`pc${k}: ${line}`));
      return { k, ok, seconds: (Date.now() - began) / 1000, source, file };
    } finally {
      await source.close();
      await detach(l);
      loops.splice(loops.indexOf(l), 1);
    }
  }

  /** Reads a stored chunk where the api's store keeps it. */
  const storeReader = () => (id: string) => fs.promises.readFile(pc.app.container.store.chunkPath(id));

  function send(s: MulticastSettings, slot: ReturnType<SessionAllocator['take']>, read = storeReader(), chunks = streamOrder(manifest)): Promise<SenderReport> {
    return sendSession({ settings: s, slot: slot!, versionId, chunks, read, prefix: ['ip', 'netns', 'exec', SRV], log: (l) => pc.log.push(l) });
  }

  async function expectImage(r: PcRun): Promise<void> {
    expect(r.ok, `pc${r.k}: ${pc.lastLog(20)}`).toBe(true);
    expect(windowsDiffering(r.file, manifest), `pc${r.k}`).toEqual([]);
    expect(await readDiskFiles(r.file, LAYOUT)).toEqual(expectedHashes(FILES));
  }

  const storedBytes = () => streamOrder(manifest).reduce((s, c) => s + c.storedSize, 0);

  it(`restores ${PCS} PCs from one stream: every disk equals the image, and the server sent the image once`, async () => {
    const slot = allocator.take()!;
    const tx0 = serverTxBytes();
    const runs = Promise.all(Array.from({ length: PCS }, (_, k) => restorePc(k, slot.portBase)));
    const report = await send(settings({ minReceivers: PCS }), slot);
    const done = await runs;
    allocator.release(slot);
    const sent = serverTxBytes() - tx0;
    expect(report, pc.lastLog(30)).toMatchObject({ ok: true, reason: 'complete', dropped: [] });
    expect(report.joined.sort()).toEqual(Array.from({ length: PCS }, (_, k) => ipOf(k)).sort());
    for (const r of done) await expectImage(r);
    const image = storedBytes();
    expect(report.streamBytes).toBeGreaterThan(image);
    expect(report.streamBytes).toBeLessThan(image * 1.01);
    // Once on the wire (udpcast's headers and control traffic on top), not once per PC.
    expect(sent).toBeGreaterThan(image);
    expect(sent).toBeLessThan(image * 1.3);
    for (const r of done) {
      // Every chunk arrived checked; the engine took from the stream all it wrote (a window a blank disk holds already is not fetched), nothing over HTTP.
      expect(r.source.counts, `pc${r.k}`).toMatchObject({ goodBytes: image, repairBytes: 0, badChunks: 0, ended: 'complete' });
      expect(r.source.counts.multicastBytes, `pc${r.k}`).toBeGreaterThan(image * 0.95);
    }
  }, 300_000);

  it('drops a PC on a link shaped to a tenth of the session rate: the others finish without it, it repairs over HTTP; 2 % loss on another link is repaired', async () => {
    const SLOW = 0;
    const LOSSY = 1;
    const slot = allocator.take()!;
    const rules = `table netdev rcm_lossy {
  chain in { type filter hook ingress device "v0" priority 0; policy accept; meta l4proto udp numgen random mod 100 < 2 drop; }
}`;
    try {
      inNs(BR, 'tc', 'qdisc', 'add', 'dev', `p${SLOW}`, 'root', 'tbf', 'rate', '2mbit', 'burst', '32kbit', 'latency', '50ms');
      execFileSync('ip', ['netns', 'exec', cli(LOSSY), 'nft', '-f', '-'], { input: rules, stdio: ['pipe', 'ignore', 'pipe'] });
      const runs = Array.from({ length: FEW }, (_, k) => restorePc(k, slot.portBase));
      const report = await send(settings({ maxBitrate: '20m', retriesUntilDrop: 5 }), slot);
      const done = await Promise.all(runs);
      allocator.release(slot);
      const image = storedBytes();
      expect(report, pc.lastLog(30)).toMatchObject({ ok: true, reason: 'complete', dropped: [ipOf(SLOW)] });
      // The session did not wait for the slow PC: it ended well before that link could carry the image.
      const slowWireSeconds = (image * 8) / 2e6;
      expect(report.seconds).toBeLessThan(slowWireSeconds / 2);
      for (const r of done) await expectImage(r);
      const slow = done[SLOW]!.source.counts;
      expect(slow.ended).not.toBe('complete');
      expect(slow.repairBytes).toBeGreaterThan(image / 2);
      expect(slow.multicastBytes + slow.repairBytes).toBeGreaterThan(image * 0.95);
      for (const r of done.filter((x) => x.k !== SLOW)) expect(r.source.counts, `pc${r.k}`).toMatchObject({ ended: 'complete', repairBytes: 0, goodBytes: image });
    } finally {
      for (const undo of [() => inNs(BR, 'tc', 'qdisc', 'del', 'dev', `p${SLOW}`, 'root'), () => inNs(cli(LOSSY), 'nft', 'delete', 'table', 'netdev', 'rcm_lossy')]) {
        try {
          undo();
        } catch {
          // not set up
        }
      }
    }
  }, 180_000);

  it('lets a PC that joins after the stream started finish by repairing over HTTP; a chunk damaged on the way is dropped and repaired', async () => {
    const LATE = FEW - 1;
    const slot = allocator.take()!;
    sources.clear();
    // The largest chunk (data a blank disk does not hold) leaves the server with one byte changed.
    const damaged = streamOrder(manifest).reduce((a, b) => (b.storedSize > a.storedSize ? b : a));
    const store = storeReader();
    const read = async (cid: string) => {
      const b = await store(cid);
      if (cid === damaged.id) b[b.length - 3]! ^= 0x5a;
      return b;
    };
    const early = Array.from({ length: FEW - 1 }, (_, k) => restorePc(k, slot.portBase));
    let senderDone = false;
    const report = send(settings({ minReceivers: FEW - 1, maxBitrate: '40m' }), slot, read).finally(() => (senderDone = true));
    // The late PC starts once the others have received a first chunk: the transfer is under way.
    const since = Date.now();
    while (!((sources.get(0)?.counts.goodChunks ?? 0) > 0) && Date.now() - since < 60_000) await new Promise((r) => setTimeout(r, 50));
    expect(senderDone).toBe(false);
    const late = await restorePc(LATE, slot.portBase, { startTimeoutSec: 3 });
    const [sent, ...done] = await Promise.all([report, ...early]);
    allocator.release(slot);
    const image = storedBytes();
    expect(sent, pc.lastLog(30)).toMatchObject({ ok: true, reason: 'complete' });
    for (const r of [...done, late]) await expectImage(r);
    expect(late.source.counts.ended).not.toBe('complete');
    expect(late.source.counts.multicastBytes).toBe(0);
    expect(late.source.counts.repairBytes).toBeGreaterThan(image * 0.95);
    for (const r of done) {
      expect(r.source.counts, `pc${r.k}`).toMatchObject({ ended: 'complete', badChunks: 1, badBytes: damaged.storedSize, goodBytes: image - damaged.storedSize });
      expect(r.source.counts.repairBytes, `pc${r.k}`).toBeGreaterThan(0);
      expect(r.source.counts.repairBytes, `pc${r.k}`).toBeLessThanOrEqual(damaged.storedSize);
    }
  }, 180_000);

  it('drops a PC whose receiver dies in the middle of the stream: the others finish, the session does not wait for it', async () => {
    const DEAD = 2;
    const slot = allocator.take()!;
    sources.clear();
    const runs = Array.from({ length: FEW }, (_, k) => restorePc(k, slot.portBase));
    // 20 Mbit/s: the small image's stream lasts a few seconds, so the receiver dies in its middle.
    const report = send(settings({ retriesUntilDrop: 8, maxBitrate: '20m' }), slot);
    const since = Date.now();
    while (!((sources.get(DEAD)?.counts.goodChunks ?? 0) > 0) && Date.now() - since < 60_000) await new Promise((r) => setTimeout(r, 20));
    // The only process in that namespace is this PC's udp-receiver.
    for (const pid of ip('netns', 'pids', cli(DEAD)).split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
    const sent = await report;
    const done = await Promise.all(runs);
    allocator.release(slot);
    expect(sent, pc.lastLog(30)).toMatchObject({ ok: true, reason: 'complete', dropped: [ipOf(DEAD)] });
    expect(sent.seconds).toBeLessThan(60);
    expect(done[DEAD]!.source.counts.ended).toMatch(/udp-receiver ended with signal SIGKILL/);
    for (const r of done.filter((x) => x.k !== DEAD)) expect(r.source.counts, `pc${r.k}`).toMatchObject({ ended: 'complete', repairBytes: 0 });
    for (const r of done) await expectImage(r); // the PC whose receiver died repaired over HTTP
  }, 180_000);

  it('runs two rooms at once on two groups without either seeing the other one\'s data', async () => {
    const order = streamOrder(manifest);
    const half = Math.ceil(order.length / 2);
    // Room A streams the first half of the chunks, room B the rest: a PC that got the other room's data would count it.
    const rooms = [
      { slot: allocator.take()!, pcs: [0, 1], chunks: order.slice(0, half) },
      { slot: allocator.take()!, pcs: [2, 3], chunks: order.slice(half) },
    ];
    expect(rooms[0]!.slot.group).not.toBe(rooms[1]!.slot.group);
    expect(rooms[0]!.slot.portBase).not.toBe(rooms[1]!.slot.portBase);
    const runs = rooms.flatMap((r) => r.pcs.map((k) => restorePc(k, r.slot.portBase)));
    const reports = await Promise.all(rooms.map((r) => send(settings({ minReceivers: 2 }), r.slot, undefined, r.chunks)));
    const done = await Promise.all(runs);
    for (const r of rooms) allocator.release(r.slot);
    for (const [i, r] of rooms.entries()) {
      expect(reports[i], pc.lastLog(30)).toMatchObject({ ok: true, reason: 'complete', dropped: [] });
      expect(reports[i]!.joined.sort()).toEqual(r.pcs.map(ipOf).sort());
      const bytes = r.chunks.reduce((n, c) => n + c.storedSize, 0);
      for (const k of r.pcs) {
        expect(done[k]!.source.counts, `pc${k}`).toMatchObject({ ended: 'complete', goodChunks: r.chunks.length, goodBytes: bytes, badChunks: 0 });
        expect(done[k]!.source.counts.repairBytes, `pc${k}`).toBeGreaterThan(0); // the other room's half
      }
    }
    for (const r of done) await expectImage(r);
  }, 180_000);

  it('ends a session no PC joins by itself, and stops one that runs past its bound', async () => {
    const slot = allocator.take()!;
    try {
      const alone = await send(settings({ startTimeoutSec: 2 }), slot);
      expect(alone).toMatchObject({ ok: false, reason: 'no_receivers', joined: [] });
      expect(alone.seconds).toBeLessThan(10);
      const bounded = await send(settings({ startTimeoutSec: 600, sessionTimeoutSec: 10 }), slot);
      expect(bounded).toMatchObject({ ok: false, reason: 'timeout', detail: expect.stringMatching(/ran past its bound/) });
      expect(bounded.seconds).toBeGreaterThanOrEqual(10);
      expect(bounded.seconds).toBeLessThan(20);
      expect(ip('netns', 'pids', SRV).trim()).toBe(''); // no sender left behind
    } finally {
      allocator.release(slot);
    }
  }, 60_000);
});
