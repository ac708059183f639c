// One multicast session on the server (issue 14): Debian's udp-sender sends, once, the record stream
// (client/multicast-records.ts) of the chunks the room's PCs need, in disk order. The decisions (its
// options, its outcome) are session.ts's; this file runs the program.
//
// Rules:
// - The chunks go in the order given (the caller passes them in disk order, each once), each read
//   from the store when the stream gets to it: udp-sender's stdin gives the back-pressure, so at most
//   a chunk or two sits in memory.
// - The session always ends: udp-sender bounds the wait for PCs and drops a silent one (session.ts),
//   and udp-sender is killed (SIGTERM, then SIGKILL 5 s later) past sessionTimeoutSec or when `signal`
//   aborts. No sender outlives its session.
// - The report says the bytes written to udp-sender (the stream, once, whatever the number of PCs),
//   the PCs joined and dropped, and the outcome with a reason a person can act on.
import { spawn } from 'node:child_process';
import { encodeSession } from '../client/multicast-records.js';
import { readSenderLog, senderArgs, senderOutcome, type MulticastSettings, type SenderReason, type SessionSlot } from './session.js';

export interface SendOptions {
  settings: MulticastSettings;
  slot: SessionSlot;
  versionId: number;
  /** The chunks to send, in disk order, each once, with their stored size. */
  chunks: Array<{ id: string; storedSize: number }>;
  /** Reads a stored chunk: its file, ImageStore.chunkPath. */
  read: (id: string) => Promise<Buffer>;
  /** The program, default 'udp-sender'; `prefix` runs it through another (tests: ip netns exec NS). */
  program?: string;
  prefix?: string[];
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface SenderReport {
  ok: boolean;
  reason: SenderReason;
  detail: string;
  /** Bytes of the record stream written to udp-sender: sent once to every PC. */
  streamBytes: number;
  chunks: number;
  joined: string[];
  dropped: string[];
  exitCode: number | null;
  seconds: number;
}

const KILL_GRACE_MS = 5000;

export function sendSession(o: SendOptions): Promise<SenderReport> {
  const began = Date.now();
  const args = senderArgs(o.settings, o.slot);
  const program = o.program ?? 'udp-sender';
  const [cmd, ...rest] = o.prefix?.length ? [...o.prefix, program, ...args] : [program, ...args];
  o.log?.(`multicast: ${cmd} ${rest.join(' ')} (${o.chunks.length} chunks)`);
  return new Promise((resolve) => {
    let stderr = '';
    let streamBytes = 0;
    let streamError: string | null = null;
    let timedOut = false;
    let spawnError: string | null = null;
    let killTimer: NodeJS.Timeout | undefined;
    const child = spawn(cmd!, rest, { stdio: ['pipe', 'ignore', 'pipe'] });
    const stop = () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      killTimer ??= setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    };
    const bound = setTimeout(() => {
      timedOut = true;
      stop();
    }, o.settings.sessionTimeoutSec * 1000);
    const onAbort = () => {
      streamError ??= 'the session was cancelled';
      stop();
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    // Cancelled before it started: the listener above will not hear it.
    if (o.signal?.aborted) onAbort();
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      stderr = (stderr + s).slice(-200_000);
    });
    child.on('error', (err) => {
      spawnError = err.message;
    });

    const stream = encodeSession(o.versionId, o.chunks, o.read);
    stream.on('data', (b: Buffer) => {
      streamBytes += b.length;
    });
    stream.on('error', (err) => {
      streamError ??= err.message;
      stop();
    });
    // udp-sender closes its stdin when it gives up or drops everyone: not an error of the session.
    child.stdin.on('error', () => stream.destroy());
    stream.pipe(child.stdin);

    child.on('close', (code, signal) => {
      clearTimeout(bound);
      clearTimeout(killTimer);
      o.signal?.removeEventListener('abort', onAbort);
      stream.destroy();
      const log = readSenderLog(stderr);
      const out = spawnError
        ? { ok: false, reason: 'sender_failed' as const, detail: `udp-sender could not run (${spawnError}); install Debian's udpcast` }
        : senderOutcome({ code, signal, timedOut, streamError }, log);
      const report: SenderReport = { ...out, streamBytes, chunks: o.chunks.length, joined: log.joined, dropped: log.dropped, exitCode: code, seconds: (Date.now() - began) / 1000 };
      o.log?.(`multicast: session on ${o.slot.group}:${o.slot.portBase} ended: ${report.reason} (${report.detail}), ${streamBytes} bytes in ${report.seconds.toFixed(1)} s`);
      resolve(report);
    });
  });
}
