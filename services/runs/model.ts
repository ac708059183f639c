// A room run's input schema and the views people and the worker see of a run and its PCs (the shapes
// RunService returns), with the row-to-view mapping. Pure: no database, no events.
import { z } from 'zod';
import type { Run, RunPc } from '../core/db/schema.js';
import { TRANSPORTS, type DeliveryPath } from './delivery.js';
import { DEFAULT_PIPELINE, STEPS, type PcDecision, type PipelineSettings } from './pipeline.js';
import type { RunPlan } from './plan.js';

export const RunInputSchema = z
  .object({
    roomId: z.number().int().positive().optional().describe("the room whose PCs are restored (all of them, unless hostIds narrows it)"),
    hostIds: z.array(z.number().int().positive()).min(1).max(1000).optional().describe('chosen PCs (of the room, when roomId is given)'),
    imageId: z.number().int().positive().optional().describe("the image to restore; default the room's (PATCH /rooms/{id} imageId)"),
    version: z.number().int().positive().optional().describe("version number; default the version the room is set to use (for its image), else the newest ready version"),
    steps: z.array(z.enum(STEPS)).optional().describe(`the steps, in order (default ${STEPS.join(', ')}); restore and verify are always in`),
    maxParallel: z.number().int().min(1).max(500).default(35).describe('at most so many PCs restored at once'),
    wakeAttempts: z.number().int().min(1).max(10).default(DEFAULT_PIPELINE.wakeAttempts),
    wakeTimeoutMinutes: z.number().min(0.01).max(120).default(DEFAULT_PIPELINE.wakeTimeoutMs / 60_000).describe('how long a PC has to network-boot after each magic packet'),
    silenceTimeoutMinutes: z.number().min(0.01).max(240).default(DEFAULT_PIPELINE.silenceTimeoutMs / 60_000).describe('longest silence of a booted PC before it is given up'),
    skipInUse: z.boolean().default(true).describe('skip (never erase) a PC found in use at its start'),
    wakePerSecond: z.number().min(0.1).max(100).default(3).describe('magic packets per second, so that a room does not draw power in the same second'),
    windowEndsAt: z.iso.datetime().optional().describe('PCs still running then are stopped and reported'),
    transport: z.enum(TRANSPORTS).default('auto').describe('auto: one multicast stream for the PCs that need the whole version when there are two or more (the others restore by the differential path); unicast: never multicast; multicast: stream even to one PC'),
    acknowledge: z.boolean().optional().describe("true: start even though the version's Windows was not generalized and goes to several PCs (the warning image_not_generalized; runs/generalized.ts)"),
  })
  .strict()
  .refine((v) => v.roomId !== undefined || v.hostIds !== undefined, { error: 'give roomId, hostIds, or both' });
export type RunInput = z.input<typeof RunInputSchema>;
export type RunOptions = Omit<z.output<typeof RunInputSchema>, 'roomId' | 'hostIds' | 'imageId' | 'version' | 'windowEndsAt' | 'steps' | 'acknowledge'> & { steps: Array<(typeof STEPS)[number]> };

export interface RunPcView {
  id: number;
  hostId: number | null;
  hostName: string;
  mac: string;
  state: RunPc['state'];
  wakeAttempts: number;
  taskId: number | null;
  reason: { code: string; text: string } | null;
  /** When the PC's current deadline falls (null: none). */
  deadlineAt: string | null;
  bytesDone: number;
  bytesTotal: number;
  startedAt: string | null;
  endedAt: string | null;
  updatedAt: string;
  /** How the PC gets its version and why (runs/delivery.ts), with the stored bytes it got by multicast and by HTTP repair; null: a run from before. */
  delivery: { path: DeliveryPath; reason: { code: string; text: string; params: Record<string, string | number> }; multicastBytes: number; repairBytes: number } | null;
}

/** The network pre-flight before the run's session (network/preflight.ts via jobs/multicast.ts): verdict, why, warnings (en, fr). */
export interface RunPreflight {
  at: string;
  verdict: 'multicast' | 'unicast';
  fallback: { code: string; text: string; fr: string } | null;
  warnings: Array<{ code: string; text: string; fr: string }>;
}

/** The run's multicast session (jobs/multicast.ts), once the worker started it. */
export interface RunMulticastView {
  state: 'sending' | 'ended';
  group: string | null;
  portBase: number | null;
  /** The sender's report once it ended: outcome, bytes sent once for every PC, PCs joined and dropped. */
  outcome: { ok: boolean; reason: string; detail: string; streamBytes: number; joined: string[]; dropped: string[]; seconds: number; preflight?: RunPreflight | null } | null;
}

export interface RunView {
  id: number;
  roomId: number | null;
  room: string | null;
  image: { id: number | null; name: string };
  version: { id: number | null; number: number };
  state: Run['state'];
  options: RunOptions;
  createdBy: string;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  windowEndsAt: string | null;
  reason: { code: string; text: string } | null;
  counts: Partial<Record<RunPc['state'], number>>;
  multicast: RunMulticastView | null;
  /** How long the run should take and whether it fits its window, as planned when it started (plan.ts); null: a run from before, or one that did not start. */
  plan: RunPlan | null;
  pcs: RunPcView[];
}

/** What the worker does after a PC's change committed. */
export interface Applied {
  pc: RunPcView;
  decision: PcDecision;
  /** Send a magic packet to this MAC (attempt n). */
  wake?: { mac: string; attempt: number };
  /** ms from now: when the PC's deadline falls (null: none; undefined: unchanged). */
  deadlineMs?: number | null;
  /** The run ended with this change. */
  runEnded?: Run['state'];
}


export const reasonOf = (code: string | null, text: string | null) => (code && text ? { code, text } : null);
export const pcView = (p: RunPc): RunPcView => ({
  id: p.id,
  hostId: p.host_id,
  hostName: p.host_name,
  mac: p.mac,
  state: p.state,
  wakeAttempts: p.wake_attempts,
  taskId: p.task_id,
  reason: reasonOf(p.reason_code, p.reason_text),
  deadlineAt: p.deadline_at,
  bytesDone: p.bytes_done,
  bytesTotal: p.bytes_total,
  startedAt: p.started_at,
  endedAt: p.ended_at,
  updatedAt: p.updated_at,
  delivery: p.path && p.path_code && p.path_text
    ? { path: p.path, reason: { code: p.path_code, text: p.path_text, params: p.path_params ? (JSON.parse(p.path_params) as Record<string, string | number>) : {} }, multicastBytes: Number(p.multicast_bytes), repairBytes: Number(p.repair_bytes) }
    : null,
});

export const multicastView = (r: Run): RunMulticastView | null =>
  r.mcast_state ? { state: r.mcast_state, group: r.mcast_group, portBase: r.mcast_port, outcome: r.mcast_outcome ? (JSON.parse(r.mcast_outcome) as RunMulticastView['outcome']) : null } : null;

export function pipelineOf(o: RunOptions): PipelineSettings {
  return { steps: o.steps, wakeAttempts: o.wakeAttempts, wakeTimeoutMs: o.wakeTimeoutMinutes * 60_000, silenceTimeoutMs: o.silenceTimeoutMinutes * 60_000, skipInUse: o.skipInUse };
}

