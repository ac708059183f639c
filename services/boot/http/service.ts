// What a network-booting PC should do, decided per MAC from the database, and the iPXE script for it:
// - a PC with an open task: the roomcast client, with a task token;
// - an unknown PC while registration is open: the client in registration mode, with a register token;
// - anything else: exit to the local disk.
// The proxyDHCP asks the same question in short (policy): answer a PC or stay silent.
import type { HostRepository } from '../../inventory/hosts.js';
import { normalizeMac } from '../../inventory/mac.js';
import type { TaskService } from '../../tasks/service.js';
import type { RegistrationWindow } from './registration.js';
import { IPXE_VALUE_PATTERNS, type Renderer, type ScriptFlavor } from './render.js';
import { DEFAULT_TOKEN_SECONDS, type BootTokens } from './tokens.js';

/** PXE client architectures (DHCP option 93) the roomcast client (x86-64 Linux) runs on; absent means x86. */
export const SUPPORTED_ARCHES = new Set([0, 7, 9]);
/** Download attempts in a script before the PC gives up and boots from its disk, and the pause between. */
export const SCRIPT_TRIES = 10;
export const SCRIPT_RETRY_DELAY_S = 3;

export type BootDecision =
  | { script: 'client'; mode: 'task'; mac: string; token: string; hostId: number; taskId: number; imaging: boolean }
  | { script: 'client'; mode: 'register'; mac: string; token: string }
  | { script: 'exit'; reason: string };

const exit = (reason: string): BootDecision => ({ script: 'exit', reason });

export class BootService {
  constructor(
    private readonly hosts: Pick<HostRepository, 'byMac'>,
    private readonly tokens: BootTokens,
    private readonly registration: RegistrationWindow,
    private readonly tasks: TaskService,
    private readonly render: Renderer,
    /** Told when a PC with an open task is sent its client (a room run counts the PC as booted); never fails the boot. */
    private readonly booted: (taskId: number) => Promise<void> = async () => {},
  ) {}

  private findHost(mac: string) {
    return this.hosts.byMac(mac);
  }

  /**
   * 'boot' for every known PC (its script may just exit to the disk: that is how a known PC without a
   * task boots normally) and for unknown ones while registration is open; 'ignore' otherwise.
   */
  async policy(mac: string, arch: number | undefined): Promise<'boot' | 'ignore'> {
    if (arch !== undefined && !SUPPORTED_ARCHES.has(arch)) return 'ignore';
    if (await this.findHost(mac)) return 'boot';
    return (await this.registration.state()).open ? 'boot' : 'ignore';
  }

  /** rawMac as the PC sent it; anything that is not a unicast MAC exits to the disk. */
  /** `ip`: the address asking (the firmware); the token works from there only. */
  async decide(rawMac: string | undefined, arch: number | undefined, ip: string | null = null): Promise<BootDecision> {
    const mac = rawMac === undefined ? null : normalizeMac(rawMac);
    if (!mac) return exit('no valid MAC address in the request');
    if (arch !== undefined && !SUPPORTED_ARCHES.has(arch)) return exit(`no roomcast client for PXE architecture ${arch}`);
    const host = await this.findHost(mac);
    if (host) {
      const task = await this.tasks.openTaskOf(host.id);
      if (!task) return exit('no task for this PC');
      // The task's kind says what the client needs: imaging.img too for captures and restores.
      const kind = this.tasks.kinds.find(task.kind);
      if (!kind) return exit(`task ${task.id} is of kind "${task.kind}", which this server does not know`);
      const token = await this.tokens.issue({ purpose: 'task', mac, taskId: task.id, hostId: host.id, ip });
      const imaging = kind.boot.imaging;
      await this.booted(task.id).catch(() => undefined);
      return { script: 'client', mode: 'task', mac, token, hostId: host.id, taskId: task.id, imaging };
    }
    const lifetimeMs = await this.registration.tokenLifetimeMs();
    if (lifetimeMs <= 0) return exit('unknown PC and registration is closed');
    const token = await this.tokens.issue({ purpose: 'register', mac, ip }, Math.min(DEFAULT_TOKEN_SECONDS, lifetimeMs / 1000));
    return { script: 'client', mode: 'register', mac, token };
  }

  /**
   * The script for a decision: iPXE's, or GRUB's (the Secure Boot chain), from the same decision;
   * `base` is the http:// origin the PC reached us at (null: unusable).
   */
  script(decision: BootDecision, base: string | null, flavor: ScriptFlavor = 'ipxe'): string {
    const exitWith = (reason: string) => this.render('exit', { reason }, flavor);
    if (decision.script === 'exit') return exitWith(decision.reason);
    if (base === null) return exitWith('the address PCs reach roomcast at is not configured (set ROOMCAST_BOOT_IP)');
    const imaging = decision.mode === 'task' && decision.imaging ? '1' : '';
    const vars = { base, mac: decision.mac, token: decision.token, mode: decision.mode, imaging, tries: SCRIPT_TRIES, delay: SCRIPT_RETRY_DELAY_S };
    if (flavor === 'ipxe') return this.render('client', vars, flavor);
    const origin = grubOrigin(base);
    if (!origin) return exitWith('the address PCs reach roomcast at cannot be written in a GRUB configuration (use an IPv4 address or a name)');
    const attempts = Array.from({ length: SCRIPT_TRIES }, (_, i) => i + 1).join(' ');
    return this.render('client', { ...vars, ...origin, bootif: `01-${decision.mac.replace(/:/g, '-')}`, attempts }, flavor);
  }
}

/** http://host[:port][/path] as GRUB's (http,host:port) device and the path under it; null for IPv6. */
export function grubOrigin(base: string): { server: string; path: string } | null {
  const m = /^http:\/\/([^/[\]]+)((?:\/[^/]+)*)$/.exec(base);
  return m ? { server: m[1]!, path: m[2]! } : null;
}

/**
 * The origin iPXE should fetch the client from, from the configuration only (never from the
 * request's Host header, which any client chooses): ROOMCAST_PUBLIC_URL when it is http:// (iPXE
 * builds may lack TLS), else http://<ROOMCAST_BOOT_IP>:<port PCs reach the api on>. Null when
 * neither is set (the script then boots the local disk and says why).
 */
export function scriptBase(publicUrl: string | undefined, bootIp: string | undefined, port: number): string | null {
  const configured = publicUrl?.replace(/\/+$/, '');
  if (configured?.startsWith('http://') && IPXE_VALUE_PATTERNS.base!.test(configured)) return configured;
  if (!bootIp) return null;
  const base = `http://${bootIp}:${port}`;
  return IPXE_VALUE_PATTERNS.base!.test(base) ? base : null;
}
