// TFTP capacity: one address cannot take the server (a per-client limit, other PCs still served),
// boot files come from a shared cache that follows the file on disk, large files are streamed in
// segments (blocks across segment boundaries, windows), and netascii of a large file is refused.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRequest } from '../../services/boot/tftp/packets.js';
import { TftpServer } from '../../services/boot/tftp/server.js';
import { download, Raw } from '../support/tftp-client.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const KIB = 1024;

let root: string;
const small = randomBytes(200 * KIB);
const large = randomBytes(3 * 1024 * KIB + 777);

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-tftp-cap-'));
  fs.writeFileSync(path.join(root, 'undionly.kpxe'), small);
  fs.writeFileSync(path.join(root, 'large.bin'), large);
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

async function withServer<T>(opts: Partial<ConstructorParameters<typeof TftpServer>[0]>, fn: (port: number, server: TftpServer) => Promise<T>): Promise<T> {
  const server = new TftpServer({ root, host: '127.0.0.1', port: 0, log: pino({ level: 'silent' }), timeoutMs: 300, retries: 3, ...opts });
  const { port } = await server.start();
  try {
    return await fn(port, server);
  } finally {
    await server.stop();
  }
}

describe('TFTP capacity', () => {
  it('limits transfers per address: a flood from one address is refused, another PC is served meanwhile', async () => {
    await withServer({ maxPerClient: 3 }, async (port, server) => {
      // Three requests from 127.0.0.9 that never acknowledge anything hold that address's slots.
      const stranger = await Promise.all([0, 1, 2].map(() => Raw.open('127.0.0.9')));
      for (const c of stranger) await c.send(buildRequest(1, 'large.bin', 'octet', {}), port);
      for (let i = 0; i < 100 && server.activeTransfers < 3; i++) await new Promise((r) => setTimeout(r, 10));
      expect(server.activeTransfers).toBe(3);
      // A fourth from the same address: busy.
      await expect(download(port, 'undionly.kpxe', { client: await Raw.open('127.0.0.9') })).rejects.toMatchObject({ code: 0, message: expect.stringMatching(/busy/) });
      // PCs at other addresses: served, several at once.
      const pcs = await Promise.all(['127.0.0.21', '127.0.0.22', '127.0.0.23', '127.0.0.24'].map(async (a) => download(port, 'undionly.kpxe', { client: await Raw.open(a) })));
      for (const r of pcs) expect(sha(r.data)).toBe(sha(small));
      for (const c of stranger) c.close();
    });
  });

  it('serves a boot file from one shared cache entry, and follows the file when it is replaced', async () => {
    await withServer({}, async (port, server) => {
      const all = await Promise.all(Array.from({ length: 30 }, async (_, i) => download(port, 'undionly.kpxe', { client: await Raw.open(`127.0.1.${i + 1}`), options: { blksize: 1468 } })));
      for (const r of all) expect(r.data.equals(small)).toBe(true);
      expect(server.files.bytes).toBe(small.length);
      const replaced = randomBytes(150 * KIB);
      const file = path.join(root, 'undionly.kpxe');
      fs.writeFileSync(`${file}.new`, replaced);
      fs.renameSync(`${file}.new`, file);
      expect((await download(port, 'undionly.kpxe')).data.equals(replaced)).toBe(true);
      expect(server.files.bytes).toBe(replaced.length);
      fs.writeFileSync(file, small);
    });
  });

  it('streams a file larger than the cache in segments (blocks across segment ends, windows, a lost block)', async () => {
    await withServer({ cache: { maxFileBytes: 64 * KIB, segmentBytes: 64 * KIB } }, async (port, server) => {
      const plain = await download(port, 'large.bin', { options: { blksize: 1468 } });
      expect(sha(plain.data)).toBe(sha(large));
      const windowed = await download(port, 'large.bin', { options: { blksize: 8192, windowsize: 8 }, dropDataOnce: 70 });
      expect(sha(windowed.data)).toBe(sha(large));
      const classic = await download(port, 'large.bin');
      expect(sha(classic.data)).toBe(sha(large));
      // Nothing of it went into the shared cache.
      expect(server.files.bytes).toBe(0);
      await expect(download(port, 'large.bin', { mode: 'netascii' })).rejects.toMatchObject({ code: 2 });
    });
  });
});
