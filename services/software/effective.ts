// A PC's effective software list (issue 16 item 4; docs/packages.md): a pure decision from its room's
// assignments, its own, and the package versions in the store, with a reason for every outcome.
//
// - A PC's own assignment of a package replaces its room's (another pinned version), or excludes it.
// - A pinned assignment takes that version; an unpinned one the package's newest ready version (the
//   last one added to the store that is ready).
// - The list is in install order (order.ts): every package after the packages it depends on. A
//   dependency that is not in the list, or a cycle, refuses the whole list with the packages involved.
// - A package with no ready version yet (still uploading), or after one that waits, waits: it is listed
//   with its reason, and the agent does not get it.
import { installOrder } from './order.js';

export interface AssignmentInput {
  id: number;
  from: 'room' | 'host';
  packageId: string;
  /** Pinned version, or null: the newest ready one. */
  version: string | null;
  mode: 'install' | 'exclude';
}

export interface VersionInput {
  id: number;
  packageId: string;
  version: string;
  state: 'uploading' | 'ready';
  dependsOn: readonly string[];
}

export type WaitReason =
  | { code: 'no_ready_version'; text: string }
  | { code: 'version_missing'; text: string }
  | { code: 'dependency_waiting'; text: string };

export interface EffectiveEntry {
  packageId: string;
  assignmentId: number;
  from: 'room' | 'host';
  /** The pinned version, or null (newest ready). */
  pinned: string | null;
  /** The version it resolves to (null: none in the store). */
  versionId: number | null;
  version: string | null;
  state: 'ready' | 'waiting';
  reason: WaitReason | null;
}

export type EffectiveResult =
  | { ok: true; entries: EffectiveEntry[]; excluded: Array<{ packageId: string; assignmentId: number }> }
  | { ok: false; code: 'software_dependency_unassigned' | 'package_dependency_cycle'; ids: string[]; message: string };

/** `where` names the list in messages: "this PC" or "room B204". */
export function effectiveList(assignments: readonly AssignmentInput[], versions: readonly VersionInput[], where: string): EffectiveResult {
  // The room's rows first, then the PC's, which replace or exclude them.
  const chosen = new Map<string, AssignmentInput>();
  const excluded: Array<{ packageId: string; assignmentId: number }> = [];
  for (const from of ['room', 'host'] as const) {
    for (const a of assignments.filter((x) => x.from === from)) {
      if (a.mode === 'exclude') {
        chosen.delete(a.packageId);
        excluded.push({ packageId: a.packageId, assignmentId: a.id });
      } else chosen.set(a.packageId, a);
    }
  }

  const resolved = new Map<string, { entry: EffectiveEntry; dependsOn: readonly string[] }>();
  for (const a of chosen.values()) {
    const all = versions.filter((v) => v.packageId === a.packageId).sort((x, y) => y.id - x.id);
    let v: VersionInput | undefined;
    let reason: WaitReason | null = null;
    if (a.version !== null) {
      v = all.find((x) => x.version === a.version);
      if (!v) reason = { code: 'version_missing', text: `${a.packageId} ${a.version} is not in the store` };
      else if (v.state !== 'ready') reason = { code: 'no_ready_version', text: `${a.packageId} ${a.version} is still uploading` };
    } else {
      v = all.find((x) => x.state === 'ready') ?? all[0];
      if (!v) reason = { code: 'version_missing', text: `${a.packageId} has no version in the store` };
      else if (v.state !== 'ready') reason = { code: 'no_ready_version', text: `no version of ${a.packageId} is ready yet (${v.version} is still uploading)` };
    }
    const entry: EffectiveEntry = { packageId: a.packageId, assignmentId: a.id, from: a.from, pinned: a.version, versionId: v?.id ?? null, version: v?.version ?? null, state: reason ? 'waiting' : 'ready', reason };
    resolved.set(a.packageId, { entry, dependsOn: v?.dependsOn ?? [] });
  }

  const graph = [...resolved].map(([id, r]) => ({ id, dependsOn: r.dependsOn }));
  for (const p of graph) {
    const missing = p.dependsOn.find((d) => !resolved.has(d));
    if (missing !== undefined) {
      const how = excluded.some((e) => e.packageId === missing) ? `is excluded there: remove the exclusion of ${missing}, or exclude ${p.id} too` : `is not assigned there: assign ${missing} too, or unassign ${p.id}`;
      return { ok: false, code: 'software_dependency_unassigned', ids: [p.id, missing], message: `on ${where}, ${p.id} depends on ${missing}, which ${how}` };
    }
  }
  const order = installOrder(graph);
  if (!order.ok) return { ok: false, code: order.code === 'package_dependency_missing' ? 'software_dependency_unassigned' : order.code, ids: order.ids, message: `on ${where}: ${order.message}` };

  const entries = order.order.map((id) => resolved.get(id)!);
  for (const r of entries) {
    if (r.entry.state === 'waiting') continue;
    const waiting = r.dependsOn.find((d) => resolved.get(d)!.entry.state === 'waiting');
    if (waiting !== undefined) r.entry = { ...r.entry, state: 'waiting', reason: { code: 'dependency_waiting', text: `${r.entry.packageId} depends on ${waiting}, which waits` } };
  }
  return { ok: true, entries: entries.map((r) => r.entry), excluded };
}
