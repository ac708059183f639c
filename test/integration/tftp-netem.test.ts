// roomcast's TFTP server over a lossy link: 5% of UDP packets lost and 5% duplicated, in each
// direction, between two network namespaces joined by a veth pair. The server runs as its own
// process in one namespace, tftp-hpa, atftp and curl in the other; every file must arrive intact,
// from both engines (the Node engine and the C data pump), side by side.
//
// The CI kernel has no sch_netem (`tc qdisc … netem` answers "Specified qdisc kind is unknown"),
// so the loss and duplication come from nftables netdev hooks on each veth end, inside the
// namespaces: ingress drops 5% (silently: the sender sees no error), egress duplicates 5%.
// Needs root (network namespaces). Nothing is added to the host's own network namespace.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TFTP_ENGINES, engineOptions, type TftpEngine } from '../support/pump.js';

const run = promisify(execFile);
const ROOT_DIR = path.resolve(import.meta.dirname, '../..');
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('tftp-netem: skipped, network namespaces need root (run the tests as root, as .ci/run does)');

const id = randomBytes(3).toString('hex');
const SRV = `rct${id}s`;
const CLI = `rct${id}c`;
const SERVER_IP = '10.99.0.1';
// Sizes keep the test near 10 s: every lost packet costs a retransmission timeout (200 ms here;
// curl always negotiates "timeout 1", so 1 s for curl), and an 8192-byte block travels as six IP
// fragments, any of which may be lost.
const FILES: Record<string, Buffer> = {
  'small.bin': randomBytes(20_000),
  'mid.bin': randomBytes(50_000),
  'big.bin': randomBytes(200_000),
  'exact.bin': randomBytes(512 * 64),
};

let dir: string;
let child: ChildProcess | undefined;
let ports: Record<TftpEngine, number>;
const serverLog: string[] = [];

function ip(...args: string[]) {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function lossy(ns: string, dev: string) {
  // numgen random mod 100 < 5: 5% of packets.
  const rules = `table netdev roomcast_lossy {
  chain in { type filter hook ingress device "${dev}" priority 0; policy accept; meta l4proto udp numgen random mod 100 < 5 drop; }
  chain out { type filter hook egress device "${dev}" priority 0; policy accept; meta l4proto udp numgen random mod 100 < 5 dup to "${dev}"; }
}`;
  execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: rules, stdio: ['pipe', 'ignore', 'pipe'] });
}

describe.skipIf(!isRoot)('TFTP over a link with 5% loss and 5% duplication', () => {
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-tftp-netem-'));
    const root = path.join(dir, 'root');
    fs.mkdirSync(root);
    for (const [name, data] of Object.entries(FILES)) fs.writeFileSync(path.join(root, name), data);
    fs.chmodSync(dir, 0o755);

    ip('netns', 'add', SRV);
    ip('netns', 'add', CLI);
    ip('-n', SRV, 'link', 'set', 'lo', 'up');
    ip('-n', CLI, 'link', 'set', 'lo', 'up');
    ip('-n', SRV, 'link', 'add', 'vs', 'type', 'veth', 'peer', 'name', 'vc', 'netns', CLI);
    ip('-n', SRV, 'addr', 'add', `${SERVER_IP}/24`, 'dev', 'vs');
    ip('-n', CLI, 'addr', 'add', '10.99.0.2/24', 'dev', 'vc');
    ip('-n', SRV, 'link', 'set', 'vs', 'up');
    ip('-n', CLI, 'link', 'set', 'vc', 'up');
    lossy(SRV, 'vs');
    lossy(CLI, 'vc');

    // The server as its own process inside the server namespace.
    const code = `
      import { TftpServer } from ${JSON.stringify(path.join(ROOT_DIR, 'services/boot/tftp/server.js'))};
      import { createLogger } from ${JSON.stringify(path.join(ROOT_DIR, 'services/core/logger.js'))};
      const ready = {};
      const servers = [];
      for (const [engine, opts] of Object.entries(${JSON.stringify(Object.fromEntries(TFTP_ENGINES.map((e) => [e, engineOptions(e)])))})) {
        const s = new TftpServer({ root: ${JSON.stringify(root)}, host: '${SERVER_IP}', port: 0, log: createLogger('info'), timeoutMs: 200, retries: 8, ...opts });
        ready[engine] = (await s.start()).port;
        servers.push(s);
      }
      console.log(JSON.stringify({ ready }));
      process.on('SIGTERM', () => void Promise.all(servers.map((s) => s.stop())).then(() => process.exit(0)));`;
    child = spawn('ip', ['netns', 'exec', SRV, process.execPath, '--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: ROOT_DIR,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stderr!.on('data', (b: Buffer) => serverLog.push(b.toString()));
    ports = await new Promise<Record<TftpEngine, number>>((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => reject(new Error(`server did not start:\n${serverLog.join('')}`)), 20_000);
      child!.stdout!.on('data', (b: Buffer) => {
        buf += b.toString();
        for (const line of buf.split('\n')) {
          serverLog.push(line);
          if (line.startsWith('{"ready":')) {
            clearTimeout(timer);
            resolve((JSON.parse(line) as { ready: Record<TftpEngine, number> }).ready);
          }
        }
        buf = buf.slice(buf.lastIndexOf('\n') + 1);
      });
      child!.on('exit', (c) => reject(new Error(`server exited (${c}):\n${serverLog.join('')}`)));
    });
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await Promise.race([new Promise((r) => child!.once('exit', r)), new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    // Deleting a namespace deletes its veth end, which deletes the peer and the nft tables.
    for (const ns of [SRV, CLI]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // not created
      }
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const inClient = (cmd: string, args: string[]) => run('ip', ['netns', 'exec', CLI, cmd, ...args], { timeout: 60_000, maxBuffer: 1 << 20 });

  // atftp 0.8.0 aborts ("tftp: unexpected OACK", ERROR 0) when an OACK arrives twice, which a
  // duplicating link does, and so does any server resending its OACK after a lost ACK 0. Only
  // that failure is retried, as a PXE ROM would retry its boot file; any other fails the test.
  async function atftp(args: string[]) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await inClient('atftp', args);
      } catch (err) {
        const e = err as { stderr?: string };
        if (attempt < 4 && /unexpected OACK/.test(e.stderr ?? '')) continue;
        throw err;
      }
    }
  }

  // curl 7.88 gives up with "(28) getpeername() failed with errno 107" when the first answer to its
  // request is lost and its connect timeout passes (its socket was never connected to the server's
  // transfer port: seen once in CI, the server then finding the client gone). Only that failure is
  // retried, as a PXE ROM would retry its boot file; any other fails the test.
  async function curl(args: string[]) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await inClient('curl', args);
      } catch (err) {
        const e = err as { stderr?: string };
        if (attempt < 4 && /getpeername\(\) failed/.test(e.stderr ?? '')) continue;
        throw err;
      }
    }
  }

  function check(file: string, local: string) {
    const got = fs.readFileSync(local);
    expect(got.length, file).toBe(FILES[file]!.length);
    expect(got.equals(FILES[file]!), file).toBe(true);
  }

  it('tftp-hpa, atftp and curl all get byte-identical files from both engines, concurrently', async () => {
    const jobs: Array<Promise<unknown>> = [];
    for (const engine of TFTP_ENGINES) jobs.push(...clients(engine, ports[engine]));
    const results = await Promise.allSettled(jobs);
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error).message ?? r.reason)] : []));
    expect(failures, `server log:\n${serverLog.join('\n')}`).toEqual([]);
    // Both engines served (each log line names its engine).
    for (const engine of TFTP_ENGINES) expect(serverLog.join('\n')).toContain(`"engine":"${engine}"`);
  });

  function clients(engine: TftpEngine, port: number): Array<Promise<unknown>> {
    const out = (name: string) => path.join(dir, `${engine}-${name}`);
    const jobs: Array<Promise<unknown>> = [];
    for (const file of ['mid.bin', 'exact.bin']) {
      // tftp-hpa retransmits its request only after 5 s by default: 1 s here (rexmt), via stdin.
      jobs.push(
        new Promise<void>((resolve, reject) => {
          const p = spawn('ip', ['netns', 'exec', CLI, 'tftp', SERVER_IP, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
          let err = '';
          p.stdout.on('data', (b: Buffer) => (err += b.toString()));
          p.stderr.on('data', (b: Buffer) => (err += b.toString()));
          const t = setTimeout(() => p.kill('SIGKILL'), 60_000);
          p.on('exit', (c) => {
            clearTimeout(t);
            if (c === 0 && fs.existsSync(out(`hpa-${file}`))) resolve();
            else reject(new Error(`${engine} engine, tftp-hpa ${file}: exit ${c}: ${err}`));
          });
          p.stdin.end(`mode binary\nrexmt 1\ntimeout 50\nget ${file} ${out(`hpa-${file}`)}\nquit\n`);
        }).then(() => check(file, out(`hpa-${file}`))),
      );
    }
    for (const [file, blksize, windowsize] of [
      ['mid.bin', 512, 1],
      ['big.bin', 1428, 4],
      ['big.bin', 8192, 2],
    ] as const) {
      const local = out(`atftp-${blksize}-${windowsize}`);
      const args = ['--tftp-timeout', '1', '--option', `blksize ${blksize}`, '--option', 'tsize 0', '--option', `windowsize ${windowsize}`];
      jobs.push(atftp([...args, '-g', '-r', file, '-l', local, SERVER_IP, String(port)]).then(() => check(file, local)));
    }
    for (const [file, blksize] of [
      ['small.bin', 512],
      ['mid.bin', 1428],
      ['mid.bin', 8192],
    ] as const) {
      const local = out(`curl-${blksize}`);
      jobs.push(
        curl(['-sS', '--connect-timeout', '3', '--max-time', '60', '--tftp-blksize', String(blksize), '-o', local, `tftp://${SERVER_IP}:${port}/${file}`]).then(() =>
          check(file, local),
        ),
      );
    }
    return jobs;
  }
});
