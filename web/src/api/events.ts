// The live events a browser receives over socket.io, as the server's typed map (services/core/events.ts
// ClientEvents) has them. A copy, since the browser build cannot compile the server's module;
// test/web/live-types.test.ts fails when the two disagree.
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

export interface RunPcProgressed {
  runId: number;
  runPcId: number;
  roomId: number | null;
  hostId: number;
  phase: string;
  bytesDone: number;
  bytesTotal: number;
  rateBytesPerSecond: number;
  etaSeconds: number | null;
  at: string;
}

export interface HostChanged {
  hostId: number;
  roomId: number | null;
  change: 'created' | 'updated' | 'deleted' | 'moved' | 'registered' | 'seen' | 'imported';
}

export interface RoomChanged {
  roomId: number;
  change: 'created' | 'updated' | 'deleted';
}

export interface ScheduleChanged {
  scheduleId: number;
  roomId: number;
  change: 'created' | 'updated' | 'deleted' | 'fired';
  at: string;
}

/** The events the room and run pages listen to (a subset of the server's ClientEvents). */
export interface LiveEvents {
  'run:update': RunChanged;
  'run:pc': RunPcChanged;
  'run:progress': RunPcProgressed;
  'host:update': HostChanged;
  'room:update': RoomChanged;
  'schedule:update': ScheduleChanged;
}

export type Subscription = { room: number | 'unassigned' } | { run: number } | { host: number } | { list: 'images' | 'alerts' | 'boot' };
