// Live events for browsers and scripts: socket.io on the api's HTTP server (path /socket.io).
//
// - A connection needs a login: the session cookie (then the Origin must be this server's, so another
//   site cannot open a socket with a teacher's cookie) or an API token in the handshake's auth.token.
//   Any role may listen (a viewer too); nothing is accepted from the client but subscriptions.
// - The client subscribes to what it watches: a school room ({ room: id | 'unassigned' }), a run
//   ({ run: id }), a PC ({ host: id }), or the images and alerts lists; each is a socket.io room. A room,
//   run or PC that does not exist is refused ({ ok: false, error: 'not_found' }): the UI then says it
//   is not live rather than showing a live badge nothing will ever update.
// - Server events (core/events.ts) are pushed as their client event (toClientEvent: the typed map
//   shared with the UI) to the rooms they concern, after the database change they describe; the
//   relay brings the worker's events here too.
// - A client that (re)connects asks for the current state ('run:state' with an ack) and then follows
//   the events: nothing is missed, since the state it reads is already committed.
import type { Server as HttpServer } from 'node:http';
import { Server, type Socket } from 'socket.io';
import type { AccountService } from '../accounts/service.js';
import { SESSION_COOKIE, type AuthContext } from '../core/auth.js';
import { toClientEvent, type ClientEvents, type EventBus } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { RunService, RunView } from '../runs/service.js';
import { parseCookies } from './http.js';

export type Subscription = { room: number | 'unassigned' } | { run: number } | { host: number } | { list: 'images' | 'alerts' | 'boot' };

interface ClientToServer {
  subscribe(s: Subscription, ack: (r: { ok: true; joined: string } | { ok: false; error: string }) => void): void;
  unsubscribe(s: Subscription, ack: (r: { ok: boolean }) => void): void;
  'run:state'(runId: number, ack: (r: { ok: true; run: RunView } | { ok: false; error: string }) => void): void;
}

type ServerToClient = { [K in keyof ClientEvents]: (payload: ClientEvents[K]) => void };

function roomOf(s: unknown): string | null {
  if (typeof s !== 'object' || s === null) return null;
  const o = s as Record<string, unknown>;
  const id = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v > 0;
  if ('room' in o) return o.room === 'unassigned' ? 'room:unassigned' : id(o.room) ? `room:${o.room as number}` : null;
  if ('run' in o) return id(o.run) ? `run:${o.run as number}` : null;
  if ('host' in o) return id(o.host) ? `host:${o.host as number}` : null;
  if ('list' in o) return o.list === 'images' || o.list === 'alerts' || o.list === 'boot' ? o.list : null;
  return null;
}

const sameOrigin = (origin: string | undefined, host: string | undefined) => {
  if (!origin || !host) return false;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
};

/** Whether the thing a subscription names exists (a room, run or PC by id; the lists always do). */
export type SubscriptionCheck = (kind: 'room' | 'run' | 'host', id: number) => Promise<boolean>;

export function attachLive(
  server: HttpServer,
  deps: { accounts: Pick<AccountService, 'authenticateSession' | 'authenticateToken'>; events: EventBus; runs: Pick<RunService, 'view'>; log: Logger; exists?: SubscriptionCheck },
): { close(): Promise<void> } {
  const log = deps.log.child({ part: 'live' });
  const io = new Server<ClientToServer, ServerToClient, Record<string, never>, { auth: AuthContext }>(server, { serveClient: false, cors: { origin: false } });

  io.use((socket, next) => {
    void (async () => {
      const ip = socket.handshake.address ?? null;
      const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
      let auth: AuthContext | null = null;
      if (typeof token === 'string' && token) auth = await deps.accounts.authenticateToken(token, ip);
      else {
        const cookie = parseCookies(socket.handshake.headers.cookie)[SESSION_COOKIE];
        if (cookie) {
          if (!sameOrigin(socket.handshake.headers.origin, socket.handshake.headers.host)) return next(new Error('forbidden: a session cookie is accepted from this server’s own pages only'));
          auth = await deps.accounts.authenticateSession(cookie, ip);
        }
      }
      if (!auth) return next(new Error('unauthenticated: log in first (session cookie) or pass an API token as auth.token'));
      socket.data.auth = auth;
      next();
    })().catch((err: Error) => next(err));
  });

  io.on('connection', (socket: Socket<ClientToServer, ServerToClient, Record<string, never>, { auth: AuthContext }>) => {
    socket.on('subscribe', (s, ack) => {
      const room = roomOf(s);
      if (typeof ack !== 'function') return;
      if (!room) return ack({ ok: false, error: 'subscribe to { room: id | "unassigned" }, { run: id }, { host: id } or { list: "images" | "alerts" | "boot" }' });
      const [kind, id] = room.split(':') as [string, string | undefined];
      const check = deps.exists && id !== undefined && id !== 'unassigned' ? deps.exists(kind as 'room' | 'run' | 'host', Number(id)) : Promise.resolve(true);
      check.then(
        (found) => {
          if (!found) return ack({ ok: false, error: 'not_found' });
          void socket.join(room);
          ack({ ok: true, joined: room });
        },
        (err: Error) => ack({ ok: false, error: err.message }),
      );
    });
    socket.on('unsubscribe', (s, ack) => {
      const room = roomOf(s);
      if (room) void socket.leave(room);
      if (typeof ack === 'function') ack({ ok: room !== null });
    });
    socket.on('run:state', (runId, ack) => {
      if (typeof ack !== 'function') return;
      if (typeof runId !== 'number' || !Number.isInteger(runId) || runId < 1) return ack({ ok: false, error: 'a run id' });
      deps.runs.view(runId).then(
        (run) => ack({ ok: true, run }),
        (err: Error) => ack({ ok: false, error: err.message }),
      );
    });
  });

  const off = deps.events.onAny((name, payload) => {
    const e = toClientEvent(name, payload);
    (io.to(e.rooms) as unknown as { emit(ev: string, p: unknown): void }).emit(e.event, e.payload);
  });
  log.info('live events on /socket.io');
  return {
    close: async () => {
      off();
      // Not io.close(): that closes the HTTP server too, which main.ts stops on its own.
      io.disconnectSockets(true);
      io.engine.close();
    },
  };
}
