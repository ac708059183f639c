// Load and attack generators for the lab's load test (test/lab/load.test.ts), each run as its own
// process inside a lab namespace (`ip netns exec NS node --import tsx test/lab/load-tools.ts ...`),
// printing one JSON summary line on stdout when done (after SECONDS, or at once on SIGTERM):
//
//   flood RATE SECONDS        PXE DHCPDISCOVERs broadcast to 255.255.255.255:67 from port 68, RATE
//                             a second, each from a new random locally administered MAC (02:...),
//                             in turn as an iPXE ROM, a plain BIOS PXE ROM and OVMF would send them.
//                             {"sent": n, "failed": f, "seconds": s}
//   hold SERVER FILE N ADDR SECONDS
//                             N TFTP read requests for FILE from ADDR (N source ports), never an ACK:
//                             a client that takes slots and never finishes. Counts what comes back.
//                             {"requests": n, "data": d, "busy": b, "errors": e}
//
// Traffic stays in the namespace it runs in (the lab's LAN): broadcasts go out of its only link.
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';
import { biosIpxeRequest, biosPxeRequest, ovmfRequest } from '../../services/boot/proxydhcp/fixtures.js';

/** SIGTERM ends a run early; the summary is still printed. */
let stopped = false;
process.on('SIGTERM', () => (stopped = true));

const randomMac = () => ['02', ...[...crypto.randomBytes(5)].map((b) => b.toString(16).padStart(2, '0'))].join(':');

async function flood(rate: number, seconds: number): Promise<void> {
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(68, () => resolve());
  });
  sock.setBroadcast(true);
  const makers = [biosIpxeRequest, biosPxeRequest, ovmfRequest];
  const started = Date.now();
  let sent = 0;
  let failed = 0;
  while (!stopped && Date.now() - started < seconds * 1000) {
    const due = Math.floor(((Date.now() - started) / 1000) * rate);
    while (sent + failed < due) {
      const packet = makers[(sent + failed) % makers.length]!({ mac: randomMac(), xid: crypto.randomBytes(4).readUInt32BE() });
      await new Promise<void>((resolve) => sock.send(packet, 67, '255.255.255.255', (err) => {
        if (err) failed++;
        else sent++;
        resolve();
      }));
    }
    await sleep(5);
  }
  sock.close();
  console.log(JSON.stringify({ sent, failed, seconds: (Date.now() - started) / 1000 }));
}

async function hold(server: string, file: string, n: number, addr: string, seconds: number): Promise<void> {
  const counts = { requests: 0, data: 0, busy: 0, errors: 0 };
  const socks: dgram.Socket[] = [];
  const rrq = Buffer.concat([Buffer.from([0, 1]), Buffer.from(`${file}\0octet\0`, 'ascii')]);
  for (let i = 0; i < n; i++) {
    const s = dgram.createSocket('udp4');
    s.on('message', (m) => {
      const op = m.readUInt16BE(0);
      if (op === 3) counts.data++;
      else if (op === 5) {
        counts.errors++;
        if (/busy/i.test(m.subarray(4).toString('ascii'))) counts.busy++;
      }
      // Never an ACK: the server's retransmissions come back and are counted as DATA.
    });
    await new Promise<void>((resolve) => s.bind(0, addr, () => resolve()));
    s.send(rrq, 69, server);
    counts.requests++;
    socks.push(s);
  }
  const end = Date.now() + seconds * 1000;
  while (!stopped && Date.now() < end) await sleep(100);
  for (const s of socks) s.close();
  console.log(JSON.stringify(counts));
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'flood') await flood(Number(args[0]), Number(args[1]));
else if (cmd === 'hold') await hold(args[0]!, args[1]!, Number(args[2]), args[3]!, Number(args[4]));
else {
  console.error('usage: load-tools.ts flood RATE SECONDS | hold SERVER FILE N ADDR SECONDS');
  process.exit(2);
}
