import { describe, expect, it } from 'vitest';
import { cronBoth, cronWords } from './words.js';

describe('cron in words', () => {
  it.each([
    ['0 22 * * 1-5', 'du lundi au vendredi à 22:00', 'Monday to Friday at 22:00'],
    ['0 22 * * *', 'tous les jours à 22:00', 'every day at 22:00'],
    ['30 21 * * 0-6', 'tous les jours à 21:30', 'every day at 21:30'],
    ['0 22 * * 1,3,5', 'les lundi, mercredi et vendredi à 22:00', 'on Monday, Wednesday and Friday at 22:00'],
    ['0 20 * * 6', 'le samedi à 20:00', 'every Saturday at 20:00'],
    ['0 20 * * 7', 'le dimanche à 20:00', 'every Sunday at 20:00'],
    ['5 12,22 * * mon-fri', 'du lundi au vendredi à 12:05 et 22:05', 'Monday to Friday at 12:05 and 22:05'],
    ['15 * * * *', 'tous les jours toutes les heures à la minute 15', 'every day every hour at minute 15'],
    ['0 22 6 12 *', 'le 6 décembre à 22:00', 'on 6 December at 22:00'],
    ['30 21 1 3 *', 'le 1er mars à 21:30', 'on 1 March at 21:30'],
  ])('%s', (cron, fr, en) => {
    expect(cronWords(cron, 'fr')).toBe(fr);
    expect(cronWords(cron, 'en')).toBe(en);
  });

  it('gives the raw expression back for what it cannot phrase', () => {
    for (const cron of ['0 22 1 * *', '*/15 22 * * *', '0 22 * 7 *', '0 22 6 12 1', '0 22,23 6 12 *', '0 22 * * 5-1', '0 22 * * 1-3,5', '0 0 0 * * *']) expect(cronBoth(cron)).toEqual({ fr: cron, en: cron });
  });
});
