// zstd for image chunks, on the server (Node 20) and in the boot client (Node 22).
// Node >= 22.15 has zstd in node:zlib; older Node runs Debian's `zstd` program (package zstd) per
// chunk. Both produce standard zstd frames, so either side can read what the other wrote.
import { spawn } from 'node:child_process';
import zlib from 'node:zlib';

type ZstdZlib = {
  zstdCompress(buf: Buffer, opts: object, cb: (err: Error | null, out: Buffer) => void): void;
  zstdDecompress(buf: Buffer, opts: object, cb: (err: Error | null, out: Buffer) => void): void;
  constants: Record<string, number>;
};
const native = typeof (zlib as unknown as Partial<ZstdZlib>).zstdCompress === 'function' ? (zlib as unknown as ZstdZlib) : null;

/** 'node:zlib' or 'zstd program': what this process uses. */
export const zstdEngine = native ? 'node:zlib' : 'zstd program';

export class ZstdError extends Error {}

function runZstd(args: string[], input: Buffer, maxOut: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn('zstd', ['-q', '-c', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (err) {
      reject(err as Error);
      return;
    }
    const out: Buffer[] = [];
    let size = 0;
    let err = '';
    let tooBig = false;
    child.stdout.on('data', (b: Buffer) => {
      size += b.length;
      if (size > maxOut) {
        tooBig = true;
        child.kill('SIGKILL');
        return;
      }
      out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.stdin.on('error', () => {}); // zstd may exit before reading everything (bad input)
    child.once('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'ENOENT' ? new ZstdError('the zstd program is missing (apt-get install zstd)') : e),
    );
    child.once('close', (code) => {
      if (tooBig) reject(new ZstdError(`zstd output larger than ${maxOut} bytes`));
      else if (code !== 0) reject(new ZstdError(`zstd failed: ${err.trim() || `exit ${code}`}`));
      else resolve(Buffer.concat(out, size));
    });
    child.stdin.end(input);
  });
}

export function zstdCompress(data: Buffer, level = 3): Promise<Buffer> {
  if (native) {
    return new Promise((resolve, reject) =>
      // One output buffer large enough for the frame: with the default 16 KiB pieces, each piece is a
      // trip between the thread pool and the event loop (a capture's upload spent its time waiting for
      // them on a loaded machine) and a copy when they are joined.
      native.zstdCompress(data, { chunkSize: Math.max(64 * 1024, data.length + (data.length >> 7) + 65536), params: { [native.constants.ZSTD_c_compressionLevel!]: level, [native.constants.ZSTD_c_checksumFlag!]: 1 } }, (err, out) =>
        err ? reject(err) : resolve(out),
      ),
    );
  }
  return runZstd([`-${level}`, '--no-progress'], data, data.length + (data.length >> 7) + 65536);
}

/** Decompresses one frame; fails when the result would exceed `maxSize` (a chunk never does). */
export function zstdDecompress(data: Buffer, maxSize: number): Promise<Buffer> {
  if (native) {
    return new Promise((resolve, reject) =>
      // One output buffer of the expected size rather than 16 KiB pieces (a quarter of the client's
      // restore time went to joining them, test/bench/results/imaging.md).
      native.zstdDecompress(data, { maxOutputLength: maxSize, chunkSize: Math.max(64 * 1024, Math.min(maxSize, 64 * 1024 * 1024)) }, (err, out) =>
        err ? reject(new ZstdError(`not a valid zstd chunk: ${err.message}`)) : resolve(out),
      ),
    );
  }
  return runZstd(['-d'], data, maxSize);
}
