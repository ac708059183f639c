import type os from 'node:os';
import { describe, expect, it } from 'vitest';
import { directedBroadcast, magicPacket, wolTargets } from './wol.js';

const iface = (cidr: string, internal = false): os.NetworkInterfaceInfo => ({
  address: cidr.split('/')[0]!,
  netmask: '255.255.255.0',
  family: 'IPv4',
  mac: '02:00:00:00:00:01',
  internal,
  cidr,
});

describe('Wake-on-LAN packets and targets', () => {
  it('builds the magic packet: six 0xFF, then the MAC sixteen times', () => {
    const p = magicPacket('52-54-00-AB-cd-01');
    expect(p.length).toBe(102);
    expect(p.subarray(0, 6)).toEqual(Buffer.alloc(6, 0xff));
    for (let i = 0; i < 16; i++) expect(p.subarray(6 + i * 6, 12 + i * 6).toString('hex')).toBe('525400abcd01');
    expect(() => magicPacket('ff:ff:ff:ff:ff:ff')).toThrow(/broadcast/);
    expect(() => magicPacket('52:54:00')).toThrow(/MAC/);
  });

  it('computes directed broadcasts', () => {
    expect(directedBroadcast('10.1.2.0/24')).toBe('10.1.2.255');
    expect(directedBroadcast('10.1.2.77/23')).toBe('10.1.3.255');
    expect(directedBroadcast('172.16.0.1/12')).toBe('172.31.255.255');
    expect(directedBroadcast('10.1.2.0/31')).toBeNull();
    expect(directedBroadcast('10.1.2.0')).toBeNull();
    expect(directedBroadcast('300.1.2.0/24')).toBeNull();
  });

  it('sends only where the settings say: interfaces by their subnets, addresses as given, the room subnet; each to ports 9 and 7', () => {
    const ifaces = { eth1: [iface('10.99.0.1/24')], lo: [iface('127.0.0.1/8', true)], eth2: [] };
    const { targets, problems } = wolTargets({ interfaces: ['eth1', 'eth2', 'nope'], addresses: ['10.5.0.255', 'x'] }, ['10.7.0.0/24', '10.99.0.0/24', 'bad'], ifaces);
    expect(targets).toEqual([
      { address: '10.99.0.255', port: 9 },
      { address: '10.99.0.255', port: 7 },
      { address: '10.5.0.255', port: 9 },
      { address: '10.5.0.255', port: 7 },
      { address: '10.7.0.255', port: 9 },
      { address: '10.7.0.255', port: 7 },
    ]);
    expect(problems).toEqual([
      'interface eth2 has no IPv4 address',
      'interface nope does not exist on this server',
      '"x" is not an IPv4 address',
      'the room\'s subnet "bad" is not an IPv4 subnet such as 10.1.2.0/24',
    ]);
    expect(wolTargets({ interfaces: [], addresses: [] }, [], ifaces).targets).toEqual([]);
  });
});
