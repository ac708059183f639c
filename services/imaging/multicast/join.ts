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
    probe: z
      .object({
        group: z.string().regex(/^2(2[4-9]|3\d)\.\d{1,3}\.\d{1,3}\.\d{1,3}$/).describe("the session's probe group (multicast/probe.ts)"),
        port: z.number().int().min(1024).max(65535),
        runId: z.number().int().describe('the run whose probe to count; datagrams of another run are not'),
        listenMs: z.number().int().min(100).max(60_000).describe('listen at most this long before joining the session'),
      })
      .optional()
      .describe("the session's multicast probe: the PC listens for it first, and restores over HTTP at once when none reached it"),
  })
  .meta({ id: 'MulticastJoin' });
export type MulticastJoin = z.infer<typeof MulticastJoinSchema>;
