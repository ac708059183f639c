import { describe, expect, it } from 'vitest';
import { matchPack, specificity, systemFacts } from './match.js';

const packs = [
  { id: 1, name: 'dell-all', vendor: 'Dell Inc.', model: '*' },
  { id: 2, name: 'optiplex-70', vendor: 'dell inc.', model: 'OptiPlex 70*' },
  { id: 3, name: 'optiplex-7090', vendor: ' Dell Inc. ', model: 'optiplex 7090' },
  { id: 4, name: 'hp-800', vendor: 'HP', model: 'HP EliteDesk 800 G*' },
  { id: 5, name: 'hp-g6', vendor: 'HP', model: '*800 G6*' },
];

describe('driver pack matching', () => {
  it('takes the exact model before any pattern, trimmed and without regard to case', () => {
    const d = matchPack({ vendor: 'DELL INC.', model: '  OptiPlex 7090 ' }, packs);
    expect(d.pack?.name).toBe('optiplex-7090');
    expect(d.code).toBe('matched');
    expect(d.reason.en).toBe('driver pack "optiplex-7090" (Dell Inc. / optiplex 7090) for DELL INC. OptiPlex 7090');
    expect(d.reason.fr).toContain('pack de pilotes « optiplex-7090 »');
  });

  it('takes the longest pattern among patterns, and a vendor must be equal', () => {
    expect(matchPack({ vendor: 'Dell Inc.', model: 'OptiPlex 7010' }, packs).pack?.name).toBe('optiplex-70');
    expect(matchPack({ vendor: 'Dell Inc.', model: 'Latitude 5520' }, packs).pack?.name).toBe('dell-all');
    expect(matchPack({ vendor: 'Dell', model: 'OptiPlex 7090' }, packs)).toMatchObject({ pack: null, code: 'no_pack' });
    expect(specificity('OptiPlex 70*', 'optiplex 7090')).toBe('optiplex 70'.length);
    expect(specificity('a.c', 'abc')).toBeNull(); // regex characters are literal
  });

  it('names the other pack on a tie, and the oldest wins', () => {
    const d = matchPack({ vendor: 'HP', model: 'HP EliteDesk 800 G6 SFF' }, packs);
    // "HP EliteDesk 800 G" (18 literal characters) beats "800 G6" (6).
    expect(d.pack?.name).toBe('hp-800');
    const tie = matchPack({ vendor: 'HP', model: 'HP EliteDesk 800 G6' }, [...packs, { id: 9, name: 'hp-800-bis', vendor: 'hp', model: 'hp elitedesk 800 g*' }]);
    expect(tie).toMatchObject({ code: 'matched_tie', pack: { id: 4 } });
    expect(tie.reason.en).toMatch(/"hp-800-bis" matched as closely, and the oldest pack wins: make one rule narrower/);
    expect(tie.reason.fr).toMatch(/précisez l'une des règles/);
  });

  it('says so when the PC has not reported its facts, or no pack fits', () => {
    expect(matchPack(null, packs)).toMatchObject({ pack: null, code: 'no_facts' });
    expect(matchPack({ vendor: 'Lenovo', model: 'ThinkCentre M70q' }, packs).reason.en).toBe('no driver pack matches Lenovo ThinkCentre M70q: add one for this vendor and model');
    expect(matchPack({ vendor: 'Dell Inc.', model: 'OptiPlex 7090' }, [])).toMatchObject({ pack: null, code: 'no_pack' });
  });

  it('reads the facts of a host\'s hardware JSON', () => {
    expect(systemFacts(JSON.stringify({ system: { vendor: ' HP ', model: 'X' } }))).toEqual({ vendor: 'HP', model: 'X' });
    expect(systemFacts({ system: { vendor: '', model: '' } })).toBeNull();
    expect(systemFacts('not json')).toBeNull();
    expect(systemFacts(null)).toBeNull();
  });
});
