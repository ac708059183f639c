// The pure decision of issue 15's guards: whether a captured Windows was generalized, from the values of
// its offline registry (SOFTWARE ImageState, SYSTEM Setup), and the run's warning that follows from it.
import { describe, expect, it } from 'vitest';
import { checkAcknowledged, generalizedWarnings } from '../runs/generalized.js';
import { decideGeneralized, GENERALIZED_REASONS, GENERALIZED_TEXT, parseWindowsFacts, type SetupState, type WindowsFacts } from './windows-facts.js';

const none: SetupState = { imageState: null, systemSetupInProgress: null, oobeInProgress: null, setupType: null, cmdLine: null };
const afterSysprep: SetupState = { imageState: 'IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE', systemSetupInProgress: 1, oobeInProgress: 0, setupType: 2, cmdLine: 'oobe\\windeploy.exe' };
const inUse: SetupState = { imageState: 'IMAGE_STATE_COMPLETE', systemSetupInProgress: 0, oobeInProgress: 0, setupType: 0, cmdLine: '' };

describe('generalized or not, from the offline registry', () => {
  it.each([
    ['sysprep /generalize /oobe, shut down', afterSysprep, 'yes', 'generalized'],
    ['sysprep /generalize /audit', { ...afterSysprep, imageState: 'IMAGE_STATE_GENERALIZE_RESEAL_TO_AUDIT' }, 'yes', 'generalized'],
    ['an installed Windows in use', inUse, 'no', 'not_generalized'],
    ['started once after sysprep (specialize ran)', { ...inUse, imageState: 'IMAGE_STATE_SPECIALIZE_RESEAL_TO_OOBE', oobeInProgress: 1 }, 'no', 'specialized'],
    ['sysprep that did not finish', { ...inUse, imageState: 'IMAGE_STATE_UNDEPLOYABLE' }, 'no', 'undeployable'],
    ['generalized but no setup pending', { ...inUse, imageState: 'IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE' }, 'unknown', 'inconsistent'],
    ['no ImageState, windeploy pending', { ...afterSysprep, imageState: null }, 'yes', 'setup_pending'],
    ['no ImageState, nothing pending', { ...none, systemSetupInProgress: 0 }, 'unknown', 'no_image_state'],
    ['nothing at all', none, 'unknown', 'no_image_state'],
    ['a state this code does not know', { ...inUse, imageState: 'IMAGE_STATE_SOMETHING_NEW' }, 'unknown', 'unknown_image_state'],
    ['lower case, spaces', { ...afterSysprep, imageState: ' image_state_generalize_reseal_to_oobe ' }, 'yes', 'generalized'],
  ] as const)('%s → %s (%s)', (_what, state, generalized, reason) => {
    expect(decideGeneralized(state)).toEqual({ generalized, reason });
  });

  it('has a French and an English sentence for every reason', () => {
    for (const r of GENERALIZED_REASONS) {
      expect(GENERALIZED_TEXT[r].fr.length, r).toBeGreaterThan(20);
      expect(GENERALIZED_TEXT[r].en.length, r).toBeGreaterThan(20);
    }
  });

  it('reads recorded facts back, and gives null for nothing or for what it cannot read', () => {
    const f: WindowsFacts = { partition: 3, productName: 'Windows 10 Pro', editionId: 'Professional', displayVersion: '22H2', build: '19045.5131', imageState: 'IMAGE_STATE_COMPLETE', generalized: 'no', reason: 'not_generalized' };
    expect(parseWindowsFacts(JSON.stringify([f]))).toEqual([f]);
    expect(parseWindowsFacts('[]')).toEqual([]);
    expect(parseWindowsFacts(null)).toBeNull();
    expect(parseWindowsFacts('{not json')).toBeNull();
    expect(parseWindowsFacts(JSON.stringify([{ ...f, generalized: 'maybe' }]))).toBeNull();
  });
});

describe("a run's warning", () => {
  const facts = (generalized: WindowsFacts['generalized'], reason: WindowsFacts['reason']): WindowsFacts[] => [
    { partition: 3, productName: null, editionId: null, displayVersion: null, build: null, imageState: null, generalized, reason },
  ];

  it('warns for a non-generalized Windows onto two PCs or more, and refuses unless acknowledged', () => {
    const w = generalizedWarnings(facts('no', 'not_generalized'), 30);
    expect(w).toEqual([{ code: 'image_not_generalized', reason: 'not_generalized', partition: 3, pcs: 30, text: { fr: expect.stringMatching(/^Cette version va sur 30 PC\. .*sysprep/), en: expect.stringMatching(/^This version goes to 30 PCs\. .*sysprep/) } }]);
    expect(() => checkAcknowledged(w, false)).toThrow(expect.objectContaining({ status: 409, code: 'image_not_generalized', message: expect.stringMatching(/acknowledge: true/) }));
    expect(() => checkAcknowledged(w, true)).not.toThrow();
  });

  it('only warns, never refuses, when the registry could not tell', () => {
    const w = generalizedWarnings(facts('unknown', 'hive_dirty'), 2);
    expect(w.map((x) => x.code)).toEqual(['image_generalized_unknown']);
    expect(() => checkAcknowledged(w, false)).not.toThrow();
  });

  it('says nothing for one PC, a generalized Windows, no Windows, or a version captured before the facts', () => {
    expect(generalizedWarnings(facts('no', 'not_generalized'), 1)).toEqual([]);
    expect(generalizedWarnings(facts('yes', 'generalized'), 30)).toEqual([]);
    expect(generalizedWarnings([], 30)).toEqual([]);
    expect(generalizedWarnings(null, 30)).toEqual([]);
  });
});
