// The chunk-record stream of a multicast session: what the encoder writes decodes to the same
// chunks whatever the splits of the stream, a malformed or truncated stream is refused with its
// reason and position, and a chunk whose bytes do not match its id is dropped and counted.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { zstdCompress, zstdDecompress } from '../zstd.js';
import { receiverArgs } from './multicast.js';
import { RecordDecoder, streamOrder, RecordError, chunkRecordHead, encodeSession, endRecord, sessionRecord, verifiedChunks, type StreamRecord, type VerifyCounts } from './multicast-records.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const raw = (i: number, n = 70_000) => Buffer.alloc(n, `chunk ${i} `);

async function chunks(n: number) {
  const out: Array<{ id: string; raw: Buffer; stored: Buffer }> = [];
  for (let i = 0; i < n; i++) out.push({ id: sha(raw(i)), raw: raw(i), stored: await zstdCompress(raw(i)) });
  return out;
}

async function streamBytes(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of r) parts.push(p as Buffer);
  return Buffer.concat(parts);
}

function decodeIn(stream: Buffer, cut: (i: number) => number): StreamRecord[] {
  const d = new RecordDecoder();
  const out: StreamRecord[] = [];
  for (let at = 0, i = 0; at < stream.length; i++) {
    const n = Math.max(1, Math.min(cut(i), stream.length - at));
    out.push(...d.push(stream.subarray(at, at + n)));
    at += n;
  }
  d.end();
  return out;
}

const verifyStored = (lengthOf: Map<string, number>) => async (id: string, bytes: Buffer) => sha(await zstdDecompress(bytes, lengthOf.get(id)!)) === id;
const noCounts = (): VerifyCounts => ({ goodChunks: 0, goodBytes: 0, badChunks: 0, badBytes: 0 });

describe('multicast chunk records', () => {
  it('encodes a session in the order given and decodes it the same for any split of the stream', async () => {
    const cs = await chunks(5);
    const store = new Map(cs.map((c) => [c.id, c.stored]));
    const stream = await streamBytes(encodeSession(42, cs.map((c) => ({ id: c.id, storedSize: c.stored.length })), async (id) => store.get(id)!));
    const total = cs.reduce((s, c) => s + c.stored.length, 0);
    for (const cut of [() => stream.length, () => 1, (i: number) => [7, 13, 1, 5000, 3][i % 5]!, (i: number) => (i * 7919) % 65536]) {
      const recs = decodeIn(stream, cut);
      expect(recs[0]).toEqual({ type: 'session', header: { versionId: 42, ids: cs.map((c) => c.id), chunks: 5, bytes: total } });
      expect(recs.slice(1, -1).map((r) => (r.type === 'chunk' ? [r.id, Buffer.compare(r.bytes, store.get(r.id)!)] : r.type))).toEqual(cs.map((c) => [c.id, 0]));
      expect(recs.at(-1)).toEqual({ type: 'end', chunks: 5, bytes: total });
    }
  });

  it('refuses a malformed record with what is wrong and where, and decodes nothing after it', () => {
    const s = sessionRecord({ versionId: 1, ids: ['ab'.repeat(32)], chunks: 1, bytes: 10 });
    const bad = (b: Buffer, says: RegExp) => {
      const d = new RecordDecoder();
      expect(() => d.push(b)).toThrow(says);
      expect(() => d.push(Buffer.alloc(1))).toThrow(says);
    };
    const flip = (b: Buffer, at: number, v: number) => {
      const c = Buffer.from(b);
      c[at] = v;
      return c;
    };
    const chunk = Buffer.concat([chunkRecordHead('ab'.repeat(32), 10), Buffer.alloc(10)]);
    bad(Buffer.concat([s, flip(chunk, 0, 0x58)]), new RegExp(`not a chunk record at byte ${s.length}`));
    bad(Buffer.concat([s, flip(chunk, 4, 2)]), /record format version 2 at byte \d+; this client reads version 1/);
    bad(Buffer.concat([s, flip(chunk, 5, 9)]), /unknown record type 9/);
    bad(Buffer.concat([s, flip(chunk, 7, 1)]), /reserved bytes are not zero/);
    bad(Buffer.concat([s, flip(chunk, 8, 0xff)]), /more than/);
    bad(chunk, /a record before the SESSION record at byte 0/);
    bad(Buffer.concat([s, s]), /a second SESSION record/);
    bad(Buffer.concat([s, endRecord(0, 0), chunk]), /a record after END/);
    bad(Buffer.concat([Buffer.from('52434d430101000000000003', 'hex'), Buffer.from('{x}')]), /SESSION record at byte 0 is not JSON/);
    bad(sessionRecord({ versionId: 1, ids: ['ab'.repeat(32)], chunks: 2, bytes: 10 }), /SESSION record at byte 0 does not list its 2 chunk ids/);
    bad(sessionRecord({ versionId: 1, ids: ['AB'], chunks: 1, bytes: 10 }), /does not list its 1 chunk ids/);
    expect(() => chunkRecordHead('nothex', 1)).toThrow(RecordError);
  });

  it('says a stream that stops inside a record or before END is truncated', () => {
    const s = sessionRecord({ versionId: 1, ids: ['ab'.repeat(32)], chunks: 1, bytes: 10 });
    const chunk = Buffer.concat([chunkRecordHead('cd'.repeat(32), 10), Buffer.alloc(10)]);
    const inside = new RecordDecoder();
    inside.push(Buffer.concat([s, chunk.subarray(0, 20)]));
    expect(() => inside.end()).toThrow(/stops inside a record at byte \d+ \(20 bytes of it arrived\)/);
    const noEnd = new RecordDecoder();
    expect(noEnd.push(Buffer.concat([s, chunk])).map((r) => r.type)).toEqual(['session', 'chunk']);
    expect(noEnd.complete).toBe(false);
    try {
      noEnd.end();
      expect.unreachable();
    } catch (err) {
      expect((err as RecordError).code).toBe('truncated');
      expect((err as Error).message).toMatch(/before its END record/);
    }
  });

  it('hands the consumer only chunks whose bytes match their id; a damaged one is dropped and counted', async () => {
    const cs = await chunks(4);
    const damaged = Buffer.from(cs[2]!.stored);
    damaged[damaged.length - 5]! ^= 0xff; // inside the frame's data or checksum
    const store = new Map(cs.map((c) => [c.id, c.stored]));
    store.set(cs[2]!.id, damaged);
    const counts = noCounts();
    let header = null;
    const got: string[] = [];
    const enc = encodeSession(7, cs.map((c) => ({ id: c.id, storedSize: c.stored.length })), async (id) => store.get(id)!);
    for await (const c of verifiedChunks(enc, verifyStored(new Map(cs.map((x) => [x.id, x.raw.length]))), counts, (h) => (header = h))) got.push(c.id);
    expect(header).toMatchObject({ versionId: 7, chunks: 4 });
    expect(got).toEqual([cs[0]!.id, cs[1]!.id, cs[3]!.id]);
    expect(counts).toEqual({ goodChunks: 3, goodBytes: cs[0]!.stored.length + cs[1]!.stored.length + cs[3]!.stored.length, badChunks: 1, badBytes: damaged.length });
  });

  it('gives the chunks before a cut, then the reason the stream is incomplete', async () => {
    const cs = await chunks(3);
    const store = new Map(cs.map((c) => [c.id, c.stored]));
    const full = await streamBytes(encodeSession(1, cs.map((c) => ({ id: c.id, storedSize: c.stored.length })), async (id) => store.get(id)!));
    const cut = full.subarray(0, full.length - 40);
    const got: string[] = [];
    const run = async () => {
      for await (const c of verifiedChunks(Readable.from([cut]), async () => true, noCounts())) got.push(c.id);
    };
    await expect(run()).rejects.toThrow(/truncated|stops inside a record/);
    expect(got).toEqual([cs[0]!.id, cs[1]!.id]);
  });

  it('fails the encoded stream with the reason when a chunk cannot be read', async () => {
    const enc = encodeSession(1, [{ id: 'ef'.repeat(32), storedSize: 5 }], async () => {
      throw new Error('chunk file gone');
    });
    await expect(streamBytes(enc)).rejects.toThrow(/chunk file gone/);
  });

  it('keeps the stream order while several chunks are checked at once', async () => {
    const cs = await chunks(6);
    const store = new Map(cs.map((c) => [c.id, c.stored]));
    const enc = encodeSession(1, cs.map((c) => ({ id: c.id, storedSize: c.stored.length })), async (id) => store.get(id)!);
    const slowFirst = async (id: string) => {
      await new Promise((r) => setTimeout(r, id === cs[0]!.id ? 50 : 1));
      return id !== cs[4]!.id;
    };
    const got: string[] = [];
    const counts = noCounts();
    for await (const c of verifiedChunks(enc, slowFirst, counts, undefined, 4)) got.push(c.id);
    expect(got).toEqual(cs.filter((_, i) => i !== 4).map((c) => c.id));
    expect(counts.badChunks).toBe(1);
  });

  it('orders a session as the disk: distinct chunks where they first appear, or only those the room needs', () => {
    const c = (hash: string, storedSize = 10) => ({ offset: 0, length: 65536, hash, storedSize });
    const [a, b, z] = ['a', 'b', 'c'].map((x) => x.repeat(64)) as [string, string, string];
    const m = { bootArea: { chunks: [c(a)] }, partitions: [{ chunks: [c(b, 20), c(a)] }, { chunks: [c(z, 30), c(b, 20)] }] } as unknown as Parameters<typeof streamOrder>[0];
    expect(streamOrder(m).map((x) => [x.id[0], x.storedSize])).toEqual([['a', 10], ['b', 20], ['c', 30]]);
    expect(streamOrder(m, new Set([z, a])).map((x) => x.id[0])).toEqual(['a', 'c']);
  });

  it('gives udp-receiver the session port pair and bounds its waits', () => {
    expect(receiverArgs({ iface: 'eth0', portBase: 9002, startTimeoutSec: 10, receiveTimeoutSec: 5 })).toEqual(['--interface', 'eth0', '--portbase', '9002', '--nokbd', '--no-progress', '--start-timeout', '10', '--receive-timeout', '5']);
    expect(receiverArgs({ iface: 'eth0', portBase: 9000 })).toEqual(expect.arrayContaining(['--start-timeout', '60', '--receive-timeout', '10']));
  });
});
