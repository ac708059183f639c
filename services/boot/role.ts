// The boot role: proxyDHCP (UDP 67/4011) and TFTP (UDP 69), asking the api what each MAC should boot.
// TFTP serves the iPXE binaries from config.tftp.root; proxyDHCP arrives with the rest of the
// network-boot issue. The role also checks that the api answers, so a misconfigured
// ROOMCAST_API_URL shows up in the log from day one. With Redis, it also runs the network
// pre-flight's probes for the worker (network/probes.ts).
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../core/logger.js';
import type { RedisHandle } from '../core/redis.js';
import { SnapshotPolicy } from './policy/snapshot.js';
import { cachedPolicy, type BootPolicy } from './proxydhcp/policy.js';
import type { SecureBootMode } from './proxydhcp/secureboot.js';
import { ProxyDhcpServer } from './proxydhcp/server.js';
import { TftpServer } from './tftp/server.js';
import { startNetworkProbes, type NetworkProbesOptions, type ProbeService } from '../network/probes.js';

/** The files proxyDHCP hands to PXE firmware; images/ipxe/fetch.sh puts them in the TFTP root. */
export const IPXE_BINARIES = ['undionly.kpxe', 'ipxe.efi', 'snponly.efi'] as const;
/** What images/secureboot/fetch.sh puts there for ROOMCAST_SECURE_BOOT=on|auto. */
export const SECURE_BOOT_FILES = ['shimx64.efi', 'grubx64.efi', 'grub/grub.cfg'] as const;

export interface BootRole {
  stop(): Promise<void>;
  /** The UDP port TFTP listens on (useful when configured as 0). */
  tftpPort: number;
}

export interface BootRoleDeps {
  apiUrl: string;
  /** engine and pumpBinary: TftpServerOptions's (default here: 'auto', the pump when it is built). */
  tftp: { root: string; host: string; port: number; engine?: 'auto' | 'pump' | 'node'; pumpBinary?: string };
  /** proxyDHCP, when enabled: this server's address on the PCs' LAN and the HTTP port iPXE uses. */
  proxyDhcp?: { bootIp: string; httpPort: number; dhcpPort?: number; pxePort?: number; secureBoot?: SecureBootMode };
  /** Where the api keeps the boot policy snapshot; without it, the proxyDHCP asks the api for each PC. */
  redis?: Pick<RedisHandle, 'createClient' | 'prefix'>;
  /** The network pre-flight's probes (network/probes.ts), run here for the worker; needs redis. */
  preflight?: NetworkProbesOptions;
  log: Logger;
}

/** Asks the api what a MAC should boot (GET /boot/policy); any failure means "stay silent". */
export function apiBootPolicy(apiUrl: string): BootPolicy {
  return async (mac, arch) => {
    const res = await fetch(`${apiUrl}/boot/policy?mac=${encodeURIComponent(mac)}&arch=${arch}`, { signal: AbortSignal.timeout(1500) });
    if (!res.ok) throw new Error(`api answered ${res.status} to the boot policy lookup`);
    const body = (await res.json()) as { action?: unknown };
    return body.action === 'boot' ? 'boot' : 'ignore';
  };
}

export async function startBootRole(deps: BootRoleDeps): Promise<BootRole> {
  const log = deps.log.child({ role: 'boot' });

  const tftp = new TftpServer({ engine: 'auto', ...deps.tftp, log });
  // Throws with a message saying what to do (permission for port 69, port in use, bad address).
  const { port: tftpPort } = await tftp.start();
  warnAboutMissingBinaries(deps.tftp.root, log);

  let proxy: ProxyDhcpServer | undefined;
  let snapshot: SnapshotPolicy | undefined;
  if (deps.proxyDhcp) {
    const { bootIp, httpPort } = deps.proxyDhcp;
    if ((deps.proxyDhcp.secureBoot ?? 'off') !== 'off') warnAboutMissingChain(deps.tftp.root, deps.proxyDhcp.secureBoot!, log);
    const asking = cachedPolicy(apiBootPolicy(deps.apiUrl));
    let policy = asking;
    if (deps.redis) {
      snapshot = new SnapshotPolicy(deps.redis, asking, log);
      await snapshot.start();
      policy = snapshot.policy;
    } else {
      log.warn('boot role without Redis (ROOMCAST_REDIS_URL): the proxyDHCP asks the api for each PC, which a room booting at once may saturate');
    }
    proxy = new ProxyDhcpServer({
      bindAddress: '0.0.0.0',
      dhcpPort: deps.proxyDhcp.dhcpPort,
      pxePort: deps.proxyDhcp.pxePort,
      serverIp: bootIp,
      httpBase: `http://${bootIp}:${httpPort}`,
      policy,
      // auto: what each PC last reported, from the snapshot (without Redis: never known, so shim).
      secureBoot: { mode: deps.proxyDhcp.secureBoot ?? 'off', reported: snapshot?.reported },
      log,
    });
    try {
      const ports = await proxy.start();
      log.info({ bootIp, ...ports }, 'proxyDHCP answering PXE clients (never offers addresses)');
    } catch (err) {
      await snapshot?.stop();
      await tftp.stop();
      throw err;
    }
  } else {
    log.info('proxyDHCP is off (ROOMCAST_PROXYDHCP=on and ROOMCAST_BOOT_IP turn it on)');
  }

  // The network pre-flight's PXE probe and querier listen need this role's rights (port 68, tcpdump's
  // cap_net_raw); the worker asks for them through Redis.
  const probes: ProbeService | undefined = deps.redis ? startNetworkProbes({ redis: deps.redis, log, ...(deps.preflight ? { options: deps.preflight } : {}) }) : undefined;

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
  log.info({ tftpPort, proxyDhcp: Boolean(proxy) }, 'boot role started');
  return {
    tftpPort,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await probes?.stop();
      await proxy?.stop();
      await snapshot?.stop();
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

/** The Secure Boot chain is handed out (ROOMCAST_SECURE_BOOT on or auto) but not in the TFTP root. */
function warnAboutMissingChain(root: string, mode: SecureBootMode, log: Logger): void {
  const missing = SECURE_BOOT_FILES.filter((f) => !fs.existsSync(path.join(root, f)));
  if (missing.length === 0) return;
  log.warn(
    { tftpRoot: root, missing, secureBoot: mode },
    `boot role: ROOMCAST_SECURE_BOOT=${mode} but the Secure Boot chain is missing from ${root}: ${missing.join(', ')}. ` +
      `Fetch it with \`bash images/secureboot/fetch.sh ${root}\` (\`npm run secureboot\` for the default directory)`,
  );
}
