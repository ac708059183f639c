// Network pre-flight (issue 14): the rogue PXE answerer probe's input and output. Broadcasts one PXE
// DISCOVER (pxe-answers.ts) from the PCs' interface, collects every DHCP reply for a few seconds and
// classifies them.
//
// Sockets, as a PC would: the answers are broadcast to 255.255.255.255:68 (the DISCOVER sets the
// broadcast flag), and only a socket bound to 0.0.0.0:68 hears broadcasts; the DISCOVER leaves from a
// second socket bound to the interface's address (port 68 too), because Linux sends a broadcast out of
// the interface that owns the source address. Both use SO_REUSEADDR so that another listener on port 68
// (a DHCP client of the host, the proxyDHCP's replies to PCs) is not in the way. Port 68 needs root or
// CAP_NET_BIND_SERVICE. The MAC of each answerer comes from the neighbour table after one datagram to
// its discard port (9), when the kernel resolved it.
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import { classifyAnswers, pxeDiscover, type PxeCheck, type RawAnswer } from './pxe-answers.js';

export interface PxeProbeOptions {
  /** The PCs' interface (e.g. eth0). */
  interface: string;
  /** roomcast's own proxyDHCP addresses (its boot IP): recognised and left out. */
  own: readonly string[];
  /** How long answers are collected (default 3000 ms). */
  listenMs?: number;
  /** Client port (default 68; tests may use another). */
  clientPort?: number;
  /** Server port (default 67). */
  serverPort?: number;
}

/** The interface's first IPv4 address, or an error naming what to do. */
export function interfaceAddress(name: string): string {
  const list = os.networkInterfaces()[name];
  if (!list) throw new Error(`the interface "${name}" does not exist on this server: set ROOMCAST_MULTICAST_INTERFACE to the interface on the PCs' network`);
  const v4 = list.find((a) => a.family === 'IPv4' && !a.internal) ?? list.find((a) => a.family === 'IPv4');
  if (!v4) throw new Error(`the interface "${name}" has no IPv4 address: give it one on the PCs' network`);
  return v4.address;
}

function bind(address: string, port: number): Promise<dgram.Socket> {
  const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  return new Promise((resolve, reject) => {
    s.once('error', (err) => {
      s.close();
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'EACCES') reject(new Error(`cannot listen on UDP port ${port} as a PXE client would: the pre-flight needs root or CAP_NET_BIND_SERVICE`));
      else if (e.code === 'EADDRINUSE') reject(new Error(`UDP port ${port} is held by another program that does not share it (a DHCP client?): the PXE check cannot listen`));
      else reject(err);
    });
    s.bind(port, address, () => {
      s.removeAllListeners('error');
      s.on('error', () => undefined);
      resolve(s);
    });
  });
}

/** The neighbour table's MAC for each address that has a complete entry on the interface. */
export function neighbourMacs(iface: string, text = readArp()): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n').slice(1)) {
    const [addr, , flags, mac, , dev] = line.trim().split(/\s+/);
    if (!addr || !mac || dev !== iface || flags !== '0x2' || mac === '00:00:00:00:00:00') continue;
    out.set(addr, mac.toLowerCase());
  }
  return out;
}

function readArp(): string {
  try {
    return fs.readFileSync('/proc/net/arp', 'utf8');
  } catch {
    return '';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Broadcasts a PXE DISCOVER and classifies the answers. Throws with a sentence when it cannot listen or send. */
export async function probePxeAnswerers(o: PxeProbeOptions): Promise<PxeCheck> {
  const address = interfaceAddress(o.interface);
  const clientPort = o.clientPort ?? 68;
  const probe = pxeDiscover();
  const answers: RawAnswer[] = [];
  const hear = await bind('0.0.0.0', clientPort);
  let send: dgram.Socket | undefined;
  try {
    send = await bind(address, clientPort);
    send.setBroadcast(true);
    hear.on('message', (msg, rinfo) => answers.length < 256 && answers.push({ from: rinfo.address, msg }));
    const s = send;
    await new Promise<void>((resolve, reject) => s.send(probe.packet, o.serverPort ?? 67, '255.255.255.255', (err) => (err ? reject(err) : resolve())));
    await sleep(o.listenMs ?? 3000);
    const first = classifyAnswers(probe, answers, o.own);
    if (!first.answerers.length) return first;
    // Resolve the answerers' MACs: one byte to their discard port makes the kernel ask ARP.
    for (const a of first.answerers) s.send(Buffer.from([0]), 9, a.from, () => undefined);
    await sleep(300);
    const macs = neighbourMacs(o.interface);
    return classifyAnswers(probe, answers.map((a) => ({ ...a, mac: macs.get(a.from) ?? null })), o.own);
  } finally {
    hear.close();
    send?.close();
  }
}
