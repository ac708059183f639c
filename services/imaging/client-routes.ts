// The boot client's capture and restore calls to the image store (/api/v1/client/*, access 'machine':
// the task token from the hello answer). The calls every task kind shares (task, progress, result) are
// the tasks domain's (tasks/routes.ts).
import fs from 'node:fs';
import path from 'node:path';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { AppError } from '../core/errors.js';
import { defineRoute, wholeForLongSuffix, type AnyRoute } from '../core/route.js';
import { HASH_PATTERN } from './format.js';
import type { MachineProtocol } from './protocol.js';
import { WindowsFactsSchema } from './windows-facts.js';
import { CHUNK_UPLOAD_MARGIN } from './store.js';

/** The largest manifest a capture may post (a fully used multi-terabyte disk with a fragmented NTFS). */
export const MANIFEST_LIMIT = 64 * 1024 * 1024;
/** The largest chunk frame: format v1 allows chunks of up to 64 MiB. */
export const CHUNK_LIMIT = 64 * 1024 * 1024 + CHUNK_UPLOAD_MARGIN;

const Bytes = z.number().int().nonnegative();
const hashParams = z.object({ hash: z.string().regex(HASH_PATTERN, { error: 'a SHA-256 in lowercase hexadecimal (64 digits)' }) });

async function sendChunk(req: Request, res: Response, root: string, name: string): Promise<void> {
  if (req.headers.range) wholeForLongSuffix(req, (await fs.promises.stat(path.join(root, name))).size);
  return new Promise<void>((resolve, reject) => {
    res.sendFile(name, { root, acceptRanges: true, lastModified: false, cacheControl: false, dotfiles: 'deny', headers: { 'Content-Type': 'application/zstd' } }, (err) => {
      // A client that hangs up mid-transfer resumes with Range; before any byte went out, it is reported.
      if (err && !res.headersSent) reject(err);
      else resolve();
    });
  });
}

/** A whole upload as one Buffer (a chunk without Content-Digest, checked before the answer); 413 past `limit` bytes. */
async function readBody(body: AsyncIterable<Buffer>, limit: number): Promise<Buffer> {
  const pieces: Buffer[] = [];
  let size = 0;
  for await (const piece of body) {
    size += piece.length;
    if (size <= limit) pieces.push(piece); // past it: drained, so that the answer can be read
    else if (size > 2 * limit) break; // far past it (a body with no length): stop reading, drop the connection
  }
  if (size > limit) throw new AppError(413, 'payload_too_large', `the body is larger than ${limit} bytes`);
  return Buffer.concat(pieces, size);
}

/** The sha-256 (hex) of a Content-Digest header (RFC 9530: a dictionary such as `sha-256=:<base64>:`); 400 bad_digest otherwise. */
export function parseContentDigest(header: string): string {
  const m = /(?:^|,)\s*sha-256=:([A-Za-z0-9+/]{43}=):\s*(?:;[^,]*)?(?:,|$)/.exec(header);
  if (!m) throw new AppError(400, 'bad_digest', 'Content-Digest: give the SHA-256 of the body as sent, as sha-256=:<base64>: (RFC 9530)');
  return Buffer.from(m[1]!, 'base64').toString('hex');
}

export function clientRoutes(imaging: MachineProtocol): AnyRoute[] {
  const errors = { 403: 'not_a_task_token | task_mismatch', 404: 'task_gone', 409: 'task_not_running | task_failed | wrong_task_kind' };
  return [
    defineRoute({
      method: 'post', path: '/api/v1/client/capture', tag: 'client', access: 'machine',
      summary: 'Capture: post the manifest (image format v1, JSON, up to 64 MiB); records the capturing version and answers which chunks the store lacks. Posting again replaces the manifest (client restarted).',
      rawBody: ['application/json'], bodyLimit: MANIFEST_LIMIT,
      response: z
        .object({ versionId: z.number().int(), number: z.number().int(), missing: z.array(z.string()).describe('distinct hashes to upload'), missingBytes: Bytes.describe('their uncompressed size') })
        .meta({ id: 'CaptureAnswer' }),
      errors: { ...errors, 400: 'bad_json | bad_manifest', 409: 'task_not_running | task_failed | wrong_task_kind | capture_committed', 507: 'insufficient_storage' },
      handler: ({ machine, body }) => imaging.registerCapture(machine!, body as Buffer),
    }),
    defineRoute({
      method: 'post', path: '/api/v1/client/capture/chunks', tag: 'client', access: 'machine',
      summary:
        'Streaming capture: name the chunks read and hashed so far, before the manifest exists. The first batch records the capturing version; ' +
        'each batch joins its version\'s chunk list (kept from the store\'s GC from then on) and the answer lists those the store lacks: upload them (PUT /api/v1/client/chunks/:hash). ' +
        'The manifest, posted at the end (POST /api/v1/client/capture), replaces the list; then commit.',
      body: z.object({
        chunkSize: z.number().int().min(65536).max(64 * 1024 * 1024).describe('the capture\'s chunk size (as its manifest will give it)'),
        chunks: z
          .array(z.object({ hash: hashParams.shape.hash, length: z.number().int().positive().describe('uncompressed bytes of the window') }))
          .min(1)
          .max(4096),
      }),
      response: z
        .object({ versionId: z.number().int(), number: z.number().int(), missing: z.array(z.string()).describe('hashes of this batch the store lacks'), missingBytes: Bytes.describe('their uncompressed size') })
        .meta({ id: 'ChunkAnnouncementAnswer' }),
      errors: { ...errors, 400: 'bad_chunk_list', 404: 'task_gone | image_gone', 409: 'task_not_running | task_failed | wrong_task_kind | capture_committed | chunk_size_changed', 507: 'insufficient_storage' },
      handler: ({ machine, body }) => imaging.announceChunks(machine!, body),
    }),
    defineRoute({
      method: 'put', path: '/api/v1/client/chunks/:hash', tag: 'client', access: 'machine',
      summary:
        'Capture: upload one chunk (its zstd frame); the store keeps it only if its decompressed bytes hash to :hash. ' +
        'With a Content-Digest header (RFC 9530, sha-256 of the body as sent), the answer is 202 as soon as the body is read: ' +
        'the body is checked against the digest, and its content against :hash, in the background before the chunk enters the store ' +
        '(the commit waits for it; a rejected chunk is listed missing, with its reason, and is uploaded again). ' +
        'Without one: checked before the answer, 201 stored, 200 already there.',
      params: hashParams, rawBody: ['application/octet-stream', 'application/zstd'], bodyLimit: CHUNK_LIMIT, streamBody: true,
      response: z.object({ hash: z.string(), stored: z.boolean().describe('false: the store already had it (or, with 202, it is being checked)'), checking: z.boolean().optional().describe('true: accepted, checked in the background') }),
      errors: { ...errors, 400: 'bad_digest', 409: 'task_not_running | task_failed | wrong_task_kind | no_capture | chunk_not_expected', 413: 'chunk_too_large', 422: 'hash_mismatch | bad_chunk' },
      handler: async ({ machine, params, req, res }) => {
        const digest = req.headers['content-digest'];
        if (digest !== undefined) {
          // Read as it arrives, into its temporary file (no Buffer of the whole frame).
          const outcome = await imaging.putChunkStream(machine!, params.hash, req, parseContentDigest(String(digest)));
          res.status(outcome === 'queued' ? 202 : 200);
          return { hash: params.hash, stored: false, checking: outcome === 'queued' };
        }
        const outcome = await imaging.putChunk(machine!, params.hash, await readBody(req, CHUNK_LIMIT));
        res.status(outcome === 'stored' ? 201 : 200);
        return { hash: params.hash, stored: outcome === 'stored' };
      },
    }),
    defineRoute({
      method: 'post', path: '/api/v1/client/capture/commit', tag: 'client', access: 'machine',
      summary: 'Capture: publish the version once every chunk is in the store (manifest written durably, then the version is ready); the task runs on until the result',
      body: z
        .object({ windows: z.array(WindowsFactsSchema).max(128).optional().describe('what the client read of the Windows the disk holds (one per partition holding Windows; [] for none), recorded with the version') }),
      response: z
        .object({ versionId: z.number().int(), number: z.number().int(), state: z.literal('ready'), chunkCount: z.number().int(), storedBytes: Bytes, manifestSha256: z.string() })
        .meta({ id: 'CommitAnswer' }),
      errors: {
        ...errors,
        409: 'task_not_running | task_failed | wrong_task_kind | no_capture | chunks_missing (errors: the hashes; upload them again) | capture_cancelled | manifest_missing',
        422: 'manifest_mismatch',
        503: 'chunks_checking (with Retry-After: the last uploads are still being checked)',
      },
      handler: async ({ machine, body, res }) => {
        try {
          return await imaging.commitCapture(machine!, body.windows);
        } catch (err) {
          if (err instanceof AppError && err.code === 'chunks_checking') res.set('Retry-After', '2');
          throw err;
        }
      },
    }),
    defineRoute({
      method: 'get', path: '/api/v1/client/manifest', tag: 'client', access: 'machine',
      summary: 'Restore: the manifest of the task\'s version, byte for byte (its SHA-256 in X-Manifest-Sha256)',
      response: { mediaType: 'application/json' },
      errors: { ...errors, 404: 'task_gone | manifest_missing', 409: 'task_not_running | task_failed | wrong_task_kind | version_not_ready | version_damaged' },
      handler: async ({ machine, res }) => {
        const m = await imaging.restoreManifest(machine!);
        res.set('X-Manifest-Sha256', m.sha256);
        return m.bytes;
      },
    }),
    defineRoute({
      method: 'get', path: '/api/v1/client/restore/check', tag: 'client', access: 'machine',
      summary: 'Restore pre-flight, before the PC writes anything: which chunks of the task\'s version the store lacks (an existence check, no chunk is read). Missing chunks mark the version damaged',
      response: z.object({ chunks: z.number().int().describe('distinct chunks of the version'), missing: z.array(z.string()).describe('hashes the store lacks') }).meta({ id: 'RestoreCheck' }),
      errors: { ...errors, 409: 'task_not_running | task_failed | wrong_task_kind | version_not_ready | version_damaged' },
      handler: ({ machine }) => imaging.restoreCheck(machine!),
    }),
    defineRoute({
      method: 'post', path: '/api/v1/client/chunks/:hash/damaged', tag: 'client', access: 'machine',
      summary: 'Restore: a chunk downloaded twice did not match its hash. The store re-reads its copy; a bad one marks every version holding it damaged (with an alert)',
      params: hashParams, body: z.object({ detail: z.string().max(500).optional() }),
      response: z.object({ damaged: z.boolean().describe('the store\'s copy is bad: the version is now damaged') }),
      errors: { ...errors, 404: 'task_gone | chunk_not_found' },
      handler: ({ machine, params }) => imaging.chunkDamaged(machine!, params.hash),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/client/chunks/:hash', tag: 'client', access: 'machine',
      summary: 'Download one chunk (zstd frame) of the task\'s version; Range requests supported (206) to resume',
      params: hashParams, response: { mediaType: 'application/zstd' },
      errors: { ...errors, 404: 'task_gone | chunk_not_found | chunk_missing', 409: 'task_not_running | task_failed | wrong_task_kind | version_not_ready | version_damaged | no_capture' },
      handler: async ({ machine, params, req, res }) => {
        const name = await imaging.chunkForDownload(machine!, params.hash);
        await sendChunk(req, res, imaging.store.chunksDir, name);
      },
    }),
  ];
}
