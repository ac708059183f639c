// One package install with the agent's state (issue 16 item 5): detection first (nothing to do when
// it is installed), the state saved with the install under way before the command runs (it may
// restart the PC), the command, detection again (an exit code alone is never trusted), the result
// saved. At start, `resumeAfterRestart` settles an install the state says was under way.
import type { DetectionRule, PackageManifest, PropertyValue } from '../software/package.js';
import { detect, type DetectionAdapter } from './detect.js';
import type { ProcessTable } from './processes.js';
import { runInstall } from './runner.js';
import { loadState, packageKey, resumeStep, saveState, type InstallRecord, type ResumeStep } from './state.js';

export interface AgentDeps {
  adapter: DetectionAdapter;
  table: ProcessTable;
  statePath: string;
  now?: () => Date;
  pollMs?: number;
}

export interface InstallResult {
  record: InstallRecord;
  /** 'needed': restart before the next package; 'in_progress': the installer is restarting the PC. */
  reboot: 'none' | 'needed' | 'in_progress';
  ran: boolean;
}

type Pkg = Pick<PackageManifest, 'id' | 'version' | 'install' | 'properties' | 'exitCodes' | 'detection'>;

export async function installWithState(pkg: Pkg, values: Record<string, PropertyValue>, cwd: string, deps: AgentDeps, attempt = 1): Promise<InstallResult> {
  const now = deps.now ?? (() => new Date());
  const key = packageKey(pkg);
  const before = await detect(pkg.detection, deps.adapter);
  const { state } = await loadState(deps.statePath);
  if (before.installed) {
    const record: InstallRecord = { outcome: 'success', code: null, installed: true, reason: `already installed: ${before.reason}`, at: now().toISOString() };
    await saveState(deps.statePath, { ...state, current: null, done: { ...state.done, [key]: record } });
    return { record, reboot: 'none', ran: false };
  }
  await saveState(deps.statePath, { ...state, current: { key, startedAt: now().toISOString(), attempt } });
  const run = await runInstall(pkg, values, cwd, deps.table, deps.pollMs === undefined ? {} : { pollMs: deps.pollMs });
  const after = run.outcome === 'retry' ? null : await detect(pkg.detection, deps.adapter);
  const claimsInstalled = run.outcome === 'success' || run.outcome === 'reboot_required' || run.outcome === 'reboot_initiated';
  const record: InstallRecord = {
    outcome: claimsInstalled && after && !after.installed ? 'failure' : run.outcome,
    code: run.code,
    installed: after?.installed ?? false,
    reason: after === null ? run.meaning.en : claimsInstalled && !after.installed ? `${run.meaning.en}, but detection does not find it: ${after.reason}` : `${run.meaning.en}; ${after.reason}`,
    at: now().toISOString(),
  };
  const latest = (await loadState(deps.statePath)).state;
  await saveState(deps.statePath, { ...latest, current: null, done: { ...latest.done, [key]: record }, rebootPending: latest.rebootPending || run.reboot === 'needed' });
  return { record, reboot: record.outcome === 'failure' ? 'none' : run.reboot, ran: true };
}

/** Settles the install the state says was under way (see resumeStep) and saves; a retry is left to the caller (it has the files). */
export async function resumeAfterRestart(rules: (key: string) => DetectionRule | undefined, deps: AgentDeps, maxAttempts = 3): Promise<ResumeStep> {
  const { state } = await loadState(deps.statePath);
  if (state.current === null) return { action: 'nothing' };
  const rule = rules(state.current.key);
  const step = resumeStep(state, rule ? await detect(rule, deps.adapter) : null, rule ? maxAttempts : 0, (deps.now ?? (() => new Date()))());
  if (step.action === 'record') await saveState(deps.statePath, { ...state, current: null, done: { ...state.done, [step.key]: step.record } });
  return step;
}
