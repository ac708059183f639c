// The TFTP data pump for tests: built once per content of pump.c (ops/build-pump.mjs, into the temp
// directory), so that tests run the C engine as it is in the checkout, not a stale dist/bin.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SOURCE = path.join(ROOT, 'services/boot/tftp/pump/pump.c');

/** The two engines of the TFTP server; tests that prove the protocol run for both. */
export const TFTP_ENGINES = ['node', 'pump'] as const;
export type TftpEngine = (typeof TFTP_ENGINES)[number];

let built: string | undefined;

/** Path of a pump binary built from the checkout's pump.c (compiled on first use). */
export function pumpBinary(): string {
  if (built) return built;
  const hash = createHash('sha256').update(fs.readFileSync(SOURCE)).digest('hex').slice(0, 16);
  const out = path.join(os.tmpdir(), `roomcast-tftp-pump-${hash}`, 'roomcast-tftp-pump');
  if (!fs.existsSync(out)) execFileSync(process.execPath, [path.join(ROOT, 'ops/build-pump.mjs'), out], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (!fs.existsSync(out)) throw new Error('the TFTP pump was not built: a C compiler (cc, Debian package gcc) is needed');
  built = out;
  return out;
}

/** TftpServer options that select `engine` (the pump must start, or the server does not). */
export function engineOptions(engine: TftpEngine): { engine: TftpEngine; pumpBinary?: string } {
  return engine === 'pump' ? { engine, pumpBinary: pumpBinary() } : { engine };
}
