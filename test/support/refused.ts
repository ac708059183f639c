// A service call that must be refused: the AppError it rejected with, as status, code and message.
import { expect } from 'vitest';
import { AppError } from '../../services/core/errors.js';

export async function refused(p: Promise<unknown>): Promise<{ status: number; code: string; message: string }> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, 'the call should have been refused').toBeInstanceOf(AppError);
  const e = err as AppError;
  return { status: e.status, code: e.code, message: e.message };
}
