// The imaging client's entry point, run by the boot client after hello when the api's action is
// capture or restore:  node /roomcast/client.mjs run --api URL --token-file FILE [--disk auto|PATH]
// It asks the api for its task, picks the disk, runs the capture or restore (then writes the PC's name
// into the restored Windows: identity.ts), and reports the result (a reason a person can act on when it fails). Exit status: 0 done, 1 failed, 2 bad usage.
// With --end-file FILE it writes there what the PC does next (the boot client's action): the task's
// endAction when it is done (poweroff, or reboot when the run leaves the PCs on), poweroff when it failed.
//
// "--disk auto" (the default) chooses among the PC's disks by the rules of disk.ts and is refused
// outside the boot client (ROOMCAST_BOOT_CLIENT=1, set by /init), so nobody images the disk of the
// machine they run a test on by mistake.
import fs from 'node:fs';
import { HttpImagingApi, type ImagingApi } from './api.js';
import { chooseDisk, listDisks } from './disk.js';
import { capture } from './capture.js';
import { writeAnswerFile } from './answer-file.js';
import { installDrivers } from './drivers.js';
import { writeIdentity } from './identity.js';
import { writeBootEntry } from './boot-entry.js';
import { describeFailure, restore } from './restore.js';
import { joinSession, multicastDetails, type MulticastClientOptions } from './multicast-task.js';
import type { MulticastSource } from './multicast.js';
import { ClientError } from './sys.js';
import type { EndAction } from '../format.js';

interface Args {
  command: string;
  api: string;
  token: string;
  disk: string;
  concurrency: number;
  endFile: string | null;
}

function parseArgs(argv: string[]): Args {
  const [command = '', ...rest] = argv;
  const opts = new Map<string, string>();
  for (let i = 0; i < rest.length; i++) {
    const k = rest[i]!;
    if (!k.startsWith('--') || i + 1 >= rest.length) throw new ClientError(`unexpected argument ${k}`, 'usage');
    opts.set(k.slice(2), rest[++i]!);
  }
  const api = opts.get('api') ?? '';
  const token = opts.get('token') ?? (opts.has('token-file') ? fs.readFileSync(opts.get('token-file')!, 'utf8').trim() : '');
  if (!['run'].includes(command) || !api || !token) {
    throw new ClientError('usage: client.mjs run --api http://HOST:PORT (--token TOKEN | --token-file FILE) [--disk auto|/dev/sdX] [--concurrency N] [--end-file FILE]', 'usage');
  }
  return { command, api, token, disk: opts.get('disk') ?? 'auto', concurrency: Number(opts.get('concurrency') ?? 4), endFile: opts.get('end-file') ?? null };
}

/**
 * `ended`: told what the PC does next (the task's endAction when done; poweroff when it failed).
 * `multicast`: how to join a restore's multicast session (the interface, or the api's host to find it).
 */
export async function runTask(http: ImagingApi, diskArg: string, log: (line: string) => void, concurrency = 4, ended?: (next: EndAction) => void, multicast: MulticastClientOptions = {}): Promise<boolean> {
  let restoring = false;
  let restored = false;
  let api = http;
  let source: MulticastSource | null = null;
  let path: Record<string, unknown> = {};
  try {
    const task = await api.task();
    restoring = task.kind === 'restore';
    log(`roomcast: task ${task.taskId}: ${task.kind} of image "${task.image.name}"${task.version ? ` version ${task.version.number}` : ''}`);
    if (task.kind === 'restore' && task.multicast) {
      const joined = await joinSession(http, task.multicast, multicast, log);
      if ('fallback' in joined) {
        log(`roomcast: restoring over HTTP instead of the multicast session: ${joined.fallback}`);
        path = { path: 'http', multicastFallback: joined.fallback };
      } else ({ api, source } = joined);
      // What the PC heard of the session's probe (multicast-task.ts), reported whatever the path.
      if (joined.probe) path = { ...path, probe: joined.probe };
    }
    const manifest = task.kind === 'restore' ? await api.manifest() : null;
    let disk = diskArg;
    if (diskArg === 'auto') {
      if (process.env.ROOMCAST_BOOT_CLIENT !== '1') throw new ClientError('--disk auto is only allowed inside the roomcast boot client; name the disk', 'usage');
      const chosen = chooseDisk(await listDisks(), { pinnedSerial: task.diskSerial, minBytes: manifest?.disk.minSizeBytes });
      disk = chosen.path;
      log(`roomcast: target disk ${chosen.path}: ${chosen.model ?? '?'} serial ${chosen.serial ?? '?'}, ${(chosen.sizeBytes / 2 ** 30).toFixed(1)} GiB`);
    }
    if (task.kind === 'capture') {
      const r = await capture({ disk, api, log, concurrency, chunkSize: task.chunkSize });
      await api.result({ ok: true, details: { ...r } });
    } else {
      const r = await restore({ disk, api, log, concurrency, manifest: manifest! });
      restored = true;
      await source?.close();
      // The PC's own name in the restored Windows, while Windows is offline (identity.ts).
      const identity = task.computerName ? await writeIdentity(disk, manifest!, task.computerName, log) : null;
      const answerFile = identity ? await writeAnswerFile(http, disk, manifest!, identity.partition, log) : null; // its unattend.xml (answer-file.ts)
      // The driver pack of the PC's model, into the restored Windows (drivers.ts).
      const drivers = await installDrivers(disk, manifest!, http, log);
      // The firmware's Windows Boot Manager entry, the network kept first in BootOrder (boot-entry.ts; UEFI only).
      const bootEntry = await writeBootEntry(disk, manifest!.partitions, log);
      await api.result({ ok: true, details: { ...r, ...path, ...(source ? multicastDetails(source.counts) : {}), identity, answerFile, drivers, bootEntry } });
    }
    log(`roomcast: task done; the PC ${task.endAction === 'reboot' ? 'restarts from its disk and is left on' : 'powers off'}`);
    ended?.(task.endAction);
    return true;
  } catch (caught) {
    // A restore that failed before restore() began (no task, no manifest, no disk fit) wrote nothing.
    const err = restoring ? describeFailure(caught, restored ? 'complete' : 'untouched') : caught;
    const reason = err instanceof ClientError ? err.message : `unexpected error in the imaging client: ${(err as Error).stack ?? String(err)}`;
    log(`roomcast: task failed: ${reason}`);
    try {
      await source?.close();
      const counts = source ? multicastDetails(source.counts) : {};
      await api.result({ ok: false, reason: reason.slice(0, 2000), details: { ...(err instanceof ClientError ? { ...err.details, code: err.code } : { code: 'internal' }), ...path, ...counts } });
    } catch (e) {
      log(`roomcast: could not report the failure to the api: ${(e as Error).message}`);
    }
    ended?.('poweroff');
    return false;
  }
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const log = (line: string) => console.log(line);
  const api = new HttpImagingApi({ base: args.api.replace(/\/$/, ''), token: args.token, log });
  const endFile = args.endFile;
  return (await runTask(api, args.disk, log, args.concurrency, endFile ? (next) => fs.writeFileSync(endFile, `${next}\n`) : undefined, { apiHost: new URL(args.api).hostname })) ? 0 : 1;
}

const entry = process.argv[1] ?? '';
if (/client\.mjs$|client[/\\]main\.(ts|js)$/.test(entry)) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
