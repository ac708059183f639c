// The effective list of a PC (effective.ts): room and PC assignments merged, versions resolved,
// install order, and a reason for every package that waits or list that is refused.
import { describe, expect, it } from 'vitest';
import { effectiveList, type AssignmentInput, type VersionInput } from './effective.js';

let n = 0;
const room = (packageId: string, version: string | null = null): AssignmentInput => ({ id: ++n, from: 'room', packageId, version, mode: 'install' });
const host = (packageId: string, version: string | null = null, mode: 'install' | 'exclude' = 'install'): AssignmentInput => ({ id: ++n, from: 'host', packageId, version, mode });

const V: VersionInput[] = [
  { id: 1, packageId: 'vcredist', version: '14.40', state: 'ready', dependsOn: [] },
  { id: 2, packageId: 'matlab', version: '2025a', state: 'ready', dependsOn: ['vcredist'] },
  { id: 3, packageId: 'matlab', version: '2025b', state: 'uploading', dependsOn: ['vcredist'] },
  { id: 4, packageId: 'firefox', version: '128.0', state: 'ready', dependsOn: [] },
  { id: 5, packageId: 'firefox', version: '140.0', state: 'ready', dependsOn: [] },
  { id: 6, packageId: 'geogebra', version: '6', state: 'uploading', dependsOn: [] },
  { id: 7, packageId: 'simulink', version: '2025a', state: 'ready', dependsOn: ['matlab', 'geogebra'] },
  { id: 8, packageId: 'a', version: '1', state: 'ready', dependsOn: ['b'] },
  { id: 9, packageId: 'b', version: '1', state: 'ready', dependsOn: ['a'] },
];

const short = (r: ReturnType<typeof effectiveList>) => (r.ok ? r.entries.map((e) => [e.packageId, e.version, e.from, e.state, e.reason?.code ?? null]) : r);

describe('effectiveList', () => {
  it('puts dependencies first and takes the newest ready version of an unpinned package', () => {
    expect(short(effectiveList([room('matlab'), room('firefox'), room('vcredist')], V, 'room B204'))).toEqual([
      ['vcredist', '14.40', 'room', 'ready', null],
      ['matlab', '2025a', 'room', 'ready', null],
      ['firefox', '140.0', 'room', 'ready', null],
    ]);
  });

  it('lets a PC pin another version, or exclude its room\'s package', () => {
    const r = effectiveList([room('firefox', '128.0'), room('vcredist'), room('matlab'), host('firefox'), host('matlab', null, 'exclude')], V, 'PC B204-01');
    expect(short(r)).toEqual([
      ['firefox', '140.0', 'host', 'ready', null],
      ['vcredist', '14.40', 'room', 'ready', null],
    ]);
    expect(r.ok && r.excluded.map((e) => e.packageId)).toEqual(['matlab']);
  });

  it('refuses a list missing a dependency, saying whether it is unassigned or excluded', () => {
    const unassigned = effectiveList([room('matlab')], V, 'room B204');
    expect(unassigned).toMatchObject({ ok: false, code: 'software_dependency_unassigned', ids: ['matlab', 'vcredist'] });
    expect(!unassigned.ok && unassigned.message).toBe('on room B204, matlab depends on vcredist, which is not assigned there: assign vcredist too, or unassign matlab');
    const excluded = effectiveList([room('matlab'), room('vcredist'), host('vcredist', null, 'exclude')], V, 'PC B204-01');
    expect(!excluded.ok && excluded.message).toContain('vcredist, which is excluded there');
  });

  it('refuses a cycle with the packages in it', () => {
    expect(effectiveList([room('a'), room('b')], V, 'PC X')).toMatchObject({ ok: false, code: 'package_dependency_cycle', ids: ['a', 'b', 'a'], message: expect.stringContaining('on PC X: the dependencies go round in a circle: a → b → a') });
  });

  it('makes a package wait when no version is ready, when its pinned version is gone, and when it depends on one that waits', () => {
    expect(short(effectiveList([room('geogebra'), room('vcredist'), room('matlab', '2025b'), room('simulink'), host('firefox', '99')], V, 'PC X'))).toEqual([
      ['geogebra', '6', 'room', 'waiting', 'no_ready_version'],
      ['vcredist', '14.40', 'room', 'ready', null],
      ['matlab', '2025b', 'room', 'waiting', 'no_ready_version'],
      ['simulink', '2025a', 'room', 'waiting', 'dependency_waiting'],
      ['firefox', null, 'host', 'waiting', 'version_missing'],
    ]);
  });
});
