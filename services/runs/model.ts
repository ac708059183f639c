// A room run's input schema and the views people and the worker see of a run and its PCs (the shapes
// RunService returns), with the row-to-view mapping. Pure: no database, no events.
import { z } from 'zod';
import type { Run, RunPc } from '../core/db/schema.js';
import { DEFAULT_PIPELINE, STEPS, type PcDecision, type PipelineSettings } from './pipeline.js';

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
  })
  .strict()
  .refine((v) => v.roomId !== undefined || v.hostIds !== undefined, { error: 'give roomId, hostIds, or both' });
export type RunInput = z.input<typeof RunInputSchema>;
export type RunOptions = Omit<z.output<typeof RunInputSchema>, 'roomId' | 'hostIds' | 'imageId' | 'version' | 'windowEndsAt' | 'steps'> & { steps: Array<(typeof STEPS)[number]> };

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
});

export function pipelineOf(o: RunOptions): PipelineSettings {
  return { steps: o.steps, wakeAttempts: o.wakeAttempts, wakeTimeoutMs: o.wakeTimeoutMinutes * 60_000, silenceTimeoutMs: o.silenceTimeoutMinutes * 60_000, skipInUse: o.skipInUse };
}

