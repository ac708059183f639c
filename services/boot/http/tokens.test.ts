import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BootTokens, signToken, TOKEN_PATTERN, verifyToken, type TokenPayload } from './tokens.js';

const key = randomBytes(32);
const now = 1_900_000_000;
const payload: TokenPayload = { v: 1, purpose: 'task', mac: 'aa:bb:cc:dd:ee:ff', taskId: 7, hostId: 3, exp: now + 60 };
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('boot tokens', () => {
  it('round-trips a signed payload in the documented format', () => {
    const token = signToken(key, payload);
    expect(token).toMatch(TOKEN_PATTERN);
    expect(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString())).toEqual(payload);
    expect(verifyToken(key, token, { now })).toEqual(payload);
    expect(verifyToken(key, token, { now, purpose: 'task' })).toEqual(payload);
  });

  it('refuses expired, wrong-purpose, forged, re-signed and malformed tokens', () => {
    const token = signToken(key, payload);
    expect(verifyToken(key, token, { now: now + 60 })).toBeNull();
    expect(verifyToken(key, token, { now, purpose: 'register' })).toBeNull();
    expect(verifyToken(randomBytes(32), token, { now })).toBeNull();
    const [, sig] = token.split('.');
    expect(verifyToken(key, `${b64({ ...payload, hostId: 4 })}.${sig}`, { now })).toBeNull();
    for (const bad of ['', 'x', 'a.b', `${token}x`, `${token}.x`, token.replace('.', '$'), 'garbage.garbage']) expect(verifyToken(key, bad, { now })).toBeNull();
  });

  it('refuses well-signed payloads that break the rules (bad MAC, task without ids, extra keys)', () => {
    for (const p of [
      { ...payload, mac: 'AA:BB:CC:DD:EE:FF' },
      { ...payload, mac: 'ff:ff:ff:ff:ff:ff' },
      { v: 1, purpose: 'task', mac: 'aa:bb:cc:dd:ee:ff', exp: now + 60 },
      { ...payload, admin: true },
      { ...payload, v: 2 },
    ]) {
      expect(verifyToken(key, signToken(key, p as TokenPayload), { now })).toBeNull();
    }
  });

  it('makes its key once and shares it through the settings store', async () => {
    const store = new Map<string, string>();
    const settings = {
      get: async (k: string) => store.get(k),
      setIfAbsent: async (k: string, v: string) => {
        if (!store.has(k)) store.set(k, v);
        return store.get(k)!;
      },
    };
    const a = new BootTokens(settings);
    const token = await a.issue({ purpose: 'register', mac: '02:00:00:00:00:01' });
    expect(Buffer.from(store.get('boot.signing_key')!, 'base64')).toHaveLength(32);
    const claims = await new BootTokens(settings).authenticate(token, '10.0.0.9');
    expect(claims).toMatchObject({ purpose: 'register', mac: '02:00:00:00:00:01', actor: { name: 'machine:02:00:00:00:00:01', ip: '10.0.0.9', userId: null } });
    expect(claims!.exp - Math.floor(Date.now() / 1000)).toBeGreaterThan(7190);
  });
});
