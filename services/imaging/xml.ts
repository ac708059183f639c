// A small, strict XML 1.0 reader (no DTD): enough to tell whether a rendered answer file is well formed
// and to walk it. It refuses what an XML parser must refuse (unclosed or mismatched tags, a second root,
// duplicate attributes, a bare "&" or "<", unknown entities, characters XML forbids, unbound namespace
// prefixes) and says where, as "line L, column C". A DOCTYPE is refused outright: an answer file has none,
// and an entity declaration is how XML bombs start.

export interface XmlElement {
  /** The name as written (prefix:local). */
  name: string;
  local: string;
  /** The namespace URI of the element (null: none). */
  ns: string | null;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** The element's own text (character data directly inside it, entities decoded). */
  text: string;
}

export class XmlError extends Error {
  override name = 'XmlError';
}

const NAME = /^[A-Za-z_][A-Za-z0-9._-]*(:[A-Za-z_][A-Za-z0-9._-]*)?$/;
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
/** XML 1.0 Char: tab, LF, CR, and U+0020..U+D7FF, U+E000..U+FFFD, U+10000..U+10FFFF (no lone surrogates). */
const BAD_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/** Escapes text for an XML element or a quoted attribute; throws on a character XML cannot hold at all. */
export function xmlEscape(value: string): string {
  const bad = BAD_CHAR.exec(value);
  if (bad) throw new XmlError(`the character U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')} cannot appear in an XML file`);
  return value.replace(/[&<>"']/g, (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[c]};`);
}

/** Parses a whole document; throws an XmlError naming the first problem and where it is. */
export function parseXml(text: string): XmlElement {
  let i = 0;
  const where = (at = i) => {
    const before = text.slice(0, at).split('\n');
    return `line ${before.length}, column ${before.at(-1)!.length + 1}`;
  };
  const fail = (what: string, at = i): never => {
    throw new XmlError(`${what} at ${where(at)}`);
  };
  const bad = BAD_CHAR.exec(text);
  if (bad) fail(`a character XML forbids (U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')})`, bad.index);
  const decode = (raw: string, at: number): string =>
    raw.replace(/&([^;&<]*);?/g, (m, ent: string, off: number) => {
      if (!m.endsWith(';')) fail('a bare "&" (write &amp;)', at + off);
      if (ent in ENTITIES) return ENTITIES[ent]!;
      const num = /^#(?:x([0-9A-Fa-f]{1,6})|([0-9]{1,7}))$/.exec(ent);
      if (!num) return fail(`an unknown entity &${ent};`, at + off);
      const cp = num[1] ? Number.parseInt(num[1], 16) : Number(num[2]);
      const ch = cp <= 0x10ffff ? String.fromCodePoint(cp) : '\0';
      if (BAD_CHAR.test(ch)) fail(`a character reference to a character XML forbids (&${ent};)`, at + off);
      return ch;
    });
  const skipMisc = () => {
    for (;;) {
      const ws = /^[ \t\r\n]*/.exec(text.slice(i))![0];
      i += ws.length;
      if (text.startsWith('<!--', i)) {
        const end = text.indexOf('-->', i + 4);
        if (end < 0) fail('an unclosed comment');
        if (text.slice(i + 4, end).includes('--')) fail('"--" inside a comment');
        i = end + 3;
      } else if (text.startsWith('<?', i)) {
        if (i > 0 && /^<\?xml[ \t\r\n?]/i.test(text.slice(i, i + 6))) fail('an XML declaration that is not at the very start');
        const end = text.indexOf('?>', i);
        if (end < 0) fail('an unclosed processing instruction');
        i = end + 2;
      } else if (text.startsWith('<!DOCTYPE', i)) fail('a DOCTYPE (an answer file has none)');
      else return;
    }
  };
  type Open = { el: XmlElement; scope: Map<string, string | null> };
  const element = (parent: Map<string, string | null>): XmlElement => {
    const start = i;
    const m = /^<([^\s/>]+)/.exec(text.slice(i));
    if (!m || !NAME.test(m[1]!)) return fail('a tag with a bad name', start);
    const name = m[1]!;
    i += m[0].length;
    const attrs: Record<string, string> = {};
    for (;;) {
      const a = /^[ \t\r\n]+([^\s=/>]+)[ \t\r\n]*=[ \t\r\n]*(?:"([^"]*)"|'([^']*)')/.exec(text.slice(i));
      if (!a) break;
      if (!NAME.test(a[1]!)) fail(`a bad attribute name "${a[1]}"`);
      if (a[1]! in attrs) fail(`the attribute "${a[1]}" twice`);
      const raw = a[2] ?? a[3]!;
      if (raw.includes('<')) fail(`a "<" in the value of "${a[1]}"`);
      attrs[a[1]!] = decode(raw, i);
      i += a[0].length;
    }
    const close = /^[ \t\r\n]*(\/?)>/.exec(text.slice(i));
    if (!close) return fail(`a malformed tag <${name}>`);
    i += close[0].length;
    const scope = new Map(parent);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'xmlns') scope.set('', v || null);
      else if (k.startsWith('xmlns:')) scope.set(k.slice(6), v);
    }
    const resolve = (qname: string, isAttr: boolean) => {
      const c = qname.indexOf(':');
      if (c < 0) return isAttr ? null : (scope.get('') ?? null);
      const prefix = qname.slice(0, c);
      if (prefix === 'xml' || prefix === 'xmlns') return prefix;
      if (!scope.has(prefix)) fail(`the namespace prefix "${prefix}" is not declared`, start);
      return scope.get(prefix)!;
    };
    for (const k of Object.keys(attrs)) resolve(k, true);
    const el: XmlElement = { name, local: name.slice(name.indexOf(':') + 1), ns: resolve(name, false), attrs, children: [], text: '' };
    if (close[1]) return el;
    const open: Open = { el, scope };
    for (;;) {
      const lt = text.indexOf('<', i);
      if (lt < 0) fail(`<${name}> is never closed`, start);
      const chunk = text.slice(i, lt);
      if (chunk.includes(']]>')) fail('"]]>" in text', i + chunk.indexOf(']]>'));
      el.text += decode(chunk, i);
      i = lt;
      if (text.startsWith('</', i)) {
        const end = /^<\/([^\s>]+)[ \t\r\n]*>/.exec(text.slice(i));
        if (!end || end[1] !== name) fail(`</${end?.[1] ?? '?'}> where </${name}> was expected`);
        i += end![0].length;
        return el;
      }
      if (text.startsWith('<!--', i) || text.startsWith('<?', i)) {
        if (text.startsWith('<?xml', i)) fail('an XML declaration inside an element');
        const endMark = text.startsWith('<!--', i) ? '-->' : '?>';
        const end = text.indexOf(endMark, i + 2);
        if (end < 0) fail('an unclosed comment or processing instruction');
        if (endMark === '-->' && text.slice(i + 4, end).includes('--')) fail('"--" inside a comment');
        i = end + endMark.length;
      } else if (text.startsWith('<![CDATA[', i)) {
        const end = text.indexOf(']]>', i);
        if (end < 0) fail('an unclosed CDATA section');
        el.text += text.slice(i + 9, end);
        i = end + 3;
      } else el.children.push(element(open.scope));
    }
  };
  if (text.startsWith('\uFEFF')) i = 1;
  if (/^<\?xml[ \t\r\n]/.test(text.slice(i))) {
    const end = text.indexOf('?>', i);
    if (end < 0) fail('an unclosed XML declaration');
    if (!/^<\?xml[ \t\r\n]+version=(["'])1\.[0-9]+\1/.test(text.slice(i))) fail('an XML declaration without version="1.0" first');
    i = end + 2;
  }
  skipMisc();
  if (text[i] !== '<') fail(i >= text.length ? 'no root element' : 'text before the root element');
  const root = element(new Map([['', null]]));
  skipMisc();
  if (i < text.length) fail(text[i] === '<' ? 'a second root element' : 'text after the root element');
  return root;
}

/** The children of `el` named `local` (in any namespace prefix). */
export const childrenNamed = (el: XmlElement, local: string) => el.children.filter((c) => c.local === local);
