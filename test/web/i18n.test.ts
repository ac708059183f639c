// The web UI's catalogues: French and English have exactly the same keys, the same plural shape and
// the same {placeholders}; translate() fills them and picks plural forms.
import { describe, expect, it } from 'vitest';
import { CATALOGUES, formatDuration, formatRelative, placeholders, translate, type MessageKey } from '../../web/src/i18n/index.js';

describe('web i18n catalogues', () => {
  const fr = CATALOGUES.fr;
  const en = CATALOGUES.en;

  it('have exactly the same keys', () => {
    expect(Object.keys(en).sort()).toEqual(Object.keys(fr).sort());
  });

  it('have the same {placeholders} and the same kind of message (plain or plural) for every key', () => {
    const differ: string[] = [];
    for (const key of Object.keys(fr) as MessageKey[]) {
      if (typeof fr[key] !== typeof en[key]) differ.push(`${key}: plain in one, plural in the other`);
      else if (placeholders(fr[key]).join() !== placeholders(en[key]).join()) differ.push(`${key}: fr {${placeholders(fr[key]).join(', ')}} en {${placeholders(en[key]).join(', ')}}`);
      if (typeof fr[key] === 'object' && !Object.values(fr[key]).every((s) => s!.includes('{count}'))) differ.push(`${key}: a plural form without {count}`);
    }
    expect(differ).toEqual([]);
  });

  it('fill placeholders and pick plural forms by language', () => {
    expect(translate('fr', 'rooms.pcs', { count: 1 })).toBe('1 PC');
    expect(translate('en', 'rooms.pcs', { count: 2 })).toBe('2 PCs');
    expect(translate('fr', 'room.selected', { count: 0 })).toBe('0 PC sélectionné');
    expect(translate('fr', 'room.selected', { count: 3 })).toBe('3 PC sélectionnés');
    expect(translate('en', 'nav.user', { name: 'admin' })).toBe('Signed in: admin');
  });

  it('say times and durations in words', () => {
    const now = new Date('2026-12-01T12:00:00Z');
    expect(formatRelative('fr', new Date(now.getTime() - 3 * 60_000), now)).toMatch(/il y a 3\s?min/);
    expect(formatRelative('en', new Date(now.getTime() + 2 * 3600_000), now)).toMatch(/in 2 hr/);
    expect(formatDuration('en', 80 * 60)).toMatch(/1 hr 20 min/);
    expect(formatDuration('en', 3599)).toMatch(/1 hr 0 min/); // never "60 min"
  });
});
