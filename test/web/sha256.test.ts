// The browser's piecewise SHA-256 (web/src/sha256.ts, for a driver pack's upload) against Node's own,
// on the edges of its 64-byte blocks and padding, fed whole and in uneven pieces, and from a Blob.
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Sha256, sha256OfFile } from '../../web/src/sha256.js';

const node = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('the web UI SHA-256', () => {
  it('gives the known digests of "" and "abc"', () => {
    expect(new Sha256().hex()).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(new Sha256().update(new TextEncoder().encode('abc')).hex()).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it("matches Node's on every length around the block and padding edges, whole and in uneven pieces", () => {
    const data = randomBytes(1000);
    for (const n of [1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 511, 1000]) {
      const b = data.subarray(0, n);
      expect(new Sha256().update(b).hex(), `length ${n}`).toBe(node(b));
      const h = new Sha256();
      for (let at = 0, step = 1; at < n; at += step, step = (step * 7) % 97 || 1) h.update(b.subarray(at, at + step));
      expect(h.hex(), `length ${n} in pieces`).toBe(node(b));
    }
  });

  it('hashes a Blob in pieces, telling the bytes read', async () => {
    const data = randomBytes(300_001);
    const seen: number[] = [];
    expect(await sha256OfFile(new Blob([data]), (d) => seen.push(d), 65_536)).toBe(node(data));
    expect(seen.at(-1)).toBe(300_001);
    expect(seen.length).toBe(5);
  });
});
