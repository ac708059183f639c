// The morning report as a printable HTML page (French by default, English with ?lang=en), and as a
// short plain-text e-mail body that says first what needs a person. Every value is escaped.
import type { Lang, RunReport } from './report.js';

const esc = (v: unknown) => String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const T = {
  fr: {
    title: 'Rapport de restauration',
    room: 'Salle',
    chosen: 'postes choisis',
    image: 'Image',
    version: 'version',
    started: 'Début',
    ended: 'Fin',
    running: 'en cours',
    needs: 'À regarder',
    nothing: 'Rien à regarder : tous les postes sont restaurés.',
    notStarted: "Cette restauration n'a pas démarré",
    done: 'Restaurés',
    pc: 'Poste',
    state: 'État',
    why: 'Raison',
    duration: 'Durée',
    data: 'Données',
    path: 'Voie',
    windows: 'Windows',
    paths: { differential: 'différentielle', multicast: 'multicast', unicast: 'unicast (HTTP)' },
    repaired: 'réparés par HTTP',
    plan: 'Prévu',
    noPack: 'Sans pack de pilotes',
    stream: (b: string, ok: boolean, detail: string) => `Flux multicast : ${b} envoyés une fois pour tous les postes${ok ? '' : ` (incomplet : ${detail})`}`,
    totals: (t: RunReport['totals']) => `${t.done} restauré(s) sur ${t.pcs}, ${t.failed} en échec, ${t.skipped} ignoré(s), ${t.cancelled} annulé(s)`,
    states: { queued: 'en attente', waking: 'réveil', booted: 'démarré', restoring: 'restauration', verifying: 'vérification', done: 'restauré', failed: 'échec', skipped: 'ignoré', cancelled: 'annulé' },
  },
  en: {
    title: 'Restore report',
    room: 'Room',
    chosen: 'chosen PCs',
    image: 'Image',
    version: 'version',
    started: 'Started',
    ended: 'Ended',
    running: 'running',
    needs: 'Needs a person',
    nothing: 'Nothing to look at: every PC is restored.',
    notStarted: 'This run did not start',
    done: 'Restored',
    pc: 'PC',
    state: 'State',
    why: 'Reason',
    duration: 'Duration',
    data: 'Data',
    path: 'Path',
    windows: 'Windows',
    paths: { differential: 'differential', multicast: 'multicast', unicast: 'unicast (HTTP)' },
    repaired: 'repaired over HTTP',
    plan: 'Plan',
    noPack: 'Without a driver pack',
    stream: (b: string, ok: boolean, detail: string) => `Multicast stream: ${b} sent once for every PC${ok ? '' : ` (incomplete: ${detail})`}`,
    totals: (t: RunReport['totals']) => `${t.done} of ${t.pcs} restored, ${t.failed} failed, ${t.skipped} skipped, ${t.cancelled} cancelled`,
    states: { queued: 'queued', waking: 'waking', booted: 'booted', restoring: 'restoring', verifying: 'verifying', done: 'done', failed: 'failed', skipped: 'skipped', cancelled: 'cancelled' },
  },
} as const;

const duration = (s: number | null) => (s === null ? '–' : s < 60 ? `${s} s` : s < 3600 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`);
const size = (b: number) => (b >= 1e9 ? `${(b / 1e9).toFixed(1)} GB` : b >= 1e6 ? `${(b / 1e6).toFixed(0)} MB` : `${b} B`);
const when = (iso: string | null, lang: Lang) => (iso ? new Date(iso).toLocaleString(lang === 'fr' ? 'fr-FR' : 'en-GB', { timeZone: 'Europe/Paris' }) : '–');

/** The PC's path and why, in the report's language. */
function pathCell(p: RunReport['pcs'][number], lang: Lang): string {
  if (!p.delivery) return '–';
  return `${esc(T[lang].paths[p.delivery.path])}<br><small>${esc(p.delivery[lang])}</small>`;
}

/** The PC's bytes by multicast and by repair, when it got any by multicast. */
function dataSplit(p: RunReport['pcs'][number], lang: Lang): string {
  const d = p.delivery;
  if (!d || (d.multicastBytes === 0 && d.repairBytes === 0)) return '';
  return `<br><small>multicast ${esc(size(d.multicastBytes))} · ${esc(size(d.repairBytes))} ${esc(T[lang].repaired)}</small>`;
}

/** What the restore did to the PC's Windows: name, answer file, driver pack, UEFI boot entry (one line each). */
function windowsCell(p: RunReport['pcs'][number], lang: Lang): string {
  const w = p.windows;
  if (!w) return '–';
  const lines = [w.name, w.answerFile, w.drivers, w.bootEntry].flatMap((x) => (x ? [`<span data-code="${esc(x.code)}">${esc(x[lang])}</span>`] : []));
  return lines.length ? `<small>${lines.join('<br>')}</small>` : '–';
}

/** The bandwidth plan against what the run took: one paragraph (nothing for a run without a plan). */
function planHtml(r: RunReport, lang: Lang): string {
  const p = r.plan;
  if (!p) return '';
  const w = p.words;
  const lines = [w.actual, w.window, w.bound, w.rate, w.overflow].flatMap((x) => (x ? [esc(x[lang])] : []));
  return `<p class="plan" data-fits="${p.fits === null ? '' : String(p.fits)}"><strong>${esc(T[lang].plan)} : ${esc(duration(p.plannedSeconds))}</strong> · ${esc(size(p.totalBytes))}<br><small>${lines.join('<br>')}</small></p>\n`;
}

export function reportHtml(r: RunReport, lang: Lang = 'fr'): string {
  const t = T[lang];
  const rows = (pcs: RunReport['pcs']) =>
    pcs
      .map((p) => `<tr class="${esc(p.state)}"><td>${esc(p.hostName)}</td><td>${esc(t.states[p.state])}</td><td>${esc(p.reason ? p.reason[lang] : '')}</td><td>${pathCell(p, lang)}</td><td>${windowsCell(p, lang)}</td><td>${esc(duration(p.durationSeconds))}</td><td>${esc(size(p.bytesMoved))}${dataSplit(p, lang)}</td></tr>`)
      .join('\n');
  const head = `<tr><th>${t.pc}</th><th>${t.state}</th><th>${t.why}</th><th>${t.path}</th><th>${t.windows}</th><th>${t.duration}</th><th>${t.data}</th></tr>`;
  const needs = r.pcs.filter((p) => p.state !== 'done');
  const done = r.pcs.filter((p) => p.state === 'done');
  return `<!doctype html>
<html lang="${lang}"><head><meta charset="utf-8"><title>${esc(t.title)} – ${esc(r.run.room ?? t.chosen)}</title>
<style>body{font-family:sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse;width:100%}td,th{border:1px solid #999;padding:.3em .5em;text-align:left;vertical-align:top}.failed td:nth-child(2){color:#b00;font-weight:bold}@media print{body{margin:0}}</style>
</head><body>
<h1>${esc(t.title)} – ${esc(r.run.room ?? t.chosen)}</h1>
<p>${esc(t.image)} « ${esc(r.run.image)} » ${esc(t.version)} ${esc(r.run.version)} · ${esc(t.started)} ${esc(when(r.run.startedAt, lang))} · ${esc(t.ended)} ${esc(r.run.endedAt ? when(r.run.endedAt, lang) : t.running)}</p>
<p><strong>${esc(t.totals(r.totals))}</strong> · ${esc(duration(r.totals.wallSeconds))} · ${esc(size(r.totals.bytesMoved))}</p>
${planHtml(r, lang)}${r.multicast ? `<p>${esc(t.stream(size(r.multicast.streamBytes), r.multicast.ok, r.multicast.detail))} · ${esc(`${size(r.totals.repairBytes)} ${t.repaired}`)}</p>\n` : ''}${(r.multicast?.preflight?.warnings ?? []).map((w) => `<p class="failed">${esc(lang === 'fr' ? w.fr : w.text)}</p>\n`).join('')}<h2>${esc(t.needs)}</h2>
${r.run.state === 'not_started' ? `<p class="failed"><strong>${esc(t.notStarted)}</strong> : ${esc(r.run.why ? r.run.why[lang] : '')}</p>` : needs.length ? `<table>${head}\n${rows(needs)}</table>` : `<p>${esc(t.nothing)}</p>`}
<h2>${esc(t.done)}</h2>
${done.length ? `<table>${head}\n${rows(done)}</table>` : '<p>–</p>'}
</body></html>
`;
}

/** A short plain-text e-mail: the totals, then each PC that needs a person with its reason, then those that got no driver pack and why. */
export function reportText(r: RunReport, lang: Lang = 'fr'): { subject: string; text: string } {
  const t = T[lang];
  const needs = r.pcs.filter((p) => p.needsAPerson);
  const subject = `${t.title} – ${r.run.room ?? t.chosen} : ${t.totals(r.totals)}`;
  const lines = [t.totals(r.totals), ''];
  if (r.run.state === 'not_started') lines.push(`${t.notStarted} : ${r.run.why ? r.run.why[lang] : ''}`);
  else if (needs.length) {
    lines.push(`${t.needs} :`);
    for (const p of needs) lines.push(`- ${p.hostName} (${t.states[p.state]}) : ${p.reason ? p.reason[lang] : ''}`);
  } else lines.push(t.nothing);
  // A PC restored without its model's drivers: someone adds a pack (or gets the PC to report its model).
  const noPack = r.pcs.filter((p) => p.windows?.drivers && (p.windows.drivers.code === 'drivers_no_pack' || p.windows.drivers.code === 'drivers_no_facts'));
  if (noPack.length) {
    const colon = lang === 'fr' ? ' :' : ':';
    lines.push('', `${t.noPack}${colon}`);
    for (const p of noPack) lines.push(`- ${p.hostName}${colon} ${p.windows!.drivers![lang]}`);
  }
  lines.push('', `${t.image} « ${r.run.image} » ${t.version} ${r.run.version} · ${duration(r.totals.wallSeconds)} · ${size(r.totals.bytesMoved)}`);
  if (r.plan) lines.push(`${t.plan} : ${duration(r.plan.plannedSeconds)} · ${(r.plan.words.actual ?? r.plan.words.window)[lang]}`);
  return { subject, text: lines.join('\n') };
}
