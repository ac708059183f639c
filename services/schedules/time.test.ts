import { describe, expect, it } from 'vitest';
import { cronProblem, hhmm, inWindow, isTimeZone, localHhmm, nextFires, windowEndAfter } from './time.js';

const iso = (ms: number[]) => ms.map((t) => new Date(t).toISOString());
const P = 'Europe/Paris';

describe('schedule time', () => {
  it('fires 0 22 * * 1-5 in Paris at 21:00Z in winter and 20:00Z in summer, across the March 2027 change, weekend skipped', () => {
    expect(iso(nextFires('0 22 * * 1-5', P, Date.parse('2027-03-25T12:00:00Z'), 4))).toEqual([
      '2027-03-25T21:00:00.000Z', // Thursday, CET
      '2027-03-26T21:00:00.000Z', // Friday, CET; Saturday 27 and Sunday 28 (the change) skipped
      '2027-03-29T20:00:00.000Z', // Monday, CEST
      '2027-03-30T20:00:00.000Z',
    ]);
  });

  it('and across the October 2027 change', () => {
    expect(iso(nextFires('0 22 * * 1-5', P, Date.parse('2027-10-28T12:00:00Z'), 4))).toEqual([
      '2027-10-28T20:00:00.000Z',
      '2027-10-29T20:00:00.000Z',
      '2027-11-01T21:00:00.000Z', // Monday after the change back (Sunday 31 October)
      '2027-11-02T21:00:00.000Z',
    ]);
  });

  it('checks crons, zones and times', () => {
    expect(cronProblem('0 22 * * 1-5')).toBeNull();
    expect(cronProblem('0 22 * *')).toMatch(/five/);
    expect(cronProblem('0 25 * * *')).toMatch(/not a valid cron/);
    expect(cronProblem('* * * * * *')).toMatch(/five/);
    expect(isTimeZone('Europe/Paris')).toBe(true);
    expect(isTimeZone('Europe/Nowhere')).toBe(false);
    expect(isTimeZone('')).toBe(false);
    expect(hhmm('22:00')).toBe(1320);
    expect(hhmm('24:00')).toBeNull();
    expect(hhmm('7:00')).toBeNull();
  });

  it('knows whether an instant is in a window that crosses midnight, in the zone, on both sides of a clock change', () => {
    const w = (at: string) => inWindow(Date.parse(at), P, '22:00', '06:00');
    expect(w('2027-01-11T21:00:00Z')).toBe(true); // 22:00 Paris
    expect(w('2027-01-11T20:59:00Z')).toBe(false); // 21:59
    expect(w('2027-01-12T04:59:00Z')).toBe(true); // 05:59
    expect(w('2027-01-12T05:00:00Z')).toBe(false); // 06:00, the end is outside
    expect(w('2027-07-12T20:00:00Z')).toBe(true); // 22:00 CEST
    expect(w('2027-07-12T19:30:00Z')).toBe(false); // 21:30 CEST (22:30 in UTC+1 terms would be wrong)
    expect(inWindow(Date.parse('2027-01-11T10:00:00Z'), P, '08:00', '12:00')).toBe(true);
    expect(inWindow(Date.parse('2027-01-11T12:00:00Z'), P, '08:00', '12:00')).toBe(false);
    expect(inWindow(Date.parse('2027-01-11T12:00:00Z'), P, '00:00', '00:00')).toBe(true);
  });

  it('gives the end of the window a run starts in, the next morning, with the right offset', () => {
    expect(new Date(windowEndAfter(Date.parse('2027-01-11T21:00:00Z'), P, '06:00')).toISOString()).toBe('2027-01-12T05:00:00.000Z');
    expect(new Date(windowEndAfter(Date.parse('2027-01-12T01:00:00Z'), P, '06:00')).toISOString()).toBe('2027-01-12T05:00:00.000Z');
    // Friday 26 March 22:00 CET: the window ends Saturday 06:00 CET; Saturday 27 → Sunday 28 06:00 is CEST.
    expect(new Date(windowEndAfter(Date.parse('2027-03-26T21:00:00Z'), P, '06:00')).toISOString()).toBe('2027-03-27T05:00:00.000Z');
    expect(new Date(windowEndAfter(Date.parse('2027-03-27T21:00:00Z'), P, '06:00')).toISOString()).toBe('2027-03-28T04:00:00.000Z');
    expect(new Date(windowEndAfter(Date.parse('2027-10-30T20:00:00Z'), P, '06:00')).toISOString()).toBe('2027-10-31T05:00:00.000Z');
    expect(new Date(windowEndAfter(Date.parse('2027-01-11T09:00:00Z'), P, '12:00')).toISOString()).toBe('2027-01-11T11:00:00.000Z');
    expect(localHhmm(Date.parse('2027-10-31T05:00:00Z'), P)).toBe('06:00');
  });
});
