import { describe, expect, it } from 'vitest';
import { efi64FirstStage, parseSecureBootMode, SHIM_FILE } from './secureboot.js';

describe('efi64FirstStage', () => {
  it('off (or no setting): iPXE for every PC, whatever it reported', () => {
    for (const reported of [true, false, undefined, 'unknown'] as const) {
      expect(efi64FirstStage('snponly.efi', undefined, reported)).toEqual({ file: 'snponly.efi', chain: 'ipxe', why: 'Secure Boot chain off (ROOMCAST_SECURE_BOOT=off)' });
      expect(efi64FirstStage('snponly.efi', { mode: 'off' }, reported).file).toBe('snponly.efi');
    }
  });

  it('on: shim for every x64 UEFI PC, even one that reported Secure Boot off', () => {
    for (const reported of [true, false, undefined] as const) {
      expect(efi64FirstStage('snponly.efi', { mode: 'on' }, reported)).toEqual({ file: SHIM_FILE, chain: 'secure-boot', why: 'Secure Boot chain for every x64 UEFI PC (ROOMCAST_SECURE_BOOT=on)' });
    }
    expect(efi64FirstStage('snponly.efi', { mode: 'on', file: 'other/shim.efi' }, undefined).file).toBe('other/shim.efi');
  });

  it('auto: what the PC last reported; shim when it never said or the lookup failed', () => {
    expect(efi64FirstStage('snponly.efi', { mode: 'auto' }, true)).toMatchObject({ file: SHIM_FILE, why: 'the PC last reported Secure Boot on (ROOMCAST_SECURE_BOOT=auto)' });
    expect(efi64FirstStage('snponly.efi', { mode: 'auto' }, false)).toMatchObject({ file: 'snponly.efi', chain: 'ipxe', why: 'the PC last reported Secure Boot off (ROOMCAST_SECURE_BOOT=auto)' });
    expect(efi64FirstStage('snponly.efi', { mode: 'auto' }, undefined)).toMatchObject({ file: SHIM_FILE, why: expect.stringContaining('never reported') });
    expect(efi64FirstStage('snponly.efi', { mode: 'auto' }, 'unknown')).toMatchObject({ file: SHIM_FILE, why: expect.stringContaining('could not read') });
  });

  it('parses the setting', () => {
    expect([undefined, 'off', ' ON ', 'auto', 'yes', ''].map(parseSecureBootMode)).toEqual(['off', 'off', 'on', 'auto', null, null]);
  });
});
