// The boot path under load and attack, on real PXE firmware in the namespace lab (ops/lab/lab.sh
// with six peer namespaces: other machines of the LAN with ten addresses each):
//   1. three QEMU PCs (two BIOS with iPXE ROMs, one UEFI with OVMF's PXE) started in the same second
//      while a generator broadcasts 100 PXE DISCOVERs a second from new random MACs: all three
//      reach their client, say hello and finish their task
//   2. 200 TFTP clients at once (curl, from 50 addresses in five namespaces), downloading again and
//      again until a UEFI PC (whose firmware fetches snponly.efi by TFTP) has had its boot file: every
//      download complete with the right bytes, while 70 read requests from one address that never
//      ACK are held to the per-address limit, and the PC boots to its client
//   and roomcast's RSS, sampled every 250 ms through both, stays under 400 MB.
// `npm run test:lab`; needs root and what labPrereqs() and clientPrereqs() name.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/client.js';
import { ROOT_DIR, bootClient, buildClient, clientLines, clientPrereqs, pxeArgs, type BootResult, type ClientBuild, type Firmware } from './client-vm.js';
import { Lab, labPrereqs, logTime, type LogLine } from './lab.js';

const missing = [...clientPrereqs(), ...labPrereqs()];
const MB = 1e6;
const RSS_LIMIT = 400 * MB;
const BOOT_LIMIT_MS = 240_000;
const ARTIFACTS = path.join(ROOT_DIR, 'test-results/lab/load');
const TOOLS = path.join(ROOT_DIR, 'test/lab/load-tools.ts');

/** A process started in a lab namespace whose stdout is collected. */
function nsProcess(ns: string, cmd: string[], children: ChildProcess[]): { child: ChildProcess; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn('ip', ['netns', 'exec', ns, ...cmd], { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
  return { child, done };
}

/** The last JSON line a load tool printed. */
const summary = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!) as { [key: string]: number } & { sent: number; failed: number; seconds: number; requests: number; busy: number };

if (missing.length) console.warn(`lab load: cannot run, missing ${missing.join(', ')}`);

describe.skipIf(missing.length > 0)('the boot path under load and attack (namespace lab, real PXE firmware)', () => {
  let dir: string;
  let build: ClientBuild;
  let lab: Lab;
  let tech: ApiClient;
  const children: ChildProcess[] = [];
  let tapIndex = 0;
  const rss = { max: 0, samples: 0, baseline: 0 };
  let sampler: NodeJS.Timeout | undefined;

  function sampleRss(pid: number): number {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
  }

  /** A PC with an inventory task, booted until it powers off. */
  type Booted = BootResult & { lines: string };
  /** A PC with an inventory task; boot() starts it and waits until it powers off. */
  async function pcWithTask(label: string, firmware: Firmware, mac: string): Promise<{ hostId: number; boot: () => Promise<Booted> }> {
    const host = await tech.post('/api/v1/hosts', { name: `LOAD-${label.toUpperCase()}`, mac });
    expect(host.status, JSON.stringify(host.body)).toBe(201);
    const task = await tech.post('/api/v1/tasks', { hostIds: [host.body.id], kind: 'inventory' });
    expect(task.status, JSON.stringify(task.body)).toBe(201);
    const tap = lab.taps[tapIndex++ % lab.taps.length]!;
    return {
      hostId: host.body.id as number,
      boot: async () => {
        const r = await bootClient({ build, children, netns: lab.ns.lan, serialLog: path.join(ARTIFACTS, `${label}.serial.log`), limitMs: BOOT_LIMIT_MS, args: pxeArgs(firmware, { dir, tap, mac }) });
        return { ...r, lines: clientLines(r.serial).join('\n') };
      },
    };
  }

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-load-'));
    fs.rmSync(ARTIFACTS, { recursive: true, force: true });
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    build = await buildClient();
    lab = await Lab.up({ clientDir: build.dir, peers: 6 });
    console.log(`lab load: ${lab.id} up (${lab.runDir}), ${lab.peers.length} peer namespaces`);
    const admin = new ApiClient(lab.apiUrl);
    expect((await admin.login('admin', lab.adminPassword)).status).toBe(200);
    tech = await admin.userClient('tech', 'technician');
    const pid = lab.roomcastPid();
    rss.baseline = sampleRss(pid);
    sampler = setInterval(() => {
      try {
        rss.max = Math.max(rss.max, sampleRss(pid));
        rss.samples++;
      } catch {
        // the server is gone; the tests say why
      }
    }, 250);
  }, 400_000);

  afterAll(async () => {
    if (sampler) clearInterval(sampler);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    try {
      if (lab) fs.copyFileSync(path.join(lab.runDir, 'roomcast.log'), path.join(ARTIFACTS, 'roomcast.log'));
    } catch {
      // the lab did not get that far
    }
    await lab?.down();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    console.log(`lab load: roomcast RSS ${(rss.baseline / MB).toFixed(0)} MB at start, at most ${(rss.max / MB).toFixed(0)} MB over ${rss.samples} samples`);
  }, 180_000);

  it('three PCs started in the same second all reach their client while 100 DISCOVERs a second come from other MACs', async () => {
    const pcs = [
      { label: 'bios1', firmware: 'bios' as const, mac: '52:54:00:7d:00:01' },
      { label: 'bios2', firmware: 'bios' as const, mac: '52:54:00:7d:00:02' },
      { label: 'uefi1', firmware: 'uefi' as const, mac: '52:54:00:7d:00:03' },
    ];
    const prepared = [];
    for (const pc of pcs) prepared.push({ ...pc, ...(await pcWithTask(pc.label, pc.firmware, pc.mac)) });
    // The generator's DISCOVERs, as roomcast's namespace receives them (chaddr's first byte 02).
    const heard = await lab.capture('udp dst port 67 and udp[36] = 0x02', { ns: lab.ns.rc, iface: 'lan0' });
    const flood = nsProcess(lab.ns.cli, ['node', '--import', 'tsx', TOOLS, 'flood', '100', '300'], children);
    await new Promise((r) => setTimeout(r, 2000)); // the flood is on before the PCs start
    const floodFrom = Date.now();
    const boots = await Promise.all(prepared.map((p) => p.boot()));
    flood.child.kill('SIGTERM');
    const f = await flood.done;
    await new Promise((r) => setTimeout(r, 500));
    await heard.stop();
    const sent = summary(f.stdout);
    console.log(`lab load: flood ${JSON.stringify(sent)}, ${heard.lines.length} heard by roomcast's namespace; boots ${boots.map((b, i) => `${pcs[i]!.label} ${(b.ms / 1000).toFixed(1)} s`).join(', ')}`);

    expect(f.code, f.stderr).toBe(0);
    expect(sent.failed).toBe(0);
    expect(sent.sent / sent.seconds).toBeGreaterThan(90);
    expect(heard.lines.length).toBeGreaterThanOrEqual(sent.sent * 0.95);
    const log = lab.roomcast();
    for (const [i, b] of boots.entries()) {
      const pc = prepared[i]!;
      const why = `${pc.label}: ${b.lines}\n${b.serial.slice(-3000)}`;
      expect(b.timedOut, why).toBe(false);
      expect(b.code, why).toBe(0);
      expect(b.lines, why).toContain('roomcast: hello ok, action=poweroff');
      // roomcast's proxyDHCP answered it while the flood ran.
      const answers = log.filter((l) => l.mac === pc.mac && (l.kind === 'offer' || l.kind === 'ack') && typeof l.answer === 'string');
      expect(answers.length, why).toBeGreaterThanOrEqual(1);
      expect(logTime(answers[0]!)).toBeGreaterThanOrEqual(floodFrom - 1000);
      const tasks = (await tech.get(`/api/v1/tasks?hostId=${pc.hostId}`)).body as Array<{ state: string }>;
      expect(tasks.map((t) => t.state), why).toEqual(['done']);
    }
    // The flood was still on when the last PC was answered: every PC booted through it.
    const lastAnswer = Math.max(...log.filter((l) => pcs.some((p) => p.mac === l.mac) && typeof l.answer === 'string').map(logTime));
    expect(floodFrom + sent.seconds * 1000 - 2000).toBeGreaterThan(lastAnswer);
    expect(rss.max).toBeLessThan(RSS_LIMIT);
  }, BOOT_LIMIT_MS + 60_000);

  it('200 TFTP clients at once from 50 addresses get the right bytes while 70 never-ACKing requests from one address do not stop a UEFI PC booting', async () => {
    const files = ['undionly.kpxe', 'snponly.efi', 'ipxe.efi'];
    const want = Object.fromEntries(files.map((f) => [f, crypto.createHash('sha256').update(fs.readFileSync(path.join(lab.tftpDir, f))).digest('hex')]));
    const [attacker, ...others] = lab.peers.slice().reverse();
    const downloaders = others.slice(0, 5);
    expect(downloaders.length * downloaders[0]!.addrs.length * 4).toBe(200);
    const uefi = await pcWithTask('uefi2', 'uefi', '52:54:00:7d:00:04');

    // The attacker first: 70 requests for the largest boot file from one address, never an ACK.
    const hold = nsProcess(attacker!.ns, ['node', '--import', 'tsx', TOOLS, 'hold', lab.roomcastIp, 'ipxe.efi', '70', attacker!.addrs[0]!, '600'], children);
    await new Promise((r) => setTimeout(r, 3000));
    const startedAt = Date.now();
    const pc = uefi.boot();
    // 200 downloaders, four per address, the files and block sizes in turn, each downloading again
    // and again until the PC has had its boot file from roomcast's TFTP (at least once); each
    // download prints "<curl exit> <file> <sha256>".
    const stop = path.join(dir, 'stop');
    const downloads = downloaders.map((peer, k) => {
      const jobs: string[] = [];
      peer.addrs.forEach((addr, j) => {
        for (let n = 0; n < 4; n++) {
          const i = (k * 10 + j) * 4 + n;
          const file = files[i % files.length]!;
          const blksize = [512, 1468, 8192][i % 3]!;
          const out = path.join(dir, `dl-${i}`);
          jobs.push(`( while :; do rm -f ${out}; curl -s --max-time 180 --interface ${addr} --tftp-blksize ${blksize} -o ${out} tftp://${lab.roomcastIp}/${file}; echo "$? ${file} $(sha256sum < ${out} 2>/dev/null | cut -d' ' -f1)"; [ -e ${stop} ] && break; done ) &`);
        }
      });
      return nsProcess(peer.ns, ['bash', '-c', `${jobs.join('\n')}\nwait`], children).done;
    });
    // The PC's own transfer: snponly.efi to an address of the Region's range (.100-.150).
    const pcTransfer = (l: LogLine) => l.module === 'tftp' && l.outcome === 'complete' && l.file === 'snponly.efi' && /^10\.99\.0\.1[0-5]\d:/.test(String(l.client)) && logTime(l) >= startedAt;
    const got = await lab.waitForLog(pcTransfer, BOOT_LIMIT_MS);
    fs.writeFileSync(stop, '');
    const results = await Promise.all(downloads);
    const downloadMs = Date.now() - startedAt;
    const lines = results.flatMap((r) => r.stdout.trim().split('\n'));
    const ok = lines.filter((l) => {
      const [code, file, sum] = l.split(' ');
      return code === '0' && sum === want[file!];
    });
    const b = await pc;
    hold.child.kill('SIGTERM');
    const h = await hold.done;
    const held = summary(h.stdout);
    console.log(`lab load: ${lines.length} downloads by 200 clients in ${(downloadMs / 1000).toFixed(1)} s (${ok.length} right); never-ACK client ${JSON.stringify(held)}; UEFI PC ran ${(b.ms / 1000).toFixed(1)} s`);

    expect(got, `the PC never had snponly.efi; ${b.lines}\n${b.serial.slice(-3000)}`).toBeDefined();
    expect(lines.length).toBeGreaterThanOrEqual(200);
    expect(lines.filter((l) => !ok.includes(l))).toEqual([]);
    // The attacker got at most its per-address share: 8 transfers, the rest refused as busy.
    expect(h.code, h.stderr).toBe(0);
    expect(held.requests).toBe(70);
    expect(held.busy).toBeGreaterThanOrEqual(60);
    const why = `${b.lines}\n${b.serial.slice(-3000)}`;
    expect(b.timedOut, why).toBe(false);
    expect(b.serial, why).toContain('NBP filename is snponly.efi');
    expect(b.lines, why).toContain('roomcast: hello ok, action=poweroff');
    expect(((await tech.get(`/api/v1/tasks?hostId=${uefi.hostId}`)).body as Array<{ state: string }>).map((t) => t.state)).toEqual(['done']);
    expect(rss.max).toBeLessThan(RSS_LIMIT);
    // Served by the engine the checkout has: the data pump once `npm run build` made it (as CI does).
    const built = fs.existsSync(path.join(ROOT_DIR, 'dist/bin/roomcast-tftp-pump'));
    const engines = new Set(lab.roomcast().filter((l) => l.module === 'tftp' && l.outcome === 'complete').map((l) => l.engine));
    expect([...engines]).toEqual([built ? 'pump' : 'node']);
  }, BOOT_LIMIT_MS + 60_000);
});
