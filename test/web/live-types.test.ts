// The web UI's copy of the live event types (web/src/api/events.ts) must agree with the server's
// typed map (services/core/events.ts ClientEvents): checked by the compiler (npm run lint type-checks
// this file), and this test only makes the check visible in the suite.
import { describe, expect, it } from 'vitest';
import type { ClientEvents } from '../../services/core/events.js';
import type { LiveEvents } from '../../web/src/api/events.js';

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type EveryEvent = { [K in keyof LiveEvents]: K extends keyof ClientEvents ? Same<LiveEvents[K], ClientEvents[K]> : false };
const agree: EveryEvent = { 'run:update': true, 'run:pc': true, 'run:progress': true, 'host:update': true, 'room:update': true, 'schedule:update': true };

describe('live event types', () => {
  it("the web UI's events are the server's, payload for payload", () => {
    expect(Object.values(agree).every(Boolean)).toBe(true);
  });
});
