// Small wrappers so the rest of the code never hand-rolls randomness or hashing.
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** A random URL-safe token with `bytes` bytes of entropy. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export function sha256Hex(value: string | Buffer): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Constant-time comparison of two secrets (different lengths compare unequal). */
export function safeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const ab = Buffer.isBuffer(a) ? a : Buffer.from(a);
  const bb = Buffer.isBuffer(b) ? b : Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/** A one-time password a person can type: no 0/O/1/l/I confusion. */
export function readablePassword(length = 16): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const bytes = randomBytes(length * 2);
  let out = '';
  for (const b of bytes) {
    if (b < 256 - (256 % alphabet.length)) out += alphabet[b % alphabet.length];
    if (out.length === length) break;
  }
  return out.length === length ? out : readablePassword(length);
}

// Secrets at rest (a domain-join password, a local Administrator password): AES-256-GCM with a site key.
// The key is ROOMCAST_SECRET_KEY (32 bytes, base64 or 64 hex digits) or, unset, the file secret.key in
// the data directory, made on first use (32 random bytes, base64, mode 0600). A sealed secret is
// "v1:" + base64(12-byte IV, 16-byte tag, ciphertext); `context` (e.g. "image:3:adminPassword") is bound
// as additional data, so a sealed value copied to another row or field does not open.

export const SECRET_KEY_FILE = 'secret.key';

/** A 32-byte key from base64 or hex text; null when it is neither. */
export function parseSecretKey(text: string): Buffer | null {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) {
    const key = Buffer.from(t, t.includes('-') || t.includes('_') ? 'base64url' : 'base64');
    if (key.length === 32) return key;
  }
  return null;
}

/** The site's secret key: from the environment's value, else the data directory's key file (made when missing). */
export function loadSecretKey(dataDir: string, fromEnv?: string): Buffer {
  if (fromEnv !== undefined) {
    const key = parseSecretKey(fromEnv);
    if (!key) throw new Error('ROOMCAST_SECRET_KEY: expected 32 bytes as base64 (44 characters) or 64 hexadecimal digits, e.g. the output of "openssl rand -base64 32"');
    return key;
  }
  const file = path.join(dataDir, SECRET_KEY_FILE);
  try {
    const key = parseSecretKey(fs.readFileSync(file, 'utf8'));
    if (!key) throw new Error(`${file} does not hold a 32-byte key (base64); restore it from a backup, or set ROOMCAST_SECRET_KEY`);
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  // Made under a temporary name, flushed, then linked into place: two processes starting together
  // cannot both win (link fails when the file exists), and nobody reads a half-written key.
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    fs.writeSync(fd, `${randomBytes(32).toString('base64')}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  return loadSecretKey(dataDir);
}

/** Seals a secret (AES-256-GCM, a fresh IV each time). */
export function sealSecret(key: Buffer, plaintext: string, context: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(context));
  const body = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
  return `v1:${Buffer.concat([iv, c.getAuthTag(), body]).toString('base64')}`;
}

/** Opens a sealed secret; throws when the key or the context is not the one it was sealed with, or it was altered. */
export function openSecret(key: Buffer, sealed: string, context: string): string {
  const raw = sealed.startsWith('v1:') ? Buffer.from(sealed.slice(3), 'base64') : null;
  if (!raw || raw.length < 28) throw new Error('not a sealed secret');
  const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  d.setAAD(Buffer.from(context));
  d.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
}
