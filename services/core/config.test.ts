import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

const fails = (env: Record<string, string>) => {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('loadConfig', () => {
  it('defaults to all roles in one process with SQLite and an embedded Redis in ./data', () => {
    const c = loadConfig({});
    expect(c.roles).toEqual(['api', 'boot', 'worker']);
    expect(c.dataDir).toBe(path.resolve('data'));
    expect(c.database).toEqual({ kind: 'sqlite', file: path.resolve('data/roomcast.db') });
    expect(c.redis).toMatchObject({ kind: 'embedded', binary: 'redis-server', prefix: 'roomcast' });
    expect(c.http).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(c.apiUrl).toBe('http://127.0.0.1:8080');
    expect(c.secureCookies).toBe(false);
  });

  it('selects PostgreSQL from a postgres:// URL and keeps the password out of errors', () => {
    expect(loadConfig({ ROOMCAST_DATABASE_URL: 'postgres://u:p@db:5432/rc' }).database).toEqual({ kind: 'postgres', url: 'postgres://u:p@db:5432/rc' });
    expect(fails({ ROOMCAST_DATABASE_URL: 'mysql://x' })).toMatch(/^invalid ROOMCAST_DATABASE_URL="mysql:\/\/x": expected a postgres:\/\//);
    expect(fails({ ROOMCAST_ADMIN_PASSWORD: 'short' })).toBe('invalid ROOMCAST_ADMIN_PASSWORD=(hidden): expected at least 10 characters (or leave it empty for a random one-time password)');
  });

  it('treats empty variables as unset (compose passes them empty)', () => {
    const c = loadConfig({ ROOMCAST_ADMIN_PASSWORD: '', ROOMCAST_DATABASE_URL: ' ', ROOMCAST_REDIS_URL: '' });
    expect(c.adminPassword).toBeUndefined();
    expect(c.database.kind).toBe('sqlite');
    expect(c.redis.kind).toBe('embedded');
  });

  it('names every bad variable on its own line', () => {
    const msg = fails({ ROOMCAST_HTTP_PORT: '70000', ROOMCAST_LOG_LEVEL: 'loud', ROOMCAST_ROLES: 'api,,tftp' });
    expect(msg.split('\n')).toEqual([
      'invalid ROOMCAST_ROLES="api,,tftp": expected a comma-separated list of api, boot, worker (got "tftp")',
      'invalid ROOMCAST_HTTP_PORT="70000": expected a TCP port number (1-65535)',
      'invalid ROOMCAST_LOG_LEVEL="loud": expected one of fatal, error, warn, info, debug, trace, silent',
    ]);
  });

  it('needs a Redis URL when roles run in separate processes', () => {
    expect(fails({ ROOMCAST_ROLES: 'api' })).toContain('missing ROOMCAST_REDIS_URL');
    // The boot role alone asks the api, not Redis.
    expect(loadConfig({ ROOMCAST_ROLES: 'boot' }).roles).toEqual(['boot']);
    expect(loadConfig({ ROOMCAST_ROLES: 'boot, worker', ROOMCAST_REDIS_URL: 'redis://127.0.0.1:6379' }).roles).toEqual(['boot', 'worker']);
    expect(fails({ ROOMCAST_REDIS_URL: 'http://redis' })).toContain('ROOMCAST_REDIS_URL');
  });

  it('turns proxyDHCP on when the boot IP is known, and refuses "on" without it', () => {
    expect(loadConfig({}).proxyDhcp).toBe(false);
    expect(loadConfig({ ROOMCAST_BOOT_IP: '10.1.2.3' })).toMatchObject({ proxyDhcp: true, bootIp: '10.1.2.3' });
    expect(loadConfig({ ROOMCAST_BOOT_IP: '10.1.2.3', ROOMCAST_PROXYDHCP: 'off' }).proxyDhcp).toBe(false);
    expect(fails({ ROOMCAST_PROXYDHCP: 'on' })).toContain('missing ROOMCAST_BOOT_IP');
    expect(fails({ ROOMCAST_BOOT_IP: 'salle-b204' })).toContain("expected an IPv4 address of this server on the PCs' network");
  });

  it("takes the school's time zone from ROOMCAST_TIME_ZONE (Europe/Paris by default) and refuses an unknown one", () => {
    expect(loadConfig({}).timeZone).toBe('Europe/Paris');
    expect(loadConfig({ ROOMCAST_TIME_ZONE: 'America/Martinique' }).timeZone).toBe('America/Martinique');
    expect(fails({ ROOMCAST_TIME_ZONE: 'Mars/Olympus' })).toMatch(/ROOMCAST_TIME_ZONE.*IANA time zone/);
  });

  it('turns on secure cookies behind an https public URL', () => {
    const c = loadConfig({ ROOMCAST_PUBLIC_URL: 'https://roomcast.lycee.example/' });
    expect(c.publicUrl).toBe('https://roomcast.lycee.example');
    expect(c.secureCookies).toBe(true);
    expect(loadConfig({ ROOMCAST_PUBLIC_URL: 'https://x.example', ROOMCAST_SECURE_COOKIES: 'false' }).secureCookies).toBe(false);
  });

  it('reads the server link rate and the multicast cap for the bandwidth plan, in bits per second', () => {
    expect(loadConfig({}).bandwidth).toEqual({ linkBitsPerSecond: null, multicastCapBitsPerSecond: null });
    expect(loadConfig({ ROOMCAST_SERVER_LINK_RATE: '10g', ROOMCAST_MULTICAST_MAX_BITRATE: '600m' }).bandwidth).toEqual({ linkBitsPerSecond: 10e9, multicastCapBitsPerSecond: 600e6 });
    expect(loadConfig({ ROOMCAST_SERVER_LINK_RATE: '1.5G' }).bandwidth.linkBitsPerSecond).toBe(1.5e9);
    expect(fails({ ROOMCAST_SERVER_LINK_RATE: '1 Gbit' })).toMatch(/ROOMCAST_SERVER_LINK_RATE.*such as 1g/);
    expect(fails({ ROOMCAST_SERVER_LINK_RATE: '0' })).toMatch(/ROOMCAST_SERVER_LINK_RATE/);
  });
});
