// Coming instants in words in the school's time zone ("ce soir à 22:00"), and the "tonight, once" cron.
import { describe, expect, it } from 'vitest';
import { atWords, pastHour, tonightCron } from '../../web/src/i18n/when.js';

describe('instants in words (Europe/Paris)', () => {
  const now = new Date('2026-12-07T11:00:00Z'); // Monday, 12:00 in Paris
  it('says tonight, today, tomorrow, or the date', () => {
    expect(atWords('fr', '2026-12-07T21:00:00Z', now)).toBe('ce soir à 22:00');
    expect(atWords('en', '2026-12-07T21:00:00Z', now)).toBe('tonight at 22:00');
    expect(atWords('fr', '2026-12-07T13:30:00Z', now)).toBe('aujourd’hui à 14:30');
    expect(atWords('fr', '2026-12-08T05:00:00Z', now)).toBe('demain à 06:00');
    expect(atWords('en', '2026-12-08T21:00:00Z', now)).toBe('tomorrow night at 22:00');
    expect(atWords('fr', '2026-12-11T21:00:00Z', now)).toMatch(/^ven\. 11 déc\. à 22:00$/);
  });

  it("gives tonight's one-off cron in the school's date, and knows when 22:00 is gone", () => {
    expect(tonightCron(now)).toBe('0 22 7 12 *');
    // 23:30Z on 31 December is already 1 January in Paris.
    expect(tonightCron(new Date('2026-12-31T23:30:00Z'))).toBe('0 22 1 1 *');
    expect(pastHour(22, now)).toBe(false);
    expect(pastHour(22, new Date('2026-12-07T21:15:00Z'))).toBe(true);
  });
});
