// The imaging client's HTTP (http.ts, through api.ts's HttpImagingApi) against a real node:http
// server on loopback: a download cut mid-body resumes with Range, a 503 is retried, a silent server
// is given up on and retried, and answers nobody reads never hold the agent's connections.
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpImagingApi } from './api.js';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void;
let server: http.Server | undefined;

async function serve(handler: Handler): Promise<string> {
  server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => handler(req, res, Buffer.concat(parts)));
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  server = undefined;
});

const chunk = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) & 0xff));
const hash = createHash('sha256').update(chunk).digest('hex');

describe('the imaging client over HTTP', () => {
  it('resumes a chunk download cut mid-body with a Range request', async () => {
    const ranges: Array<string | undefined> = [];
    const base = await serve((req, res) => {
      ranges.push(req.headers.range);
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (!m) {
        // the first answer promises the whole chunk and stops after 100,000 bytes
        res.writeHead(200, { 'content-length': chunk.length });
        res.write(chunk.subarray(0, 100_000), () => setTimeout(() => res.destroy(), 20));
        return;
      }
      const from = Number(m[1]);
      res.writeHead(206, { 'content-length': chunk.length - from, 'content-range': `bytes ${from}-${chunk.length - 1}/${chunk.length}` });
      res.end(chunk.subarray(from));
    });
    const api = new HttpImagingApi({ base, token: 't', attempts: 3 });
    const got = await api.getChunk(hash);
    expect(got.equals(chunk)).toBe(true);
    expect(ranges[0]).toBeUndefined();
    expect(ranges.at(-1)).toMatch(/^bytes=\d+-$/);
    expect(Number(/\d+/.exec(ranges.at(-1)!)![0])).toBeGreaterThan(0);
  });

  it('resumes a file download (a driver pack) cut mid-body with Range, and skips what it had when the server ignores the range', async () => {
    for (const honour of [true, false]) {
      const ranges: Array<string | undefined> = [];
      let cuts = 0;
      const base = await serve((req, res) => {
        ranges.push(req.headers.range);
        const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
        const from = m && honour ? Number(m[1]) : 0;
        if (from === 0 && cuts < 2) {
          cuts++; // the first two answers promise the whole file and stop part way
          res.writeHead(200, { 'content-length': chunk.length });
          res.write(chunk.subarray(0, 60_000 * cuts), () => setTimeout(() => res.destroy(), 20));
          return;
        }
        if (from) res.writeHead(206, { 'content-length': chunk.length - from, 'content-range': `bytes ${from}-${chunk.length - 1}/${chunk.length}` });
        else res.writeHead(200, { 'content-length': chunk.length });
        res.end(chunk.subarray(from));
      });
      const api = new HttpImagingApi({ base, token: 't', attempts: 4 });
      const parts: Buffer[] = [];
      for await (const piece of await api.download('/api/v1/client/drivers/1/pack')) parts.push(piece);
      expect(Buffer.concat(parts).equals(chunk)).toBe(true);
      expect(ranges[0]).toBeUndefined();
      expect(ranges.slice(1).every((r) => /^bytes=[1-9]\d*-$/.test(r ?? ''))).toBe(true);
      server!.closeAllConnections();
      await new Promise((r) => server!.close(r));
    }
  });

  it('retries a 503 and gives a refusal with its code at once', async () => {
    let calls = 0;
    const base = await serve((req, res) => {
      calls++;
      if (req.url === '/api/v1/client/restore/check' && calls === 1) return void res.writeHead(503).end('busy');
      if (req.url === '/api/v1/client/restore/check') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"chunks":3,"missing":[]}');
      res.writeHead(409, { 'content-type': 'application/problem+json' }).end('{"code":"task_failed","detail":"the task failed"}');
    });
    const api = new HttpImagingApi({ base, token: 't', attempts: 3 });
    expect(await api.restoreCheck()).toEqual({ chunks: 3, missing: [] });
    expect(calls).toBe(2);
    await expect(api.progress({ phase: 'restore', done: 1, total: 2 } as never)).rejects.toMatchObject({ status: 409, code: 'task_failed' });
    expect(calls).toBe(3);
  });

  it('gives up on a server that stays silent, and tries again', async () => {
    let calls = 0;
    const base = await serve((_req, res) => {
      if (++calls === 1) return; // never answers
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"chunks":1,"missing":["x"]}');
    });
    // A generous timeout and a third attempt: on a loaded CI machine an answered attempt must never
    // be taken for a silent one (what is tested is that the silent first attempt is given up on).
    const api = new HttpImagingApi({ base, token: 't', attempts: 3, timeoutMs: 1500 });
    expect(await api.restoreCheck()).toEqual({ chunks: 1, missing: ['x'] });
    expect(calls).toBeGreaterThanOrEqual(2);
  });

  it('frees the connection of every answer, read or not: 60 uploads in a row on a pool of 16', async () => {
    const seen: string[] = [];
    const base = await serve((req, res, body) => {
      seen.push(`${req.headers['content-digest']} ${body.length}`);
      res.writeHead(202, { 'content-type': 'application/json' }).end('{"hash":"h","stored":false,"checking":true}');
    });
    const api = new HttpImagingApi({ base, token: 't', attempts: 1, timeoutMs: 5000 });
    for (let i = 0; i < 60; i++) await api.putChunk(hash, chunk);
    expect(seen).toHaveLength(60);
    expect(seen[0]).toBe(`sha-256=:${createHash('sha256').update(chunk).digest('base64')}: ${chunk.length}`);
  });
});
