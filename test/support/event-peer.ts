// A second roomcast process for the event relay test (test/integration/events-relay.test.ts): it opens
// the composition root as the worker role does (same database, same Redis prefix, from the environment),
// waits to hear a task created by the other process, cancels it, and exits.
//   stdout: "ready" once subscribed, then "cancelled <taskId>"
import { pino } from 'pino';
import { openContainer } from '../../services/container.js';
import { SYSTEM_ACTOR } from '../../services/core/audit.js';
import { loadConfig } from '../../services/core/config.js';

const config = loadConfig(process.env);
const c = await openContainer(config, pino({ level: process.env.ROOMCAST_TEST_LOG ?? 'silent' }), { migrate: false });
const created = c.events.waitFor('task.changed', (e) => e.state === 'pending' && e.previous === null, 30_000);
process.stdout.write('ready\n');
try {
  const e = await created;
  await c.tasks.cancel(SYSTEM_ACTOR, e.taskId);
  process.stdout.write(`cancelled ${e.taskId}\n`);
} finally {
  await c.close();
}
