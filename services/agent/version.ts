// Version comparison for detection rules: dotted numbers compared number by number (25.2 < 25.10),
// missing parts are 0 (31.0 = 31.0.0.0). A version read from a PC may carry text after its numbers
// ("24.1.0 (x64)", "2025 SP1.0"): the leading dotted numbers are taken; none at all is not a version.

/** The leading dotted numbers of a version text, or null when it starts with none. */
export function parseVersion(text: string): number[] | null {
  const m = /^\s*v?(\d+(?:\.\d+)*)/i.exec(text);
  if (!m) return null;
  return m[1]!.split('.').map((p) => Number.parseInt(p, 10));
}

/** -1, 0 or 1 as a is before, the same as, or after b. */
export function compareVersions(a: readonly number[], b: readonly number[]): -1 | 0 | 1 {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** Whether the version text read from a PC is at least `min` (false when it is not a version). */
export function atLeast(found: string, min: string): boolean {
  const f = parseVersion(found);
  const m = parseVersion(min);
  return f !== null && m !== null && compareVersions(f, m) >= 0;
}
