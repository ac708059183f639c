/**
 * MAC address parsing for host inventories.
 *
 * Accepts the spellings people paste from switches, DHCP servers and
 * spreadsheets and returns the canonical lowercase colon form.
 */

export const MAC_PATTERN_HELP = 'aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF or aabb.ccdd.eeff';

const COLON_FORM = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const DASH_FORM = /^[0-9a-f]{2}(-[0-9a-f]{2}){5}$/;
const CISCO_FORM = /^[0-9a-f]{4}(\.[0-9a-f]{4}){2}$/;
const BARE_FORM = /^[0-9a-f]{12}$/;

/** The 12 hex digits of a syntactically valid MAC, or null. */
function hexDigits(input: string): string | null {
  const s = input.trim().toLowerCase();
  if (COLON_FORM.test(s) || DASH_FORM.test(s) || CISCO_FORM.test(s) || BARE_FORM.test(s)) {
    return s.replace(/[^0-9a-f]/g, '');
  }
  return null;
}

type MacProblem = 'syntax' | 'zero' | 'broadcast' | 'multicast';

function macProblem(input: string): { mac: string } | { problem: MacProblem } {
  const hex = hexDigits(input);
  if (hex === null) return { problem: 'syntax' };
  if (hex === '000000000000') return { problem: 'zero' };
  if (hex === 'ffffffffffff') return { problem: 'broadcast' };
  if ((parseInt(hex.slice(0, 2), 16) & 1) === 1) return { problem: 'multicast' };
  return { mac: hex.match(/../g)!.join(':') };
}

/**
 * Normalise a MAC address to `aa:bb:cc:dd:ee:ff`.
 * Returns null for anything that is not the unicast address of a network card
 * (bad syntax, all-zero, broadcast or multicast).
 */
export function normalizeMac(input: string): string | null {
  const result = macProblem(input);
  return 'mac' in result ? result.mac : null;
}

/**
 * A human explanation of why `normalizeMac(input)` returned null
 * (or null when the MAC is actually valid).
 */
export function explainInvalidMac(input: string): string | null {
  const result = macProblem(input);
  if ('mac' in result) return null;
  const shown = JSON.stringify(input.trim());
  switch (result.problem) {
    case 'zero':
      return `MAC ${shown} is the all-zero address, not a real network card; copy the MAC from the machine's network settings`;
    case 'broadcast':
      return `MAC ${shown} is the broadcast address, not a network card; copy the MAC from the machine's network settings`;
    case 'multicast':
      return `MAC ${shown} is a multicast address (first byte is odd), not a network card; check for a typo in the first byte`;
    case 'syntax':
      return `MAC ${shown} is not a valid MAC address; write it as ${MAC_PATTERN_HELP}`;
  }
}
