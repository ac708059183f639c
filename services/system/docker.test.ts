import { describe, expect, it } from 'vitest';
import { demuxLogs, SystemService } from './docker.js';

const frame = (stream: number, text: string) => {
  const body = Buffer.from(text);
  const head = Buffer.alloc(8);
  head[0] = stream;
  head.writeUInt32BE(body.length, 4);
  return Buffer.concat([head, body]);
};

describe('System view without Docker', () => {
  it('says plainly that there is no Docker socket in an all-in-one start', async () => {
    const r = await new SystemService(undefined).containers({ logLines: 5 });
    expect(r).toEqual({ available: false, reason: expect.stringContaining('not running under Docker Compose') });
  });

  it('reports an unreachable proxy as unavailable with the reason', async () => {
    const r = await new SystemService('http://127.0.0.1:1').containers({ logLines: 0 });
    expect(r.available).toBe(false);
    expect(r).toMatchObject({ reason: expect.stringContaining('docker-proxy') });
  });
});

describe('demuxLogs', () => {
  it('joins stdout and stderr frames', () => {
    expect(demuxLogs(Buffer.concat([frame(1, 'a line\n'), frame(2, 'an error\n')]))).toBe('a line\nan error\n');
  });
  it('passes TTY output through', () => {
    expect(demuxLogs(Buffer.from('plain text\n'))).toBe('plain text\n');
  });
});
