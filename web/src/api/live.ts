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

/** Subscribes now and after each reconnection; returns the unsubscriber. */
export function subscribe(s: Subscription, onConnect: () => void): () => void {
  const sock = liveSocket();
  const join = () => {
    sock.emit('subscribe', s, () => onConnect());
  };
  if (sock.connected) join();
  sock.on('connect', join);
  return () => {
    sock.off('connect', join);
    if (sock.connected) sock.emit('unsubscribe', s, () => {});
  };
}
