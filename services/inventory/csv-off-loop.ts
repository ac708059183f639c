// parseHostsCsv off the event loop for files large enough to matter (a few ms and up): on a worker
// thread, started for the file and ended with it. Small files are parsed in place.
import { Worker } from 'node:worker_threads';
import { parseHostsCsv, type CsvParseResult } from './csv-import.js';

/** Files above this size are parsed on a worker thread (about 1,000 lines; parsing them in place takes ~20 ms). */
export const OFF_LOOP_BYTES = 64 * 1024;

export function parseHostsCsvOffLoop(input: Buffer): Promise<CsvParseResult> {
  if (input.length <= OFF_LOOP_BYTES) return Promise.resolve(parseHostsCsv(input));
  // From the built code, the compiled worker; from the sources (tests, npm run dev), through tsx.
  const fromSources = import.meta.url.endsWith('.ts');
  const file = new URL(`./csv-parse-worker.${fromSources ? 'ts' : 'js'}`, import.meta.url);
  const worker = fromSources
    ? new Worker(`import('tsx/esm/api').then((t) => { t.register(); return import(${JSON.stringify(file.href)}); })`, { eval: true, workerData: { input } })
    : new Worker(file, { workerData: { input } });
  return new Promise((resolve, reject) => {
    worker.once('message', (result: CsvParseResult) => resolve(result));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`the CSV parser thread stopped with code ${code}`));
    });
  }).finally(() => void worker.terminate()) as Promise<CsvParseResult>;
}
