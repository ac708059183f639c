// What a transfer reads: the boot files, never whole in memory per transfer.
// - Small files (the iPXE binaries: 100 KB–1 MB) are read once into a shared cache that every
//   transfer of that file uses; an entry is valid while the file keeps its identity (device, inode,
//   size, modification and change times, checked with fstat at each request), so a replaced binary is
//   served as it is now. The cache holds a few files (a byte budget, least recently used out first),
//   and 200 PCs asking at once for one file read it once.
// - A larger file is streamed: the transfer reads it from its own file handle in segments, a couple
//   at a time, as the window moves.
// netascii (text mode, never used by boot firmware) needs the whole file converted: small files only.
import fs from 'node:fs/promises';
import { toNetascii } from './packets.js';
import type { FileIdentity } from './paths.js';

/** A file as a transfer sees it. */
export interface FileData {
  readonly size: number;
  /** Whether [offset, offset + length) is in memory now (slice answers), else call load. */
  has(offset: number, length: number): boolean;
  /** The bytes [offset, offset + length) when they are in memory now, else undefined (call load). */
  slice(offset: number, length: number): Buffer | undefined;
  /** Brings [offset, offset + length) into memory. */
  load(offset: number, length: number): Promise<void>;
  close(): Promise<void>;
}

class MemoryFile implements FileData {
  constructor(private readonly data: Buffer) {}
  get size() {
    return this.data.length;
  }
  has(): boolean {
    return true;
  }
  slice(offset: number, length: number): Buffer {
    return this.data.subarray(offset, Math.min(offset + length, this.data.length));
  }
  async load(): Promise<void> {}
  async close(): Promise<void> {}
}

/** Reads from an open handle in aligned segments; keeps the segments the window may still need. */
class StreamedFile implements FileData {
  private readonly segments = new Map<number, Buffer>();
  private readonly loading = new Map<number, Promise<void>>();
  private current = -1;
  private closed = false;

  constructor(
    private readonly handle: fs.FileHandle,
    readonly size: number,
    private readonly segmentBytes: number,
  ) {}

  has(offset: number, length: number): boolean {
    const end = Math.min(offset + length, this.size);
    const first = Math.floor(offset / this.segmentBytes);
    if (first !== this.current) this.enter(first);
    for (let i = first; i * this.segmentBytes < end; i++) if (!this.segments.has(i)) return false;
    return true;
  }

  /** The window moved into segment `i`: the ones before it are done with, the next one is read ahead. */
  private enter(i: number): void {
    this.current = i;
    for (const k of this.segments.keys()) if (k < i) this.segments.delete(k);
    if ((i + 1) * this.segmentBytes < this.size) void this.segment(i + 1).catch(() => undefined);
  }

  slice(offset: number, length: number): Buffer | undefined {
    if (offset >= this.size) return Buffer.alloc(0);
    const end = Math.min(offset + length, this.size);
    const first = Math.floor(offset / this.segmentBytes);
    const last = Math.floor(Math.max(end - 1, offset) / this.segmentBytes);
    const a = this.segments.get(first);
    if (!a) return undefined;
    if (first === last) return a.subarray(offset - first * this.segmentBytes, end - first * this.segmentBytes);
    // A block across two segments: copied once (once per segment at most).
    const b = this.segments.get(last);
    if (!b) return undefined;
    return Buffer.concat([a.subarray(offset - first * this.segmentBytes), b.subarray(0, end - last * this.segmentBytes)]);
  }

  async load(offset: number, length: number): Promise<void> {
    const first = Math.floor(offset / this.segmentBytes);
    const last = Math.floor(Math.max(Math.min(offset + length, this.size) - 1, offset) / this.segmentBytes);
    if (first !== this.current) this.enter(first);
    const wanted: Array<Promise<void>> = [];
    for (let i = first; i <= last; i++) wanted.push(this.segment(i));
    await Promise.all(wanted);
  }

  private segment(i: number): Promise<void> {
    if (this.segments.has(i)) return Promise.resolve();
    let p = this.loading.get(i);
    if (!p) {
      p = (async () => {
        const start = i * this.segmentBytes;
        const buf = Buffer.allocUnsafe(Math.min(this.segmentBytes, this.size - start));
        let filled = 0;
        while (filled < buf.length && !this.closed) {
          const { bytesRead } = await this.handle.read(buf, filled, buf.length - filled, start + filled);
          if (bytesRead === 0) break;
          filled += bytesRead;
        }
        // A file that shrank while being served: what is missing is sent as zeros rather than
        // uninitialised memory (the transfer's size was announced already).
        if (filled < buf.length) buf.fill(0, filled);
        if (!this.closed) this.segments.set(i, buf);
      })().finally(() => this.loading.delete(i));
      this.loading.set(i, p);
    }
    return p;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.segments.clear();
    await Promise.allSettled([...this.loading.values()]);
    await this.handle.close().catch(() => undefined);
  }
}

export interface FileCacheOptions {
  /** Files up to this size are cached whole and shared (default 4 MiB). */
  maxFileBytes?: number;
  /** All cached files together (default 32 MiB). */
  maxTotalBytes?: number;
  /** Segment of a streamed file (default 256 KiB). */
  segmentBytes?: number;
}

interface Entry {
  identity: string;
  data: Buffer;
  netascii?: Buffer;
}

const identityOf = (st: FileIdentity) => `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;

export class BootFileCache {
  private readonly entries = new Map<string, Entry>();
  private readonly reading = new Map<string, Promise<Buffer>>();
  private total = 0;
  readonly maxFileBytes: number;
  private readonly maxTotalBytes: number;
  private readonly segmentBytes: number;

  constructor(opts: FileCacheOptions = {}) {
    this.maxFileBytes = opts.maxFileBytes ?? 4 * 1024 * 1024;
    this.maxTotalBytes = Math.max(opts.maxTotalBytes ?? 32 * 1024 * 1024, this.maxFileBytes);
    this.segmentBytes = opts.segmentBytes ?? 256 * 1024;
  }

  /** Bytes held by the cache now. */
  get bytes(): number {
    return this.total;
  }

  /**
   * The data of an opened regular file (`realPath`, its `handle` and its fstat): from the cache, read
   * into it, or streamed from the handle. The handle is taken over: closed now, or by FileData.close.
   */
  async open(realPath: string, handle: fs.FileHandle, st: FileIdentity, mode: 'octet' | 'netascii'): Promise<FileData | { tooLarge: true }> {
    if (st.size > this.maxFileBytes) {
      if (mode === 'netascii') {
        await handle.close().catch(() => undefined);
        return { tooLarge: true };
      }
      return new StreamedFile(handle, st.size, Math.max(this.segmentBytes, 65536));
    }
    const identity = identityOf(st);
    let entry = this.entries.get(realPath);
    if (entry?.identity === identity) {
      await handle.close().catch(() => undefined);
      this.touch(realPath, entry);
    } else {
      const key = `${realPath}\0${identity}`;
      let reading = this.reading.get(key);
      if (!reading) {
        reading = readWhole(handle, st.size).finally(() => this.reading.delete(key));
        this.reading.set(key, reading);
      } else {
        await handle.close().catch(() => undefined);
      }
      const data = await reading;
      entry = this.entries.get(realPath);
      if (entry?.identity !== identity) {
        entry = { identity, data };
        this.put(realPath, entry);
      }
    }
    if (mode === 'octet') return new MemoryFile(entry.data);
    entry.netascii ??= toNetascii(entry.data);
    return new MemoryFile(entry.netascii);
  }

  private touch(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
  }

  private put(key: string, entry: Entry): void {
    const old = this.entries.get(key);
    if (old) this.total -= old.data.length;
    this.entries.delete(key);
    this.entries.set(key, entry);
    this.total += entry.data.length;
    for (const [k, e] of this.entries) {
      if (this.total <= this.maxTotalBytes || k === key) break;
      this.entries.delete(k);
      this.total -= e.data.length;
    }
  }
}

/** Reads a file whole from its handle, then closes it. */
async function readWhole(handle: fs.FileHandle, size: number): Promise<Buffer> {
  try {
    const data = Buffer.allocUnsafe(size);
    let filled = 0;
    while (filled < size) {
      const { bytesRead } = await handle.read(data, filled, size - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    // A file that shrank while being read is served as it was read (never uninitialised memory).
    return filled === size ? data : data.subarray(0, filled);
  } finally {
    await handle.close().catch(() => undefined);
  }
}
