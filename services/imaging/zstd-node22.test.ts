// zstd.ts, frame-check.ts, client/decoder.ts and client/compressor.ts as the appliance and the boot client run them: on Node 22, where node:zlib
// has zstd (the tests' Node 20 runs the zstd program instead). test/support/zstd-native-cases.ts runs
// under a real Node 22 binary (test/support/node22.ts: build-imaging.sh's cache, or npm pack).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { findNode22 } from '../../test/support/node22.js';

const execFileP = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');

describe('zstd chunks on Node 22 (node:zlib)', () => {
  let r: Record<string, Record<string, unknown> | string>;
  beforeAll(async () => {
    const found = await findNode22(() => {});
    if (!found.node) throw new Error(`no Node 22 binary: ${found.note} (set ROOMCAST_CLIENT_NODE)`);
    const { stdout } = await execFileP(found.node, ['--import', 'tsx', 'test/support/zstd-native-cases.ts'], { cwd: ROOT, timeout: 120_000 });
    r = JSON.parse(stdout.trim().split('\n').pop()!) as typeof r;
  }, 300_000);

  it('runs node:zlib, not the zstd program', () => {
    expect(r.node).toMatch(/^v22\./);
    expect(r.zstdEngine).toBe('node:zlib');
    expect(r.checker).toBe('node:zlib (worker threads)');
  });

  it.each(['v3-64k', 'v3-16k-short-tail', 'v1-one-frame', 'v3-small', 'mixed-frames', 'v3-short-middle-block'])('decompresses and checks a %s chunk to the bytes it was made of', (name) => {
    const s = r[name] as { equal: boolean; checkedHashOk: boolean; checkedSize: number; size: number; decoded: boolean; sent: string; storedSize: number; viewKept: boolean };
    expect(s.equal).toBe(true);
    expect(s.decoded).toBe(true); // the client's decoder (worker threads): bytes and hash
    expect(s.sent).toBe(s.storedSize >= 65536 ? 'moved' : 'copied'); // a downloaded frame is moved to the worker; a small one (maybe in Node's pool) copied
    expect(s.viewKept).toBe(true); // a view into a larger buffer is copied, the buffer left whole
    expect(s.checkedHashOk).toBe(true);
    expect(s.checkedSize).toBe(s.size);
  });

  it("decodes a run of a v3 chunk's block frames with each block's hash (a restore's patch)", () => {
    expect(r.blockRun).toEqual({ equal: true, blocksOk: true, hash: '' });
  });

  it("the capture's compressor makes chunks that decompress to the masked windows, with their Content-Digest, and hashes a window when asked", () => {
    expect(r.compressor).toEqual([
      { roundTrip: true, digestOk: true, rawHash: 'none' },
      { roundTrip: true, digestOk: true, rawHash: 'right' },
      { roundTrip: true, digestOk: true, rawHash: 'none' },
      { roundTrip: true, digestOk: true, rawHash: 'none' },
    ]);
  });

  it("the streaming capture's held windows: hashed as format.ts hashes them, then compressed from the bytes read or dropped; a stale handle refused with a reason; closed workers refuse at once", () => {
    expect(r.held).toEqual([
      { hashOk: true, blocksOk: true, compressed: true },
      { hashOk: true, blocksOk: true, compressed: 'dropped' },
      { hashOk: true, blocksOk: true, compressed: true },
      { hashOk: true, blocksOk: true, compressed: 'dropped' },
    ]);
    expect(r.heldTwice).toMatch(/is not held by this worker/);
    expect(r.afterRefusal).toBe(true);
    expect(r.afterClose).toMatch(/were closed/);
  });

  it('a decoder whose worker stops fails the call it had and every later one at once', () => {
    const [had, later] = r.decoderStopped as unknown as [string, string];
    expect(later).toMatch(/a decompression worker stopped/);
    // the first may have been answered before the worker stopped; else it fails with the same reason
    expect(had === 'answered' || /a decompression worker stopped/.test(had)).toBe(true);
  });

  it('refuses a chunk with one byte flipped, and one larger than its chunk size, as not valid zstd', () => {
    const refused = { decompress: expect.stringMatching(/^ZstdError: /), check: expect.stringMatching(/^ZstdError: /), decode: expect.stringMatching(/^ZstdError: /) };
    expect(r['v3-one-byte-flipped']).toEqual(refused);
    expect(r['v3-over-max-size']).toEqual(refused);
  });
});
