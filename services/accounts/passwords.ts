// argon2id password hashes (OWASP parameters: 19 MiB, 2 iterations, 1 lane).
import argon2 from 'argon2';

const OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, OPTIONS);
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}

/** A hash to verify against when the user does not exist, so timing does not reveal usernames. */
let dummyHash: Promise<string> | undefined;
export function dummyVerify(password: string): Promise<boolean> {
  dummyHash ??= hashPassword('roomcast-dummy-password');
  return dummyHash.then((h) => verifyPassword(h, password)).then(() => false);
}

export const PASSWORD_RULE = 'at least 10 characters';
export function passwordProblem(password: string): string | null {
  if (password.length < 10) return `the password must have ${PASSWORD_RULE}`;
  if (password.length > 512) return 'the password is too long (512 characters at most)';
  return null;
}
