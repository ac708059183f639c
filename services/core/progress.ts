// What any booted client (the imaging client today; the Windows agent later) reports about a running
// task about once a second (POST /api/v1/client/progress). Shared by the clients and the server, so it
// imports nothing but zod.
import { z } from 'zod';

const Count = z.number().int().nonnegative();

export const ProgressSchema = z
  .object({
    phase: z.string().min(1).max(40).describe('e.g. partition, hash, upload, download, write, check'),
    bytesDone: Count,
    bytesTotal: Count,
    chunksDone: Count,
    chunksTotal: Count,
    rateBytesPerSecond: z.number().nonnegative(),
    etaSeconds: z.number().nonnegative().nullable(),
    message: z.string().max(500).optional(),
  })
  .meta({ id: 'Progress' });

export type Progress = z.infer<typeof ProgressSchema>;
