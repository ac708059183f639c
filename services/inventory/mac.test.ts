import { describe, it, expect } from 'vitest';
import { explainInvalidMac, MAC_PATTERN_HELP, normalizeMac } from './mac.js';

describe('normalizeMac', () => {
  it.each([
    ['aa:bb:cc:dd:ee:f0', 'aa:bb:cc:dd:ee:f0'],
    ['AA-BB-CC-DD-EE-F0', 'aa:bb:cc:dd:ee:f0'],
    ['aabb.ccdd.eef0', 'aa:bb:cc:dd:ee:f0'],
    ['AABB.CCDD.EEF0', 'aa:bb:cc:dd:ee:f0'],
    ['aabbccddeef0', 'aa:bb:cc:dd:ee:f0'],
    ['  00:1A:2b:3C:4d:5E\t', '00:1a:2b:3c:4d:5e'],
    ['02:00:00:00:00:01', '02:00:00:00:00:01'], // locally administered unicast is fine
  ])('accepts %j', (input, expected) => {
    expect(normalizeMac(input)).toBe(expected);
  });

  it.each([
    '',
    'aa:bb:cc:dd:ee', // too short
    'aa:bb:cc:dd:ee:f0:11', // too long
    'aabbccddeef', // 11 digits
    'gg:bb:cc:dd:ee:f0', // non-hex
    'aa:bb-cc:dd-ee:f0', // mixed separators
    'aa:bb:cc:dd:ee:f0 x', // trailing garbage
    'aab.bccd.deef0', // misplaced dots
    'a:b:c:d:e:f', // single digits
    'aa bb cc dd ee f0',
  ])('rejects malformed %j', (input) => {
    expect(normalizeMac(input)).toBeNull();
  });

  it('rejects the all-zero, broadcast and multicast addresses', () => {
    expect(normalizeMac('00:00:00:00:00:00')).toBeNull();
    expect(normalizeMac('FF-FF-FF-FF-FF-FF')).toBeNull();
    expect(normalizeMac('01:00:5e:00:00:fb')).toBeNull(); // IPv4 multicast
    expect(normalizeMac('33:33:00:00:00:01')).toBeNull(); // IPv6 multicast
    expect(normalizeMac('03:00:00:00:00:00')).toBeNull();
  });
});

describe('explainInvalidMac', () => {
  it('returns null for a valid MAC', () => {
    expect(explainInvalidMac('aa:bb:cc:dd:ee:f0')).toBeNull();
  });

  it('names the value and the accepted forms for bad syntax', () => {
    const message = explainInvalidMac('aa:bb:cc:zz:ee:f0');
    expect(message).toContain('"aa:bb:cc:zz:ee:f0"');
    expect(message).toContain(MAC_PATTERN_HELP);
  });

  it('says why special addresses are refused', () => {
    expect(explainInvalidMac('00:00:00:00:00:00')).toContain('all-zero');
    expect(explainInvalidMac('ff:ff:ff:ff:ff:ff')).toContain('broadcast');
    expect(explainInvalidMac('01:00:5e:00:00:fb')).toContain('multicast');
  });
});

it('MAC_PATTERN_HELP lists the three accepted spellings', () => {
  expect(MAC_PATTERN_HELP).toBe('aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF or aabb.ccdd.eeff');
});
