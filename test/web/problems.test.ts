// The web client turns every failure into a sentence of the catalogues: API problems by their code
// (or status), network failures, and a 401 sends the app back to the login page.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, call, NetworkError, setUnauthenticatedHandler } from '../../web/src/api/client.js';
import { problemMessage } from '../../web/src/api/problems.js';
import { CATALOGUES, translate } from '../../web/src/i18n/index.js';

const answer = (status: number, body: unknown) => Promise.resolve({ error: body, response: new Response(null, { status }) });

describe('web client problems', () => {
  afterEach(() => setUnauthenticatedHandler(() => {}));

  it('names a message of both catalogues for every problem', () => {
    const cases: Array<[unknown, string]> = [
      [new NetworkError('fetch failed'), 'error.network'],
      [new TypeError('Failed to fetch'), 'error.network'],
      [new ApiError(409, 'in_another_run', 'PC 3 is in run 2'), 'problem.in_another_run'],
      [new ApiError(401, 'invalid_credentials', 'wrong'), 'problem.invalid_credentials'],
      [new ApiError(400, 'not_in_room', 'host(s) 4 are not in room "B204"'), 'problem.not_in_room'],
      [new ApiError(409, 'run_running', 'x'), 'problem.run_running'],
      [new ApiError(403, 'some_new_code', 'x'), 'problem.forbidden'],
      [new ApiError(404, 'http_404', 'x'), 'problem.not_found'],
      [new ApiError(429, 'http_429', 'x'), 'problem.rate_limited'],
      [new ApiError(500, 'internal_error', 'x'), 'problem.internal_error'],
      [new ApiError(502, 'http_502', 'x'), 'error.server'],
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
