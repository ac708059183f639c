// The morning report of a run, as a pure function of the run and its timeline: what needs a person
// first (failed PCs with their reason, then skipped and cancelled ones), then the PCs that are done;
// per PC its final state, timeline, duration and bytes moved; totals. The JSON answer, the printable
// page and the e-mail are all made from it. Reasons are given in French and English: the pipeline's
// own codes are translated here; a client's failure keeps its sentence (English) in both.
import type { RunPcEvent } from '../core/db/schema.js';
import { notStartedWords } from './not-started.js';
import type { DeliveryPath } from './delivery.js';
import { plannedVsActual, type PlanBound } from './plan.js';
import type { RunPcView, RunView } from './service.js';
import type { RunPreflight } from './model.js';
import { windowsOf, type ReportWindows } from './windows-report.js';

export type Lang = 'fr' | 'en';

export interface ReportPc {
  id: number;
  hostName: string;
  mac: string;
  state: RunPcView['state'];
  needsAPerson: boolean;
  reason: { code: string; fr: string; en: string } | null;
  startedAt: string | null;
  endedAt: string | null;
  durationSeconds: number | null;
  bytesMoved: number;
  /** How it got its version and why (delivery.ts), with the stored bytes by multicast and by HTTP repair. */
  delivery: { path: DeliveryPath; code: string; fr: string; en: string; multicastBytes: number; repairBytes: number } | null;
  timeline: Array<{ at: string; state: string; code: string; text: string }>;
  /** What its restore did to its Windows (name, answer file, driver pack, UEFI boot entry: windows-report.ts); null: nothing reported. */
  windows: ReportWindows | null;
}

export interface RunReport {
  run: { id: number; room: string | null; image: string; version: number; state: RunView['state']; createdBy: string; startedAt: string | null; endedAt: string | null; reason: RunView['reason']; why: { code: string; fr: string; en: string } | null };
  totals: { pcs: number; done: number; failed: number; skipped: number; cancelled: number; open: number; wallSeconds: number | null; bytesMoved: number; multicastBytes: number; repairBytes: number };
  /** The run's multicast session: bytes it sent once for every PC, and how it ended (null: none). */
  multicast: { ok: boolean; reason: string; detail: string; streamBytes: number; preflight: RunPreflight | null } | null;
  /** The bandwidth plan made when the run started (plan.ts) against what it took (null: none). */
  plan: ReportPlan | null;
  /** Failed first, then skipped, cancelled, still open, done; by name within each. */
  pcs: ReportPc[];
}

type Words = { code: string; fr: string; en: string };

export interface ReportPlan {
  plannedSeconds: number;
  /** How long it took (null: still running). */
  actualSeconds: number | null;
  bound: PlanBound;
  fits: boolean | null;
  totalBytes: number;
  /** The limit, the rate and the window as planned; actual: planned against what it took (null: still running). */
  words: { bound: Words; rate: Words; window: Words; overflow: Words | null; actual: Words | null };
}

const ORDER: Record<RunPcView['state'], number> = { failed: 0, skipped: 1, cancelled: 2, queued: 3, waking: 3, booted: 3, restoring: 3, verifying: 3, done: 4 };

/** French (and English) for the pipeline's reason codes, from their parameters. */
function translate(code: string, params: Record<string, unknown>, english: string): { fr: string; en: string } {
  const n = (k: string) => String(params[k] ?? '?');
  const fr: Record<string, string> = {
    did_not_wake: `ne s'est pas allumé après ${n('attempts')} réveil(s) par le réseau (Wake-on-LAN) en ${n('minutes')} min : vérifier qu'il est branché et que le réveil par le réseau est activé dans son BIOS`,
    did_not_boot: `n'a pas démarré sur le réseau en ${n('minutes')} min : l'allumer à la main et vérifier qu'il démarre d'abord sur le réseau`,
    in_use:
      params.port === undefined
        ? "en cours d'utilisation : il répondait sur le réseau sans avoir démarré sur le réseau depuis le début ; il n'a pas été touché"
        : `en cours d'utilisation : répond sur le réseau (port ${n('port')}${params.answer === 'refused' ? ' fermé, mais le PC est allumé' : ''}) et n'a pas démarré sur le réseau depuis le début de la restauration ; il n'a pas été touché`,
    silent: `ne répond plus (${n('minutes')} min sans nouvelles) : regarder son écran et son câble réseau`,
    window_ended:
      params.started === 'no'
        ? `pas commencé avant la fin de la plage horaire${params.end ? ` (${n('end')})` : ''} : le restaurer à nouveau ce soir, ou autoriser plus de postes à la fois`
        : `encore en cours à la fin de la plage horaire${params.end ? ` (${n('end')})` : ''} : arrêté proprement ; le restaurer à nouveau ce soir (il démarrera sur le réseau)`,
    cancelled: 'annulé',
    task_cancelled: 'sa tâche de restauration a été annulée en dehors de la restauration de salle',
    task_open: `il avait déjà une tâche en cours (n° ${n('taskId')}) : l'annuler ou la laisser finir, puis relancer ce poste`,
    host_gone: "retiré de l'inventaire après le début",
    done: english.includes('left on') ? 'restauré et vérifié ; le PC reste allumé' : english.includes('powers off') ? 'restauré et vérifié ; le PC s’éteint' : 'restauré et vérifié',
    waking: Number(params.attempt ?? 1) > 1 ? `pas encore démarré sur le réseau : réveil (Wake-on-LAN) envoyé à nouveau (tentative ${n('attempt')})` : 'réveil par le réseau (Wake-on-LAN) envoyé (tentative 1)',
    waiting_boot: "en attente qu'il soit allumé à la main et démarre sur le réseau",
    booted: 'démarré sur le réseau : il a chargé son script de démarrage',
    restoring: 'le client de démarrage a commencé la restauration',
    verifying: 'relecture de ce qui a été écrit',
  };
  return { fr: fr[code] ?? english, en: english };
}

const PATH_FR: Record<string, (p: Record<string, string | number>) => string> = {
  path_differential: (p) => `son disque contient déjà ${p.percent} % de la version ${p.version} (sa dernière restauration, version ${p.from}, a réussi) : la restauration différentielle ne récupère que ce qui diffère`,
  path_multicast: (p) => `un seul flux multicast pour les ${p.pcs} postes qui ont besoin de toute la version ${p.version} ; ce qu'un poste manque est réparé par HTTP`,
  path_unicast_forced: () => 'la restauration a été demandée en unicast (HTTP)',
  path_unicast_multicast_off: () => "le multicast n'est pas configuré sur ce serveur : restauré en unicast (HTTP)",
  path_unicast_single: () => 'le seul poste qui a besoin de toute la version : restauré en unicast (HTTP)',
  path_unicast_session_over: () => 'la session multicast était terminée quand ce poste a commencé : restauré en unicast (HTTP)',
  path_unicast_no_session: () => "la session multicast n'a pas pu démarrer : restauré en unicast (HTTP)",
  path_unicast_fallback: () => "le poste n'a pas pu rejoindre la session multicast : restauré en unicast (HTTP)",
  path_unicast_probe: () => "le multicast n'atteint pas ce poste (sonde non reçue) : restauré aussitôt en unicast (HTTP)",
  path_multicast_probed: (p) =>
    `le multicast atteint ce poste (${p.received} datagrammes de la sonde reçus sur ${p.expected}${p.mbps !== undefined ? `, rafales à ${String(p.mbps).replace('.', ',')} Mbit/s` : ''}) ; restauré depuis le flux multicast`,
};

function deliveryOf(p: RunPcView): ReportPc['delivery'] {
  const d = p.delivery;
  if (!d) return null;
  return { path: d.path, code: d.reason.code, fr: PATH_FR[d.reason.code]?.(d.reason.params) ?? d.reason.text, en: d.reason.text, multicastBytes: d.multicastBytes, repairBytes: d.repairBytes };
}

/**
 * runParams: the parameters of the run's own reason (a run that did not start: the time, the window);
 * taskResults: the result (JSON) of each PC's restore task, by task id.
 */
export function buildReport(view: RunView, timeline: RunPcEvent[], now = Date.now(), runParams: Record<string, string> = {}, taskResults: ReadonlyMap<number, string | null> = new Map()): RunReport {
  const byPc = new Map<number, RunPcEvent[]>();
  for (const e of timeline) byPc.set(e.run_pc_id, [...(byPc.get(e.run_pc_id) ?? []), e]);
  const pcs: ReportPc[] = view.pcs.map((p) => {
    const events = byPc.get(p.id) ?? [];
    const last = events.at(-1);
    const params = last?.params ? (JSON.parse(last.params) as Record<string, unknown>) : {};
    const reason = p.reason ? { code: p.reason.code, ...translate(p.reason.code, params, p.reason.text) } : null;
    const end = p.endedAt ? Date.parse(p.endedAt) : now;
    return {
      id: p.id,
      hostName: p.hostName,
      mac: p.mac,
      state: p.state,
      // A PC the window's end stopped is not restored: someone has to run it again.
      needsAPerson: p.state === 'failed' || p.state === 'skipped' || (p.state === 'cancelled' && p.reason?.code === 'window_ended'),
      reason,
      startedAt: p.startedAt,
      endedAt: p.endedAt,
      durationSeconds: p.startedAt ? Math.max(0, Math.round((end - Date.parse(p.startedAt)) / 1000)) : null,
      bytesMoved: p.bytesDone,
      delivery: deliveryOf(p),
      timeline: events.map((e) => ({ at: e.at, state: e.state, code: e.reason_code, text: e.reason_text })),
      windows: p.taskId === null ? null : windowsOf(taskResults.get(p.taskId)),
    };
  });
  pcs.sort((a, b) => ORDER[a.state] - ORDER[b.state] || a.hostName.localeCompare(b.hostName, 'fr'));
  const count = (s: RunPcView['state']) => pcs.filter((p) => p.state === s).length;
  return {
    run: { id: view.id, room: view.room, image: view.image.name, version: view.version.number, state: view.state, createdBy: view.createdBy, startedAt: view.startedAt, endedAt: view.endedAt, reason: view.reason, why: runWhy(view, runParams) },
    totals: {
      pcs: pcs.length,
      done: count('done'),
      failed: count('failed'),
      skipped: count('skipped'),
      cancelled: count('cancelled'),
      open: pcs.filter((p) => ORDER[p.state] === 3).length,
      wallSeconds: view.startedAt ? Math.round(((view.endedAt ? Date.parse(view.endedAt) : now) - Date.parse(view.startedAt)) / 1000) : null,
      bytesMoved: pcs.reduce((t, p) => t + p.bytesMoved, 0),
      multicastBytes: pcs.reduce((t, p) => t + (p.delivery?.multicastBytes ?? 0), 0),
      repairBytes: pcs.reduce((t, p) => t + (p.delivery?.repairBytes ?? 0), 0),
    },
    multicast: view.multicast?.outcome ? { ok: view.multicast.outcome.ok, reason: view.multicast.outcome.reason, detail: view.multicast.outcome.detail, streamBytes: view.multicast.outcome.streamBytes, preflight: view.multicast.outcome.preflight ?? null } : null,
    plan: planOf(view),
    pcs,
  };
}

function planOf(view: RunView): ReportPlan | null {
  const p = view.plan;
  if (!p) return null;
  const words = ({ code, fr, en }: Words) => ({ code, fr, en });
  const actual = view.startedAt && view.endedAt ? Math.round((Date.parse(view.endedAt) - Date.parse(view.startedAt)) / 1000) : null;
  return {
    plannedSeconds: p.seconds,
    actualSeconds: actual,
    bound: p.bound,
    fits: p.window.fits,
    totalBytes: p.totalBytes,
    words: {
      bound: words(p.reasons.bound),
      rate: words(p.reasons.rate),
      window: words(p.reasons.window),
      overflow: p.reasons.overflow ? words(p.reasons.overflow) : null,
      actual: actual === null ? null : words(plannedVsActual(p.seconds, actual)),
    },
  };
}

/** The run's own reason in both languages: why it did not start, or why it ended as it did. */
function runWhy(view: RunView, params: Record<string, string>): RunReport['run']['why'] {
  if (!view.reason) return null;
  if (view.state === 'not_started') return notStartedWords(view.reason.code, params, view.reason.text);
  return { code: view.reason.code, ...translate(view.reason.code, params, view.reason.text) };
}
