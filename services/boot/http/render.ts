// iPXE scripts from handlebars templates (templates/*.ipxe.hbs). Escaping is off (an iPXE script is
// not HTML), so nothing reaches a script unchecked: every variable has a strict pattern here, a value
// that does not match throws, and strict mode makes a missing variable throw too.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';

export const TEMPLATE_NAMES = ['client', 'exit'] as const;
export type TemplateName = (typeof TEMPLATE_NAMES)[number];

/** What each variable may hold: no whitespace, `#`, `$`, `{`, `;`, `|`, `&` or quotes anywhere. */
export const IPXE_VALUE_PATTERNS: Record<string, RegExp> = {
  /** http://host[:port][/path], no trailing slash. */
  base: /^http:\/\/([A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*|\[[0-9A-Fa-f:.]{2,45}\])(:\d{1,5})?(\/[A-Za-z0-9._~-]+)*$/,
  mac: /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/,
  token: /^[A-Za-z0-9_-]{1,1024}\.[A-Za-z0-9_-]{43}$/,
  mode: /^(task|register)$/,
  /** "1": also load imaging.img (capture, restore); "": not. */
  imaging: /^1?$/,
  tries: /^[1-9]\d{0,2}$/,
  delay: /^[1-9]\d{0,2}$/,
  /** A fixed sentence chosen by the api. */
  reason: /^[A-Za-z0-9 ,.()'/_-]{1,160}$/,
};

export class IpxeValueError extends Error {
  override name = 'IpxeValueError';
}

/** Checks every value against its pattern; a variable without a pattern is refused too. */
export function checkIpxeValues(vars: Record<string, string | number>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, raw] of Object.entries(vars)) {
    const pattern = IPXE_VALUE_PATTERNS[name];
    const value = String(raw);
    if (!pattern) throw new IpxeValueError(`iPXE variable "${name}" has no pattern; add one before using it in a script`);
    if (!pattern.test(value)) throw new IpxeValueError(`refusing to put ${JSON.stringify(value.slice(0, 80))} into an iPXE script as "${name}"`);
    out[name] = value;
  }
  return out;
}

/** The templates folder: next to this module (sources), or the sources' one when running from dist/. */
export function findTemplateDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, 'templates')];
  for (let dir = here, i = 0; i < 6; i++, dir = path.dirname(dir)) candidates.push(path.join(dir, 'services', 'boot', 'http', 'templates'));
  const found = candidates.find((d) => fs.existsSync(path.join(d, 'exit.ipxe.hbs')));
  if (!found) throw new Error(`iPXE templates (*.ipxe.hbs) not found; looked in ${[...new Set(candidates)].join(', ')}`);
  return found;
}

export type Renderer = (name: TemplateName, vars: Record<string, string | number>) => string;

/** Compiles the templates in `dir` once (on first use) and renders them. */
export function ipxeRenderer(dir?: string): Renderer {
  let compiled: Map<TemplateName, Handlebars.TemplateDelegate> | undefined;
  const load = () => {
    const from = dir ?? findTemplateDir();
    const hbs = Handlebars.create();
    return new Map(
      TEMPLATE_NAMES.map((name) => {
        const source = fs.readFileSync(path.join(from, `${name}.ipxe.hbs`), 'utf8');
        return [name, hbs.compile(source, { strict: true, noEscape: true, knownHelpers: {}, knownHelpersOnly: true })] as const;
      }),
    );
  };
  return (name, vars) => {
    compiled ??= load();
    const template = compiled.get(name);
    if (!template) throw new Error(`no iPXE template ${name}`);
    // No prototype access, no helpers: the template sees exactly the checked strings.
    return template(checkIpxeValues(vars));
  };
}
