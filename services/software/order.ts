// The install order of a set of packages (issue 16 item 1): every package after the packages it
// depends on, otherwise in the order given. A pure decision with a reason: a dependency that is not in
// the set, or a cycle, is refused with the packages it involves. Shared with the agent (no server import).

export interface Dependent {
  id: string;
  dependsOn: readonly string[];
}

export type OrderResult =
  | { ok: true; order: string[] }
  | { ok: false; code: 'package_dependency_missing'; ids: string[]; message: string }
  | { ok: false; code: 'package_dependency_cycle'; ids: string[]; message: string };

export function installOrder(packages: readonly Dependent[]): OrderResult {
  const byId = new Map(packages.map((p) => [p.id, p]));
  for (const p of packages) {
    const missing = p.dependsOn.find((d) => !byId.has(d));
    if (missing !== undefined) return { ok: false, code: 'package_dependency_missing', ids: [p.id, missing], message: `${p.id} depends on ${missing}, which is not in the store: add ${missing} first, or remove it from dependsOn` };
  }
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | null => {
    const s = state.get(id);
    if (s === 'done') return null;
    if (s === 'visiting') return [...stack.slice(stack.indexOf(id)), id];
    state.set(id, 'visiting');
    stack.push(id);
    for (const d of byId.get(id)!.dependsOn) {
      const cycle = visit(d);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(id, 'done');
    order.push(id);
    return null;
  };
  for (const p of packages) {
    const cycle = visit(p.id);
    if (cycle) return { ok: false, code: 'package_dependency_cycle', ids: cycle, message: `the dependencies go round in a circle: ${cycle.join(' → ')}; remove one of them so that one package can be installed first` };
  }
  return { ok: true, order };
}
