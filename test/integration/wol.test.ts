// Wake-on-LAN on a real network: the worker's sender in one network namespace, a "powered-off PC"
// listening on UDP 9 and 7 in another, joined by a veth pair. The packets go to the directed
// broadcast of the sender's interface (computed from the interface, as ROOMCAST_WOL_INTERFACES does),
// and the limited broadcast fails cleanly where there is no default route. Needs root (namespaces);
// nothing is added to the host's own network namespace.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT_DIR = path.resolve(import.meta.dirname, '../..');
const isRoot = process.getuid?.() === 0;
const id = randomBytes(3).toString('hex');
const SRV = `rcw${id}s`;
const PC = `rcw${id}p`;
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

let listener: ChildProcess | undefined;
const heard: Array<{ port: number; from: string; hex: string }> = [];

/** Runs code importing services/jobs/wol.ts inside the server namespace; returns what it printed as JSON. */
function inServer(code: string): unknown {
  const out = execFileSync('ip', ['netns', 'exec', SRV, process.execPath, '--import', 'tsx', '--input-type=module', '-e', `
    import * as wol from ${JSON.stringify(path.join(ROOT_DIR, 'services/jobs/wol.ts'))};
    ${code}`], { cwd: ROOT_DIR, encoding: 'utf8', timeout: 20_000 });
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

describe.skipIf(!isRoot)('Wake-on-LAN between network namespaces', () => {
  beforeAll(async () => {
    ip('netns', 'add', SRV);
    ip('netns', 'add', PC);
    ip('-n', SRV, 'link', 'add', 'vs', 'type', 'veth', 'peer', 'name', 'vp', 'netns', PC);
    ip('-n', SRV, 'addr', 'add', '10.98.0.1/24', 'dev', 'vs');
    ip('-n', PC, 'addr', 'add', '10.98.0.20/24', 'dev', 'vp');
    for (const [ns, dev] of [[SRV, 'vs'], [PC, 'vp']] as const) {
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'link', 'set', dev, 'up');
    }
    const code = `
      import dgram from 'node:dgram';
      let up = 0;
      for (const port of [9, 7]) {
        const s = dgram.createSocket('udp4');
        s.on('message', (m, r) => console.log(JSON.stringify({ port, from: r.address, hex: m.toString('hex') })));
        s.bind(port, '0.0.0.0', () => { if (++up === 2) console.log('ready'); });
      }`;
    listener = spawn('ip', ['netns', 'exec', PC, process.execPath, '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => reject(new Error('the listener did not start')), 10_000);
      listener!.stdout!.on('data', (b: Buffer) => {
        buf += b.toString();
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const l of lines) {
          if (l === 'ready') {
            clearTimeout(timer);
            resolve();
          } else if (l.startsWith('{')) heard.push(JSON.parse(l) as (typeof heard)[number]);
        }
      });
    });
  });

  afterAll(() => {
    listener?.kill('SIGKILL');
    for (const ns of [SRV, PC]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        /* already gone */
      }
    }
  });

  it("a PC on the interface's subnet hears its magic packet on ports 9 and 7, three times each", async () => {
    const result = inServer(`
      const { targets, problems } = wol.wolTargets({ interfaces: ['vs'], addresses: [] });
      const r = await wol.sendMagicPacket('52:54:00:12:34:56', targets, { repeat: 3, gapMs: 20 });
      console.log(JSON.stringify({ targets, problems, ...r }));`) as { targets: unknown; problems: string[]; sent: number; errors: string[] };
    expect(result).toEqual({ targets: [{ address: '10.98.0.255', port: 9 }, { address: '10.98.0.255', port: 7 }], problems: [], sent: 6, errors: [] });
    const until = Date.now() + 5000;
    while (heard.length < 6 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    const expected = 'ff'.repeat(6) + '525400123456'.repeat(16);
    expect(heard.map((h) => [h.port, h.from, h.hex === expected]).sort()).toEqual([
      [7, '10.98.0.1', true],
      [7, '10.98.0.1', true],
      [7, '10.98.0.1', true],
      [9, '10.98.0.1', true],
      [9, '10.98.0.1', true],
      [9, '10.98.0.1', true],
    ]);
  });

  it('the limited broadcast without a default route, and an unknown interface, give clear errors and no exception', () => {
    const r = inServer(`
      const bad = wol.wolTargets({ interfaces: ['eth9'], addresses: ['255.255.255.255'] });
      const r = await wol.sendMagicPacket('52:54:00:12:34:57', bad.targets, { repeat: 2, gapMs: 10 });
      const none = await wol.sendMagicPacket('52:54:00:12:34:57', []);
      console.log(JSON.stringify({ problems: bad.problems, ...r, none }));`) as { problems: string[]; sent: number; errors: string[]; none: { errors: string[] } };
    expect(r.problems).toEqual(['interface eth9 does not exist on this server']);
    expect(r.sent).toBe(0);
    expect(r.errors).toEqual(['255.255.255.255:9: ENETUNREACH', '255.255.255.255:7: ENETUNREACH']);
    expect(r.none.errors[0]).toMatch(/no Wake-on-LAN target is configured/);
  });
});
