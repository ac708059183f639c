// A version whose Windows was not generalized, restored onto more than one PC (issue 15): every PC would
// come up with the master's SID and machine identity, and two PCs with one identity break the domain
// join (the second join takes the first one's account) and confuse WSUS and the antivirus console.
//
// Rules (what a network manager expects: to be stopped before, not to find out the next morning):
// - Generalized 'no' (imaging/windows-facts.ts) onto two or more PCs: the run is refused (409
//   image_not_generalized, with what to do) unless the request says acknowledge: true; then it starts
//   and the answer, and the audit entry, keep the warning.
// - Generalized 'unknown' onto two or more PCs: a warning in the answer, never a refusal (a version
//   captured before the facts were read, or a dirty registry, must not block a room).
// - One PC (a PC's own restore, a run of one) is never warned: it takes back its own identity.
// - A schedule's instant is a run without acknowledge: it does not start, and says why.
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { DB } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import { GENERALIZED_REASONS, GENERALIZED_TEXT, parseWindowsFacts, type WindowsFacts } from '../imaging/windows-facts.js';

export const RunWarningSchema = z
  .object({
    code: z.enum(['image_not_generalized', 'image_generalized_unknown']),
    reason: z.enum(GENERALIZED_REASONS).describe('why (imaging/windows-facts.ts)'),
    partition: z.number().int(),
    pcs: z.number().int(),
    text: z.object({ fr: z.string(), en: z.string() }),
  })
  .meta({ id: 'RunWarning' });
export type RunWarning = z.infer<typeof RunWarningSchema>;

/** The Windows facts recorded with a version (null: none recorded, or unreadable). */
export async function versionWindows(db: Kysely<DB>, versionId: number): Promise<WindowsFacts[] | null> {
  const row = await db.selectFrom('image_versions').select('windows').where('id', '=', versionId).executeTakeFirst();
  return parseWindowsFacts(row?.windows);
}

/** The warnings of restoring a version with these facts onto `pcs` PCs. */
export function generalizedWarnings(facts: readonly WindowsFacts[] | null, pcs: number): RunWarning[] {
  if (pcs < 2 || !facts) return [];
  return facts
    .filter((f) => f.generalized !== 'yes')
    .map((f) => ({
      code: f.generalized === 'no' ? 'image_not_generalized' : 'image_generalized_unknown',
      reason: f.reason,
      partition: f.partition,
      pcs,
      text: {
        fr: `Cette version va sur ${pcs} PC. ${GENERALIZED_TEXT[f.reason].fr}`,
        en: `This version goes to ${pcs} PCs. ${GENERALIZED_TEXT[f.reason].en}`,
      },
    }));
}

/** Refuses a run onto several PCs of a non-generalized Windows unless acknowledged. */
export function checkAcknowledged(warnings: readonly RunWarning[], acknowledge: boolean): void {
  const stop = warnings.find((w) => w.code === 'image_not_generalized');
  if (stop && !acknowledge) {
    throw new AppError(409, 'image_not_generalized', `${stop.text.en} To restore it onto ${stop.pcs} PCs anyway, start the run again with acknowledge: true; nothing was started.`, [stop]);
  }
}
