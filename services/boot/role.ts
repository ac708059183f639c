// The boot role: proxyDHCP (UDP 67/4011) and TFTP (UDP 69), asking the api what each MAC should boot.
// The protocol servers arrive with the network-boot issue; until then the role only checks that the api answers,
// so a misconfigured ROOMCAST_API_URL shows up in the log from day one.
import type { Logger } from '../core/logger.js';

export interface BootRole {
  stop(): Promise<void>;
}

export async function startBootRole(deps: { apiUrl: string; log: Logger }): Promise<BootRole> {
  const log = deps.log.child({ role: 'boot' });
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
  const loop = async (attempt: number) => {
    if (!(await check()) && attempt < 20) timer = setTimeout(() => void loop(attempt + 1), 3000);
  };
  // Started after the api in an all-in-one process; give it a moment in separate containers.
  timer = setTimeout(() => void loop(1), 500);
  log.info('boot role started (proxyDHCP and TFTP are delivered by the network-boot issue)');
  return {
    stop: async () => clearTimeout(timer),
  };
}
