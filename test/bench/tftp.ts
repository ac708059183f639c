// TFTP benchmark: roomcast's TftpServer (in its own Node process), with its data pump (the appliance's
// default) and with its Node engine, against tftpd-hpa, all on 127.0.0.1, serving the same random
// 1 MiB and 50 MiB files to the same client (curl) at blksize 512 (what a PXE ROM asks), 1468 and
// 8192; 15 (1 MiB) or 5 (50 MiB) runs each, the servers taking turns run by run (so that a busy moment of the shared machine
// hits all three alike), median reported, every download checked by sha256. Then a fuzz: 100,000 random and
// mutated packets sent to roomcast's port; pure garbage must get no answer, the server must survive and
// still serve a normal transfer. Times include curl's start-up (a few ms). Reports only.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pumpBinary } from '../support/pump.js';
import { environment, markdownTable, sleep, writeResults, type BenchContext } from './harness.js';

export const name = 'tftp';

const execFileP = promisify(execFile);
const ROOT_DIR = fileURLToPath(new URL('../../', import.meta.url));
const SERVER_TS = fileURLToPath(new URL('../../services/boot/tftp/server.ts', import.meta.url));
const LOGGER_TS = fileURLToPath(new URL('../../services/core/logger.ts', import.meta.url));
const TFTPD = '/usr/sbin/in.tftpd';
const MIB = 1024 * 1024;
// A 1 MiB download takes about 20 ms, most of it curl's start-up: more runs for a stable median.
const FILES = [
  { file: '1m.bin', bytes: 1 * MIB, repeats: 15 },
  { file: '50m.bin', bytes: 50 * MIB, repeats: 5 },
];
const BLKSIZES = [512, 1468, 8192];
const FUZZ_PACKETS = 100_000;
const FUZZ_RATE = 10_000; // packets per second: ~10 s, bounded at 30 s
const FUZZ_SMALL = 'small.bin';

type ServerKind = 'roomcast-pump' | 'roomcast-node' | 'tftpd-hpa';
const SERVERS: ServerKind[] = ['tftpd-hpa', 'roomcast-pump', 'roomcast-node'];

interface Row {
  server: ServerKind;
  file: string;
  bytes: number;
  blksize: number;
  runsSec: number[];
  medianSec: number;
  mbPerSec: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;
const sha256 = (buf: Buffer) => createHash('sha256').update(buf).digest('hex');

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => (clearTimeout(t), resolve()));
    child.kill('SIGTERM');
  });
}

/** roomcast's TftpServer in a child process (node --import tsx), so neither curl nor the fuzzer shares its event loop. */
async function startRoomcast(ctx: BenchContext, root: string, tmp: string, engine: 'pump' | 'node'): Promise<{ child: ChildProcess; port: number }> {
  const script = path.join(tmp, `roomcast-tftp-${engine}.mjs`);
  const engineOpts = engine === 'pump' ? { engine, pumpBinary: pumpBinary() } : { engine };
  fs.writeFileSync(
    script,
    [
      `import { TftpServer } from ${JSON.stringify(SERVER_TS)};`,
      `import { createLogger } from ${JSON.stringify(LOGGER_TS)};`,
      `const server = new TftpServer({ root: ${JSON.stringify(root)}, host: '127.0.0.1', port: 0, log: createLogger('warn', process.stderr), ...${JSON.stringify(engineOpts)} });`,
      `const { port } = await server.start();`,
      `process.stdout.write(JSON.stringify({ port }) + '\\n');`,
      `const stop = () => server.stop().finally(() => process.exit(0));`,
      `process.once('SIGTERM', stop); process.once('SIGINT', stop);`,
    ].join('\n'),
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
  ctx.onCleanup(() => killChild(child));
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`roomcast TFTP child did not start within 20 s: ${stderr}`)), 20_000);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) {
        clearTimeout(t);
        resolve((JSON.parse(line) as { port: number }).port);
      }
    });
    child.once('exit', (code) => (clearTimeout(t), reject(new Error(`roomcast TFTP child exited (${code}): ${stderr}`))));
  });
  return { child, port };
}

async function startTftpd(ctx: BenchContext, root: string): Promise<{ child: ChildProcess; port: number }> {
  if (!fs.existsSync(TFTPD)) {
    ctx.log(`${TFTPD} missing: apt-get install -y tftpd-hpa`);
    await execFileP('apt-get', ['install', '-y', 'tftpd-hpa'], { timeout: 180_000, maxBuffer: 16 << 20 });
  }
  const port = await freeUdpPort();
  const child = spawn(TFTPD, ['-L', '-a', `127.0.0.1:${port}`, '-s', root, '-u', 'root', '-B', '65464'], { stdio: ['ignore', 'ignore', 'pipe'] });
  ctx.onCleanup(() => killChild(child));
  await sleep(300);
  if (child.exitCode !== null) throw new Error(`in.tftpd exited at once (code ${child.exitCode})`);
  return { child, port };
}

/** One curl download; returns seconds (wall time of the curl process) after checking the bytes. */
async function download(port: number, file: string, blksize: number, out: string, expected: string): Promise<number> {
  fs.rmSync(out, { force: true });
  const t0 = performance.now();
  await execFileP('curl', ['-sS', '--max-time', '120', '-o', out, '--tftp-blksize', String(blksize), `tftp://127.0.0.1:${port}/${file}`]);
  const sec = (performance.now() - t0) / 1000;
  const got = sha256(fs.readFileSync(out));
  if (got !== expected) throw new Error(`${file} from :${port} at blksize ${blksize}: sha256 ${got}, expected ${expected}`);
  return sec;
}

// ---- fuzz ----

function rrq(file: string, options: Record<string, string>): Buffer {
  const parts = [Buffer.from([0, 1]), Buffer.from(`${file}\0octet\0`)];
  for (const [k, v] of Object.entries(options)) parts.push(Buffer.from(`${k}\0${v}\0`));
  return Buffer.concat(parts);
}

const SEEDS = [
  rrq(FUZZ_SMALL, {}),
  rrq(FUZZ_SMALL, { blksize: '1468', tsize: '0' }),
  rrq(FUZZ_SMALL, { blksize: '8192', windowsize: '4', timeout: '1' }),
  rrq(`/${FUZZ_SMALL}`, { tsize: '0' }),
];

const rnd = (n: number) => Math.floor(Math.random() * n);

/** Random bytes that are not a request (opcode 1 or 2), which the server may legitimately answer. */
function garbage(): Buffer {
  const b = randomBytes(1 + rnd(600));
  if (b.length >= 2 && b[0] === 0 && (b[1] === 1 || b[1] === 2)) b[1] = 3 + rnd(250);
  return b;
}

function mutate(): Buffer {
  let b: Buffer = Buffer.from(SEEDS[rnd(SEEDS.length)]!);
  const n = 1 + rnd(4);
  for (let i = 0; i < n; i++) {
    switch (rnd(8)) {
      case 0: // flip a bit
        b[rnd(b.length)]! ^= 1 << rnd(8);
        break;
      case 1: // set a byte to an interesting value
        b[rnd(b.length)] = [0, 0xff, 0x2f, 0x2e, 0x7f, 0x80][rnd(6)]!;
        break;
      case 2: // truncate
        b = b.subarray(0, rnd(b.length + 1));
        break;
      case 3: // insert random bytes
        {
          const at = rnd(b.length + 1);
          b = Buffer.concat([b.subarray(0, at), randomBytes(1 + rnd(16)), b.subarray(at)]);
        }
        break;
      case 4: // odd option values
        b = Buffer.concat([b, Buffer.from(`${['blksize', 'tsize', 'windowsize', 'timeout', 'BLKSIZE', 'x'][rnd(6)]}\0${['0', '-1', '7', '65465', '99999999999999999999', '', 'abc', '1e3'][rnd(8)]}\0`)]);
        break;
      case 5: // traversal or odd names
        b = rrq(['../../etc/passwd', '/', '', '\\..\\x', 'a'.repeat(600), '%2e%2e/x', 'small.bin\0x'][rnd(7)]!, {});
        break;
      case 6: // duplicate a slice
        {
          const s = rnd(b.length);
          b = Buffer.concat([b, b.subarray(s, s + 1 + rnd(32))]);
        }
        break;
      default: // change the opcode
        if (b.length >= 2) b.writeUInt16BE(rnd(8), 0);
    }
  }
  return b;
}

interface FuzzResult {
  sent: number;
  garbageSent: number;
  mutatedSent: number;
  elapsedSec: number;
  answersToGarbage: number;
  answersToMutated: Record<string, number>;
  serverAlive: boolean;
  transferAfterOk: boolean;
  transferAfterSec: number | null;
}

async function fuzz(port: number): Promise<Omit<FuzzResult, 'serverAlive' | 'transferAfterOk' | 'transferAfterSec'>> {
  const gSock = dgram.createSocket('udp4');
  const mSock = dgram.createSocket('udp4');
  await Promise.all([gSock, mSock].map((s) => new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve))));
  let answersToGarbage = 0;
  const answersToMutated: Record<string, number> = {};
  const OPS = ['op0', 'RRQ', 'WRQ', 'DATA', 'ACK', 'ERROR', 'OACK'];
  gSock.on('message', () => answersToGarbage++);
  mSock.on('message', (msg, rinfo) => {
    const op = msg.length >= 2 ? msg.readUInt16BE(0) : -1;
    const k = OPS[op] ?? `op${op}`;
    answersToMutated[k] = (answersToMutated[k] ?? 0) + 1;
    // A mutated request that started a transfer: cancel it as a client would, so slots free up at once.
    if (op === 3 || op === 6) mSock.send(Buffer.from([0, 5, 0, 0, ...Buffer.from('fuzz'), 0]), rinfo.port, rinfo.address);
  });
  let garbageSent = 0;
  let mutatedSent = 0;
  const t0 = performance.now();
  const deadline = t0 + 28_000;
  let sent = 0;
  while (sent < FUZZ_PACKETS && performance.now() < deadline) {
    const due = Math.min(FUZZ_PACKETS, Math.ceil(((performance.now() - t0) / 1000) * FUZZ_RATE) + 1);
    const sends: Promise<void>[] = [];
    for (; sent < due; sent++) {
      const isGarbage = sent % 2 === 0;
      let pkt = isGarbage ? garbage() : mutate();
      while (pkt.length === 0) pkt = mutate(); // a truncation may leave nothing to send
      if (isGarbage) garbageSent++;
      else mutatedSent++;
      const sock = isGarbage ? gSock : mSock;
      sends.push(new Promise((resolve) => sock.send(pkt, port, '127.0.0.1', () => resolve())));
    }
    await Promise.all(sends);
    await sleep(2);
  }
  const elapsedSec = round((performance.now() - t0) / 1000);
  await sleep(1500); // late answers
  await Promise.all([gSock, mSock].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return { sent: garbageSent + mutatedSent, garbageSent, mutatedSent, elapsedSec, answersToGarbage, answersToMutated };
}

export async function run(ctx: BenchContext): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-bench-tftp-'));
  ctx.onCleanup(async () => fs.rmSync(tmp, { recursive: true, force: true }));
  const root = path.join(tmp, 'root');
  fs.mkdirSync(root);
  const hashes: Record<string, string> = {};
  for (const f of [...FILES, { file: FUZZ_SMALL, bytes: 3000 }]) {
    const data = randomBytes(f.bytes);
    fs.writeFileSync(path.join(root, f.file), data);
    hashes[f.file] = sha256(data);
  }
  const out = path.join(tmp, 'out.bin');

  const loadBefore = os.loadavg().map((x) => round(x));
  const roomcast = await startRoomcast(ctx, root, tmp, 'pump');
  const nodeEngine = await startRoomcast(ctx, root, tmp, 'node');
  const tftpd = await startTftpd(ctx, root);
  ctx.log(`roomcast TFTP with its pump on :${roomcast.port}, with its Node engine on :${nodeEngine.port}, tftpd-hpa on :${tftpd.port}`);
  const ports: Record<ServerKind, number> = { 'roomcast-pump': roomcast.port, 'roomcast-node': nodeEngine.port, 'tftpd-hpa': tftpd.port };

  // Warm them up (roomcast's JIT, page cache).
  for (const s of SERVERS) await download(ports[s], '1m.bin', 1468, out, hashes['1m.bin']!);

  const rows: Row[] = [];
  for (const f of FILES)
    for (const blksize of BLKSIZES) {
      const runs: Record<ServerKind, number[]> = { 'tftpd-hpa': [], 'roomcast-pump': [], 'roomcast-node': [] };
      for (let i = 0; i < f.repeats; i++) for (const server of SERVERS) runs[server].push(await download(ports[server], f.file, blksize, out, hashes[f.file]!));
      for (const server of SERVERS) {
        const runsSec = runs[server];
        const medianSec = median(runsSec);
        const row: Row = { server, file: f.file, bytes: f.bytes, blksize, runsSec: runsSec.map((s) => round(s, 3)), medianSec: round(medianSec, 3), mbPerSec: round(f.bytes / 1e6 / medianSec, 1) };
        rows.push(row);
        ctx.log(`${server} ${f.file} blksize ${blksize}: median ${row.medianSec} s, ${row.mbPerSec} MB/s (runs ${row.runsSec.join(', ')} s, sha256 ok)`);
      }
    }
  fs.rmSync(out, { force: true });
  await killChild(nodeEngine.child);
  const loadAfter = os.loadavg().map((x) => round(x));

  ctx.log(`fuzz: ${FUZZ_PACKETS} packets (half random garbage, half mutated RRQs) to roomcast :${roomcast.port}`);
  const f = await fuzz(roomcast.port);
  let serverAlive = roomcast.child.exitCode === null && roomcast.child.signalCode === null;
  let transferAfterOk = false;
  let transferAfterSec: number | null = null;
  try {
    transferAfterSec = round(await download(roomcast.port, '1m.bin', 1468, out, hashes['1m.bin']!), 3);
    transferAfterOk = true;
  } catch (err) {
    ctx.log(`fuzz: transfer after the fuzz failed: ${(err as Error).message}`);
  }
  serverAlive &&= roomcast.child.exitCode === null && roomcast.child.signalCode === null;
  const fuzzResult: FuzzResult = { ...f, serverAlive, transferAfterOk, transferAfterSec };
  ctx.log(
    `fuzz: sent ${f.sent} (${f.garbageSent} garbage, ${f.mutatedSent} mutated) in ${f.elapsedSec} s; answers to garbage ${f.answersToGarbage}; ` +
      `answers to mutated ${JSON.stringify(f.answersToMutated)}; server alive ${serverAlive}; transfer after ${transferAfterOk ? `ok (${transferAfterSec} s)` : 'FAILED'}`,
  );

  await killChild(roomcast.child);
  await killChild(tftpd.child);

  const env = environment();
  const ratios = FILES.flatMap((file) =>
    BLKSIZES.map((blksize) => {
      const mbps = (server: ServerKind) => rows.find((x) => x.server === server && x.file === file.file && x.blksize === blksize)!.mbPerSec;
      const t = mbps('tftpd-hpa');
      return {
        file: file.file,
        blksize,
        tftpdHpaMBps: t,
        pumpMBps: mbps('roomcast-pump'),
        nodeMBps: mbps('roomcast-node'),
        pumpRatio: round(mbps('roomcast-pump') / t, 2),
        nodeRatio: round(mbps('roomcast-node') / t, 2),
      };
    }),
  );
  const json = { name, environment: env, loadBefore, loadAfter, repeats: Object.fromEntries(FILES.map((f) => [f.file, f.repeats])), client: 'curl', rows, ratios, fuzz: fuzzResult };
  const markdown = [
    '# TFTP benchmark',
    '',
    `${env.date} · Node ${env.node} · ${env.cpuCount} CPU (${env.cpuModel}) · ${env.platform}`,
    '',
    `Client: curl (one process per download, wall time including its start-up), 127.0.0.1. roomcast's TftpServer runs in its own Node process, once with its data pump (\`ROOMCAST_TFTP_ENGINE=auto\`, the appliance's default: services/boot/tftp/pump/pump.c) and once with its Node engine (transfer.ts); tftpd-hpa as \`in.tftpd -L -B 65464\`. ${FILES.map((f) => `${f.repeats} runs of ${f.file}`).join(' and ')}, the three servers taking turns run by run; median; every download checked by sha256. MB = 10^6 bytes; files are random, 1 MiB and 50 MiB. Load average (1/5/15 min) at the start ${loadBefore.join(' / ')}, after the downloads ${loadAfter.join(' / ')}.`,
    '',
    markdownTable(
      ['file', 'blksize', 'tftpd-hpa MB/s', 'roomcast pump MB/s', 'roomcast Node MB/s', 'pump ÷ tftpd-hpa', 'Node ÷ tftpd-hpa'],
      ratios.map((r) => [r.file, r.blksize, r.tftpdHpaMBps, r.pumpMBps, r.nodeMBps, r.pumpRatio, r.nodeRatio]),
    ),
    '',
    'Each DATA packet costs the pump three system calls (epoll_wait, the recv of the ACK, one sendmsg of header and data; `strace -c -p <pump pid>` during a download) where tftpd-hpa makes about nine (pselect, recvfrom, read, sendto, four fcntl, sigprocmask). On two shared cores the figures also depend on where the scheduler puts the server and curl: compare ratios of the same run, not MB/s across runs.',
    '',
    '## Fuzz',
    '',
    markdownTable(
      ['what', 'value'],
      [
        ['packets sent (garbage / mutated RRQs)', `${fuzzResult.sent} (${fuzzResult.garbageSent} / ${fuzzResult.mutatedSent})`],
        ['duration', `${fuzzResult.elapsedSec} s`],
        ['answers to garbage (expected 0)', fuzzResult.answersToGarbage],
        ['answers to mutated RRQs, by opcode', Object.entries(fuzzResult.answersToMutated).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'],
        ['server process alive afterwards', String(fuzzResult.serverAlive)],
        ['normal transfer afterwards (1 MiB, sha256)', fuzzResult.transferAfterOk ? `ok, ${fuzzResult.transferAfterSec} s` : 'FAILED'],
      ],
    ),
    '',
    'Garbage = random bytes (1–600) whose opcode is not RRQ/WRQ. Mutations of valid RRQs for a 3000-byte file: bit flips, truncation, insertions, odd option values, traversal names, opcode changes; transfers they start are cancelled with an ERROR from the fuzzer.',
  ].join('\n');
  const written = writeResults(name, json, markdown);
  process.stdout.write(`\n${markdown}\n\nwritten: ${written.json}, ${written.md}\n`);
}
