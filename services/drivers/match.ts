// Which driver pack a PC gets, as a pure function of its hardware facts and the ready packs (in the
// style of boot/proxydhcp/decide.ts): the pack, a reason code and the sentence in English and French.
//
// - The PC's DMI system vendor and model (hosts.hardware, from its boot hello) are compared with each
//   pack's rule after trimming, without regard to case. The vendor must be equal; the model is equal,
//   or matches a pattern where * stands for any run of characters ("EliteDesk 800 G*", "*").
// - The most specific rule wins: an exact model before any pattern, then the pattern with the most
//   characters that are not *. Two packs equally specific: the oldest (smallest id) wins, and the
//   reason names the other, so that a person can make one of the rules narrower.
// - No facts (the PC never said hello with them), or no rule that fits: no pack, and why.
import type { DriverMatch } from '../imaging/driver-pack.js';

export interface PackRule {
  id: number;
  name: string;
  vendor: string;
  model: string;
}

export interface SystemFacts {
  vendor: string;
  model: string;
}

export type Decision<P extends PackRule> = { pack: P | null; code: DriverMatch['code']; reason: DriverMatch['reason'] };

const norm = (s: string) => s.trim().replace(/\s+/g, ' ').toLowerCase();

/** How specific a rule is for this model: null when it does not match; higher is more specific. */
export function specificity(rule: string, model: string): number | null {
  const r = norm(rule);
  const m = norm(model);
  if (!r.includes('*')) return r === m ? Number.MAX_SAFE_INTEGER : null;
  const re = new RegExp(`^${r.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
  return re.test(m) ? r.replace(/\*/g, '').length : null;
}

/** The system facts of a host's hardware (its JSON, or parsed; null when it has none, or they are blank). */
export function systemFacts(hardware: string | Record<string, unknown> | null): SystemFacts | null {
  if (!hardware) return null;
  try {
    const s = ((typeof hardware === 'string' ? JSON.parse(hardware) : hardware) as { system?: { vendor?: unknown; model?: unknown } }).system;
    const vendor = typeof s?.vendor === 'string' ? s.vendor.trim() : '';
    const model = typeof s?.model === 'string' ? s.model.trim() : '';
    return vendor || model ? { vendor, model } : null;
  } catch {
    return null;
  }
}

export function matchPack<P extends PackRule>(facts: SystemFacts | null, packs: readonly P[]): Decision<P> {
  if (!facts) {
    return {
      pack: null,
      code: 'no_facts',
      reason: {
        en: 'no driver pack: the PC has not reported its vendor and model yet (it does at its next network boot)',
        fr: "aucun pack de pilotes : le PC n'a pas encore indiqué son fabricant et son modèle (il le fait à son prochain démarrage réseau)",
      },
    };
  }
  const pc = `${facts.vendor.trim()} ${facts.model.trim()}`.trim();
  const fits = packs
    .filter((p) => norm(p.vendor) === norm(facts.vendor))
    .map((p) => ({ p, score: specificity(p.model, facts.model) }))
    .filter((x): x is { p: P; score: number } => x.score !== null)
    .sort((a, b) => b.score - a.score || a.p.id - b.p.id);
  const best = fits[0];
  if (!best) {
    return {
      pack: null,
      code: 'no_pack',
      reason: { en: `no driver pack matches ${pc}: add one for this vendor and model`, fr: `aucun pack de pilotes ne correspond à ${pc} : ajoutez-en un pour ce fabricant et ce modèle` },
    };
  }
  const rule = `${best.p.vendor.trim()} / ${best.p.model.trim()}`;
  const tied = fits.filter((x) => x !== best && x.score === best.score).map((x) => `"${x.p.name}"`);
  if (tied.length) {
    return {
      pack: best.p,
      code: 'matched_tie',
      reason: {
        en: `driver pack "${best.p.name}" (${rule}) for ${pc}; ${tied.join(', ')} matched as closely, and the oldest pack wins: make one rule narrower`,
        fr: `pack de pilotes « ${best.p.name} » (${rule}) pour ${pc} ; ${tied.join(', ')} correspond aussi précisément, et le pack le plus ancien l'emporte : précisez l'une des règles`,
      },
    };
  }
  return {
    pack: best.p,
    code: 'matched',
    reason: { en: `driver pack "${best.p.name}" (${rule}) for ${pc}`, fr: `pack de pilotes « ${best.p.name} » (${rule}) pour ${pc}` },
  };
}
