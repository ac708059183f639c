// The web client turns every failure into a sentence of the catalogues: API problems by their code
// (or status), network failures, and a 401 sends the app back to the login page.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, call, NetworkError, problemMessage, setUnauthenticatedHandler } from '../../web/src/api/client.js';
import { CATALOGUES, translate } from '../../web/src/i18n/index.js';

const answer = (status: number, body: unknown) => Promise.resolve({ error: body, response: new Response(null, { status }) });

describe('web client problems', () => {
  afterEach(() => setUnauthenticatedHandler(() => {}));

  it('names a message of both catalogues for every problem', () => {
    const cases: Array<[unknown, string]> = [
      [new NetworkError('fetch failed'), 'error.network'],
      [new TypeError('Failed to fetch'), 'error.network'],
      [new ApiError(409, 'in_another_run', 'PC 3 is in run 2'), 'error.in_another_run'],
      [new ApiError(401, 'invalid_credentials', 'wrong'), 'error.invalid_credentials'],
      [new ApiError(403, 'some_new_code', 'x'), 'error.forbidden'],
      [new ApiError(404, 'not_found', 'x'), 'error.not_found'],
      [new ApiError(500, 'internal_error', 'x'), 'error.server'],
      [new ApiError(418, 'teapot', 'x'), 'error.unknown'],
      [new Error('anything else'), 'error.server'],
    ];
    for (const [err, key] of cases) {
      const m = problemMessage(err);
      expect(m.key, String(err)).toBe(key);
      expect(CATALOGUES.fr[m.key]).toBeDefined();
      expect(CATALOGUES.en[m.key]).toBeDefined();
      // Every placeholder is filled: no raw {name} on screen.
      expect(translate('fr', m.key, m.params)).not.toMatch(/\{\w+\}/);
    }
    expect(translate('fr', problemMessage(new ApiError(418, 'teapot', 'x')).key, problemMessage(new ApiError(418, 'teapot', 'x')).params)).toBe('La demande a échoué (code 418).');
  });

  it('reads problem+json bodies and { error, message } bodies; a 401 tells the app, a failed login does not', async () => {
    const onGone = vi.fn();
    setUnauthenticatedHandler(onGone);
    await expect(call(answer(409, { code: 'version_damaged', detail: 'damaged' }))).rejects.toMatchObject({ status: 409, code: 'version_damaged', message: 'damaged' });
    await expect(call(answer(400, { error: 'bad_steps', message: 'no' }))).rejects.toMatchObject({ code: 'bad_steps', message: 'no' });
    await expect(call(answer(401, { code: 'invalid_credentials', detail: 'x' }))).rejects.toBeInstanceOf(ApiError);
    expect(onGone).not.toHaveBeenCalled();
    await expect(call(answer(401, { code: 'unauthenticated', detail: 'x' }))).rejects.toBeInstanceOf(ApiError);
    expect(onGone).toHaveBeenCalledTimes(1);
    await expect(call(Promise.reject(new TypeError('fetch failed')))).rejects.toBeInstanceOf(NetworkError);
  });
});
