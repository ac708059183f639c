// The CSV parser leaves the event loop free for large files (a worker thread) and parses small ones
// in place. Counted in event-loop turns, not milliseconds: a parse on this thread lets none happen
// before its result, one on a worker lets many.
import { describe, expect, it } from 'vitest';
import { OFF_LOOP_BYTES, parseHostsCsvOffLoop } from './csv-off-loop.js';

const hex = (n: number) => n.toString(16).padStart(2, '0');
const csv = (n: number) => Buffer.from(['nom;mac;salle', ...Array.from({ length: n }, (_, i) => `PC-${i};02:00:00:03:${hex(i >> 8)}:${hex(i & 255)};B${i % 40}`)].join('\n'));

/** Event-loop turns (setImmediate) that ran before `p` settled. */
async function turnsWhile<T>(p: Promise<T>): Promise<{ value: T; turns: number }> {
  let settled = false;
  let turns = 0;
  const done = p.finally(() => (settled = true));
  await new Promise<void>((resolve) => {
    const tick = () => (settled ? resolve() : (turns++, setImmediate(tick)));
    setImmediate(tick);
  });
  return { value: await done, turns };
}

describe('parseHostsCsvOffLoop', () => {
  it('parses a large file on a worker thread: the event loop keeps turning meanwhile', async () => {
    const big = csv(10_000);
    expect(big.length).toBeGreaterThan(OFF_LOOP_BYTES);
    const { value, turns } = await turnsWhile(parseHostsCsvOffLoop(big));
    expect(value.rows).toHaveLength(10_000);
    expect(value.errors).toEqual([]);
    expect(turns).toBeGreaterThan(20);
  });

  it('parses a small file in place, with the same result shape', async () => {
    const small = csv(50);
    expect(small.length).toBeLessThanOrEqual(OFF_LOOP_BYTES);
    const { value, turns } = await turnsWhile(parseHostsCsvOffLoop(small));
    expect(value.rows).toHaveLength(50);
    expect(turns).toBeLessThanOrEqual(1);
  });
});
