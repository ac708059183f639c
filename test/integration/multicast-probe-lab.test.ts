// The multicast probe of a run's session (issue 14 item 4) in network namespaces joined by a bridge (BridgeLab):
//   <p>s   the worker's probe sender (10.98.0.1): the real ProbeSender of jobs/multicast.ts
//   <p>cK  PC K (10.98.0.(10+K)): the boot client's probe step (multicast-task.ts), run in its namespace
//   <p>b   the bridge; PC 1's port is shaped with tbf, PC 2 drops every multicast datagram (nftables)
// Each PC listens for its run's probe as the boot client does before it joins the session. PC 0 and
// PC 1 hear it and join (PC 1's measured burst rate follows its shaped link); PC 2, which multicast
// does not reach, is sent to unicast HTTP at once with the reason, long before udp-receiver's start
// timeout, and the server's path for it says so in English and French.
// Needs root, iproute2 (ip, tc), nftables, udpcast (the client checks for udp-receiver before anything).
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOT_RECEIVED, PROBE_PORT, probeGroup, type ProbeJoin } from '../../services/imaging/multicast/probe.js';
import type { ProbeReport } from '../../services/imaging/client/multicast-task.js';
import { deliveredPath } from '../../services/runs/delivery.js';
import { missingTools } from '../support/disks.js';
import { BridgeLab, inNs } from '../support/netns.js';

const run = promisify(execFile);
const ROOT_DIR = path.resolve(import.meta.dirname, '../..');
const missing = missingTools({ ip: 'iproute2', tc: 'iproute2', nft: 'nftables', 'udp-receiver': 'udpcast' });
const isRoot = process.getuid?.() === 0;
const skip = !isRoot || missing.length > 0;
if (!isRoot) console.warn('multicast-probe-lab: skipped, network namespaces need root (run the tests as root, as .ci/run does)');
else if (missing.length) console.warn(`multicast-probe-lab: skipped, missing ${missing.join(', ')}`);

const lab = new BridgeLab(`rpr${randomBytes(2).toString('hex')}`);
const RUN_ID = 4242;
const SLOT = 3;
const SHAPED = 1;
const BLOCKED = 2;
const SHAPED_MBIT = 8;
const JOIN: ProbeJoin = { group: probeGroup(SLOT), port: PROBE_PORT, runId: RUN_ID, listenMs: 5000 };
let srv: string;
const pcs: string[] = [];
const children: ChildProcess[] = [];

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** Runs a module snippet with node in namespace `ns`; its last line of output, as JSON. */
async function inNsNode<T>(ns: string, code: string): Promise<T> {
  const { stdout } = await run('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT_DIR, timeout: 60_000 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as T;
}

/** PC `ns` as the boot client: joinSession with the task's probe (multicast-task.ts), its outcome and how long it took. */
function pcStep(ns: string): Promise<{ fallback: string | null; probe: ProbeReport; ms: number; log: string[] }> {
  return inNsNode(
    ns,
    `
    import { joinSession } from ${JSON.stringify(path.join(ROOT_DIR, 'services/imaging/client/multicast-task.ts'))};
    const log = [];
    const t0 = performance.now();
    const j = await joinSession({}, { portBase: 9000, versionId: 1, startTimeoutSec: 600, receiveTimeoutSec: 10, probe: ${JSON.stringify(JOIN)} }, { iface: 'v0' }, (l) => log.push(l));
    const ms = Math.round(performance.now() - t0);
    await j.source?.close();
    console.log(JSON.stringify({ fallback: j.fallback ?? null, probe: j.probe, ms, log }));`,
  );
}

describe.skipIf(skip)('multicast probe (network namespaces)', () => {
  beforeAll(async () => {
    lab.up();
    srv = lab.join('s', '10.98.0.1');
    for (let k = 0; k < 3; k++) pcs.push(lab.join(`c${k}`, `10.98.0.${10 + k}`));
    // PC 1's link shaped (the bridge's port towards it); PC 2 drops multicast on its way in.
    inNs(lab.bridge, 'tc', 'qdisc', 'add', 'dev', `p${1 + SHAPED}`, 'root', 'tbf', 'rate', `${SHAPED_MBIT}mbit`, 'burst', '4kb', 'latency', '200ms');
    const rules = `table netdev rcprobe {\n  chain in { type filter hook ingress device "v0" priority 0; policy accept; meta protocol ip ip daddr 224.0.0.0/4 drop; }\n}`;
    execFileSync('ip', ['netns', 'exec', pcs[BLOCKED]!, 'nft', '-f', '-'], { input: rules, stdio: ['pipe', 'ignore', 'pipe'] });
    const code = `
      import { ProbeSender } from ${JSON.stringify(path.join(ROOT_DIR, 'services/imaging/multicast/probe-send.ts'))};
      const s = new ProbeSender({ iface: 'v0', group: ${JSON.stringify(JOIN.group)}, port: ${PROBE_PORT}, runId: ${RUN_ID}, slot: ${SLOT} });
      await s.start();
      console.log('ready');
      process.on('SIGTERM', () => { s.stop(); console.log(JSON.stringify({ sent: s.sent })); process.exit(0); });`;
    const child = spawn('ip', ['netns', 'exec', srv, process.execPath, '--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`the probe sender did not start: ${out}`)), 30_000);
      const feed = (b: Buffer) => {
        out += b.toString();
        if (/^ready$/m.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', feed);
      child.stderr!.on('data', feed);
      child.once('exit', (c) => reject(new Error(`the probe sender exited (${c}): ${out}`)));
    });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(children.map((c) => stop(c)));
    lab.remove();
  });

  it('the PCs that multicast reaches hear the probe and join; the one it does not reach goes to unicast at once with the reason', async () => {
    const [open, shaped, blocked] = await Promise.all(pcs.map((ns) => pcStep(ns)));
    for (const [name, r] of [['open', open!], ['shaped', shaped!]] as const) {
      expect(r.fallback, `${name}: ${r.log.join('\n')}`).toBeNull();
      expect(r.probe).toMatchObject({ path: 'multicast', code: 'probe_received', error: null, foreign: 0 });
      expect(r.probe.received).toBeGreaterThan(10);
      // Enough heard (two bursts) ends the listen early.
      expect(r.ms).toBeLessThan(JOIN.listenMs);
      expect(r.log.join('\n')).toContain('roomcast: joining the multicast session on v0');
    }
    // The burst rate follows the link: the shaped PC's is near its tbf rate (an indication: the trickle shares the queue), the open one's far above.
    const mbit = (r: typeof open) => ((r!.probe.rate ?? 0) * 8) / 1e6;
    console.log(`multicast-probe-lab: burst rate open ${mbit(open).toFixed(1)} Mbit/s, shaped to ${SHAPED_MBIT} mbit ${mbit(shaped).toFixed(1)} Mbit/s; listened ${open!.ms} ms and ${shaped!.ms} ms`);
    expect(mbit(shaped)).toBeGreaterThan(SHAPED_MBIT * 0.35);
    expect(mbit(shaped)).toBeLessThan(SHAPED_MBIT * 1.5);
    expect(mbit(open)).toBeGreaterThan(mbit(shaped) * 3);

    expect(blocked!.fallback, blocked!.log.join('\n')).toBe(NOT_RECEIVED);
    expect(blocked!.probe).toMatchObject({ path: 'unicast', code: 'probe_not_received', received: 0, error: null });
    // It did not wait out udp-receiver's start timeout (600 s here): only the bounded listen.
    expect(blocked!.ms).toBeGreaterThanOrEqual(JOIN.listenMs - 50);
    expect(blocked!.ms).toBeLessThan(JOIN.listenMs + 3000);
    expect(blocked!.log.join('\n')).not.toContain('joining the multicast session');
    // What the server records for it (the worker reads the PC's result details): unicast, with the reason.
    const p = deliveredPath(blocked!.fallback, { ...blocked!.probe, rate: blocked!.probe.rate });
    expect(p).toMatchObject({ path: 'unicast', reason: { code: 'path_unicast_probe', text: 'multicast did not reach this PC (probe not received): restored over unicast HTTP at once' } });
  }, 60_000);
});
