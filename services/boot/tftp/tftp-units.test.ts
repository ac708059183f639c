// Pure parts of the TFTP server: packet parsing, name normalisation, option negotiation.
// The server itself is tested against real clients in test/integration/tftp*.test.ts.
import { describe, expect, it } from 'vitest';
import { negotiate } from './options.js';
import { buildError, buildOack, buildRequest, parseAck, parseError, parseRequest, toNetascii } from './packets.js';
import { isInside, normaliseName } from './paths.js';

const limits = { maxBlksize: 65464, maxWindowsize: 64, timeoutMs: 1000 };

describe('parseRequest', () => {
  it('reads file name, mode (lower-cased) and options (names lower-cased, first one wins)', () => {
    const r = parseRequest(Buffer.from('\0\x01ipxe.efi\0OCTET\0BLKSIZE\x001456\0tsize\x000\0blksize\x00512\0', 'latin1'));
    expect(r).toEqual({ op: 1, filename: 'ipxe.efi', mode: 'octet', options: new Map([['blksize', '1456'], ['tsize', '0']]) });
  });

  it('tolerates NUL padding and a last option without a value', () => {
    expect(parseRequest(Buffer.from('\0\x01a\0octet\0\0\0\0', 'latin1'))?.options.size).toBe(0);
    expect(parseRequest(Buffer.from('\0\x01a\0octet\0tsize\0', 'latin1'))?.options.size).toBe(0);
  });

  it.each([
    ['too short', '\0\x01'],
    ['not a request', '\0\x03\0\x01data'],
    ['no NUL at all', '\0\x01ipxe.efi'],
    ['unterminated mode', '\0\x01ipxe.efi\0octet'],
    ['no mode', '\0\x01ipxe.efi\0'],
    ['empty file name', '\0\x01\0octet\0'],
    ['empty mode', '\0\x01a\0\0tsize\x000\0'],
    ['trailing bytes after the last NUL', '\0\x01a\0octet\0blk'],
  ])('returns null when %s', (_what, raw) => {
    expect(parseRequest(Buffer.from(raw, 'latin1'))).toBeNull();
  });

  it('marks a file name that is not UTF-8', () => {
    expect(parseRequest(Buffer.from([0, 1, 0xff, 0xfe, 0, 0x6f, 0x63, 0x74, 0x65, 0x74, 0]))?.filename).toBeUndefined();
  });

  it('round-trips with buildRequest', () => {
    expect(parseRequest(buildRequest(2, 'x/y', 'netascii', { windowsize: 4 }))).toEqual({
      op: 2,
      filename: 'x/y',
      mode: 'netascii',
      options: new Map([['windowsize', '4']]),
    });
  });
});

describe('other packets', () => {
  it('parses ACK and ERROR, tolerating extra bytes', () => {
    expect(parseAck(Buffer.from([0, 4, 0xff, 0xff, 0, 0]))).toBe(65535);
    expect(parseAck(Buffer.from([0, 4, 0]))).toBeNull();
    expect(parseError(Buffer.from('\0\x05\0\x08user aborted\0', 'latin1'))).toEqual({ code: 8, message: 'user aborted' });
    expect(parseError(Buffer.from('\0\x05\0\x00bad\x01', 'latin1'))).toEqual({ code: 0, message: 'bad?' });
  });

  it('builds ERROR and OACK', () => {
    expect(buildError(2, 'no\nway').toString('latin1')).toBe('\0\x05\0\x02no?way\0');
    expect(buildOack([['blksize', '1456'], ['tsize', '7']]).toString('latin1')).toBe('\0\x06blksize\x001456\0tsize\x007\0');
  });

  it('converts to netascii', () => {
    expect(toNetascii(Buffer.from('a\nb\rc\r\n'))).toEqual(Buffer.from('a\r\nb\r\0c\r\0\r\n', 'latin1'));
    const plain = Buffer.from('abc');
    expect(toNetascii(plain)).toBe(plain);
  });
});

describe('normaliseName', () => {
  it.each([
    ['ipxe.efi', 'ipxe.efi'],
    ['/ipxe.efi', 'ipxe.efi'],
    ['//boot//./x64/ipxe.efi', 'boot/x64/ipxe.efi'],
    ['\\boot\\x64\\wdsnbp.com', 'boot/x64/wdsnbp.com'],
    ['/etc/passwd', 'etc/passwd'],
    ['..foo', '..foo'],
  ])('%j → %j', (name, relative) => {
    expect(normaliseName(name)).toEqual({ ok: true, relative });
  });

  it.each(['../etc/passwd', '..\\..\\etc\\passwd', 'a/../../x', 'a/..', '..', 'a\0b', 'a\nb', '', '/', './', 'x'.repeat(1025)])('refuses %j', (name) => {
    expect(normaliseName(name).ok).toBe(false);
  });

  it('isInside', () => {
    expect(isInside('/srv/tftp', '/srv/tftp/a')).toBe(true);
    expect(isInside('/srv/tftp', '/srv/tftp/..a')).toBe(true);
    expect(isInside('/srv/tftp', '/srv/tftp')).toBe(false);
    expect(isInside('/srv/tftp', '/srv/tftp2/a')).toBe(false);
    expect(isInside('/srv/tftp', '/etc/passwd')).toBe(false);
  });
});

describe('negotiate', () => {
  const opts = (o: Record<string, string>) => new Map(Object.entries(o));

  it('gives RFC 1350 behaviour without options', () => {
    expect(negotiate(opts({}), 10, limits)).toEqual({ blksize: 512, windowsize: 1, timeoutMs: 1000, tsizeAsked: false, accepted: [] });
  });

  it('grants what the client asks within the RFC ranges, in its order', () => {
    const n = negotiate(opts({ windowsize: '8', tsize: '0', blksize: '8192', timeout: '3' }), 1234, limits);
    expect(n).toMatchObject({ blksize: 8192, windowsize: 8, timeoutMs: 3000, tsizeAsked: true });
    expect(n.accepted).toEqual([['windowsize', '8'], ['tsize', '1234'], ['blksize', '8192'], ['timeout', '3']]);
  });

  it('lowers values above the limits, ignores invalid ones and unknown options', () => {
    expect(negotiate(opts({ blksize: '70000', windowsize: '1000' }), 1, limits).accepted).toEqual([['blksize', '65464'], ['windowsize', '64']]);
    expect(negotiate(opts({ blksize: '1468' }), 1, { ...limits, maxBlksize: 1024 }).blksize).toBe(1024);
    expect(negotiate(opts({ blksize: '7', windowsize: '0', timeout: '256', multicast: '', rollover: '0', foo: 'bar' }), 1, limits).accepted).toEqual([]);
    expect(negotiate(opts({ blksize: 'abc', timeout: '-1' }), 1, limits).accepted).toEqual([]);
  });

  it('answers tsize whatever the client wrote, and leaves it out for an empty file', () => {
    expect(negotiate(opts({ tsize: 'enable' }), 5, limits).accepted).toEqual([['tsize', '5']]);
    expect(negotiate(opts({ tsize: '0' }), 0, limits)).toMatchObject({ tsizeAsked: true, accepted: [] });
  });
});
