// Load generator for the benchmarks, run in a worker thread so that autocannon does not share the event
// loop of the server it measures. Plain JavaScript on purpose: tsx does not load TypeScript in workers.
//
// Latency percentiles are computed here from every 2xx response time (floating-point milliseconds):
// autocannon's own histogram keeps whole milliseconds (a sub-millisecond reference reads as 0 or 1 ms) and,
// with a rate set, "corrects" coordinated omission with an expected interval of ceil(1/rate) = 1 ms, which
// back-fills synthetic 1..N ms samples for every slow response. Its figures are kept only for comparison.
import { performance } from 'node:perf_hooks';
import { parentPort } from 'node:worker_threads';
import autocannon from 'autocannon';

/** @param {number[]} sorted @param {number} p */
function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

// One worker serves a whole benchmark, run after run, so the warm-up also warms the load generator's own JIT.
let current = null;
parentPort.on('message', (m) => {
  if (m.type === 'stop') current?.stop();
  else if (m.type === 'run') runOnce(m.id, m.target);
});

function runOnce(id, o) {
  const samples = [];
  const statusCodes = {};
  let responseBytes = 0;
  let responses = 0;
  const t0 = performance.now();
  const instance = autocannon(
    {
      url: o.url,
      method: 'GET',
      headers: o.headers,
      connections: o.connections,
      overallRate: o.rate,
      duration: o.durationSec,
      timeout: o.timeoutSec,
      ignoreCoordinatedOmission: true,
    },
    (err, raw) => {
      current = null;
      const elapsedSec = (performance.now() - t0) / 1000;
      if (err) {
        parentPort.postMessage({ id, ok: false, error: String(err?.stack ?? err) });
        return;
      }
      // Off the main thread autocannon hands back raw histograms; aggregate them as it does on the main thread.
      const result = raw.latency ? raw : autocannon.aggregateResult([raw], { url: o.url, connections: o.connections, pipelining: 1 });
      samples.sort((a, b) => a - b);
      const ok = samples.length;
      parentPort.postMessage({
        id,
        ok: true,
        stats: {
          elapsedSec: round(elapsedSec, 2),
          responses,
          ok2xx: ok,
          achievedRps: round(ok / (result.duration || elapsedSec), 1),
          latencyMs: {
            p50: round(percentile(samples, 50), 3),
            p90: round(percentile(samples, 90), 3),
            p99: round(percentile(samples, 99), 3),
            max: round(samples[ok - 1] ?? null, 3),
            mean: round(ok ? samples.reduce((sum, v) => sum + v, 0) / ok : null, 3),
          },
          errors: result.errors,
          timeouts: result.timeouts,
          non2xx: result.non2xx,
          statusCodes,
          wireBytesPerResponse: responses ? Math.round(responseBytes / responses) : null,
          // autocannon's own (whole-millisecond) percentiles, for comparison only.
          autocannon: {
            durationSec: result.duration,
            latencyP50: result.latency.p50,
            latencyP90: result.latency.p90,
            latencyP99: result.latency.p99,
          },
        },
      });
    },
  );
  current = instance;
  instance.on('response', (_client, statusCode, resBytes, responseTime) => {
    responses++;
    responseBytes += resBytes;
    statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1;
    if (statusCode >= 200 && statusCode < 300) samples.push(responseTime);
  });
}

/** @param {number | null} v @param {number} digits */
function round(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return null;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
