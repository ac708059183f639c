import { describe, expect, it } from 'vitest';
import { MSG, OP, OPT, buildPacket, encode, parsePacket } from '../boot/proxydhcp/packet.js';
import { parseQueryLine, querierCheck } from './igmp.js';
import { decidePreflight, notChecked } from './preflight.js';
import { bootMenu, classifyAnswers, pxeDiscover } from './pxe-answers.js';
import { neighbourMacs } from './pxe-probe.js';

const probe = pxeDiscover();

function reply(o: { from: string; serverId?: string; xid?: number; mac?: string; yiaddr?: string; siaddr?: string; file?: string; pxe?: boolean; type?: number; opt67?: string }) {
  const options: Array<[number, Buffer]> = [[OPT.MESSAGE_TYPE, encode.u8(o.type ?? MSG.OFFER)]];
  if (o.serverId) options.push([OPT.SERVER_ID, encode.ip(o.serverId)]);
  if (o.pxe) options.push([OPT.VENDOR_CLASS, encode.str('PXEClient')]);
  if (o.opt67) options.push([OPT.BOOTFILE_NAME, encode.str(o.opt67)]);
  const msg = buildPacket({ op: OP.REPLY, xid: o.xid ?? probe.xid, chaddr: o.mac ?? probe.mac, yiaddr: o.yiaddr, siaddr: o.siaddr, file: o.file, options });
  return { from: o.from, msg };
}

describe('the PXE DISCOVER of the pre-flight', () => {
  it('looks like a BIOS PXE ROM from a random locally administered MAC, with the broadcast flag', () => {
    const p = parsePacket(probe.packet)!;
    expect(p.op).toBe(OP.REQUEST);
    expect(p.messageType).toBe(MSG.DISCOVER);
    expect(p.vendorClass).toMatch(/^PXEClient:Arch:00000/);
    expect(p.clientArch).toEqual([0]);
    expect(p.invalid).toEqual([]);
    expect(p.clientGuid).toMatch(/^[0-9a-f]{8}-/);
    expect(p.flags & 0x8000).toBe(0x8000);
    expect(p.mac).toBe(probe.mac);
    expect(parseInt(probe.mac.slice(0, 2), 16) & 0b11).toBe(0b10);
    expect(pxeDiscover().mac).not.toBe(probe.mac);
  });
});

describe('classifyAnswers', () => {
  it('finds a rogue proxyDHCP and a DHCP server handing out a boot file, leaves roomcast and plain DHCP out', () => {
    const c = classifyAnswers(
      probe,
      [
        reply({ from: '10.0.0.1', serverId: '10.0.0.1', pxe: true, file: 'undionly.kpxe' }),
        reply({ from: '10.0.0.2', serverId: '10.0.0.2', yiaddr: '10.0.0.50' }),
        reply({ from: '10.0.0.9', serverId: '10.0.0.9', pxe: true, siaddr: '10.0.0.9', file: 'pxelinux.0' }),
        reply({ from: '10.0.0.7', serverId: '10.0.0.7', yiaddr: '10.0.0.51', opt67: 'ipxe.efi' }),
      ],
      ['10.0.0.1'],
    );
    expect(c.outcome).toBe('found');
    expect(c.roomcastAnswered).toBe(true);
    expect(c.dhcpServers).toEqual(['10.0.0.2']);
    expect(c.answerers).toEqual([
      { server: '10.0.0.7', from: '10.0.0.7', mac: null, bootFile: 'ipxe.efi', bootMenu: [], nextServer: null, kind: 'dhcp' },
      { server: '10.0.0.9', from: '10.0.0.9', mac: null, bootFile: 'pxelinux.0', bootMenu: [], nextServer: '10.0.0.9', kind: 'proxy' },
    ]);
    expect(c.reason.code).toBe('preflight_pxe_rogue');
    expect(c.reason.text).toContain('10.0.0.9');
    expect(c.reason.text).toContain('pxelinux.0');
    expect(c.reason.fr).toContain('un autre serveur répond au PXE');
  });

  it('ignores what does not answer this probe: another xid, another MAC, a request, garbage', () => {
    const c = classifyAnswers(
      probe,
      [
        reply({ from: '10.0.0.9', pxe: true, xid: probe.xid + 1 }),
        reply({ from: '10.0.0.9', pxe: true, mac: '02:00:00:00:00:01' }),
        reply({ from: '10.0.0.9', pxe: true, type: MSG.NAK }),
        { from: '10.0.0.9', msg: Buffer.from('not dhcp') },
      ],
      [],
    );
    expect(c.outcome).toBe('none');
    expect(c.answerers).toEqual([]);
    expect(c.reason.code).toBe('preflight_pxe_none');
  });

  it('recognises roomcast by its source address when option 54 is missing, and names the MAC when known', () => {
    const own = classifyAnswers(probe, [reply({ from: '10.0.0.1', pxe: true })], ['10.0.0.1']);
    expect(own).toMatchObject({ outcome: 'none', roomcastAnswered: true });
    const rogue = classifyAnswers(probe, [{ ...reply({ from: '10.0.0.9', pxe: true }), mac: '52:54:00:aa:bb:cc' }], ['10.0.0.1']);
    expect(rogue.answerers[0]).toMatchObject({ server: '10.0.0.9', mac: '52:54:00:aa:bb:cc', bootFile: null });
    expect(rogue.reason.text).toContain('MAC 52:54:00:aa:bb:cc');
  });
});

describe('bootMenu', () => {
  it('reads the entries of a PXE boot menu (option 43 sub-option 9), and nothing from garbage', () => {
    const entry = (type: number, text: string) => Buffer.concat([encode.u16(type), encode.u8(text.length), encode.str(text)]);
    const menu = Buffer.concat([entry(0x8000, 'Other tool'), entry(0, 'Local disk')]);
    const opt43 = Buffer.concat([encode.bytes(6, 1, 8), encode.bytes(9, menu.length), menu, encode.bytes(255)]);
    expect(bootMenu(opt43)).toEqual(['Other tool', 'Local disk']);
    expect(bootMenu(encode.bytes(9, 40, 1))).toEqual([]);
    const c = classifyAnswers(probe, [{ from: '10.0.0.9', msg: buildPacket({ op: OP.REPLY, xid: probe.xid, chaddr: probe.mac, options: [[OPT.MESSAGE_TYPE, encode.u8(MSG.OFFER)], [OPT.VENDOR_CLASS, encode.str('PXEClient')], [OPT.VENDOR_OPTS, opt43]] }) }], []);
    expect(c.answerers[0]!.bootMenu).toEqual(['Other tool', 'Local disk']);
    expect(c.reason.text).toContain('boot menu "Other tool", "Local disk"');
  });
});

describe('neighbourMacs', () => {
  it('reads complete entries of the interface only', () => {
    const arp = [
      'IP address       HW type     Flags       HW address            Mask     Device',
      '10.0.0.9         0x1         0x2         52:54:00:AA:BB:CC     *        eth1',
      '10.0.0.8         0x1         0x0         00:00:00:00:00:00     *        eth1',
      '10.0.0.7         0x1         0x2         52:54:00:00:00:07     *        eth0',
    ].join('\n');
    expect([...neighbourMacs('eth1', arp)]).toEqual([['10.0.0.9', '52:54:00:aa:bb:cc']]);
  });
});

describe('the IGMP querier check', () => {
  it('reads the querier from tcpdump lines', () => {
    expect(parseQueryLine('18:19:48.708619 IP 0.0.0.0 > 224.0.0.1: igmp query v2')).toEqual({ querier: '0.0.0.0', version: 'v2' });
    expect(parseQueryLine('18:19:48.708619 IP 10.1.2.254 > 224.0.0.1: igmp query v3 [max resp time 10.0s]')).toEqual({ querier: '10.1.2.254', version: 'v3' });
    expect(parseQueryLine('18:19:48.708619 IP 10.1.2.3 > 239.1.1.1: igmp v2 report 239.1.1.1')).toBeNull();
  });

  it('says plainly what to do when none was heard', () => {
    const absent = querierCheck(null, 130_000);
    expect(absent).toMatchObject({ outcome: 'absent', querier: null });
    expect(absent.reason.text).toContain('stop delivering multicast after a few minutes');
    expect(absent.reason.text).toContain('Turn on the IGMP querier on the switch or the router');
    expect(absent.reason.fr).toContain('Activez le querier IGMP');
    expect(querierCheck({ querier: '10.0.0.254', version: 'v2' }, 1000).outcome).toBe('present');
  });
});

describe('decidePreflight', () => {
  const at = '2026-12-07T18:00:00.000Z';
  it('falls back to unicast when the interface cannot carry multicast, with the reason', () => {
    const r = decidePreflight({ interface: 'eth9', address: { ok: false, why: 'the interface "eth9" does not exist' }, pxe: null, querier: null }, at);
    expect(r.verdict).toBe('unicast');
    expect(r.fallback?.code).toBe('preflight_no_interface');
    expect(r.fallback?.text).toContain('unicast HTTP');
  });

  it('keeps multicast with warnings for a rogue PXE server, no querier, and a check that could not run', () => {
    const rogue = classifyAnswers(probe, [reply({ from: '10.0.0.9', pxe: true })], []);
    const r = decidePreflight({ interface: 'eth1', address: { ok: true, address: '10.0.0.1' }, pxe: rogue, querier: querierCheck(null, 1000) }, at);
    expect(r.verdict).toBe('multicast');
    expect(r.fallback).toBeNull();
    expect(r.warnings.map((w) => w.code)).toEqual(['preflight_pxe_rogue', 'preflight_querier_absent']);
    const r2 = decidePreflight({ interface: 'eth1', address: { ok: true, address: '10.0.0.1' }, pxe: notChecked('pxe', 'port 68 is held'), querier: querierCheck({ querier: '10.0.0.254', version: null }, 1) }, at);
    expect(r2.warnings.map((w) => w.code)).toEqual(['preflight_pxe_not_checked']);
    expect(r2.verdict).toBe('multicast');
  });
});
