// The image store from a shell, with the server's configuration (same environment variables):
//   npm run images -- verify <image name or id> [version]   re-read and check every chunk of a version
//   npm run images -- gc                                    remove chunks no version needs
// In the Compose stack: docker compose exec api node dist/services/imaging/cli.js verify "Windows 11"
// Exit status: 0 all good, 1 verification found bad chunks, 2 usage or another error.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Actor } from '../core/audit.js';
import { ConfigError, loadConfig } from '../core/config.js';
import { pino } from 'pino';
import { buildServices } from '../container.js';
import { openDatabase } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import { gib } from './store.js';

const USAGE = 'usage: npm run images -- verify <image name or id> [version]\n       npm run images -- gc';
const CLI_ACTOR: Actor = { userId: null, name: 'cli', ip: null };

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** Runs one command; returns the exit status. */
export async function runCli(argv: string[], env: NodeJS.ProcessEnv = process.env, io: CliIo = { out: console.log, err: console.error }): Promise<number> {
  const [command, ...args] = argv;
  if (!(command === 'verify' && (args.length === 1 || args.length === 2)) && !(command === 'gc' && args.length === 0)) {
    io.err(USAGE);
    return 2;
  }
  let config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(`roomcast images: ${err.message}`);
      return 2;
    }
    throw err;
  }
  const database = openDatabase(config.database);
  try {
    // The services of the composition root, without Redis: what the command changes is told in this
    // process only (events are notices; the api reads the database).
    const imaging = buildServices(config, pino({ level: 'silent' }), database).catalogue;
    if (command === 'gc') {
      const r = await imaging.gc(CLI_ACTOR);
      io.out(
        `removed ${r.removedChunks} chunk(s), ${r.orphanFiles} orphan file(s), ${r.tmpFiles} temporary file(s), ${r.manifests} manifest(s); ` +
          `${r.abandonedCaptures} abandoned capture(s) marked failed; freed ${gib(r.freedBytes)}`,
      );
      return 0;
    }
    const image = await imaging.findImage(args[0]!);
    let number: number;
    if (args[1] !== undefined) {
      if (!/^\d{1,9}$/.test(args[1])) {
        io.err(`roomcast images: "${args[1]}" is not a version number`);
        return 2;
      }
      number = Number(args[1]);
    } else if (image.latestReady !== null) {
      number = image.latestReady;
    } else {
      io.err(`roomcast images: image "${image.name}" has no ready version`);
      return 2;
    }
    const r = await imaging.verifyVersion(CLI_ACTOR, image.id, number);
    for (const b of r.bad) io.out(`bad chunk ${b.hash}: ${b.reason} (${b.detail})`);
    if (r.ok) {
      io.out(`image "${image.name}" version ${number}: all ${r.checked} chunks present and intact`);
      return 0;
    }
    io.out(`image "${image.name}" version ${number}: ${r.bad.length} of ${r.checked} chunks missing or corrupt; it is now marked damaged and will not be restored: restore another version or capture the reference PC again`);
    return 1;
  } catch (err) {
    if (err instanceof AppError) {
      io.err(`roomcast images: ${err.message}`);
      return 2;
    }
    throw err;
  } finally {
    await database.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  runCli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(`roomcast images: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exitCode = 2;
    },
  );
}
