// roomcast's TFTP server against a hand-written client on a raw UDP socket: the misbehaviours real
// PXE ROMs and lossy networks produce (duplicate, stale and lost ACKs, the tsize probe, windows,
// block-number rollover), path escapes, writes, the transfer limit and 2,000 garbage packets.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../services/core/logger.js';
import { buildRequest } from '../../services/boot/tftp/packets.js';
import { TftpServer } from '../../services/boot/tftp/server.js';
import { TFTP_ENGINES, engineOptions, type TftpEngine } from '../support/pump.js';
import { download, errorOf, optionsOf, Raw, TftpError } from '../support/tftp-client.js';

// ---------------------------------------------------------------------------------------------
const big = randomBytes(300_000);
const text = Buffer.from('a\nb\r\n');
let root: string;
let outside: string;
let server: TftpServer;
let port: number;
let engine: TftpEngine;
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

async function logFor(pred: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  for (let i = 0; i < 300; i++) {
    const hit = logLines.find(pred);
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('no matching log line');
}

// Every case runs twice: with the Node engine (transfer.ts) and with the C data pump (pump.c).
describe.each(TFTP_ENGINES)('the %s engine', (current) => {
  beforeAll(async () => {
    engine = current;
    logLines.length = 0;
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-tftp-rob-'));
    outside = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-tftp-outside-'));
    fs.writeFileSync(path.join(root, 'big.bin'), big);
    fs.writeFileSync(path.join(root, 'text.txt'), text);
    fs.writeFileSync(path.join(outside, 'secret.txt'), 'outside the boot directory');
    fs.mkdirSync(path.join(root, 'etc'));
    fs.writeFileSync(path.join(root, 'etc', 'passwd'), 'the copy inside the boot directory');
    fs.mkdirSync(path.join(root, 'a'));
    fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'escape.txt'));
    fs.symlinkSync(outside, path.join(root, 'outdir'));
    fs.symlinkSync('/etc/passwd', path.join(root, 'passwd-link'));
    fs.symlinkSync('big.bin', path.join(root, 'alias.bin'));
    execFileSync('mkfifo', [path.join(root, 'fifo')]);
    server = new TftpServer({ root, host: '127.0.0.1', port: 0, log: logger(), ...engineOptions(engine), timeoutMs: 200, retries: 5 });
    ({ port } = await server.start());
  });

  afterAll(async () => {
    await server?.stop();
    for (const d of [root, outside]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  describe('ACK handling', () => {
    it('completes when every ACK arrives twice (no stall, no doubled traffic)', async () => {
      const r = await download(port, 'big.bin', { ackTwice: true });
      expect(r.data.equals(big)).toBe(true);
      const line = await logFor((l) => l.file === 'big.bin' && l.outcome === 'complete').catch((e: Error) => {
        throw new Error(`${e.message}\n${logLines.map((l) => JSON.stringify(l)).join('\n')}`);
      });
      // Every second ACK is a duplicate and was ignored rather than answered.
      expect(line.ignoredAcks).toBeGreaterThanOrEqual(Math.floor(big.length / 512));
    });

    it('ignores stale ACKs (an older block number)', async () => {
      const r = await download(port, 'big.bin', { staleAcks: true, options: { blksize: 1024 } });
      expect(r.data.equals(big)).toBe(true);
    });

    it('sends a block again when its ACK is lost, and when the block itself is lost', async () => {
      const r = await download(port, 'big.bin', { dropAckOnce: 3 });
      expect(r.data.equals(big)).toBe(true);
      expect(r.arrivals.get(3)).toBeGreaterThanOrEqual(2);
      const lost = await download(port, 'big.bin', { dropDataOnce: 5, options: { blksize: 8192 } });
      expect(lost.data.equals(big)).toBe(true);
    });

    it('sends the last block again when the final ACK is lost', async () => {
      const r = await download(port, 'text.txt', { dropAckOnce: 1 });
      expect(r.data.equals(text)).toBe(true);
      expect(r.arrivals.get(1)).toBeGreaterThanOrEqual(2);
    });

    it('ends a transfer whose client went silent, after its retries, with a log line', async () => {
      const quick = new TftpServer({ root, host: '127.0.0.1', port: 0, log: logger(), ...engineOptions(engine), timeoutMs: 100, retries: 2 });
      const { port: p } = await quick.start();
      try {
        const c = await Raw.open();
        const client = `127.0.0.1:${c.sock.address().port}`;
        await c.send(buildRequest(1, 'big.bin'), p);
        // Waits of 100, 200 and 400 ms: DATA 1, two retransmissions, then nothing more.
        const packets = await c.drain(1500);
        c.close();
        expect(packets.map((g) => g.msg.readUInt16BE(2))).toEqual([1, 1, 1]);
        expect(await logFor((l) => l.client === client)).toMatchObject({ file: 'big.bin', outcome: 'timeout', retransmits: 2, level: 40 });
        expect(quick.activeTransfers).toBe(0);
      } finally {
        await quick.stop();
      }
    });
  });

  describe('option negotiation', () => {
    it('PXE ROM pattern: tsize query, abort with ERROR 8, ask again from the same port', async () => {
      const c = await Raw.open();
      await c.send(buildRequest(1, 'big.bin', 'octet', { tsize: 0, blksize: 1456 }), port);
      const first = (await c.recv(2000))!;
      expect(first.msg.readUInt16BE(0)).toBe(6);
      expect(optionsOf(first.msg)).toEqual(new Map([['tsize', String(big.length)], ['blksize', '1456']]));
      await c.send(Buffer.concat([Buffer.from([0, 5, 0, 8]), Buffer.from('User aborted the transfer\0')]), first.port);
      const r = await download(port, 'big.bin', { client: c, options: { blksize: 1456 } });
      c.close();
      expect(r.data.equals(big)).toBe(true);
      expect([...r.sources]).not.toContain(first.port);
      await logFor((l) => l.outcome === 'aborted by client' && l.errorCode === 8 && l.level === 30);
    });

    it('PXE ROM pattern when the ERROR is lost: the new request replaces the first transfer', async () => {
      const c = await Raw.open();
      await c.send(buildRequest(1, 'big.bin', 'octet', { tsize: 0, blksize: 1456 }), port);
      expect((await c.recv(2000))!.msg.readUInt16BE(0)).toBe(6);
      const r = await download(port, 'big.bin', { client: c, options: { blksize: 1432 } });
      c.close();
      expect(r.data.equals(big)).toBe(true);
    });

    it('a duplicated request starts one transfer, not two', async () => {
      const c = await Raw.open();
      const rrq = buildRequest(1, 'big.bin', 'octet', { blksize: 1024 });
      await c.send(rrq, port);
      await c.send(rrq, port);
      const packets = await c.drain(150);
      c.close();
      expect(new Set(packets.map((p) => p.port)).size).toBe(1);
    });

    it('windowsize 4, with a block lost inside a window', async () => {
      const r = await download(port, 'big.bin', { options: { windowsize: 4, blksize: 1024, tsize: 0 } });
      expect(r.oack).toEqual(new Map([['windowsize', '4'], ['blksize', '1024'], ['tsize', String(big.length)]]));
      expect(r.data.equals(big)).toBe(true);
      const lossy = await download(port, 'big.bin', { options: { windowsize: 4 }, dropDataOnce: 10 });
      expect(lossy.data.equals(big)).toBe(true);
    });

    it('grants up to 65464 bytes, ignores invalid and unknown options, honours timeout', async () => {
      const r = await download(port, 'big.bin', { options: { blksize: 100_000, timeout: 2, rollover: 1, foo: 'bar' } });
      expect(r.oack).toEqual(new Map([['blksize', '65464'], ['timeout', '2']]));
      expect(r.data.equals(big)).toBe(true);
      const plain = await download(port, 'big.bin', { options: { blksize: 4, windowsize: 0, bar: 1 } });
      expect(plain.oack).toBeNull(); // nothing acceptable: plain RFC 1350, 512-byte blocks
      expect(plain.arrivals.size).toBe(Math.floor(big.length / 512) + 1);
      expect(plain.data.equals(big)).toBe(true);
    });

    it('wraps block numbers past 65535 to 0 (65,549 blocks of 8 bytes)', async () => {
      const size = 65536 * 8 + 100;
      fs.writeFileSync(path.join(root, 'wrap.bin'), randomBytes(size));
      const r = await download(port, 'wrap.bin', { options: { blksize: 8 } });
      expect(r.data.length).toBe(size);
      expect(r.data.equals(fs.readFileSync(path.join(root, 'wrap.bin')))).toBe(true);
      const w = await download(port, 'wrap.bin', { options: { blksize: 8, windowsize: 16 } });
      expect(w.data.equals(r.data)).toBe(true);
    });

    it('serves netascii and refuses the mail mode', async () => {
      expect((await download(port, 'text.txt', { mode: 'netascii' })).data.toString('latin1')).toBe('a\r\nb\r\0\r\n');
      await expect(download(port, 'text.txt', { mode: 'mail' })).rejects.toMatchObject({ code: 4 });
    });
  });

  describe('paths', () => {
    it.each([
      ['../etc/passwd', 2],
      ['..\\..\\etc\\passwd', 2],
      ['a/../../x', 2],
      ['a/../big.bin', 2],
      ['escape.txt', 2], // symlink to a file outside
      ['outdir/secret.txt', 2], // symlink to a directory outside
      ['passwd-link', 2],
      ['fifo', 2], // not a regular file (and must not hang)
      ['a', 1], // a directory
      ['missing.bin', 1],
    ])('refuses %j with ERROR %i', async (name, code) => {
      await expect(download(port, name)).rejects.toMatchObject({ code });
    });

    it('refuses a NUL inside the name, whichever side of it the escape is', async () => {
      await expect(download(port, Buffer.from('../../etc/passwd\0big.bin'))).rejects.toBeInstanceOf(TftpError);
      await expect(download(port, Buffer.from('big.bin\0../../etc/passwd'))).rejects.toMatchObject({ code: 4 });
    });

    it('serves "/etc/passwd" from inside the boot directory, as tftpd -s does', async () => {
      expect((await download(port, '/etc/passwd')).data.toString()).toBe('the copy inside the boot directory');
      expect((await download(port, '\\etc\\passwd')).data.toString()).toBe('the copy inside the boot directory');
    });

    it('follows a symlink that stays inside', async () => {
      expect((await download(port, 'alias.bin')).data.equals(big)).toBe(true);
    });

    it('refuses writes with ERROR 2 and creates nothing', async () => {
      const c = await Raw.open();
      await c.send(buildRequest(2, 'new.bin'), port);
      const g = (await c.recv(2000))!;
      c.close();
      expect(errorOf(g.msg)?.code).toBe(2);
      expect(fs.existsSync(path.join(root, 'new.bin'))).toBe(false);
    });
  });

  describe('limits and garbage', () => {
    it('answers "server busy" beyond maxTransfers while the others complete', async () => {
      const small = new TftpServer({ root, host: '127.0.0.1', port: 0, log: logger(), ...engineOptions(engine), maxTransfers: 2, timeoutMs: 500 });
      const { port: p } = await small.start();
      try {
        const started: Array<Promise<void>> = [];
        const transfers = [0, 1].map(() => {
          let go!: () => void;
          started.push(new Promise<void>((r) => (go = r)));
          return download(p, 'big.bin', { ackDelayMs: 2, options: { blksize: 1024 }, onFirstPacket: go });
        });
        await Promise.all(started);
        await expect(download(p, 'text.txt')).rejects.toMatchObject({ code: 0, message: expect.stringMatching(/busy/) });
        for (const r of await Promise.all(transfers)) expect(r.data.equals(big)).toBe(true);
        // The clients are done once they sent their last ACK; the server frees the slots on receipt.
        for (let i = 0; i < 200 && small.activeTransfers > 0; i++) await new Promise((r) => setTimeout(r, 10));
        expect((await download(p, 'text.txt')).data.equals(text)).toBe(true);
      } finally {
        await small.stop();
      }
    });

    it('survives 2,000 random and mutated packets, answers no garbage, and still serves', async () => {
      const c = await Raw.open();
      let seed = 12345;
      const rand = (n: number) => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed % n;
      };
      const garbage = (): Buffer => {
        switch (rand(5)) {
          case 0:
            return randomBytes(rand(4)); // too short
          case 1: {
            const b = randomBytes(4 + rand(600)); // any opcode but RRQ/WRQ
            b.writeUInt16BE([0, 3, 4, 5, 6, 7, 255, 0xffff][rand(8)]!, 0);
            return b;
          }
          case 2:
            return Buffer.concat([Buffer.from([0, 1 + rand(2)]), Buffer.from('big.bin')]); // no NUL
          case 3:
            return Buffer.concat([Buffer.from([0, 1 + rand(2)]), Buffer.from('big.bin\0oct')]); // unterminated mode
          default:
            return Buffer.from([0, 1 + rand(2), 0, ...Buffer.from('octet\0')]); // empty name
        }
      };
      for (let i = 0; i < 1000; i++) {
        await c.send(garbage(), port);
        if (i % 50 === 0) await new Promise((r) => setImmediate(r));
      }
      expect(await c.drain(300), 'the server answered garbage').toEqual([]);

      const valid = [
        buildRequest(1, 'big.bin', 'octet', { tsize: 0, blksize: 1456, windowsize: 4 }),
        buildRequest(1, 'text.txt', 'netascii'),
        buildRequest(2, 'x.bin', 'octet'),
        buildRequest(1, 'escape.txt', 'octet', { timeout: 1 }),
      ];
      for (let i = 0; i < 1000; i++) {
        const b = Buffer.from(valid[rand(valid.length)]!);
        const edits = 1 + rand(4);
        let m: Buffer = b;
        for (let e = 0; e < edits; e++) {
          const at = rand(m.length);
          const kind = rand(3);
          if (kind === 0) m[at] = rand(256);
          else if (kind === 1) m = Buffer.concat([m.subarray(0, at), m.subarray(at + 1)]);
          else m = Buffer.concat([m.subarray(0, at), Buffer.from([rand(256)]), m.subarray(at)]);
        }
        await c.send(m, port);
        if (i % 50 === 0) await new Promise((r) => setImmediate(r));
      }
      const answers = await c.drain(300);
      c.close();
      // Well-formed mutants may be served (OACK/DATA from a transfer port) or refused (ERROR).
      for (const a of answers) expect([3, 5, 6]).toContain(a.msg.readUInt16BE(0));
      expect((await download(port, 'big.bin', { options: { blksize: 1428, tsize: 0 } })).data.equals(big)).toBe(true);
    });
  });
});
