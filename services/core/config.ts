// Configuration comes only from environment variables, validated once at start.
// A bad value stops the start with one line naming the variable and what is expected.
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { parseSecretKey } from './crypto.js';

export const ROLES = ['api', 'boot', 'worker'] as const;
export type Role = (typeof ROLES)[number];

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const optionalString = z
  .string()
  .transform((v) => v.trim())
  .transform((v) => (v === '' ? undefined : v))
  .optional();

const roles = z
  .string()
  .transform((v, ctx) => {
    const list = v
      .split(',')
      .map((r) => r.trim().toLowerCase())
      .filter(Boolean);
    const bad = list.filter((r) => !(ROLES as readonly string[]).includes(r));
    if (list.length === 0 || bad.length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: `a comma-separated list of ${ROLES.join(', ')}${bad.length ? ` (got "${bad.join('", "')}")` : ''}`,
      });
      return z.NEVER;
    }
    return [...new Set(list)] as Role[];
  });

const port = z.coerce
  .number({ error: 'a TCP port number (1-65535)' })
  .int({ error: 'a TCP port number (1-65535)' })
  .min(0, { error: 'a TCP port number (1-65535; 0 picks a free port)' })
  .max(65535, { error: 'a TCP port number (1-65535)' });

const databaseUrl = optionalString.refine(
  (v) => v === undefined || /^postgres(ql)?:\/\//.test(v) || /^sqlite:/.test(v),
  { error: 'a postgres://user:password@host:port/db URL, or sqlite:/path/to/file.db, or empty for SQLite in the data directory' },
);

const redisUrl = optionalString.refine((v) => v === undefined || /^(redis|rediss|unix):\/\//.test(v), {
  error: 'a redis://host:port URL (or rediss://, unix://), or empty to let roomcast run its own redis-server',
});

const httpUrl = optionalString.refine((v) => v === undefined || /^https?:\/\/[^\s/]+/.test(v), {
  error: 'an http:// or https:// URL',
});

const boolean = z
  .string()
  .transform((v) => v.trim().toLowerCase())
  .refine((v) => ['', 'true', 'false', '1', '0', 'yes', 'no', 'auto'].includes(v), {
    error: 'true, false or auto',
  })
  .transform((v) => (v === '' || v === 'auto' ? undefined : ['true', '1', 'yes'].includes(v)))
  .optional();

const envSchema = z.object({
  ROOMCAST_ROLES: roles.default(['api', 'boot', 'worker']),
  ROOMCAST_DATA_DIR: z.string().min(1, { error: 'a directory path' }).default('./data'),
  ROOMCAST_IMAGES_DIR: optionalString,
  ROOMCAST_DATABASE_URL: databaseUrl,
  ROOMCAST_REDIS_URL: redisUrl,
  ROOMCAST_REDIS_SERVER: z.string().min(1).default('redis-server'),
  ROOMCAST_REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,40}$/, { error: 'letters, digits, "_" or "-" (1-40 characters)' })
    .default('roomcast'),
  ROOMCAST_HTTP_HOST: z.string().min(1).default('0.0.0.0'),
  ROOMCAST_HTTP_PORT: port.default(8080),
  ROOMCAST_BOOT_HTTP_PORT: port.optional(),
  ROOMCAST_TFTP_ROOT: optionalString,
  ROOMCAST_TFTP_HOST: z.string().min(1).default('0.0.0.0'),
  ROOMCAST_TFTP_PORT: port.default(69),
  ROOMCAST_TFTP_ENGINE: z.enum(['auto', 'pump', 'node'], { error: 'auto, pump or node' }).default('auto'),
  ROOMCAST_TFTP_PUMP: optionalString,
  ROOMCAST_DOCKER_URL: httpUrl,
  ROOMCAST_CLIENT_DIR: optionalString,
  ROOMCAST_WEB_DIR: optionalString,
  ROOMCAST_BOOT_IP: optionalString.refine((v) => v === undefined || /^(\d{1,3}\.){3}\d{1,3}$/.test(v), { error: 'an IPv4 address of this server on the PCs\' network' }),
  ROOMCAST_PROXYDHCP: z.enum(['auto', 'on', 'off'], { error: 'auto, on or off' }).default('auto'),
  ROOMCAST_SECURE_BOOT: z.enum(['off', 'on', 'auto'], { error: 'off, on or auto' }).default('off'),
  ROOMCAST_PUBLIC_URL: httpUrl,
  ROOMCAST_API_URL: httpUrl,
  ROOMCAST_LOG_LEVEL: z
    .enum(LOG_LEVELS, { error: `one of ${LOG_LEVELS.join(', ')}` })
    .default('info'),
  ROOMCAST_ADMIN_PASSWORD: optionalString.refine((v) => v === undefined || v.length >= 10, {
    error: 'at least 10 characters (or leave it empty for a random one-time password)',
  }),
  ROOMCAST_SECRET_KEY: optionalString.refine((v) => v === undefined || parseSecretKey(v) !== null, { error: '32 bytes as base64 (44 characters) or 64 hexadecimal digits, e.g. from "openssl rand -base64 32"' }),
  ROOMCAST_SECURE_COOKIES: boolean,
  ROOMCAST_TRUST_PROXY: boolean,
  // Where Wake-on-LAN packets may go (services/jobs/wol.ts): nowhere unless one of these says so.
  ROOMCAST_WOL_INTERFACES: z
    .string()
    .transform((v) => v.split(',').map((x) => x.trim()).filter(Boolean))
    .refine((l) => l.every((x) => /^[A-Za-z0-9_.:@-]{1,15}$/.test(x)), { error: 'a comma-separated list of network interface names (eth0,ens18)' })
    .default([]),
  ROOMCAST_WOL_ADDRESSES: z
    .string()
    .transform((v) => v.split(',').map((x) => x.trim()).filter(Boolean))
    .refine((l) => l.every((x) => /^(\d{1,3}\.){3}\d{1,3}$/.test(x)), { error: 'a comma-separated list of IPv4 addresses (a directed broadcast such as 10.1.2.255, or 255.255.255.255)' })
    .default([]),
  // Multicast room restores (services/jobs/multicast.ts): off unless the server's interface on the PCs' network is named.
  ROOMCAST_MULTICAST_INTERFACE: optionalString.refine((v) => v === undefined || /^[A-Za-z0-9_.:@-]{1,15}$/.test(v), { error: 'a network interface name (eth0, ens18)' }),
  // The network pre-flight's IGMP querier listen, in the boot role (services/network/probes.ts): one query interval and a little.
  ROOMCAST_PREFLIGHT_QUERIER_SECONDS: z.coerce.number({ error: 'a number of seconds between 1 and 170' }).int().min(1, { error: 'a number of seconds between 1 and 170' }).max(170, { error: 'a number of seconds between 1 and 170' }).default(130),
  ROOMCAST_MULTICAST_MAX_BITRATE: optionalString.refine((v) => v === undefined || /^\d+(\.\d+)?[kmg]?$/i.test(v), { error: 'a rate such as 300m or 1g' }),
  // The server's link to the PCs, for the bandwidth plan of room runs (services/runs/plan.ts); unset: measured, else 1 Gbit/s assumed.
  ROOMCAST_SERVER_LINK_RATE: optionalString.refine((v) => v === undefined || (/^\d+(\.\d+)?[kmg]?$/i.test(v) && bitsPerSecond(v) > 0), { error: 'a rate in bits per second such as 1g, 10g or 940m' }),
  // The morning report by e-mail (services/runs/mail.ts): off unless both the server and a recipient are set.
  ROOMCAST_SMTP_URL: optionalString.refine((v) => v === undefined || /^smtps?:\/\/[^\s]+$/.test(v), { error: 'an smtp:// or smtps:// URL (smtp://user:password@mail.example:587)' }),
  ROOMCAST_REPORT_TO: z
    .string()
    .transform((v) => v.split(',').map((x) => x.trim()).filter(Boolean))
    .refine((l) => l.every((x) => /^[^\s@]+@[^\s@]+$/.test(x)), { error: 'a comma-separated list of e-mail addresses' })
    .default([]),
  ROOMCAST_REPORT_FROM: optionalString,
  ROOMCAST_REPORT_LANG: z.enum(['fr', 'en'], { error: 'fr or en' }).default('fr'),
  // The school's time zone: the web UI shows every date and time in it (read-only, from the session answer).
  ROOMCAST_TIME_ZONE: z
    .string()
    .refine(
      (tz) => {
        try {
          new Intl.DateTimeFormat('en', { timeZone: tz });
          return true;
        } catch {
          return false;
        }
      },
      { error: 'an IANA time zone such as Europe/Paris' },
    )
    .default('Europe/Paris'),
  ROOMCAST_SESSION_HOURS: z.coerce
    .number({ error: 'a number of hours between 1 and 720' })
    .min(1, { error: 'a number of hours between 1 and 720' })
    .max(720, { error: 'a number of hours between 1 and 720' })
    .default(12),
  // Room runs' BullMQ timing (services/jobs/runs.ts): the longest sleep of a PC's job between turns, and the
  // lock of a job being worked on (a killed worker's jobs are taken over once their lock lapsed; stalled jobs are looked for as often).
  ROOMCAST_RUN_POLL_MS: z.coerce.number({ error: 'a number of milliseconds between 100 and 600000' }).int().min(100, { error: 'a number of milliseconds between 100 and 600000' }).max(600_000, { error: 'a number of milliseconds between 100 and 600000' }).default(5000),
  ROOMCAST_RUN_LOCK_MS: z.coerce.number({ error: 'a number of milliseconds between 1000 and 600000' }).int().min(1000, { error: 'a number of milliseconds between 1000 and 600000' }).max(600_000, { error: 'a number of milliseconds between 1000 and 600000' }).default(30_000),
});

export interface Config {
  roles: Role[];
  dataDir: string;
  imagesDir: string;
  database: { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };
  redis: ({ kind: 'url'; url: string } | { kind: 'embedded'; binary: string }) & { prefix: string };
  http: { host: string; port: number };
  /** The boot role's TFTP server: it serves only the iPXE binaries in `root`. */
  tftp: { root: string; host: string; port: number; engine: 'auto' | 'pump' | 'node'; pumpBinary?: string };
  /** The boot client (vmlinuz, initrd.img) that iPXE loads over HTTP; built by images/client/build.sh. */
  clientDir: string;
  /** The built web UI (index.html, assets/); undefined: web/dist found next to the code. */
  webDir: string | undefined;
  /** This server's address on the PCs' network, for proxyDHCP answers (siaddr, option 54) and the URLs in iPXE scripts. */
  bootIp: string | undefined;
  /** The HTTP port PCs reach the api on (Compose: the published port); default the api's own port. */
  bootHttpPort: number | undefined;
  proxyDhcp: boolean;
  /** x64 UEFI PCs: iPXE (off), the Secure Boot chain shim → GRUB (on), or per PC from its last hello (auto). */
  secureBoot: 'off' | 'on' | 'auto';
  /** The read-only Docker socket proxy of the Compose stack (System view); unset outside Docker. */
  dockerUrl: string | undefined;
  publicUrl: string | undefined;
  apiUrl: string;
  logLevel: (typeof LOG_LEVELS)[number];
  adminPassword: string | undefined;
  /** ROOMCAST_SECRET_KEY: the key sealing stored secrets (unset: secret.key in the data directory, core/crypto.ts). */
  secretKey: string | undefined;
  secureCookies: boolean;
  trustProxy: boolean;
  sessionHours: number;
  /** The school's IANA time zone (ROOMCAST_TIME_ZONE, default Europe/Paris): the web UI's dates. */
  timeZone: string;
  /** Wake-on-LAN: the interfaces whose subnets get the magic packets, and addresses used as they are. */
  wol: { interfaces: string[]; addresses: string[] };
  /** Room runs' BullMQ timing: longest sleep of a PC's job between turns, and a job's lock (stalled jobs are looked for as often). */
  runs: { pollMs: number; lockMs: number };
  /** Multicast sessions of room runs: the server's interface on the PCs' network, the stream's rate cap; undefined: off (every PC restores over HTTP). */
  multicast: { interface: string; maxBitrate: string | null } | undefined;
  /** How long the boot role listens for an IGMP querier (network/probes.ts), in ms. */
  preflightQuerierMs: number;
  /** The bandwidth plan of room runs (runs/plan.ts), in bits per second: the server link's rate as set, and the multicast cap (null: not set). */
  bandwidth: { linkBitsPerSecond: number | null; multicastCapBitsPerSecond: number | null };
  /** The morning report by e-mail; undefined: not sent. */
  mail: { smtpUrl: string; from: string; to: string[]; lang: 'fr' | 'en' } | undefined;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses the environment; throws ConfigError whose message is one line per bad variable. */
/** A rate as udp-sender reads it ('300m', '1g', '1.5g', '800000'): bits per second, k/m/g in thousands. */
export function bitsPerSecond(v: string): number {
  const m = /^(\d+(?:\.\d+)?)([kmg]?)$/i.exec(v.trim());
  if (!m) return NaN;
  return Number(m[1]) * ({ '': 1, k: 1e3, m: 1e6, g: 1e9 } as Record<string, number>)[m[2]!.toLowerCase()]!;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const picked = Object.fromEntries(
    Object.keys(envSchema.shape).flatMap((k) => (env[k] === undefined ? [] : [[k, env[k]]])),
  );
  const parsed = envSchema.safeParse(picked);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? 'environment');
      const got = env[name];
      const shown = name.includes('PASSWORD') || name === 'ROOMCAST_SMTP_URL' || name === 'ROOMCAST_SECRET_KEY' ? '(hidden)' : JSON.stringify(got);
      return `invalid ${name}=${shown}: expected ${issue.message}`;
    });
    throw new ConfigError(lines.join('\n'));
  }
  const e = parsed.data;
  const dataDir = path.resolve(e.ROOMCAST_DATA_DIR);
  const url = e.ROOMCAST_DATABASE_URL;
  const database: Config['database'] =
    url === undefined
      ? { kind: 'sqlite', file: path.join(dataDir, 'roomcast.db') }
      : url.startsWith('sqlite:')
        ? { kind: 'sqlite', file: path.resolve(dataDir, url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '')) }
        : { kind: 'postgres', url };

  const roleSet = new Set(e.ROOMCAST_ROLES);
  const allInOne = ROLES.every((r) => roleSet.has(r));
  const needsRedis = roleSet.has('api') || roleSet.has('worker');
  if (e.ROOMCAST_REDIS_URL === undefined && needsRedis && !allInOne) {
    throw new ConfigError(
      `missing ROOMCAST_REDIS_URL: expected a redis://host:port URL when roles run in separate processes (ROOMCAST_ROLES=${e.ROOMCAST_ROLES.join(',')}); only the all-in-one start runs its own redis-server`,
    );
  }
  if (e.ROOMCAST_PROXYDHCP === 'on' && e.ROOMCAST_BOOT_IP === undefined) {
    throw new ConfigError('missing ROOMCAST_BOOT_IP: expected this server\'s IPv4 address on the PCs\' network when ROOMCAST_PROXYDHCP=on');
  }
  const publicUrl = e.ROOMCAST_PUBLIC_URL?.replace(/\/+$/, '');
  return {
    roles: e.ROOMCAST_ROLES,
    dataDir,
    imagesDir: path.resolve(dataDir, e.ROOMCAST_IMAGES_DIR ?? 'images'),
    database,
    redis:
      e.ROOMCAST_REDIS_URL === undefined
        ? { kind: 'embedded', binary: e.ROOMCAST_REDIS_SERVER, prefix: e.ROOMCAST_REDIS_PREFIX }
        : { kind: 'url', url: e.ROOMCAST_REDIS_URL, prefix: e.ROOMCAST_REDIS_PREFIX },
    http: { host: e.ROOMCAST_HTTP_HOST, port: e.ROOMCAST_HTTP_PORT },
    tftp: {
      root: path.resolve(dataDir, e.ROOMCAST_TFTP_ROOT ?? 'tftp'),
      host: e.ROOMCAST_TFTP_HOST,
      port: e.ROOMCAST_TFTP_PORT,
      engine: e.ROOMCAST_TFTP_ENGINE,
      ...(e.ROOMCAST_TFTP_PUMP === undefined ? {} : { pumpBinary: path.resolve(e.ROOMCAST_TFTP_PUMP) }),
    },
    clientDir: path.resolve(dataDir, e.ROOMCAST_CLIENT_DIR ?? 'client'),
    webDir: e.ROOMCAST_WEB_DIR === undefined ? undefined : path.resolve(e.ROOMCAST_WEB_DIR),
    bootIp: e.ROOMCAST_BOOT_IP,
    bootHttpPort: e.ROOMCAST_BOOT_HTTP_PORT,
    // auto: on as soon as the boot IP is known (the proxy needs it for every answer).
    proxyDhcp: e.ROOMCAST_PROXYDHCP === 'on' || (e.ROOMCAST_PROXYDHCP === 'auto' && e.ROOMCAST_BOOT_IP !== undefined),
    secureBoot: e.ROOMCAST_SECURE_BOOT,
    dockerUrl: e.ROOMCAST_DOCKER_URL?.replace(/\/+$/, ''),
    publicUrl,
    apiUrl: (e.ROOMCAST_API_URL ?? `http://127.0.0.1:${e.ROOMCAST_HTTP_PORT}`).replace(/\/+$/, ''),
    logLevel: e.ROOMCAST_LOG_LEVEL,
    adminPassword: e.ROOMCAST_ADMIN_PASSWORD,
    secretKey: e.ROOMCAST_SECRET_KEY,
    secureCookies: e.ROOMCAST_SECURE_COOKIES ?? publicUrl?.startsWith('https://') ?? false,
    trustProxy: e.ROOMCAST_TRUST_PROXY ?? false,
    sessionHours: e.ROOMCAST_SESSION_HOURS,
    timeZone: e.ROOMCAST_TIME_ZONE,
    wol: { interfaces: e.ROOMCAST_WOL_INTERFACES, addresses: e.ROOMCAST_WOL_ADDRESSES },
    runs: { pollMs: e.ROOMCAST_RUN_POLL_MS, lockMs: e.ROOMCAST_RUN_LOCK_MS },
    preflightQuerierMs: e.ROOMCAST_PREFLIGHT_QUERIER_SECONDS * 1000,
    multicast: e.ROOMCAST_MULTICAST_INTERFACE ? { interface: e.ROOMCAST_MULTICAST_INTERFACE, maxBitrate: e.ROOMCAST_MULTICAST_MAX_BITRATE ?? null } : undefined,
    bandwidth: {
      linkBitsPerSecond: e.ROOMCAST_SERVER_LINK_RATE ? bitsPerSecond(e.ROOMCAST_SERVER_LINK_RATE) : null,
      multicastCapBitsPerSecond: e.ROOMCAST_MULTICAST_MAX_BITRATE ? bitsPerSecond(e.ROOMCAST_MULTICAST_MAX_BITRATE) : null,
    },
    mail:
      e.ROOMCAST_SMTP_URL && e.ROOMCAST_REPORT_TO.length
        ? { smtpUrl: e.ROOMCAST_SMTP_URL, from: e.ROOMCAST_REPORT_FROM ?? `roomcast@${os.hostname()}`, to: e.ROOMCAST_REPORT_TO, lang: e.ROOMCAST_REPORT_LANG }
        : undefined,
  };
}
