// Which first-stage file an x64 UEFI PC gets: Debian's iPXE (unsigned: refused by firmware that
// enforces Secure Boot) or the Secure Boot chain, Microsoft-signed shim, which loads Debian's signed
// GRUB (images/secureboot/fetch.sh), which asks the api for the PC's configuration. Pure: the
// setting and what the PC last reported are passed in; every outcome says why.

export const SECURE_BOOT_MODES = ['off', 'on', 'auto'] as const;
/**
 * ROOMCAST_SECURE_BOOT. off: iPXE for every PC. on: shim for every x64 UEFI PC. auto: shim for the
 * x64 UEFI PCs whose last hello said Secure Boot is on, and for those that never said (shim also
 * boots with Secure Boot off, while iPXE is refused with it on); iPXE for those that said it is off.
 */
export type SecureBootMode = (typeof SECURE_BOOT_MODES)[number];

/** What images/secureboot/fetch.sh puts in the TFTP root for firmware to load first. */
export const SHIM_FILE = 'shimx64.efi';

export interface SecureBootChain {
  mode: SecureBootMode;
  /** The signed first stage handed out (default SHIM_FILE). */
  file?: string;
  /** auto: the `secureBoot` fact of the PC's last hello; undefined: never reported. May reject. */
  reported?: (mac: string) => Promise<boolean | undefined>;
}

export interface FirstStage {
  file: string;
  chain: 'ipxe' | 'secure-boot';
  why: string;
}

/** The file for an x64 UEFI PC, given the setting and (auto) what it last reported. */
export function efi64FirstStage(ipxeFile: string, chain: SecureBootChain | undefined, reported: boolean | undefined | 'unknown'): FirstStage {
  const shim = chain?.file || SHIM_FILE;
  const ipxe = (why: string): FirstStage => ({ file: ipxeFile, chain: 'ipxe', why });
  const signed = (why: string): FirstStage => ({ file: shim, chain: 'secure-boot', why });
  switch (chain?.mode ?? 'off') {
    case 'off':
      return ipxe('Secure Boot chain off (ROOMCAST_SECURE_BOOT=off)');
    case 'on':
      return signed('Secure Boot chain for every x64 UEFI PC (ROOMCAST_SECURE_BOOT=on)');
    case 'auto':
      if (reported === true) return signed('the PC last reported Secure Boot on (ROOMCAST_SECURE_BOOT=auto)');
      if (reported === false) return ipxe('the PC last reported Secure Boot off (ROOMCAST_SECURE_BOOT=auto)');
      if (reported === 'unknown') return signed('could not read whether the PC has Secure Boot on; the signed chain boots either way (ROOMCAST_SECURE_BOOT=auto)');
      return signed('the PC never reported whether Secure Boot is on; the signed chain boots either way (ROOMCAST_SECURE_BOOT=auto)');
  }
}

/** Reads ROOMCAST_SECURE_BOOT-like text; null when it is not a mode. */
export function parseSecureBootMode(text: string | undefined): SecureBootMode | null {
  const t = (text ?? 'off').trim().toLowerCase();
  return (SECURE_BOOT_MODES as readonly string[]).includes(t) ? (t as SecureBootMode) : null;
}
