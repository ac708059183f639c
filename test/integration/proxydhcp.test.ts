// proxyDHCP without sockets: parsing, building and the reply decision, on requests shaped like
// what real firmware sends (services/boot/proxydhcp/fixtures.ts), on hand-built edge cases, and on
// 5,000 random and mutated packets. The server on real sockets: proxydhcp-server.test.ts and
// proxydhcp-lab.test.ts.
import { randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_BOOT_FILES, decide, decideReply, ipxeScriptUrl, replyDestination, type DecideContext, type Via } from '../../services/boot/proxydhcp/decide.js';
import { FIXTURE_GUID, biosIpxeRequest, biosPxeRequest, dhclientRequest, ovmfRequest } from '../../services/boot/proxydhcp/fixtures.js';
import { MSG, OP, OPT, buildPacket, encode, parsePacket, type DhcpPacket } from '../../services/boot/proxydhcp/packet.js';
import { bootEveryPxeClient, cachedPolicy, type BootPolicy } from '../../services/boot/proxydhcp/policy.js';
import { KeyedTokenBucket, LogThrottle } from '../../services/core/ratelimit.js';

const SERVER = '10.99.0.1';
const REGION = '10.99.0.2';
const MAC = '52:54:00:12:34:56';
const ctx = (over: Partial<DecideContext> = {}): DecideContext => ({
  serverIp: SERVER,
  httpBase: 'http://10.99.0.1:8080/',
  bootFiles: DEFAULT_BOOT_FILES,
  policy: bootEveryPxeClient,
  ...over,
});
const p = (b: Buffer) => parsePacket(b)!;
const reply = async (b: Buffer, via: Via = 'dhcp', c = ctx()) => {
  const r = await decideReply({ packet: p(b), via }, c);
  return r && { ...r, parsed: p(r.packet) };
};

describe('parsePacket on firmware requests', () => {
  it('reads iPXE (BIOS ROM): arch 0, user class iPXE, option 175, GUID', () => {
    const r = p(biosIpxeRequest());
    expect(r).toMatchObject({ op: 1, htype: 1, hlen: 6, mac: MAC, xid: 0x1a2b3c4d, flags: 0x8000, ciaddr: '0.0.0.0', messageType: MSG.DISCOVER });
    expect(r.vendorClass).toBe('PXEClient:Arch:00000:UNDI:002001');
    expect(r.clientArch).toEqual([0]);
    expect(r.clientNdi).toEqual({ type: 1, major: 2, minor: 1 });
    expect(r.userClass).toEqual(['iPXE']);
    expect(r.clientGuid).toBe(FIXTURE_GUID);
    expect(r.ipxeEncap?.length).toBe(27);
    expect(r.clientId?.toString('hex')).toBe('01525400123456');
    expect(r.paramRequest).toContain(175);
    expect(r.invalid).toEqual([]);
  });

  it('reads OVMF (arch 7, no user class) and dhclient (no option 60)', () => {
    const o = p(ovmfRequest());
    expect([o.clientArch, o.userClass, o.clientNdi, o.clientGuid]).toEqual([[7], undefined, { type: 1, major: 3, minor: 0 }, FIXTURE_GUID]);
    const d = p(dhclientRequest());
    expect([d.vendorClass, d.messageType, d.options.get(12)?.toString()]).toEqual([undefined, 1, 'pc-salle-12']);
  });

  it('reads RFC 3004 user classes, a list of architectures and option 54', () => {
    const uc = Buffer.concat([encode.u8(4), encode.str('iPXE'), encode.u8(3), encode.str('abc')]);
    const r = p(biosPxeRequest({ serverId: REGION, extra: [[OPT.USER_CLASS, uc]] }));
    expect(r.userClass).toEqual(['iPXE', 'abc']);
    expect(r.serverId).toBe(REGION);
    const multi = p(buildPacket({ op: 1, xid: 1, chaddr: MAC, options: [[OPT.CLIENT_ARCH, encode.u16(7, 0)]] }));
    expect(multi.clientArch).toEqual([7, 0]);
  });

  it('concatenates split long options (RFC 3396) and follows option 52 into file and sname', () => {
    const long = randomBytes(600);
    expect(p(buildPacket({ op: 1, xid: 1, chaddr: MAC, options: [[OPT.VENDOR_OPTS, long]] })).vendorOptions).toEqual(long);
    // Options field: 53, 52=3, half of 60. file: rest of 60, 93. sname: 97's first part … RFC 3396 order.
    const b = buildPacket({ op: 1, xid: 1, chaddr: MAC, options: [[OPT.MESSAGE_TYPE, encode.u8(1)], [OPT.OVERLOAD, encode.u8(3)], [OPT.VENDOR_CLASS, encode.str('PXECli')]] });
    Buffer.from([60, 3, 0x65, 0x6e, 0x74, 93, 2, 0, 7, 255]).copy(b, 108);
    Buffer.from([0, 60, 1, 0x3a, 255]).copy(b, 44);
    const r = p(b);
    expect([r.vendorClass, r.clientArch, r.file, r.sname, r.options.has(OPT.OVERLOAD)]).toEqual(['PXEClient:', [7], '', '', false]);
  });

  it('keeps file and sname as strings when not overloaded, and tolerates a missing End', () => {
    const b = buildPacket({ op: 2, xid: 1, chaddr: MAC, sname: 'srv', file: 'a.efi', options: [[OPT.MESSAGE_TYPE, encode.u8(2)]] });
    b[243] = 0; // the End right after option 53 becomes Pad
    expect(p(b)).toMatchObject({ sname: 'srv', file: 'a.efi', messageType: 2 });
  });

  it('lists malformed known options instead of failing', () => {
    const r = p(buildPacket({ op: 1, xid: 1, chaddr: MAC, options: [[53, encode.bytes(1, 1)], [93, encode.bytes(0)], [97, encode.bytes(1, 2)], [54, encode.bytes(1)], [77, Buffer.alloc(0)]] }));
    expect(r.invalid.sort((a, b) => a - b)).toEqual([53, 54, 77, 93, 97]);
    expect([r.messageType, r.clientArch, r.clientGuid]).toEqual([undefined, undefined, undefined]);
  });

  const good = biosIpxeRequest();
  const withByte = (at: number, v: number) => {
    const b = Buffer.from(good);
    b[at] = v;
    return b;
  };
  it.each([
    ['empty', Buffer.alloc(0)],
    ['header only', good.subarray(0, 236)],
    ['no magic cookie', withByte(236, 0)],
    ['op 3', withByte(0, 3)],
    ['hlen 17', withByte(2, 17)],
    ['an option running past the end', Buffer.concat([good.subarray(0, 240), Buffer.from([60, 9, 0x50])])],
    ['an option code with no length byte', Buffer.concat([good.subarray(0, 240), Buffer.from([53])])],
    ['overload 4', buildPacket({ op: 1, xid: 1, chaddr: MAC, options: [[OPT.OVERLOAD, encode.u8(4)]] })],
    ['overload into a truncated file field', (() => {
      const b = buildPacket({ op: 1, xid: 1, chaddr: MAC, options: [[OPT.OVERLOAD, encode.u8(1)]] });
      Buffer.from([60, 200]).copy(b, 230);
      return b;
    })()],
  ])('returns null for %s', (_what, b) => {
    expect(parsePacket(b)).toBeNull();
  });

  it('builds replies of at least 300 bytes and refuses values that do not fit', () => {
    expect(buildPacket({ op: 2, xid: 1, chaddr: MAC, options: [] }).length).toBe(300);
    expect(() => buildPacket({ op: 2, xid: 1, chaddr: MAC, file: 'x'.repeat(128), options: [] })).toThrow(RangeError);
    expect(() => buildPacket({ op: 2, xid: 1, chaddr: MAC, siaddr: '10.0.0.256', options: [] })).toThrow(RangeError);
  });
});

describe('decideReply', () => {
  it('BIOS PXE ROM → OFFER with undionly.kpxe, no address, option 43 "boot from offer", echoed GUID', async () => {
    const r = (await reply(biosPxeRequest()))!;
    expect(r).toMatchObject({ kind: 'offer', mac: MAC, arch: 0, archName: 'bios', answer: 'boot-file', bootFile: 'undionly.kpxe' });
    expect(r.parsed).toMatchObject({ op: OP.REPLY, xid: 0x1a2b3c4d, flags: 0x8000, yiaddr: '0.0.0.0', siaddr: SERVER, ciaddr: '0.0.0.0', file: 'undionly.kpxe', mac: MAC });
    expect(r.parsed).toMatchObject({ messageType: MSG.OFFER, serverId: SERVER, vendorClass: 'PXEClient', clientGuid: FIXTURE_GUID });
    expect(r.parsed.vendorOptions?.toString('hex')).toBe('060108ff');
  });

  it('iPXE (user class iPXE) → the HTTP script URL, so iPXE does not chainload itself again', async () => {
    const r = (await reply(biosIpxeRequest({ mac: 'AA:BB:CC:00:11:22' })))!;
    expect(r.answer).toBe('ipxe-script');
    expect(r.parsed.file).toBe('http://10.99.0.1:8080/boot/ipxe?mac=aa:bb:cc:00:11:22&arch=0');
    expect(r.parsed.vendorOptions).toBeDefined();
    const efi = (await reply(ovmfRequest({ extra: [[OPT.USER_CLASS, encode.str('iPXE')]] })))!;
    expect([efi.parsed.file, efi.parsed.vendorOptions]).toEqual(['http://10.99.0.1:8080/boot/ipxe?mac=52:54:00:12:34:56&arch=7', undefined]);
  });

  it('UEFI x64 (arch 7 and 9) → snponly.efi (ipxe.efi when configured), without option 43', async () => {
    for (const arch of [7, 9]) {
      const r = (await reply(ovmfRequest({ arch })))!;
      expect([r.bootFile, r.archName, r.parsed.vendorOptions, r.parsed.clientGuid]).toEqual(['snponly.efi', 'efi64', undefined, FIXTURE_GUID]);
    }
    const r = await reply(ovmfRequest(), 'dhcp', ctx({ bootFiles: { ...DEFAULT_BOOT_FILES, efi64: 'ipxe.efi' } }));
    expect(r?.parsed.file).toBe('ipxe.efi');
  });

  it('Secure Boot chain: shimx64.efi to x64 UEFI PCs per ROOMCAST_SECURE_BOOT, iPXE to the rest, with the reason', async () => {
    const on = ctx({ secureBoot: { mode: 'on' } });
    for (const arch of [7, 9]) {
      const r = (await reply(ovmfRequest({ arch }), 'dhcp', on))!;
      expect([r.parsed.file, r.why]).toEqual(['shimx64.efi', 'Secure Boot chain for every x64 UEFI PC (ROOMCAST_SECURE_BOOT=on)']);
    }
    expect((await reply(biosPxeRequest(), 'dhcp', on))!).toMatchObject({ bootFile: 'undionly.kpxe', why: 'the bios boot file' });
    // Already in iPXE (a PC that got iPXE anyway): its script, never shim.
    expect((await reply(ovmfRequest({ extra: [[OPT.USER_CLASS, encode.str('iPXE')]] }), 'dhcp', on))!).toMatchObject({ answer: 'ipxe-script', why: 'already in iPXE: its script' });
    expect((await reply(ovmfRequest()))!).toMatchObject({ bootFile: 'snponly.efi', why: 'Secure Boot chain off (ROOMCAST_SECURE_BOOT=off)' });

    const facts = new Map<string, boolean>([[MAC, false], ['52:54:00:00:00:01', true]]);
    const asked: string[] = [];
    const auto = ctx({ secureBoot: { mode: 'auto', reported: async (mac) => (asked.push(mac), facts.get(mac)) } });
    expect((await reply(ovmfRequest(), 'dhcp', auto))!.bootFile).toBe('snponly.efi');
    expect((await reply(ovmfRequest({ mac: '52:54:00:00:00:01' }), 'dhcp', auto))!.bootFile).toBe('shimx64.efi');
    expect((await reply(ovmfRequest({ mac: '52:54:00:00:00:02' }), 'dhcp', auto))!).toMatchObject({ bootFile: 'shimx64.efi', why: expect.stringContaining('never reported') });
    expect((await reply(biosPxeRequest(), 'dhcp', auto))!.bootFile).toBe('undionly.kpxe');
    expect(asked).toEqual([MAC, '52:54:00:00:00:01', '52:54:00:00:00:02']);
    const failing = ctx({ secureBoot: { mode: 'auto', reported: () => Promise.reject(new Error('redis down')) } });
    expect((await reply(ovmfRequest(), 'dhcp', failing))!).toMatchObject({ bootFile: 'shimx64.efi', why: expect.stringContaining('could not read') });
  });

  it('IA32 and ARM64 UEFI: answered only once a boot file is configured, or when already in iPXE', async () => {
    expect(await reply(ovmfRequest({ arch: 6 }))).toBeNull();
    expect(await reply(ovmfRequest({ arch: 11 }))).toBeNull();
    const files = { ...DEFAULT_BOOT_FILES, efi32: 'i386/snponly.efi', arm64: 'arm64/snponly.efi' };
    expect((await reply(ovmfRequest({ arch: 6 }), 'dhcp', ctx({ bootFiles: files })))?.bootFile).toBe('i386/snponly.efi');
    expect((await reply(ovmfRequest({ arch: 11 }), 'dhcp', ctx({ bootFiles: files })))?.bootFile).toBe('arm64/snponly.efi');
    expect((await reply(ovmfRequest({ arch: 11, extra: [[OPT.USER_CLASS, encode.str('iPXE')]] })))?.answer).toBe('ipxe-script');
    expect(await reply(ovmfRequest({ arch: 10 }))).toBeNull();
  });

  it('takes the architecture from option 60 when option 93 is missing; ignores a malformed 93 or 97', async () => {
    const no93 = buildPacket({ op: 1, xid: 1, chaddr: MAC, options: [[53, encode.u8(1)], [60, encode.str('PXEClient:Arch:00007:UNDI:003000')]] });
    expect((await reply(no93))?.bootFile).toBe('snponly.efi');
    const noArch = buildPacket({ op: 1, xid: 1, chaddr: MAC, options: [[53, encode.u8(1)], [60, encode.str('PXEClient')]] });
    expect(await reply(noArch)).toBeNull();
    expect(await reply(ovmfRequest({ extra: [[93, encode.bytes(7)]] }))).toBeNull(); // 93 becomes 3 bytes
    expect(await reply(ovmfRequest({ extra: [[97, encode.bytes(9)]] }))).toBeNull();
  });

  it('never answers a client that is not PXE, and does not ask the policy about it', async () => {
    const policy = vi.fn<BootPolicy>(() => Promise.resolve('boot'));
    expect(await reply(dhclientRequest(), 'dhcp', ctx({ policy }))).toBeNull();
    expect(await reply(dhclientRequest({ type: MSG.REQUEST, serverId: SERVER }), 'pxe', ctx({ policy }))).toBeNull();
    const udhcpc = buildPacket({ op: 1, xid: 1, chaddr: MAC, options: [[53, encode.u8(1)], [60, encode.str('udhcp 1.35.0')]] });
    expect(await reply(udhcpc, 'dhcp', ctx({ policy }))).toBeNull();
    expect(policy).not.toHaveBeenCalled();
  });

  it('REQUEST on 67: ACK only when option 54 names us; silent when it names the Region (or nobody)', async () => {
    expect(await reply(ovmfRequest({ type: MSG.REQUEST, serverId: REGION }))).toBeNull();
    expect(await reply(ovmfRequest({ type: MSG.REQUEST }))).toBeNull();
    const r = (await reply(ovmfRequest({ type: MSG.REQUEST, serverId: SERVER })))!;
    expect([r.kind, r.parsed.messageType, r.parsed.yiaddr]).toEqual(['ack', MSG.ACK, '0.0.0.0']);
  });

  it('REQUEST on 4011 → ACK carrying ciaddr (unless it names another server); DISCOVER and INFORM are ignored', async () => {
    const r = (await reply(ovmfRequest({ type: MSG.REQUEST, ciaddr: '10.99.0.120' }), 'pxe'))!;
    expect(r.parsed).toMatchObject({ messageType: MSG.ACK, ciaddr: '10.99.0.120', yiaddr: '0.0.0.0', siaddr: SERVER, file: 'snponly.efi' });
    expect((await reply(ovmfRequest({ type: MSG.REQUEST, serverId: SERVER }), 'pxe'))?.kind).toBe('ack');
    expect(await reply(ovmfRequest({ type: MSG.REQUEST, serverId: REGION }), 'pxe')).toBeNull();
    expect(await reply(ovmfRequest(), 'pxe')).toBeNull();
    for (const via of ['dhcp', 'pxe'] as const) expect(await reply(ovmfRequest({ type: MSG.INFORM, ciaddr: '10.99.0.120', serverId: SERVER }), via)).toBeNull();
  });

  it("a policy answer of 'ignore', or a failing policy, means no answer at all", async () => {
    const seen: Array<[string, number]> = [];
    const ignore: BootPolicy = (mac, arch) => (seen.push([mac, arch]), Promise.resolve('ignore'));
    expect(await reply(ovmfRequest({ mac: '52:54:00:AB:CD:EF' }), 'dhcp', ctx({ policy: ignore }))).toBeNull();
    expect(seen).toEqual([['52:54:00:ab:cd:ef', 7]]);
    const d = await decide({ packet: p(biosPxeRequest()), via: 'dhcp' }, ctx({ policy: () => Promise.reject(new Error('api down')) }));
    expect(d).toEqual({ ignore: 'policy lookup failed: api down', mac: MAC, pxe: true });
  });

  it('puts a URL longer than the file field into option 67', async () => {
    const base = `http://${'x'.repeat(100)}.example:8080`;
    const r = (await reply(biosIpxeRequest(), 'dhcp', ctx({ httpBase: base })))!;
    expect(r.parsed.file).toBe('');
    expect(r.parsed.options.get(OPT.BOOTFILE_NAME)?.toString()).toBe(ipxeScriptUrl(base, MAC, 0));
  });

  it('sends replies to the right place', () => {
    const d = (b: Buffer, via: Via, address = '0.0.0.0', port = 68) => replyDestination(p(b), via, { address, port }, { replyPort: 68, serverPort: 67 });
    expect(d(biosPxeRequest(), 'dhcp')).toEqual({ address: '255.255.255.255', port: 68, broadcast: true });
    expect(d(biosPxeRequest({ ciaddr: '10.99.0.120' }), 'dhcp', '10.99.0.120')).toEqual({ address: '10.99.0.120', port: 68, broadcast: false });
    expect(d(biosPxeRequest({ giaddr: '10.1.0.1' }), 'dhcp', '10.1.0.1', 67)).toEqual({ address: '10.1.0.1', port: 67, broadcast: false });
    expect(d(ovmfRequest({ type: MSG.REQUEST }), 'pxe', '10.99.0.120', 68)).toEqual({ address: '10.99.0.120', port: 68, broadcast: false });
    expect(d(ovmfRequest({ type: MSG.REQUEST }), 'pxe', '0.0.0.0', 4011)).toEqual({ address: '255.255.255.255', port: 4011, broadcast: true });
  });
});

describe('policy cache and limiters', () => {
  it('cachedPolicy shares one lookup per MAC and arch, expires it, and does not cache failures', async () => {
    let t = 0;
    let calls = 0;
    let fail = true;
    const lookup: BootPolicy = async () => {
      calls++;
      if (fail) throw new Error('down');
      return 'boot';
    };
    const policy = cachedPolicy(lookup, { ttlMs: 1000, now: () => t });
    await expect(policy(MAC, 0)).rejects.toThrow('down');
    fail = false;
    expect(await Promise.all([policy(MAC, 0), policy(MAC, 0)])).toEqual(['boot', 'boot']);
    expect(calls).toBe(2);
    await policy(MAC, 0);
    await policy(MAC, 7);
    expect(calls).toBe(3);
    t = 1000;
    await policy(MAC, 0);
    expect(calls).toBe(4);
    const slow = cachedPolicy(() => new Promise(() => undefined), { timeoutMs: 20 });
    await expect(slow(MAC, 0)).rejects.toThrow(/timed out/);
  });

  it('KeyedTokenBucket allows a burst, then the rate; LogThrottle counts what it held back', () => {
    let t = 0;
    const b = new KeyedTokenBucket(2, 3, 2, () => t);
    expect([1, 2, 3, 4].map(() => b.take('a'))).toEqual([true, true, true, false]);
    expect(b.take('b')).toBe(true);
    t = 500;
    expect([b.take('a'), b.take('a')]).toEqual([true, false]);
    const l = new LogThrottle(1000, 10, () => t);
    expect([l.allow('k'), l.allow('k'), l.allow('k')]).toEqual([{ suppressed: 0 }, null, null]);
    t = 1500;
    expect(l.allow('k')).toEqual({ suppressed: 2 });
  });
});

describe('robustness', () => {
  it('5,000 random and mutated packets through parse and decide: no throw', async () => {
    const seeds = [biosIpxeRequest(), biosPxeRequest({ type: MSG.REQUEST, serverId: SERVER }), ovmfRequest(), dhclientRequest()];
    const c = ctx();
    let parsed = 0;
    let answered = 0;
    for (let i = 0; i < 5000; i++) {
      let b: Buffer;
      const kind = i % 4;
      if (kind === 0) b = randomBytes(Math.floor(Math.random() * 700));
      else {
        b = Buffer.from(seeds[i % seeds.length]!);
        const flips = 1 + Math.floor(Math.random() * (kind === 1 ? 3 : 20));
        // Mutate mostly the options area, where lengths and codes live.
        for (let f = 0; f < flips; f++) b[kind === 3 ? Math.floor(Math.random() * b.length) : 240 + Math.floor(Math.random() * (b.length - 240))] = Math.floor(Math.random() * 256);
        if (kind === 2 && i % 3 === 0) b = b.subarray(0, Math.floor(Math.random() * b.length));
        if (kind === 3 && i % 5 === 0) b = Buffer.concat([b, randomBytes(Math.floor(Math.random() * 300))]);
      }
      const packet: DhcpPacket | null = parsePacket(b);
      if (!packet) continue;
      parsed++;
      for (const via of ['dhcp', 'pxe'] as const) {
        const r = await decideReply({ packet, via }, c);
        if (r) {
          answered++;
          expect(parsePacket(r.packet)?.yiaddr).toBe('0.0.0.0');
        }
      }
    }
    // The mutations must leave enough valid packets for decide to be exercised too.
    expect(parsed).toBeGreaterThan(500);
    expect(answered).toBeGreaterThan(50);
  });
});
