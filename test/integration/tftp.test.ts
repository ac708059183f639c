// roomcast's TFTP server against real Debian clients: tftp-hpa, atftp and curl, over loopback.
// Every transfer must be byte-identical; each one leaves one log line.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../services/core/logger.js';
import { TftpServer } from '../../services/boot/tftp/server.js';
import { TFTP_ENGINES, engineOptions, type TftpEngine } from '../support/pump.js';

const run = promisify(execFile);

const CLIENTS = { tftp: 'tftp-hpa', atftp: 'atftp', curl: 'curl' } as const;
const missing = Object.entries(CLIENTS).filter(([bin]) => {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    return false;
  } catch {
    return true;
  }
});

const FILES: Record<string, Buffer> = {
  'big.bin': randomBytes(1_000_003), // ~1 MB, not a multiple of any block size used
  'mid.bin': randomBytes(50_000),
  'empty.bin': Buffer.alloc(0),
  'exact.bin': randomBytes(512 * 256), // a multiple of 512 and 8192: the last DATA is empty
  'exact1428.bin': randomBytes(1428 * 40),
  'text.txt': Buffer.from('line one\nline two\r\nbare CR\rend\n'),
};

let root: string;
let out: string;
let server: TftpServer;
let port: number;
let engine: TftpEngine;
const logLines: Array<Record<string, unknown>> = [];

// Every case runs twice: with the Node engine (transfer.ts) and with the C data pump (pump.c).
describe.each(TFTP_ENGINES)('the %s engine', (current) => {
  beforeAll(async () => {
    engine = current;
    logLines.length = 0;
    seen.clear();
    if (missing.length > 0) {
      throw new Error(`TFTP interop tests need the clients ${missing.map(([b, p]) => `${b} (Debian package ${p})`).join(', ')}: apt-get install ${missing.map(([, p]) => p).join(' ')}`);
    }
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-tftp-root-'));
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-tftp-out-'));
    for (const [name, data] of Object.entries(FILES)) fs.writeFileSync(path.join(root, name), data);
    fs.mkdirSync(path.join(root, 'boot', 'x64'), { recursive: true });
    fs.writeFileSync(path.join(root, 'boot', 'x64', 'nested.bin'), FILES['mid.bin']!);
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line) as Record<string, unknown>);
        cb();
      },
    });
    server = new TftpServer({ root, host: '127.0.0.1', port: 0, log: createLogger('info', sink), ...engineOptions(engine) });
    ({ port } = await server.start());
  });

  afterAll(async () => {
    await server?.stop();
    for (const d of [root, out]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  let n = 0;
  function target(): string {
    return path.join(out, `got-${++n}`);
  }

  async function expectSame(file: string, local: string, client: string) {
    expect(fs.existsSync(local), `${client} wrote no file for ${file}`).toBe(true);
    const got = fs.readFileSync(local);
    const want = FILES[file] ?? fs.readFileSync(path.join(root, file));
    expect(got.length, `${client}: size of ${file}`).toBe(want.length);
    expect(got.equals(want), `${client}: content of ${file}`).toBe(true);
    // One log line for the transfer, with its outcome.
    const line = await waitForLog((l) => l.file === file.replace(/\\/g, '/') && l.outcome === 'complete' && !seen.has(l));
    seen.add(line);
    // Octet transfers go to the engine under test; netascii is always Node's.
    expect(line.engine, `${client}: engine of ${file}`).toBe(line.mode === 'netascii' ? 'node' : engine);
    return line;
  }

  const seen = new Set<Record<string, unknown>>();
  async function waitForLog(pred: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
    for (let i = 0; i < 200; i++) {
      const hit = logLines.find(pred);
      if (hit) return hit;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no matching log line; log:\n${logLines.map((l) => JSON.stringify(l)).join('\n')}`);
  }

  describe('tftp-hpa (RFC 1350 only: 512-byte blocks, no options)', () => {
    it.each(['big.bin', 'mid.bin', 'empty.bin', 'exact.bin'])('gets %s in binary mode', async (file) => {
      const local = target();
      await run('tftp', ['-m', 'binary', '127.0.0.1', String(port), '-c', 'get', file, local], { timeout: 30_000 });
      const line = await expectSame(file, local, 'tftp-hpa');
      expect(line).toMatchObject({ blksize: 512, windowsize: 1, options: 'none' });
    });

    it('gets a text file in netascii mode (converted on the wire, restored by the client)', async () => {
      const local = target();
      await run('tftp', ['-m', 'netascii', '127.0.0.1', String(port), '-c', 'get', 'text.txt', local], { timeout: 30_000 });
      const line = await expectSame('text.txt', local, 'tftp-hpa netascii');
      // On the wire every LF became CR LF and every CR became CR NUL: one more byte each.
      const text = FILES['text.txt']!.toString('latin1');
      expect(line.bytes).toBe(text.length + text.split(/[\r\n]/).length - 1);
    });

    it('gets a file by a Windows-style path with backslashes', async () => {
      const local = target();
      await run('tftp', ['-m', 'binary', '127.0.0.1', String(port), '-c', 'get', '\\boot\\x64\\nested.bin', local], { timeout: 30_000 });
      expect(fs.readFileSync(local).equals(FILES['mid.bin']!)).toBe(true);
    });
  });

  describe('atftp (blksize, tsize, windowsize)', () => {
    const cases: Array<[string, number, number]> = [];
    // Windows of 16 blocks of 8192 bytes overflow atftp's socket buffer on loopback (recovered by
    // retransmission, but slowly): 8 is the largest window used with 8192 here.
    for (const blksize of [512, 1428, 8192]) for (const windowsize of [1, 4, blksize === 8192 ? 8 : 16]) cases.push(['big.bin', blksize, windowsize]);
    cases.push(['exact.bin', 512, 4], ['exact.bin', 8192, 1], ['exact1428.bin', 1428, 8], ['empty.bin', 1428, 4], ['mid.bin', 65464, 2]);

    it.each(cases)('gets %s at blksize %i, windowsize %i, with tsize', async (file, blksize, windowsize) => {
      const local = target();
      await run(
        'atftp',
        ['--option', `blksize ${blksize}`, '--option', 'tsize 0', '--option', `windowsize ${windowsize}`, '-g', '-r', file, '-l', local, '127.0.0.1', String(port)],
        { timeout: 30_000 },
      );
      const line = await expectSame(file, local, 'atftp');
      expect(line).toMatchObject({ blksize, windowsize, tsize: true });
    });
  });

  describe('curl (blksize, tsize sent by curl itself)', () => {
    const cases: Array<[string, number]> = [];
    for (const blksize of [512, 1428, 8192]) cases.push(['big.bin', blksize]);
    cases.push(['mid.bin', 1428], ['exact.bin', 8192], ['exact.bin', 512], ['exact1428.bin', 1428], ['empty.bin', 1428], ['empty.bin', 512]);

    it.each(cases)('gets %s at blksize %i', async (file, blksize) => {
      const local = target();
      await run('curl', ['-sS', '--tftp-blksize', String(blksize), '-o', local, `tftp://127.0.0.1:${port}/${file}`], { timeout: 30_000 });
      const line = await expectSame(file, local, 'curl');
      // curl only sends blksize when it differs from 512.
      expect(line).toMatchObject({ blksize, tsize: true });
    });

    it('gets a file with --tftp-no-options (plain RFC 1350)', async () => {
      const local = target();
      await run('curl', ['-sS', '--tftp-no-options', '-o', local, `tftp://127.0.0.1:${port}/mid.bin`], { timeout: 30_000 });
      const line = await expectSame('mid.bin', local, 'curl');
      expect(line).toMatchObject({ blksize: 512, options: 'none' });
    });

    it('reports a missing file as "file not found" (ERROR 1)', async () => {
      const err = await run('curl', ['-sS', '-o', target(), `tftp://127.0.0.1:${port}/nope.bin`], { timeout: 30_000 }).then(
        () => undefined,
        (e: { code?: number }) => e,
      );
      expect(err?.code).toBe(68); // CURLE_TFTP_NOTFOUND
    });
  });
});
