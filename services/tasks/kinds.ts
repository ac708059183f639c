// The registry of task kinds. A kind says, in one place, everything the rest of roomcast needs to know
// about a task of that kind: what POST /api/v1/tasks takes for it and what is stored (params, zod),
// what the PC's network boot loads, what the client does after its hello, what the client API shows it
// and how its end is recorded. Adding a kind (identity, software, wake…) is a module that declares one
// and registers it in the composition root (services/container.ts): nothing else changes.
//
// Built in here: 'inventory' (boot the client, report the hardware facts, power off). The imaging
// domain registers 'capture' and 'restore' (services/imaging/kinds.ts).
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Actor } from '../core/audit.js';
import type { DB } from '../core/db/index.js';
import type { Task, TaskState } from '../core/db/schema.js';
import { AppError } from '../core/errors.js';
import type { Tx } from '../core/events.js';

/** A task row with its host's MAC, system serial and pinned disk, as the client API sees it. */
export type MachineTask = Task & { mac: string; disk_serial: string | null; serial: string | null };

/** What the client reported at the end (POST /api/v1/client/result), after its kind had its say. */
export interface Outcome {
  state: 'done' | 'failed';
  error: string | null;
  result: Record<string, unknown>;
}

/** What a client's final report becomes on the task (tasks.result); kinds extend it. */
export const ClientResultSchema = z.object({
  ok: z.boolean(),
  /** The last progress report, kept. */
  progress: z.record(z.string(), z.unknown()).optional(),
  reason: z.string().optional(),
  details: z.record(z.string(), z.unknown()).optional(),
});

/** What happens at the client's hello for a task of this kind. */
export type HelloRule =
  /** The hello is the whole task (its facts are the result): the task is done at once, the PC powers off. */
  | { doneAtHello: true; result: Record<string, unknown> }
  /** The task runs; the client is told `action` with a task token valid `tokenSeconds`. */
  | { action: string; tokenSeconds: number };

export interface TaskKindDef<P = unknown> {
  /** Lowercase letters, digits and "-": the `kind` of the API and of the database rows. */
  name: string;
  /** One line for people (OpenAPI, UI). */
  summary: string;
  /** The fields POST /api/v1/tasks takes for this kind, besides kind and hostIds. */
  input: z.ZodObject;
  /** What is stored in tasks.params for this kind (null for kinds without parameters); checked when written and read. */
  params: z.ZodType<P>;
  /** What is stored in tasks.result when the task ends; checked before it is written (a client's report that does not fit is refused). */
  result: z.ZodType;
  /** Refuses a host list this kind cannot take (a capture reads one PC); throws an AppError. */
  checkHosts?(hostIds: number[]): void;
  /** Turns the validated input into params, checked against the database (inside the create transaction). */
  resolve(trx: Kysely<DB>, input: Record<string, unknown>): Promise<P>;
  /** What the PC's network boot loads: the roomcast client, and imaging.img too when `imaging`. */
  boot: { imaging: boolean };
  hello: HelloRule;
  /** The client API (GET /api/v1/client/task) for this kind: what the client needs to do its work. */
  client?: {
    schema: z.ZodType;
    view(db: Kysely<DB>, task: MachineTask, params: P): Promise<unknown>;
  };
  /** Accepts POST /api/v1/client/progress while running (kept on the task, told as task.progress). */
  progress?: boolean;
  /** Adjusts the client's final report before it is recorded (in its transaction). */
  onResult?(tx: Tx, task: MachineTask, params: P, outcome: Outcome): Promise<Outcome>;
  /** After the task ended as failed or cancelled, in the same transaction: release what it held. */
  onEnd?(tx: Tx, task: Task, params: P, end: { state: TaskState; why: string; actor: Actor }): Promise<void>;
}

export const KIND_NAME = /^[a-z][a-z0-9-]{1,30}$/;

/** The kinds this server knows. Fixed once the composition root has built the services. */
export class TaskKindRegistry {
  private readonly kinds = new Map<string, TaskKindDef<unknown>>();

  constructor(defs: Array<TaskKindDef<never>> = []) {
    for (const d of defs) this.register(d);
  }

  register<P>(def: TaskKindDef<P>): this {
    if (!KIND_NAME.test(def.name)) throw new Error(`task kind "${def.name}": a name of lowercase letters, digits and "-"`);
    if (this.kinds.has(def.name)) throw new Error(`task kind "${def.name}" is registered twice`);
    for (const field of ['kind', 'hostIds']) if (field in def.input.shape) throw new Error(`task kind "${def.name}": its input cannot have a field "${field}" (POST /api/v1/tasks sets it)`);
    if ('action' in def.hello && (def.hello.action === 'poweroff' || !KIND_NAME.test(def.hello.action))) {
      throw new Error(`task kind "${def.name}": hello action "${def.hello.action}" is not a usable action name`);
    }
    this.kinds.set(def.name, def as TaskKindDef<unknown>);
    return this;
  }

  names(): string[] {
    return [...this.kinds.keys()];
  }

  list(): Array<TaskKindDef<unknown>> {
    return [...this.kinds.values()];
  }

  find(name: string): TaskKindDef<unknown> | undefined {
    return this.kinds.get(name);
  }

  /** The kind of a task; a 400 naming the known kinds otherwise. */
  get(name: string): TaskKindDef<unknown> {
    const def = this.kinds.get(name);
    if (!def) throw new AppError(400, 'unknown_kind', `"${name}" is not a task kind this server knows (${this.names().join(', ')})`);
    return def;
  }

  /** The actions a client may be told at its hello: poweroff, and each running kind's own. */
  helloActions(): [string, ...string[]] {
    const actions = this.list().flatMap((k) => ('action' in k.hello ? [k.hello.action] : []));
    return ['poweroff', ...new Set(actions)];
  }

  /** A task's stored params, parsed with its kind's schema (a row that no longer fits is a server error). */
  paramsOf(task: Pick<Task, 'id' | 'kind' | 'params'>): unknown {
    const def = this.get(task.kind);
    const raw: unknown = task.params === null ? null : JSON.parse(task.params);
    const parsed = def.params.safeParse(raw);
    if (!parsed.success) throw new Error(`task ${task.id}: its stored params do not fit kind ${task.kind}: ${parsed.error.issues[0]?.message}`);
    return parsed.data;
  }
}

/** Boot the client, report the hardware facts (hello), power off: done at the hello. */
export const inventoryKind: TaskKindDef<null> = {
  name: 'inventory',
  summary: 'report hardware facts, then power off',
  input: z.object({}),
  params: z.null(),
  result: z.object({ facts: z.literal(true) }),
  resolve: async () => null,
  boot: { imaging: false },
  hello: { doneAtHello: true, result: { facts: true } },
};
