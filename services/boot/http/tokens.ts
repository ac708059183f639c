// Boot tokens: what a booted roomcast client shows the api (kernel command line roomcast.token=…).
// Format: base64url(JSON payload) "." base64url(HMAC-SHA256(key, first part)). The key is 32 random
// bytes made on first use and kept in `settings` (boot.signing_key), so every api process of a site
// signs and verifies alike. A token says which MAC it was issued for, why (a task or a registration)
// and until when; it carries no secret and grants nothing beyond that PC's own report. It is also
// bound to the address that fetched the iPXE script (`ip`): used from any other address it is refused
// and reported (an alert), since anyone on the LAN can ask for a MAC's script (README, "Security").
import { AppError } from '../../core/errors.js';
import { createHmac, randomBytes } from 'node:crypto';
import { safeEqual } from '../../core/crypto.js';
import { z } from 'zod';
import type { MachineAuth } from '../../core/auth.js';
import { normalizeMac } from '../../inventory/mac.js';
import type { SettingsStore } from '../../core/settings.js';

/** The setting holding the site's signing key (base64 of 32 bytes). */
export const SETTING_SIGNING_KEY = 'boot.signing_key';
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{1,1024}\.[A-Za-z0-9_-]{43}$/;
export const DEFAULT_TOKEN_SECONDS = 2 * 3600;
const KEY_BYTES = 32;

export type TokenPurpose = 'task' | 'register';

/** The same address whichever way the socket reports it (IPv4-mapped IPv6 included). */
export const sameAddress = (a: string | null | undefined, b: string | null | undefined) => a != null && b != null && a.replace(/^::ffff:/i, '') === b.replace(/^::ffff:/i, '');

/** Told when a genuine token is used from another address than its own (wired to an alert). */
export type ElsewhereHook = (claims: TokenPayload, usedFrom: string | null) => Promise<void>;

const PayloadSchema = z
  .object({
    v: z.literal(1),
    purpose: z.enum(['task', 'register']),
    mac: z.string().refine((m) => normalizeMac(m) === m),
    taskId: z.number().int().positive().optional(),
    hostId: z.number().int().positive().optional(),
    exp: z.number().int().positive(),
    /** The address the token works from (the one that fetched the script, or that claimed the task). */
    ip: z.string().max(64).optional(),
  })
  .strict()
  .refine((p) => p.purpose !== 'task' || (p.taskId !== undefined && p.hostId !== undefined));

export type TokenPayload = z.infer<typeof PayloadSchema>;

const hmac = (key: Buffer, data: string) => createHmac('sha256', key).update(data).digest();

export function signToken(key: Buffer, payload: TokenPayload): string {
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  return `${body}.${hmac(key, body).toString('base64url')}`;
}

export interface VerifyOptions {
  /** Unix seconds; default now. */
  now?: number;
  /** Refuse a token issued for another purpose. */
  purpose?: TokenPurpose;
}

/** The payload of a genuine, unexpired token; null for anything else (never throws). */
export function verifyToken(key: Buffer, token: string, opts: VerifyOptions = {}): TokenPayload | null {
  if (!TOKEN_PATTERN.test(token)) return null;
  const [body = '', sig = ''] = token.split('.');
  const given = Buffer.from(sig, 'base64url');
  const expected = hmac(key, body);
  if (!safeEqual(given, expected)) return null;
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  const parsed = PayloadSchema.safeParse(json);
  if (!parsed.success) return null;
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  if (parsed.data.exp <= now) return null;
  if (opts.purpose && parsed.data.purpose !== opts.purpose) return null;
  return parsed.data;
}

/** Signs and verifies with the site's key, loaded (or created) once per process. */
export class BootTokens {
  private key: Promise<Buffer> | undefined;

  constructor(
    private readonly settings: Pick<SettingsStore, 'get' | 'setIfAbsent'>,
    private readonly onElsewhere?: ElsewhereHook,
  ) {}

  private signingKey(): Promise<Buffer> {
    this.key ??= (async () => {
      const stored = (await this.settings.get(SETTING_SIGNING_KEY)) ?? (await this.settings.setIfAbsent(SETTING_SIGNING_KEY, randomBytes(KEY_BYTES).toString('base64')));
      const key = Buffer.from(stored, 'base64');
      if (key.length !== KEY_BYTES) throw new Error(`setting ${SETTING_SIGNING_KEY} is not ${KEY_BYTES} bytes of base64; delete it to make a new key`);
      return key;
    })().catch((err: unknown) => {
      this.key = undefined; // a database hiccup must not poison the cache
      throw err;
    });
    return this.key;
  }

  /** A token for `mac`, valid `seconds` (default 2 h). */
  async issue(claims: { purpose: TokenPurpose; mac: string; taskId?: number; hostId?: number; ip?: string | null }, seconds = DEFAULT_TOKEN_SECONDS): Promise<string> {
    const { ip, ...rest } = claims;
    if (ip) return this.sign({ ...rest, ip: ip.replace(/^::ffff:/i, '') }, seconds);
    return this.sign(rest, seconds);
  }

  private async sign(claims: Omit<TokenPayload, 'v' | 'exp'>, seconds: number): Promise<string> {
    const exp = Math.floor(Date.now() / 1000) + Math.max(1, Math.floor(seconds));
    return signToken(await this.signingKey(), { v: 1, ...claims, exp });
  }

  async verify(token: string, opts: VerifyOptions = {}): Promise<TokenPayload | null> {
    return verifyToken(await this.signingKey(), token, opts);
  }

  /** The 'machine' access check of mountRoute. */
  async authenticate(token: string, ip: string | null): Promise<MachineAuth | null> {
    const p = await this.verify(token);
    if (!p) return null;
    if (p.ip !== undefined && !sameAddress(p.ip, ip)) {
      await this.onElsewhere?.(p, ip);
      throw new AppError(403, 'token_elsewhere', `this boot token belongs to the PC at ${p.ip}, not to ${ip ?? 'an unknown address'}; network-boot the PC again (a token copied to another machine is refused and reported)`);
    }
    return { purpose: p.purpose, mac: p.mac, taskId: p.taskId, hostId: p.hostId, exp: p.exp, actor: { userId: null, name: `machine:${p.mac}`, ip } };
  }
}
