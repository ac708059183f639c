// Boot scripts from handlebars templates: iPXE scripts (templates/*.ipxe.hbs) and, for PCs that boot
// the Secure Boot chain (shim, then Debian's signed GRUB), GRUB configurations (templates/*.grub.hbs),
// both rendered from the same decision. Escaping is off (neither is HTML), so nothing reaches a
// script unchecked: every variable has a strict pattern here, a value that does not match throws, and
// strict mode makes a missing variable throw too.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';

export const TEMPLATE_NAMES = ['client', 'exit'] as const;
export type TemplateName = (typeof TEMPLATE_NAMES)[number];
/** The boot program that runs the script: iPXE, or GRUB (the Secure Boot chain). */
export type ScriptFlavor = 'ipxe' | 'grub';

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
  /** GRUB: the api's host[:port] in a (http,server) device (no IPv6: GRUB's syntax has no brackets). */
  server: /^[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*(:\d{1,5})?$/,
  /** GRUB: the path under the api's origin, '' or /a/b, no trailing slash. */
  path: /^(\/[A-Za-z0-9._~-]+)*$/,
  /** GRUB: the kernel's BOOTIF (pxelinux style: 01- then the MAC with hyphens), from the MAC. */
  bootif: /^01(-[0-9a-f]{2}){6}$/,
  /** GRUB: the attempt numbers a `for` loop goes through, "1 2 … tries". */
  attempts: /^[1-9]\d{0,2}( [1-9]\d{0,2}){0,99}$/,
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
  if (!found) throw new Error(`boot script templates (*.ipxe.hbs, *.grub.hbs) not found; looked in ${[...new Set(candidates)].join(', ')}`);
  return found;
}

export type Renderer = (name: TemplateName, vars: Record<string, string | number>, flavor?: ScriptFlavor) => string;

/** Compiles the templates of a flavor in `dir` once (on its first use) and renders them (default: iPXE). */
export function ipxeRenderer(dir?: string): Renderer {
  const compiled = new Map<ScriptFlavor, Map<TemplateName, Handlebars.TemplateDelegate>>();
  const load = (flavor: ScriptFlavor) => {
    const from = dir ?? findTemplateDir();
    const hbs = Handlebars.create();
    return new Map(
      TEMPLATE_NAMES.map((name) => {
        const source = fs.readFileSync(path.join(from, `${name}.${flavor}.hbs`), 'utf8');
        return [name, hbs.compile(source, { strict: true, noEscape: true, knownHelpers: {}, knownHelpersOnly: true })] as const;
      }),
    );
  };
  return (name, vars, flavor = 'ipxe') => {
    let templates = compiled.get(flavor);
    if (!templates) compiled.set(flavor, (templates = load(flavor)));
    const template = templates.get(name);
    if (!template) throw new Error(`no ${flavor} template ${name}`);
    // No prototype access, no helpers: the template sees exactly the checked strings.
    return template(checkIpxeValues(vars));
  };
}
