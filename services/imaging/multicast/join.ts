// Where a restore's multicast session is (a room run's, issue 14): what the task tells the PC's
// client so that it joins the session with udp-receiver and repairs the rest over HTTP. Shared by the
// server (the restore task kind) and the boot client (format.ts re-exports it): zod only.
import { z } from 'zod';

export const MulticastJoinSchema = z
  .object({
    portBase: z.number().int().min(1024).max(65534).describe("the session's first port (udp-receiver --portbase)"),
    versionId: z.number().int().describe('the version the stream carries; a stream of another one is ignored'),
    startTimeoutSec: z.number().int().min(1).describe('how long udp-receiver waits for the stream to start; then the PC restores over HTTP'),
    receiveTimeoutSec: z.number().int().min(1).describe('a stream silent this long ends; what is missing is repaired over HTTP'),
  })
  .meta({ id: 'MulticastJoin' });
export type MulticastJoin = z.infer<typeof MulticastJoinSchema>;
