// The imaging client's HTTP requests, on node:http with a keep-alive agent rather than fetch: a chunk
// moves as the Buffer it is (no WHATWG stream around it), which the imaging bench measured at about a
// third of fetch's CPU for an upload and half for a download (2.6 MB bodies on Node 22). The answer
// offers what api.ts needs of a fetch Response: status, ok, headers.get, text, json, buffer, and the
// body as an async iterable of Buffers (a download read as it comes, resumed with Range when cut).
import http from 'node:http';
import https from 'node:https';

export interface Answer {
  status: number;
  ok: boolean;
  headers: { get(name: string): string | null };
  /** The body as it arrives (with `stream`; read it, or call text/json/buffer, once). */
  body: AsyncIterable<Buffer>;
  buffer(): Promise<Buffer>;
  text(): Promise<string>;
  json(): Promise<unknown>;
}

export interface RequestInit {
  method: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  /** The longest the server may stay silent (no byte of the answer), in ms. */
  idleMs: number;
  /**
   * Resolve once the headers are in, the body left to read (a chunk download); else the body is read
   * before the answer resolves, so that no unread body holds a connection of the agent.
   */
  stream?: boolean;
}

const agents = { http: new http.Agent({ keepAlive: true, maxSockets: 16 }), https: new https.Agent({ keepAlive: true, maxSockets: 16 }) };

/** One request; rejects on a network error or a silence longer than `idleMs` (the caller retries). */
export function request(url: string, init: RequestInit): Promise<Answer> {
  const u = new URL(url);
  const secure = u.protocol === 'https:';
  const headers: Record<string, string | number> = { ...init.headers };
  if (init.body !== undefined) headers['content-length'] = Buffer.byteLength(init.body);
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).request(u, { method: init.method, headers, agent: secure ? agents.https : agents.http }, (res) => {
      res.setTimeout(init.idleMs, () => res.destroy(new Error(`no data for ${init.idleMs / 1000} s`)));
      let read: Promise<Buffer> | undefined;
      const buffer = () =>
        (read ??= (async () => {
          const parts: Buffer[] = [];
          let n = 0;
          for await (const piece of res as AsyncIterable<Buffer>) {
            parts.push(piece);
            n += piece.length;
          }
          return Buffer.concat(parts, n);
        })());
      const status = res.statusCode ?? 0;
      const answer: Answer = {
        status,
        ok: status >= 200 && status < 300,
        headers: {
          get: (name) => {
            const v = res.headers[name.toLowerCase()];
            return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
          },
        },
        body: res,
        buffer,
        text: async () => (await buffer()).toString('utf8'),
        json: async () => JSON.parse((await buffer()).toString('utf8')) as unknown,
      };
      if (init.stream) resolve(answer);
      else buffer().then(() => resolve(answer), reject);
    });
    req.setTimeout(init.idleMs, () => req.destroy(new Error(`no answer for ${init.idleMs / 1000} s`)));
    req.on('error', reject);
    req.end(init.body);
  });
}
