// Server events: what changed, told to whoever listens (a room run waiting for its PCs, the socket.io
// gateway pushing to browsers, the morning report), in this process and, through RedisEventRelay, in
// every other roomcast process of the site (the api hears what the worker changed, and the reverse).
//
// Rules:
// - An event describes a database change and is emitted only after that change committed: services
//   collect events in an Outbox while their transaction runs (EventBus.transaction) and the bus emits
//   them once the commit succeeded; a rolled-back transaction emits nothing. A listener that reads the
//   database when it hears an event sees the change.
// - Events are notices, not the record: the database is. A listener that may have missed events (a
//   process started late, a Redis restart) reads the database again; nothing relies on delivery.
// - Within one process, events arrive in the order they were emitted; across processes, in the order
//   each process published them (one Redis connection publishes them all).
// - A listener that throws is logged and skipped; it never breaks the code that emitted.
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Redis } from 'ioredis';
import type { DB } from './db/index.js';
import { transactionWith, type Durability } from './db/durability.js';
import type { TaskState } from './db/schema.js';
import type { Logger } from './logger.js';
import type { Progress } from './progress.js';
import type { RedisHandle } from './redis.js';

export interface TaskChanged {
  taskId: number;
  hostId: number;
  roomId: number | null;
  kind: string;
  state: TaskState;
  /** null when the task was just created. */
  previous: TaskState | null;
  error: string | null;
  at: string;
}

export interface TaskProgressed {
  taskId: number;
  hostId: number;
  roomId: number | null;
  kind: string;
  progress: Progress & { at: string };
}

export type HostChange = 'created' | 'updated' | 'deleted' | 'moved' | 'registered' | 'seen' | 'imported';

export interface HostChanged {
  hostId: number;
  roomId: number | null;
  change: HostChange;
}

export interface VersionChanged {
  imageId: number;
  versionId: number;
  number: number;
  state: 'capturing' | 'ready' | 'damaged' | 'failed' | 'deleted';
}

export interface RegistrationChanged {
  open: boolean;
  /** When the window closes (or closed); null: no window. */
  until: string | null;
}

export interface AlertRaised {
  alertId: number;
  kind: string;
  severity: 'warning' | 'critical';
  hostId: number | null;
  message: string;
  /** An open alert happened again (its count went up). */
  repeated: boolean;
}

export interface RunChanged {
  runId: number;
  roomId: number | null;
  state: 'running' | 'done' | 'cancelled' | 'not_started';
  at: string;
}

export interface RunPcChanged {
  runId: number;
  runPcId: number;
  roomId: number | null;
  hostId: number | null;
  state: string;
  previous: string;
  reasonCode: string;
  reasonText: string;
  at: string;
}

export interface RoomChanged {
  roomId: number;
  change: 'created' | 'updated' | 'deleted';
}

export interface ScheduleChanged {
  scheduleId: number;
  roomId: number;
  /** 'fired': one of its instants was recorded (a run started, or why not). */
  change: 'created' | 'updated' | 'deleted' | 'fired';
  at: string;
}

/** A run PC's restore progress, smoothed and throttled (runs/progress.ts): at most about one a second per PC. */
export interface RunPcProgressed {
  runId: number;
  runPcId: number;
  roomId: number | null;
  hostId: number;
  /** The client's phase (restore, verify…). */
  phase: string;
  bytesDone: number;
  bytesTotal: number;
  /** Bytes per second, smoothed over the last few seconds. */
  rateBytesPerSecond: number;
  /** Seconds left in this phase at that rate; null while the rate is not known yet. */
  etaSeconds: number | null;
  at: string;
}

/** Every server event and its payload. */
export interface ServerEvents {
  'task.changed': TaskChanged;
  'task.progress': TaskProgressed;
  'host.changed': HostChanged;
  /** A capture was committed: a new ready version can be restored. */
  'image.version.published': VersionChanged;
  /** A version started capturing, failed, was found damaged (or whole again) or was deleted. */
  'image.version.changed': VersionChanged;
  /** The registration window of unknown PCs was opened or closed. */
  'boot.registration': RegistrationChanged;
  /** Something a person should look at (services/alerts). */
  'alert.raised': AlertRaised;
  /** A room run started or ended (services/runs). */
  'run.changed': RunChanged;
  /** One PC of a run changed state (its timeline has the row). */
  'run.pc.changed': RunPcChanged;
  /** A room was created, renamed or deleted (a deleted room's schedules went with it). */
  'room.changed': RoomChanged;
  /** A schedule was created, edited, deleted, or fired (services/schedules). */
  'schedule.changed': ScheduleChanged;
  /** Bytes, rate and ETA of a run PC's restore (no database change of its own: a notice for the live view). */
  'run.pc.progress': RunPcProgressed;
}

export type EventName = keyof ServerEvents;
export const EVENT_NAMES = ['task.changed', 'task.progress', 'host.changed', 'image.version.published', 'image.version.changed', 'boot.registration', 'alert.raised', 'run.changed', 'run.pc.changed', 'run.pc.progress', 'room.changed', 'schedule.changed'] as const satisfies readonly EventName[];
type Missing = Exclude<EventName, (typeof EVENT_NAMES)[number]>;
const _everyEventListed: Missing extends never ? true : Missing = true;

export interface EventMeta {
  /** 'remote': relayed from another process. */
  origin: 'local' | 'remote';
}

export type Listener<K extends EventName> = (payload: ServerEvents[K], meta: EventMeta) => void;
type AnyListener = (name: EventName, payload: ServerEvents[EventName], meta: EventMeta) => void;

/** Events a transaction produced, emitted by EventBus.transaction after its commit. */
export class Outbox {
  private readonly items: Array<{ name: EventName; payload: unknown }> = [];

  add<K extends EventName>(name: K, payload: ServerEvents[K]): void {
    this.items.push({ name, payload });
  }

  /** Takes the collected events (the outbox is empty afterwards). */
  drain(): Array<{ name: EventName; payload: unknown }> {
    return this.items.splice(0);
  }
}

/** A transaction and the outbox of its events: what a service passes to the code it calls inside. */
export interface Tx {
  trx: Kysely<DB>;
  out: Outbox;
}

export class EventBus {
  /** This process's identity on the relay. */
  readonly id = randomUUID();
  private readonly listeners = new Map<EventName, Set<Listener<EventName>>>();
  private readonly any = new Set<AnyListener>();
  private readonly sinks = new Set<(name: EventName, payload: unknown) => void>();

  constructor(private readonly log?: Logger) {}

  on<K extends EventName>(name: K, listener: Listener<K>): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener as Listener<EventName>);
    return () => set.delete(listener as Listener<EventName>);
  }

  onAny(listener: AnyListener): () => void {
    this.any.add(listener);
    return () => this.any.delete(listener);
  }

  /** Resolves with the first `name` event that `match` accepts; rejects after `timeoutMs`. */
  waitFor<K extends EventName>(name: K, match: (payload: ServerEvents[K]) => boolean, timeoutMs: number): Promise<ServerEvents[K]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`no ${name} event within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on(name, (payload) => {
        if (!match(payload)) return;
        clearTimeout(timer);
        off();
        resolve(payload);
      });
    });
  }

  /** Tells this process's listeners, then the relay. Call it only after the change committed. */
  emit<K extends EventName>(name: K, payload: ServerEvents[K]): void {
    this.deliver(name, payload, { origin: 'local' });
    for (const sink of this.sinks) sink(name, payload);
  }

  /** Tells this process's listeners only (the relay uses it for events from other processes). */
  deliver(name: EventName, payload: unknown, meta: EventMeta): void {
    for (const listener of [...(this.listeners.get(name) ?? [])]) this.call(() => listener(payload as ServerEvents[EventName], meta), name);
    for (const listener of [...this.any]) this.call(() => listener(name, payload as ServerEvents[EventName], meta), name);
  }

  /** Something that forwards every local event (the Redis relay). */
  addSink(sink: (name: EventName, payload: unknown) => void): () => void {
    this.sinks.add(sink);
    return () => this.sinks.delete(sink);
  }

  /** Runs `fn` in one database transaction; the events it put in its outbox are emitted after the commit. */
  async transaction<T>(db: Kysely<DB>, fn: (tx: Tx) => Promise<T>, durability: Durability = 'durable'): Promise<T> {
    const out = new Outbox();
    const result = await transactionWith(db, durability, (trx) => fn({ trx, out }));
    this.flush(out);
    return result;
  }

  /** Emits what an outbox holds (for a statement that committed on its own, outside transaction()). */
  flush(out: Outbox): void {
    for (const e of out.drain()) this.emit(e.name, e.payload as ServerEvents[EventName]);
  }

  private call(fn: () => void, name: EventName): void {
    try {
      fn();
    } catch (err) {
      this.log?.error({ err, event: name }, 'an event listener failed');
    }
  }
}

/**
 * Carries events between the roomcast processes of a site over Redis pub/sub, on one channel
 * (`<prefix>:events`). Each process publishes what it emits, with its bus id, and delivers what the
 * others published; its own messages come back to it and are dropped.
 *
 * Why plain pub/sub rather than socket.io's Redis adapter or BullMQ's QueueEvents: the adapter only
 * joins socket.io servers (the worker is not one, and the worker must hear the api: a room run waits
 * for its PCs' check-ins, which the api records), and QueueEvents tells job states, not the state of
 * tasks, hosts and images. Pub/sub is at-most-once, which fits events that are notices (see above).
 */
export class RedisEventRelay {
  private pub: Redis | undefined;
  private sub: Redis | undefined;
  private offSink: (() => void) | undefined;
  readonly channel: string;

  constructor(
    private readonly bus: EventBus,
    private readonly redis: Pick<RedisHandle, 'createClient' | 'prefix'>,
    private readonly log?: Logger,
  ) {
    this.channel = `${redis.prefix}:events`;
  }

  /** Subscribes, then starts forwarding; resolves once this process hears the others. */
  async start(): Promise<void> {
    const sub = (this.sub = this.redis.createClient());
    const pub = (this.pub = this.redis.createClient());
    // ioredis reconnects and resubscribes by itself; meanwhile events are lost (they are notices).
    sub.on('error', (err: Error) => this.log?.warn({ err: err.message }, 'event relay: Redis subscriber error (it reconnects)'));
    pub.on('error', (err: Error) => this.log?.warn({ err: err.message }, 'event relay: Redis publisher error (it reconnects)'));
    sub.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.receive(message);
    });
    await sub.subscribe(this.channel);
    this.offSink = this.bus.addSink((name, payload) => {
      pub.publish(this.channel, JSON.stringify({ v: 1, origin: this.bus.id, name, payload })).catch((err: unknown) => {
        this.log?.warn({ err: (err as Error).message, event: name }, 'event relay: could not publish an event');
      });
    });
  }

  private receive(message: string): void {
    let envelope: { v?: unknown; origin?: unknown; name?: unknown; payload?: unknown };
    try {
      envelope = JSON.parse(message) as typeof envelope;
    } catch {
      this.log?.warn('event relay: dropped a message that is not JSON');
      return;
    }
    if (envelope.v !== 1 || envelope.origin === this.bus.id) return;
    if (!(EVENT_NAMES as readonly unknown[]).includes(envelope.name) || typeof envelope.payload !== 'object' || envelope.payload === null) {
      this.log?.warn({ event: String(envelope.name).slice(0, 60) }, 'event relay: dropped an unknown event');
      return;
    }
    this.bus.deliver(envelope.name as EventName, envelope.payload, { origin: 'remote' });
  }

  async stop(): Promise<void> {
    this.offSink?.();
    await this.sub?.quit().catch(() => this.sub?.disconnect());
    await this.pub?.quit().catch(() => this.pub?.disconnect());
  }
}

/**
 * The events a browser may receive over socket.io (the web UI's gateway relays them), each with the
 * socket.io rooms it goes to: `room:<id>` (a school room's grid), `host:<id>` (a PC's page),
 * `task:<id>`, `images` (the image list), `boot` (the registration window), `alerts`.
 */
export interface ClientEvents {
  'task:update': TaskChanged;
  'task:progress': TaskProgressed;
  'host:update': HostChanged;
  'image:update': VersionChanged;
  'registration:update': RegistrationChanged;
  'alert:new': AlertRaised;
  'run:update': RunChanged;
  'run:pc': RunPcChanged;
  'room:update': RoomChanged;
  'schedule:update': ScheduleChanged;
  'run:progress': RunPcProgressed;
}

export type ClientEventName = keyof ClientEvents;

export function toClientEvent(name: EventName, payload: ServerEvents[EventName]): { event: ClientEventName; payload: ClientEvents[ClientEventName]; rooms: string[] } {
  const roomsOf = (p: { roomId: number | null; hostId: number }) => [...(p.roomId === null ? ['room:unassigned'] : [`room:${p.roomId}`]), `host:${p.hostId}`];
  switch (name) {
    case 'task.changed':
    case 'task.progress': {
      const p = payload as TaskChanged | TaskProgressed;
      return { event: name === 'task.changed' ? 'task:update' : 'task:progress', payload: p, rooms: [...roomsOf(p), `task:${p.taskId}`] };
    }
    case 'host.changed':
      return { event: 'host:update', payload: payload as HostChanged, rooms: roomsOf(payload as HostChanged) };
    case 'image.version.published':
    case 'image.version.changed':
      return { event: 'image:update', payload: payload as VersionChanged, rooms: ['images'] };
    case 'boot.registration':
      return { event: 'registration:update', payload: payload as RegistrationChanged, rooms: ['boot'] };
    case 'alert.raised': {
      const p = payload as AlertRaised;
      return { event: 'alert:new', payload: p, rooms: ['alerts', ...(p.hostId === null ? [] : [`host:${p.hostId}`])] };
    }
    case 'run.changed': {
      const p = payload as RunChanged;
      return { event: 'run:update', payload: p, rooms: [`run:${p.runId}`, p.roomId === null ? 'room:unassigned' : `room:${p.roomId}`] };
    }
    case 'run.pc.changed': {
      const p = payload as RunPcChanged;
      return { event: 'run:pc', payload: p, rooms: [`run:${p.runId}`, p.roomId === null ? 'room:unassigned' : `room:${p.roomId}`, ...(p.hostId === null ? [] : [`host:${p.hostId}`])] };
    }
    case 'room.changed':
      return { event: 'room:update', payload: payload as RoomChanged, rooms: [`room:${(payload as RoomChanged).roomId}`] };
    case 'schedule.changed':
      return { event: 'schedule:update', payload: payload as ScheduleChanged, rooms: [`room:${(payload as ScheduleChanged).roomId}`] };
    case 'run.pc.progress': {
      const p = payload as RunPcProgressed;
      return { event: 'run:progress', payload: p, rooms: [`run:${p.runId}`, p.roomId === null ? 'room:unassigned' : `room:${p.roomId}`, `host:${p.hostId}`] };
    }
  }
}
