// Is a PC in use? The edge of the pipeline's 'start' event when the run says "skip PCs in use".
//
// A PC is in use when it answers on the network AND has not network-booted since the run started
// (a PC that booted roomcast's client since then is ours, not a person's). "Answers" is a TCP
// connect, with a short timeout, to its last known address (the inventory's IP, else the address
// its boot client last said hello from) on the ports a running OS opens: 135 (RPC), 445 (SMB), 3389
// (RDP) for Windows, 22 (SSH) for Linux.
// - A connect that succeeds: something listens, the OS is up.
// - A refused connect (TCP RST) means the host is up too: only a running IP stack answers with a
//   reset. It counts as in use: skipping a running PC costs one night, erasing a pupil's open work
//   costs more. (A powered-off PC, or one waiting in its firmware for Wake-on-LAN, does not answer
//   ARP: the connect times out or fails with "host unreachable".)
// - A timeout or any other error: not seen, so not in use. A Windows firewall that drops everything
//   hides a running PC: the probe cannot tell it from a powered-off one.
// A PC without a known address cannot be probed: not in use (logged).
import net from 'node:net';
import type { Logger } from '../core/logger.js';
import type { HostRepository } from '../inventory/hosts.js';
import type { RunPcView, RunView } from '../runs/service.js';
import type { TaskService } from '../tasks/service.js';

export const IN_USE_PORTS = [135, 445, 3389, 22] as const;
export const IN_USE_TIMEOUT_MS = 1500;

export interface InUseFinding {
  address: string;
  port: number;
  /** open: something listens; refused: a TCP reset (the host is up, nothing on that port). */
  answer: 'open' | 'refused';
}

/** One TCP connect: 'open', 'refused' or null (timeout, unreachable, any other error). Never throws. */
export function tcpAnswer(address: string, port: number, timeoutMs: number): Promise<InUseFinding['answer'] | null> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: address, port });
    let settled = false;
    const done = (v: InUseFinding['answer'] | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    socket.once('connect', () => done('open'));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' ? 'refused' : null));
  });
}

/** Probes every port at once; an open port wins over a refused one (the first in `ports` order). Null: nothing answered. */
export async function probeHost(address: string, ports: readonly number[] = IN_USE_PORTS, timeoutMs = IN_USE_TIMEOUT_MS): Promise<InUseFinding | null> {
  const answers = await Promise.all(ports.map((p) => tcpAnswer(address, p, timeoutMs)));
  for (const want of ['open', 'refused'] as const) {
    const i = answers.indexOf(want);
    if (i >= 0) return { address, port: ports[i]!, answer: want };
  }
  return null;
}

export interface InUseSettings {
  ports?: readonly number[];
  timeoutMs?: number;
}

/** The run worker's in-use probe (RunWorkerOptions.inUse) over the inventory and the tasks. */
export function inUseProbe(
  deps: { hosts: Pick<HostRepository, 'byId'>; tasks: Pick<TaskService, 'lastAddressOf'>; log?: Logger },
  settings: InUseSettings = {},
): (pc: RunPcView, run: RunView) => Promise<InUseFinding | null> {
  return async (pc, run) => {
    if (pc.hostId === null) return null;
    const host = await deps.hosts.byId(pc.hostId);
    if (!host) return null;
    // Network-booted (its boot client said hello) since the run started: roomcast's, not a person's.
    if (host.last_seen_at && run.startedAt && host.last_seen_at >= run.startedAt) return null;
    const address = host.ip ?? (await deps.tasks.lastAddressOf(host.id));
    if (!address) {
      deps.log?.info({ run: run.id, host: host.name }, 'in-use probe: no known address for this PC; it is taken as not in use');
      return null;
    }
    const found = await probeHost(address.replace(/^::ffff:/i, ''), settings.ports ?? IN_USE_PORTS, settings.timeoutMs ?? IN_USE_TIMEOUT_MS);
    deps.log?.info({ run: run.id, host: host.name, address, found }, found ? 'in-use probe: the PC answers' : 'in-use probe: no answer');
    return found;
  };
}
