// The boot client's side of the imaging API (services/imaging/routes.ts): its task, the capture
// upload, the restore download, progress and the final result. Every call carries the task token;
// network errors, 5xx, 408 and 429 are retried with backoff, a chunk download resumes with Range.
import { createHash } from 'node:crypto';
import { ManifestSchema, type ClientTask, type Manifest, type Progress } from '../format.js';
import type { WindowsFacts } from '../windows-facts.js';
import { DriverMatchSchema, type DriverMatch } from '../driver-pack.js';
import { request, type Answer } from './http.js';
import { ClientError } from './sys.js';

export type { ClientTask } from '../format.js';

export type { Progress } from '../format.js';

export interface TaskResult {
  ok: boolean;
  reason?: string;
  details?: Record<string, unknown>;
}

export interface ImagingApi {
  task(): Promise<ClientTask>;
  registerCapture(manifest: Manifest): Promise<{ versionId: number; number: number; missing: string[] }>;
  /** Streaming capture: names a batch of chunks before the manifest; answers which of them the store lacks. */
  announceChunks(chunkSize: number, chunks: Array<{ hash: string; length: number }>): Promise<{ versionId: number; number: number; missing: string[] }>;
  /** `digest`: the frame's Content-Digest when the caller computed it already (contentDigest). */
  putChunk(hash: string, data: Buffer, digest?: string): Promise<void>;
  /** Throws a ClientError with code 'chunks_missing' and details.missing (the hashes) when some chunks are not in the store. */
  commit(windows?: WindowsFacts[]): Promise<{ versionId: number; number: number }>;
  manifest(): Promise<Manifest>;
  getChunk(hash: string): Promise<Buffer>;
  /** Bytes [start, end) of a stored chunk (format v3: its block index, or some blocks' frames); fewer when the chunk is shorter. */
  getChunkRange(hash: string, start: number, end: number): Promise<Buffer>;
  /** Restore pre-flight: which chunks of the task's version the store lacks (a cheap existence check). */
  restoreCheck(): Promise<{ chunks: number; missing: string[] }>;
  /** Tells the server a chunk came damaged (it checks it, and marks the versions holding it damaged). */
  reportDamaged(hash: string, detail: string): Promise<{ damaged: boolean }>;
  progress(p: Progress): Promise<void>;
  result(r: TaskResult): Promise<void>;
  /** Restore: this PC's answer file (unattend.xml); throws code 'answer_file_none' when the image has none. */
  answerFile?(): Promise<Buffer>;
  /** The driver pack for this PC, or none and why (drivers.ts); absent: this api offers no driver packs. */
  drivers?(): Promise<DriverMatch>;
  /** A GET of one of the api's paths (a pack's archive), its body read as it arrives. */
  download?(path: string): Promise<AsyncIterable<Buffer>>;
}

export interface HttpApiOptions {
  /** http://host:port of the api (roomcast.api on the kernel command line). */
  base: string;
  token: string;
  /** Attempts per call before giving up (default 8: about a minute of backoff). */
  attempts?: number;
  /** The longest the api may stay silent during a request, in ms (default 60 s). */
  timeoutMs?: number;
  log?: (line: string) => void;
}

const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class HttpStatusError extends ClientError {
  constructor(
    readonly status: number,
    message: string,
    code: string,
    /** The problem document's `errors` (chunks_missing: the hashes). */
    readonly errors: unknown[] = [],
  ) {
    super(message, code);
  }
}

/** Refusals that mean the task is over on the server (failed, cancelled, removed): the client stops. */
const TASK_OVER = new Set(['task_failed', 'task_not_running', 'task_gone']);

/** Whether `err` is the api saying this task is over (the server failed or cancelled it). */
export function taskEnded(err: unknown): boolean {
  return err instanceof HttpStatusError && (err.status === 409 || err.status === 404) && TASK_OVER.has(err.code);
}

/** RFC 9530 Content-Digest of a body: its SHA-256, as the api checks an upload's transfer. */
export const contentDigest = (body: Buffer) => `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;

export class HttpImagingApi implements ImagingApi {
  private readonly attempts: number;
  private readonly timeoutMs: number;

  constructor(private readonly o: HttpApiOptions) {
    this.attempts = o.attempts ?? 8;
    this.timeoutMs = o.timeoutMs ?? 60_000;
  }

  private async call(method: string, path: string, init: { json?: unknown; body?: Buffer; headers?: Record<string, string>; stream?: boolean } = {}): Promise<Answer> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.o.token}`, ...init.headers };
    let body: string | Buffer | undefined;
    if (init.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.json);
    } else if (init.body) {
      headers['content-type'] = 'application/octet-stream';
      body = init.body;
    }
    let lastError = '';
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      try {
        const res = await request(this.o.base + path, { method, headers, body, idleMs: this.timeoutMs, stream: init.stream });
        if (res.ok) return res;
        const text = await res.text();
        let detail = text.slice(0, 500);
        let code = `http_${res.status}`;
        let errors: unknown[] = [];
        try {
          const p = JSON.parse(text) as { detail?: string; code?: string; errors?: unknown[] };
          detail = p.detail ?? detail;
          code = p.code ?? code;
          errors = Array.isArray(p.errors) ? p.errors : [];
        } catch {
          // not a problem document
        }
        if (!RETRY_STATUS.has(res.status)) throw new HttpStatusError(res.status, `the api refused ${method} ${path} (${res.status}): ${detail}`, code, errors);
        lastError = `${res.status} ${detail}`;
      } catch (err) {
        if (err instanceof HttpStatusError) throw err;
        lastError = (err as Error).message;
      }
      if (attempt < this.attempts) {
        const wait = Math.min(15_000, 250 * 2 ** (attempt - 1));
        this.o.log?.(`roomcast: ${method} ${path} failed (${lastError}), retrying in ${(wait / 1000).toFixed(1)} s`);
        await sleep(wait);
      }
    }
    throw new ClientError(`the api at ${this.o.base} did not answer ${method} ${path} after ${this.attempts} attempts (${lastError}); check the network and the roomcast server`, 'api_unreachable');
  }

  async drivers(): Promise<DriverMatch> {
    return DriverMatchSchema.parse(await (await this.call('GET', '/api/v1/client/drivers')).json());
  }

  /**
   * A file of the api as it arrives (a driver pack). A transfer cut short continues where it stopped
   * with Range; a server that ignores the range has the bytes already given skipped, never given twice.
   */
  async download(path: string): Promise<AsyncIterable<Buffer>> {
    const first = await this.call('GET', path, { stream: true });
    const total = Number(first.headers.get('content-length') ?? NaN);
    const again = (have: number) => this.call('GET', path, { stream: true, headers: { range: `bytes=${have}-` } });
    const { attempts } = this;
    const log = this.o.log;
    return (async function* () {
      let res = first;
      let have = 0;
      for (let attempt = 1; ; attempt++) {
        try {
          let skip = have && res.status !== 206 ? have : 0; // the server ignored the range: start over, skipping
          for await (const piece of res.body) {
            const give = skip ? piece.subarray(Math.min(skip, piece.length)) : piece;
            skip -= Math.min(skip, piece.length);
            if (!give.length) continue;
            have += give.length;
            yield give;
          }
          if (Number.isFinite(total) && have !== total) throw new Error(`got ${have} of ${total} bytes`);
          return;
        } catch (err) {
          if (attempt >= attempts) throw new ClientError(`downloading ${path} kept failing (${(err as Error).message})`, 'download_failed');
          log?.(`roomcast: ${path} cut at ${have} bytes (${(err as Error).message}), resuming`);
          await sleep(Math.min(15_000, 250 * 2 ** (attempt - 1)));
          res = await again(have);
        }
      }
    })();
  }

  async task(): Promise<ClientTask> {
    return (await (await this.call('GET', '/api/v1/client/task')).json()) as ClientTask;
  }

  async registerCapture(manifest: Manifest) {
    const res = await this.call('POST', '/api/v1/client/capture', { json: manifest });
    return (await res.json()) as { versionId: number; number: number; missing: string[] };
  }

  async announceChunks(chunkSize: number, chunks: Array<{ hash: string; length: number }>) {
    const res = await this.call('POST', '/api/v1/client/capture/chunks', { json: { chunkSize, chunks } });
    return (await res.json()) as { versionId: number; number: number; missing: string[] };
  }

  /** Uploads a frame with its Content-Digest: the api checks the transfer, answers 202 and checks the content in the background. */
  async putChunk(hash: string, data: Buffer, digest = contentDigest(data)): Promise<void> {
    await this.call('PUT', `/api/v1/client/chunks/${hash}`, { body: data, headers: { 'content-digest': digest } });
  }

  /** Publishes the capture; a ClientError 'chunks_missing' (details.missing: the hashes) when chunks must be uploaded again. */
  async commit(windows: WindowsFacts[] = []) {
    try {
      return (await (await this.call('POST', '/api/v1/client/capture/commit', { json: { windows } })).json()) as { versionId: number; number: number };
    } catch (err) {
      if (err instanceof HttpStatusError && err.code === 'chunks_missing') throw new ClientError(err.message, 'chunks_missing', { missing: err.errors.filter((h) => typeof h === 'string') });
      throw err;
    }
  }

  async answerFile(): Promise<Buffer> {
    return (await this.call('GET', '/api/v1/client/answer-file')).buffer();
  }

  async manifest(): Promise<Manifest> {
    return ManifestSchema.parse(await (await this.call('GET', '/api/v1/client/manifest')).json());
  }

  /** Downloads a chunk; a transfer cut short continues where it stopped (Range). */
  async getChunk(hash: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    let have = 0;
    let total: number | null = null;
    for (let attempt = 1; ; attempt++) {
      const res = await this.call('GET', `/api/v1/client/chunks/${hash}`, { stream: true, ...(have ? { headers: { range: `bytes=${have}-` } } : {}) });
      if (have && res.status !== 206) {
        parts.length = 0; // the server ignored the range: start over
        have = 0;
      }
      const range = /\/(\d+)$/.exec(res.headers.get('content-range') ?? '');
      total = range ? Number(range[1]) : Number(res.headers.get('content-length') ?? NaN);
      try {
        for await (const piece of res.body) {
          parts.push(piece); // no copy: concat copies once
          have += piece.length;
        }
        if (Number.isFinite(total) && have !== total) throw new Error(`got ${have} of ${total} bytes`);
        return Buffer.concat(parts, have);
      } catch (err) {
        if (attempt >= this.attempts) throw new ClientError(`downloading chunk ${hash.slice(0, 12)} kept failing (${(err as Error).message})`, 'download_failed');
        this.o.log?.(`roomcast: chunk ${hash.slice(0, 12)} cut at ${have} bytes (${(err as Error).message}), resuming`);
        await sleep(Math.min(15_000, 250 * 2 ** (attempt - 1)));
      }
    }
  }

  async getChunkRange(hash: string, start: number, end: number): Promise<Buffer> {
    for (let attempt = 1; ; attempt++) {
      const res = await this.call('GET', `/api/v1/client/chunks/${hash}`, { headers: { range: `bytes=${start}-${end - 1}` } });
      try {
        const body = await res.buffer();
        if (res.status === 206) return body;
        return body.subarray(start, end); // the server ignored the range
      } catch (err) {
        if (attempt >= this.attempts) throw new ClientError(`downloading part of chunk ${hash.slice(0, 12)} kept failing (${(err as Error).message})`, 'download_failed');
        await sleep(Math.min(15_000, 250 * 2 ** (attempt - 1)));
      }
    }
  }

  async restoreCheck(): Promise<{ chunks: number; missing: string[] }> {
    return (await (await this.call('GET', '/api/v1/client/restore/check')).json()) as { chunks: number; missing: string[] };
  }

  async reportDamaged(hash: string, detail: string): Promise<{ damaged: boolean }> {
    return (await (await this.call('POST', `/api/v1/client/chunks/${hash}/damaged`, { json: { detail: detail.slice(0, 500) } })).json()) as { damaged: boolean };
  }

  async progress(p: Progress): Promise<void> {
    await this.call('POST', '/api/v1/client/progress', { json: p });
  }

  async result(r: TaskResult): Promise<void> {
    await this.call('POST', '/api/v1/client/result', { json: r });
  }
}
