// Stopping the api (services/main.ts): a connection whose request is still arriving when the stop
// begins does not hold the stop for the server's timeouts (65 s keep-alive, 60 s headers): it is cut
// after a bound, so that `docker stop`'s grace and the tests' hooks are enough. Real api, real sockets.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { startTestApp } from '../support/app.js';

describe('stopping the api', () => {
  it('cuts a connection still sending its request instead of waiting for the server timeouts', async () => {
    const app = await startTestApp('sqlite');
    const port = Number(new URL(app.url).port);
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    // Half a request: the server holds the connection as busy, not idle.
    socket.write('GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    // A finished request on a kept-alive connection is let go as soon as its answer is out.
    const kept = await fetch(`${app.url}/api/v1/health`, { headers: { connection: 'keep-alive' } });
    expect(kept.status).toBeLessThan(500);
    await app.stop(); // without the bound: 60 s (headers timeout) or 65 s (keep-alive), past this test's limit
    await closed;
    expect(socket.destroyed).toBe(true);
  }, 40_000);
});
