// The task lifecycle, as a pure rule: which state a task may move to from which, and why not.
//
//   pending ──hello──▶ running ──result──▶ done | failed
//      │  └─hello (a kind done at the hello, e.g. inventory)─▶ done
//      ├──────────────┴──cancel──▶ cancelled
//      └──────────────┴──fail──▶ failed (the server: what the task works on became unusable, e.g. a
//                                 damaged image version; a running client is refused and stops)
//
// done, failed and cancelled are final: nothing moves a task out of them. A PC has at most one open
// (pending or running) task; the database enforces it with a unique partial index.
import type { TaskState } from '../core/db/schema.js';

export const TASK_STATES = ['pending', 'running', 'done', 'failed', 'cancelled'] as const satisfies readonly TaskState[];
export const OPEN_STATES: readonly TaskState[] = ['pending', 'running'];
export const isOpen = (s: TaskState) => OPEN_STATES.includes(s);

/** What moves a task: the client's hello, its final result, a person's (or a run's) cancel, the server's fail. */
export type TaskEvent = 'hello' | 'result' | 'cancel' | 'fail';

const MOVES: Record<TaskEvent, Partial<Record<TaskState, readonly TaskState[]>>> = {
  hello: { pending: ['running', 'done'] },
  result: { running: ['done', 'failed'] },
  cancel: { pending: ['cancelled'], running: ['cancelled'] },
  fail: { pending: ['failed'], running: ['failed'] },
};

export type Move = { ok: true } | { ok: false; reason: string };

/** Whether `event` may move a task from `from` to `to`, with a sentence when it may not. */
export function move(event: TaskEvent, from: TaskState, to: TaskState): Move {
  const allowed = MOVES[event][from];
  if (allowed?.includes(to)) return { ok: true };
  if (!isOpen(from)) return { ok: false, reason: `the task is already ${from}` };
  if (event === 'result' && from === 'pending') return { ok: false, reason: 'the task has not started: the client must say hello first' };
  return { ok: false, reason: `a ${event} cannot move a task from ${from} to ${to}` };
}

/** The states `event` may move a task out of (the guard of the UPDATE that moves it). */
export const movableFrom = (event: TaskEvent): TaskState[] => Object.keys(MOVES[event]) as TaskState[];
