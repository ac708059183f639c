// The boot role: proxyDHCP (UDP 67/4011) and TFTP (UDP 69), asking the api what each MAC should boot.
// TFTP serves the iPXE binaries from config.tftp.root; proxyDHCP arrives with the rest of the
// network-boot issue. The role also checks that the api answers, so a misconfigured
// ROOMCAST_API_URL shows up in the log from day one.
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../core/logger.js';
import { TftpServer } from './tftp/server.js';

/** The files proxyDHCP hands to PXE firmware; images/ipxe/fetch.sh puts them in the TFTP root. */
export const IPXE_BINARIES = ['undionly.kpxe', 'ipxe.efi', 'snponly.efi'] as const;

export interface BootRole {
  stop(): Promise<void>;
  /** The UDP port TFTP listens on (useful when configured as 0). */
  tftpPort: number;
}

export interface BootRoleDeps {
  apiUrl: string;
  tftp: { root: string; host: string; port: number };
  log: Logger;
}

export async function startBootRole(deps: BootRoleDeps): Promise<BootRole> {
  const log = deps.log.child({ role: 'boot' });

  const tftp = new TftpServer({ ...deps.tftp, log });
  // Throws with a message saying what to do (permission for port 69, port in use, bad address).
  const { port: tftpPort } = await tftp.start();
  warnAboutMissingBinaries(deps.tftp.root, log);

  const check = async () => {
    try {
      const res = await fetch(`${deps.apiUrl}/api/health`, { signal: AbortSignal.timeout(3000) });
      log.info({ api: deps.apiUrl, status: res.status }, 'boot role: api reachable');
      return true;
    } catch (err) {
      log.warn({ api: deps.apiUrl, err: (err as Error).message }, 'boot role: api not reachable yet (check ROOMCAST_API_URL)');
      return false;
    }
  };
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const loop = async (attempt: number) => {
    if (!(await check()) && attempt < 20 && !stopped) timer = setTimeout(() => void loop(attempt + 1), 3000);
  };
  // Started after the api in an all-in-one process; give it a moment in separate containers.
  timer = setTimeout(() => void loop(1), 500);
  log.info({ tftpPort }, 'boot role started (TFTP; proxyDHCP is delivered by the network-boot issue)');
  return {
    tftpPort,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await tftp.stop();
    },
  };
}

function warnAboutMissingBinaries(root: string, log: Logger): void {
  const missing = IPXE_BINARIES.filter((f) => {
    try {
      return !fs.statSync(path.join(root, f)).isFile();
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return;
  log.warn(
    { tftpRoot: root, missing },
    `boot role: iPXE binaries missing from the TFTP directory ${root}: ${missing.join(', ')}. PCs cannot network-boot until they are there: ` +
      `fetch them with \`bash images/ipxe/fetch.sh ${root}\` (\`npm run ipxe\` for the default directory)`,
  );
}
