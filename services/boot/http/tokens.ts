// Boot tokens: what a booted roomcast client shows the api (kernel command line roomcast.token=…).
// Format: base64url(JSON payload) "." base64url(HMAC-SHA256(key, first part)). The key is 32 random
// bytes made on first use and kept in `settings` (boot.signing_key), so every api process of a site
// signs and verifies alike. A token says which MAC it was issued for, why (a task or a registration)
// and until when; it carries no secret and grants nothing beyond that PC's own report.
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

const PayloadSchema = z
  .object({
    v: z.literal(1),
    purpose: z.enum(['task', 'register']),
    mac: z.string().refine((m) => normalizeMac(m) === m),
    taskId: z.number().int().positive().optional(),
    hostId: z.number().int().positive().optional(),
    exp: z.number().int().positive(),
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

  constructor(private readonly settings: Pick<SettingsStore, 'get' | 'setIfAbsent'>) {}

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
  async issue(claims: { purpose: TokenPurpose; mac: string; taskId?: number; hostId?: number }, seconds = DEFAULT_TOKEN_SECONDS): Promise<string> {
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
    return { purpose: p.purpose, mac: p.mac, taskId: p.taskId, hostId: p.hostId, exp: p.exp, actor: { userId: null, name: `machine:${p.mac}`, ip } };
  }
}
