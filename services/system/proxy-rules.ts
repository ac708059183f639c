// What the read-only Docker socket proxy lets through: a few GET endpoints, scoped to one Compose project.
// Everything else (create, exec, start, stop, images, volumes, …) is refused.

export type ProxyRequest =
  | { kind: 'ping' | 'version' }
  | { kind: 'list' }
  | { kind: 'inspect' | 'logs'; id: string };

const V = '(?:/v\\d+\\.\\d+)?';
const ID = '([A-Za-z0-9][A-Za-z0-9_.-]{0,127})';
const RULES: Array<[RegExp, (m: RegExpMatchArray) => ProxyRequest]> = [
  [new RegExp(`^${V}/_ping$`), () => ({ kind: 'ping' })],
  [new RegExp(`^${V}/version$`), () => ({ kind: 'version' })],
  [new RegExp(`^${V}/containers/json$`), () => ({ kind: 'list' })],
  [new RegExp(`^${V}/containers/${ID}/json$`), (m) => ({ kind: 'inspect', id: m[1]! })],
  [new RegExp(`^${V}/containers/${ID}/logs$`), (m) => ({ kind: 'logs', id: m[1]! })],
];

/** Classifies a request, or returns a reason to refuse it. */
export function classify(method: string, url: string): ProxyRequest | { refused: string } {
  if (method !== 'GET' && method !== 'HEAD') return { refused: `method ${method} is not allowed (read-only proxy)` };
  let parsed: URL;
  try {
    parsed = new URL(url, 'http://proxy');
  } catch {
    return { refused: 'unparsable URL' };
  }
  for (const [re, make] of RULES) {
    const m = parsed.pathname.match(re);
    if (!m) continue;
    const req = make(m);
    if (req.kind === 'logs') {
      const follow = parsed.searchParams.get('follow');
      if (follow && follow !== '0' && follow !== 'false') return { refused: 'following logs is not allowed' };
    }
    return req;
  }
  return { refused: `${parsed.pathname} is not an allowed endpoint` };
}

/** Rewrites a container-list URL so that it only ever lists the given Compose project. */
export function scopeListUrl(url: string, project: string): string {
  const parsed = new URL(url, 'http://proxy');
  let filters: Record<string, unknown> = {};
  try {
    filters = JSON.parse(parsed.searchParams.get('filters') ?? '{}') as Record<string, unknown>;
  } catch {
    filters = {};
  }
  filters.label = [`com.docker.compose.project=${project}`];
  parsed.searchParams.set('filters', JSON.stringify(filters));
  return parsed.pathname + parsed.search;
}
