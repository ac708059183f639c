// The TFTP data pump (pump.c) as a process, and the server around it: what happens when it dies, when
// the server stops, when a client vanishes, and when it is handed a file that is not the one Node
// checked. The protocol itself is proven for both engines in tftp.test.ts and tftp-robustness.test.ts.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRequest } from '../../services/boot/tftp/packets.js';
import { TftpServer } from '../../services/boot/tftp/server.js';
import { createLogger } from '../../services/core/logger.js';
import { TFTP_ENGINES, engineOptions, pumpBinary } from '../support/pump.js';
import { download, Raw } from '../support/tftp-client.js';

const big = randomBytes(400_000);
let root: string;
const logLines: Array<Record<string, unknown>> = [];

function logger() {
  return createLogger(
    'debug',
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line) as Record<string, unknown>);
        cb();
      },
    }),
  );
}

async function logFor(pred: (l: Record<string, unknown>) => boolean, ms = 5000): Promise<Record<string, unknown>> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    const hit = logLines.find(pred);
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no matching log line; log:\n${logLines.map((l) => JSON.stringify(l)).join('\n')}`);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-tftp-pump-'));
  fs.writeFileSync(path.join(root, 'big.bin'), big);
  fs.symlinkSync(path.join(root, 'big.bin'), path.join(root, 'link.bin'));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('the server with its pump', () => {
  it('serves with the Node engine while a killed pump restarts, then with the pump again', async () => {
    const server = new TftpServer({ root, host: '127.0.0.1', port: 0, log: logger(), timeoutMs: 200, retries: 3, ...engineOptions('pump'), pumpRestartMs: 500 });
    const { port } = await server.start();
    try {
      const pid = server.pumpPid!;
      expect(server.engine).toBe('pump');
      // A transfer in flight when the pump dies: its client stops getting DATA; the server says why.
      const c = await Raw.open('127.0.0.31');
      await c.send(buildRequest(1, 'big.bin'), port);
      expect((await c.recv(2000))?.msg.readUInt16BE(0)).toBe(3);
      process.kill(pid, 'SIGKILL');
      const ended = await logFor((l) => l.client === `127.0.0.31:${c.sock.address().port}` && typeof l.outcome === 'string');
      c.close();
      expect(ended).toMatchObject({ outcome: 'socket error', engine: 'pump', err: expect.stringMatching(/pump stopped/) });
      // Meanwhile, PCs are served by Node.
      expect(server.engine).toBe('node');
      const meanwhile = await download(port, 'big.bin', { client: await Raw.open('127.0.0.32') });
      expect(meanwhile.data.equals(big)).toBe(true);
      expect(await logFor((l) => typeof l.client === 'string' && l.client.startsWith('127.0.0.32:') && l.outcome === 'complete')).toMatchObject({ engine: 'node' });
      // Then the pump is back, as a new process.
      await logFor((l) => l.msg === 'tftp: the pump runs again');
      expect(server.pumpPid).not.toBe(pid);
      const after = await download(port, 'big.bin', { client: await Raw.open('127.0.0.33'), options: { blksize: 1428 } });
      expect(after.data.equals(big)).toBe(true);
      expect(await logFor((l) => typeof l.client === 'string' && l.client.startsWith('127.0.0.33:') && l.outcome === 'complete')).toMatchObject({ engine: 'pump' });
    } finally {
      await server.stop();
    }
  });

  it('stops with transfers in flight: they are cancelled, and the pump process exits', async () => {
    const server = new TftpServer({ root, host: '127.0.0.1', port: 0, log: logger(), timeoutMs: 5000, retries: 5, ...engineOptions('pump') });
    const { port } = await server.start();
    const pid = server.pumpPid!;
    const clients = await Promise.all([0, 1, 2].map(() => Raw.open('127.0.0.41')));
    for (const c of clients) await c.send(buildRequest(1, 'big.bin'), port);
    for (const c of clients) expect((await c.recv(2000))?.msg.readUInt16BE(0)).toBe(3);
    expect(server.activeTransfers).toBe(3);
    await server.stop();
    for (const c of clients) c.close();
    expect(server.activeTransfers).toBe(0);
    const stopped = logLines.filter((l) => typeof l.client === 'string' && l.client.startsWith('127.0.0.41:'));
    expect(stopped.map((l) => [l.outcome, l.reason])).toEqual(Array(3).fill(['cancelled', 'server stopping']));
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 10));
    expect(alive(pid)).toBe(false);
  });

  it('refuses to start with engine "pump" when the pump cannot run, and says so', async () => {
    const server = new TftpServer({ root, host: '127.0.0.1', port: 0, log: logger(), engine: 'pump', pumpBinary: path.join(root, 'big.bin') });
    await expect(server.start()).rejects.toThrow(/cannot start the TFTP pump/);
    const auto = new TftpServer({ root, host: '127.0.0.1', port: 0, log: logger(), engine: 'auto', pumpBinary: path.join(root, 'no-such-pump') });
    const { port } = await auto.start();
    try {
      expect(auto.engine).toBe('node');
      expect((await download(port, 'big.bin')).data.equals(big)).toBe(true);
    } finally {
      await auto.stop();
    }
  });
});

describe.each(TFTP_ENGINES)('the %s engine, a client that is gone', (engine) => {
  it('ends the transfer at the first ICMP port unreachable, not after its retries', async () => {
    const server = new TftpServer({ root, host: '127.0.0.1', port: 0, log: logger(), timeoutMs: 150, retries: 10, ...engineOptions(engine) });
    const { port } = await server.start();
    try {
      const c = await Raw.open('127.0.0.51');
      const client = `127.0.0.51:${c.sock.address().port}`;
      await c.send(buildRequest(1, 'big.bin'), port);
      expect((await c.recv(2000))?.msg.readUInt16BE(0)).toBe(3);
      c.close();
      // Ten retries with backoff would take minutes; the first retransmission meets a closed port.
      const line = await logFor((l) => l.client === client && typeof l.outcome === 'string');
      expect(line).toMatchObject({ outcome: 'socket error', engine });
      expect(line.retransmits).toBeLessThanOrEqual(2);
      expect(server.activeTransfers).toBe(0);
    } finally {
      await server.stop();
    }
  });
});

/** The pump driven by hand through its line protocol. */
async function withPump<T>(fn: (send: (line: string) => void, next: () => Promise<string>, stderr: () => string) => Promise<T>): Promise<T> {
  const child = spawn(pumpBinary(), [], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const lines: string[] = [];
  const waiters: Array<(l: string) => void> = [];
  readline.createInterface({ input: child.stdout }).on('line', (l) => (waiters.length ? waiters.shift()!(l) : lines.push(l)));
  const next = () => (lines.length ? Promise.resolve(lines.shift()!) : new Promise<string>((r) => waiters.push(r)));
  try {
    expect(await next()).toBe('R');
    return await fn((l) => child.stdin.write(`${l}\n`), next, () => err);
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.stdin.end();
    expect(await exited).toBe(0);
  }
}

const hex = (s: string) => Buffer.from(s).toString('hex');

describe('the pump process', () => {
  it('refuses a file that is not the one Node checked (other inode, symlink), and survives malformed lines', async () => {
    const st = fs.statSync(path.join(root, 'big.bin'), { bigint: true });
    const c = await Raw.open();
    const peer = `127.0.0.1 ${c.sock.address().port}`;
    await withPump(async (send, next, stderr) => {
      send(`S 1 127.0.0.1 ${peer} ${st.dev} ${st.ino + 1n} ${st.size} 512 1 1000 5 10000 - ${hex(path.join(root, 'big.bin'))}`);
      expect(await next()).toMatch(/^E 1 socket-error 0 0 0 \d+ [0-9a-f]+$/);
      send('garbage line');
      send(`S 2 127.0.0.1 ${peer} ${st.dev} ${st.ino} ${st.size} 512 1 1000 5 10000 - ${hex(path.join(root, 'link.bin'))}`);
      const refused = (await next()).split(' ');
      expect(refused.slice(0, 3)).toEqual(['E', '2', 'socket-error']);
      expect(Buffer.from(refused[7]!, 'hex').toString()).toMatch(/cannot open the file: Too many levels of symbolic links/);
      send('C 99'); // unknown: nothing happens
      // The right file: served, then cancelled.
      send(`S 3 127.0.0.1 ${peer} ${st.dev} ${st.ino} ${st.size} 512 1 1000 5 10000 - ${hex(path.join(root, 'big.bin'))}`);
      const first = await c.recv(2000);
      expect(first?.msg.subarray(0, 4)).toEqual(Buffer.from([0, 3, 0, 1]));
      expect(first?.msg.subarray(4).equals(big.subarray(0, 512))).toBe(true);
      send('C 3');
      expect(await next()).toMatch(/^E 3 cancelled 1 0 0 \d+ -$/);
      expect(stderr()).toMatch(/ignored a malformed command/);
    });
    c.close();
  });
});
