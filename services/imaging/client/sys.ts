// Running the Debian tools the client relies on (sfdisk, losetup, blkid, partclone, ntfs-3g, ...),
// with errors that name the command and carry its own message.
import { execFile, type ExecFileOptions } from 'node:child_process';

export class ClientError extends Error {
  /**
   * The message already says that nothing was written to the disk (a check made before any write
   * failed): a restore's failure then adds no sentence of its own about the disk's state.
   */
  readonly saysNothingWritten: boolean;

  /** A sentence a person at the PC or in the web UI can act on. */
  constructor(
    message: string,
    readonly code = 'client_error',
    /** Facts for the task's result (e.g. the state a failed restore left the disk in). */
    readonly details: Record<string, unknown> = {},
    opts: { saysNothingWritten?: boolean } = {},
  ) {
    super(message);
    this.saysNothingWritten = opts.saysNothingWritten ?? false;
  }
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs a program; rejects with its stderr (or stdout) when it exits non-zero. */
export function run(cmd: string, args: string[], opts: ExecFileOptions & { input?: string | Buffer } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { maxBuffer: 256 << 20, encoding: 'utf8', ...opts }, (err, stdout, stderr) => {
      if (err) {
        const e = err as NodeJS.ErrnoException & { code?: unknown };
        const text = String(stderr || stdout || '').trim().split('\n').slice(-5).join(' / ');
        const why = e.code === 'ENOENT' ? 'the program is missing from the boot client' : text || e.message;
        reject(new ClientError(`${cmd} ${args.join(' ')}: ${why}`, 'tool_failed'));
      } else resolve({ stdout: String(stdout), stderr: String(stderr) });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Like run, but resolves to null instead of failing (for probes). */
export async function tryRun(cmd: string, args: string[], opts: ExecFileOptions = {}): Promise<RunResult | null> {
  try {
    return await run(cmd, args, opts);
  } catch {
    return null;
  }
}
