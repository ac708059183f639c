// socket.io to the api (same origin, the session cookie): one connection for the page, subscriptions
// per room or run, typed with the server's event map (./events.ts). On every (re)connection the
// subscriptions are sent again and the caller's onConnect refetches: nothing missed is relied on.
import { io, type Socket } from 'socket.io-client';
import type { LiveEvents, Subscription } from './events.js';

type ServerToClient = { [K in keyof LiveEvents]: (payload: LiveEvents[K]) => void };
interface ClientToServer {
  subscribe(s: Subscription, ack: (r: { ok: boolean; joined?: string; error?: string }) => void): void;
  unsubscribe(s: Subscription, ack: (r: { ok: boolean }) => void): void;
}
export type LiveSocket = Socket<ServerToClient, ClientToServer>;

let socket: LiveSocket | null = null;

export function liveSocket(): LiveSocket {
  // WebSocket only: the server accepts the session cookie only with this site's Origin header, which a
  // browser sends on a WebSocket handshake but not on the same-origin GETs of long-polling.
  if (!socket) {
    const sock: LiveSocket = io({ path: '/socket.io', withCredentials: true, transports: ['websocket'] });
    // A refusal by the server (its login check) stops socket.io's own reconnection: try again a little
    // later, as long as the page still wants this connection.
    sock.on('connect_error', () => {
      if (!sock.active) setTimeout(() => socket === sock && !sock.connected && sock.connect(), 5000);
    });
    socket = sock;
  }
  return socket;
}

/** Closes the connection (logout). */
export function closeLive(): void {
  socket?.disconnect();
  socket = null;
}

/** Where a subscription stands: not yet answered (or the connection is down), followed, or refused. */
export type LiveStatus = 'pending' | 'live' | 'refused';

/**
 * Subscribes now and after each reconnection; returns the unsubscriber. onConnect runs once the server
 * accepted the subscription (the caller reads the state again); onStatus follows the server's answer
 * and the connection, so that a page says "live" only while it really is.
 */
export function subscribe(s: Subscription, onConnect: () => void, onStatus: (status: LiveStatus) => void = () => {}): () => void {
  const sock = liveSocket();
  let active = true;
  const join = () => {
    onStatus('pending');
    sock.emit('subscribe', s, (r) => {
      if (!active) return;
      onStatus(r.ok ? 'live' : 'refused');
      if (r.ok) onConnect();
    });
  };
  const lost = () => onStatus('pending');
  if (sock.connected) join();
  else onStatus('pending');
  sock.on('connect', join);
  sock.on('disconnect', lost);
  return () => {
    active = false;
    sock.off('connect', join);
    sock.off('disconnect', lost);
    if (sock.connected) sock.emit('unsubscribe', s, () => {});
  };
}
