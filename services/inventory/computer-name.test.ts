import { describe, it, expect } from 'vitest';
import { checkComputerName } from './computer-name.js';

describe('checkComputerName', () => {
  it.each(['PC01', 'b204-pc01', 'SALLE-B204-P01', 'A', '123456789abcdef', '1-2', 'x1'])('accepts %j', (name) => {
    expect(checkComputerName(name)).toEqual({ ok: true, name });
  });

  it('trims surrounding whitespace and keeps the case', () => {
    expect(checkComputerName('  Cdi-Poste3 \t')).toEqual({ ok: true, name: 'Cdi-Poste3' });
  });

  it('rejects empty and blank names', () => {
    for (const input of ['', '   ', '\t']) {
      const result = checkComputerName(input);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.code).toBe('name_empty');
    }
  });

  it('rejects names longer than 15 characters with their length', () => {
    expect(checkComputerName('SALLE-B204-POSTE-01')).toEqual({
      ok: false,
      code: 'name_too_long',
      message: 'name "SALLE-B204-POSTE-01" is 19 characters; a Windows computer name has at most 15',
    });
    expect(checkComputerName('123456789abcdefg')).toMatchObject({ ok: false, code: 'name_too_long' });
  });

  it('lists every forbidden character once', () => {
    expect(checkComputerName('pc é1')).toEqual({
      ok: false,
      code: 'name_invalid',
      message: 'name "pc é1" contains "é" and " "; only letters A-Z, digits and "-" are allowed',
    });
    const result = checkComputerName('a_b.c_d');
    expect(result).toMatchObject({ ok: false, code: 'name_invalid' });
    if (!result.ok) expect(result.message).toContain('contains "_" and "."; only');
    const three = checkComputerName('a b_c.d');
    expect(three.ok).toBe(false);
    if (!three.ok) expect(three.message).toContain('contains "_", "." and " "');
  });

  it.each(['pc.lycee', 'pc_01', 'poste 1', 'Élève1', 'PC#1', 'ｐｃ１'])('rejects forbidden characters in %j', (name) => {
    expect(checkComputerName(name)).toMatchObject({ ok: false, code: 'name_invalid' });
  });

  it('rejects a leading or trailing hyphen', () => {
    const leading = checkComputerName('-PC01');
    const trailing = checkComputerName('PC01-');
    expect(leading).toMatchObject({ ok: false, code: 'name_invalid' });
    expect(trailing).toMatchObject({ ok: false, code: 'name_invalid' });
    if (!leading.ok) expect(leading.message).toContain('starts with "-"');
    if (!trailing.ok) expect(trailing.message).toContain('ends with "-"');
  });

  it('rejects all-digit names', () => {
    const result = checkComputerName('20240');
    expect(result).toMatchObject({ ok: false, code: 'name_invalid' });
    if (!result.ok) expect(result.message).toContain('only digits');
  });
});
