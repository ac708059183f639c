// Runs parseHostsCsv on a worker thread (csv-off-loop.ts starts it): a 10,000-line file takes a few
// hundred milliseconds to parse and check, which must not block the api's event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { parseHostsCsv } from './csv-import.js';

const { input } = workerData as { input: Uint8Array };
parentPort!.postMessage(parseHostsCsv(Buffer.from(input.buffer, input.byteOffset, input.byteLength)));
