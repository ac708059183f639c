/**
 * Validation of Windows computer names (NetBIOS-safe subset).
 *
 * Rules: 1–15 characters, ASCII letters, digits and "-", not starting or
 * ending with "-", not made only of digits. The case is kept as given.
 */

export const COMPUTER_NAME_MAX_LENGTH = 15;

export type ComputerNameErrorCode = 'name_empty' | 'name_too_long' | 'name_invalid';

export type ComputerNameCheck =
  | { ok: true; name: string }
  | { ok: false; code: ComputerNameErrorCode; message: string };

const ALLOWED_CHAR = /^[A-Za-z0-9-]$/;

/** `"a"`, `"a" and "b"`, `"a", "b" and "c"` */
function listQuoted(items: string[]): string {
  const quoted = items.map((c) => JSON.stringify(c));
  if (quoted.length <= 1) return quoted.join('');
  return `${quoted.slice(0, -1).join(', ')} and ${quoted[quoted.length - 1]}`;
}

export function checkComputerName(input: string): ComputerNameCheck {
  const name = input.trim();
  const shown = JSON.stringify(name);
  const fail = (code: ComputerNameErrorCode, message: string): ComputerNameCheck => ({
    ok: false,
    code,
    message,
  });

  if (name === '') {
    return fail('name_empty', 'the computer name is empty; give every computer a name such as "B204-PC01"');
  }

  const chars = [...name];
  // In order of appearance, whitespace last (a quoted " " is the easiest to overlook).
  const invalid = [...new Set(chars.filter((c) => !ALLOWED_CHAR.test(c)))].sort(
    (a, b) => Number(a.trim() === '') - Number(b.trim() === ''),
  );
  if (invalid.length > 0) {
    return fail(
      'name_invalid',
      `name ${shown} contains ${listQuoted(invalid)}; only letters A-Z, digits and "-" are allowed`,
    );
  }

  if (chars.length > COMPUTER_NAME_MAX_LENGTH) {
    return fail(
      'name_too_long',
      `name ${shown} is ${chars.length} characters; a Windows computer name has at most ${COMPUTER_NAME_MAX_LENGTH}`,
    );
  }

  if (name.startsWith('-') || name.endsWith('-')) {
    const where = name.startsWith('-') ? 'starts' : 'ends';
    return fail('name_invalid', `name ${shown} ${where} with "-"; a Windows computer name must start and end with a letter or digit`);
  }

  if (/^[0-9]+$/.test(name)) {
    return fail('name_invalid', `name ${shown} is only digits; Windows requires at least one letter or "-" (e.g. a "PC" prefix)`);
  }

  return { ok: true, name };
}
