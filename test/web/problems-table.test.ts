// Every problem code the server can answer has a sentence in both catalogues: the codes are read from
// the server's source (new AppError(status, 'code', …), conflict('code', …), the computer-name check's
// codes, the error handler's own) and from openapi.json's error responses; each must be in the web's one
// table (web/src/api/problems.ts) and its message in French and English. No other code is in the table.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PROBLEM_CODES, PROBLEMS } from '../../web/src/api/problems.js';
import { CATALOGUES, type MessageKey } from '../../web/src/i18n/index.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

const literals = (text: string) => [...text.matchAll(/'([a-z][a-z0-9_]*)'/g)].map((m) => m[1]!);

/** The codes the server's source can put in a problem. */
export function serverProblemCodes(): Set<string> {
  const codes = new Set<string>();
  for (const file of sources(path.join(repo, 'services'))) {
    const src = fs.readFileSync(file, 'utf8');
    // new AppError(400, 'code', …) and new AppError(400, cond ? 'a' : 'b', …), over several lines too.
    for (const m of src.matchAll(/new AppError\(\s*[^,]+,\s*((?:[^,'`]|'[^']*')+?),/g)) literals(m[1]!).forEach((c) => codes.add(c));
    for (const m of src.matchAll(/\bconflict\(\s*'([a-z][a-z0-9_]*)'/g)) codes.add(m[1]!);
    // Codes passed through a variable: the computer-name check's, the error handler's for body-parser errors.
    for (const m of src.matchAll(/type ComputerNameErrorCode\s*=([^;]+);/g)) literals(m[1]!).forEach((c) => codes.add(c));
    for (const m of src.matchAll(/const code = err\.type([^;]+);/g)) literals(m[1]!).forEach((c) => codes.add(c));
  }
  return codes;
}

/** The codes openapi.json names in its 4xx and 5xx answers ("a | b (…) | c: words"). */
function openapiCodes(): Set<string> {
  const doc = JSON.parse(fs.readFileSync(path.join(repo, 'openapi', 'openapi.json'), 'utf8')) as { paths: Record<string, Record<string, { responses?: Record<string, { description?: string }> }>> };
  const codes = new Set<string>();
  for (const ops of Object.values(doc.paths))
    for (const op of Object.values(ops))
      for (const [status, r] of Object.entries(op.responses ?? {})) {
        if (!/^[45]/.test(status)) continue;
        const text = (r.description ?? '').replace(/\([^)]*\)/g, (inner) => inner.replace(/^\(or /, '| ').replace(/\)$/, '').replace(/,/g, ' |'));
        for (const part of text.split('|')) {
          const m = /^\s*([a-z][a-z0-9]*(?:_[a-z0-9]+)*)\s*(?::|$)/.exec(part);
          if (m) codes.add(m[1]!);
        }
      }
  return codes;
}

describe('problem codes', () => {
  const table = new Set<string>(PROBLEM_CODES);

  it('finds the server’s codes (the extraction works)', () => {
    const codes = serverProblemCodes();
    for (const c of ['not_in_room', 'unknown_host', 'insufficient_storage', 'wake_not_configured', 'duplicate_room', 'bad_subnet', 'name_too_long', 'payload_too_large', 'bad_request'])
      expect(codes, c).toContain(c);
    expect(codes.size).toBeGreaterThan(90);
    expect(openapiCodes()).toContain('unknown_version');
  });

  it('has every code the server can answer in the table, with a message in both catalogues', () => {
    const missing = [...new Set([...serverProblemCodes(), ...openapiCodes()])].filter((c) => !table.has(c)).sort();
    expect(missing, 'codes with no entry in web/src/api/problems.ts').toEqual([]);
    const noWords = PROBLEM_CODES.filter((c) => !CATALOGUES.fr[PROBLEMS[c]] || !CATALOGUES.en[PROBLEMS[c]]);
    expect(noWords, 'codes with no message in fr-problems.ts / en-problems.ts').toEqual([]);
  });

  it('has no code the server never answers, and no problem.* message outside the table', () => {
    const server = new Set([...serverProblemCodes(), ...openapiCodes()]);
    expect(PROBLEM_CODES.filter((c) => !server.has(c))).toEqual([]);
    const used = new Set<string>(Object.values(PROBLEMS));
    expect((Object.keys(CATALOGUES.fr) as MessageKey[]).filter((k) => k.startsWith('problem.') && !used.has(k))).toEqual([]);
  });
});
