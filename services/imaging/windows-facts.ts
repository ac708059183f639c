// What a capture learns about the Windows it holds (issue 15): its edition and build, and whether it was
// generalized (sysprep /generalize), read by the boot client from the offline SOFTWARE and SYSTEM hives
// and recorded with the version (image_versions.windows). Shared by the client (services/imaging/client/
// windows-facts.ts) and the server (catalogue, runs), so it imports only zod.
//
// Generalized or not comes from SOFTWARE\Microsoft\Windows\CurrentVersion\Setup\State ImageState, which
// sysprep and Windows setup keep:
//   IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE / _TO_AUDIT   sysprep /generalize ran and the PC was shut down:
//                                                       the next start runs specialize (new SID, new name)
//   IMAGE_STATE_SPECIALIZE_RESEAL_TO_OOBE / _TO_AUDIT   it was started once after sysprep: specialize ran,
//                                                       this Windows has its own identity again
//   IMAGE_STATE_COMPLETE                                an installed, set up Windows (never generalized)
//   IMAGE_STATE_UNDEPLOYABLE                            sysprep started and did not finish (or failed)
// SYSTEM\Setup tells whether setup runs at the next start (SystemSetupInProgress 1, SetupType 2, CmdLine
// "oobe\windeploy.exe" after sysprep /generalize): it confirms a generalized state, and alone (no
// ImageState) it is taken for one; a generalized ImageState with no setup pending is not trusted.
import { z } from 'zod';

export const GENERALIZED = ['yes', 'no', 'unknown'] as const;
export type Generalized = (typeof GENERALIZED)[number];

export const GENERALIZED_REASONS = [
  'generalized',
  'setup_pending',
  'not_generalized',
  'specialized',
  'undeployable',
  'inconsistent',
  'no_image_state',
  'unknown_image_state',
  'hive_dirty',
  'hive_unreadable',
] as const;
export type GeneralizedReason = (typeof GENERALIZED_REASONS)[number];

export const WindowsFactsSchema = z
  .object({
    partition: z.number().int().positive().describe('the partition (its number on the disk) that holds Windows'),
    productName: z.string().max(200).nullable().describe('SOFTWARE …\\Windows NT\\CurrentVersion ProductName ("Windows 10 Pro": Windows 11 still says 10 there)'),
    editionId: z.string().max(100).nullable().describe('EditionID (Professional, Education, Enterprise…)'),
    displayVersion: z.string().max(50).nullable().describe('DisplayVersion (23H2), else ReleaseId (older Windows 10)'),
    build: z.string().max(50).nullable().describe('CurrentBuild(Number) and UBR: 22631.4460 (a build from 22000 is Windows 11)'),
    imageState: z.string().max(100).nullable().describe('SOFTWARE …\\Setup\\State ImageState, as read'),
    generalized: z.enum(GENERALIZED).describe('whether sysprep /generalize ran: yes, no, or unknown (the registry could not tell)'),
    reason: z.enum(GENERALIZED_REASONS).describe('why (the sentence: generalizedText)'),
  })
  .strict()
  .meta({ id: 'WindowsFacts' });
export type WindowsFacts = z.infer<typeof WindowsFactsSchema>;

/** The registry values the decision reads (null: missing). */
export interface SetupState {
  /** SOFTWARE Microsoft\Windows\CurrentVersion\Setup\State ImageState. */
  imageState: string | null;
  /** SYSTEM Setup values. */
  systemSetupInProgress: number | null;
  oobeInProgress: number | null;
  setupType: number | null;
  cmdLine: string | null;
}

/** Setup is to run at the next start, as sysprep /generalize leaves it. */
const setupPending = (s: SetupState) => s.systemSetupInProgress === 1 || s.oobeInProgress === 1 || s.setupType === 2 || /oobe\\windeploy/i.test(s.cmdLine ?? '');

/** Generalized or not, and why, from the offline registry's values. */
export function decideGeneralized(s: SetupState): { generalized: Generalized; reason: GeneralizedReason } {
  const state = s.imageState?.trim().toUpperCase() ?? null;
  if (state === null || state === '') {
    // No ImageState: only windeploy pending at the next start says sysprep prepared it.
    return /oobe\\windeploy/i.test(s.cmdLine ?? '') ? { generalized: 'yes', reason: 'setup_pending' } : { generalized: 'unknown', reason: 'no_image_state' };
  }
  if (state.startsWith('IMAGE_STATE_GENERALIZE_RESEAL_TO_')) {
    return setupPending(s) ? { generalized: 'yes', reason: 'generalized' } : { generalized: 'unknown', reason: 'inconsistent' };
  }
  if (state.startsWith('IMAGE_STATE_SPECIALIZE_RESEAL_TO_')) return { generalized: 'no', reason: 'specialized' };
  if (state === 'IMAGE_STATE_COMPLETE') return { generalized: 'no', reason: 'not_generalized' };
  if (state === 'IMAGE_STATE_UNDEPLOYABLE') return { generalized: 'no', reason: 'undeployable' };
  return { generalized: 'unknown', reason: 'unknown_image_state' };
}

/** The reason as a sentence, French first (the run's warning and the logs). */
export const GENERALIZED_TEXT: Record<GeneralizedReason, { fr: string; en: string }> = {
  generalized: { fr: 'Windows a été généralisé (sysprep /generalize) : chaque PC prendra sa propre identité au premier démarrage.', en: 'Windows was generalized (sysprep /generalize): each PC takes its own identity at its first start.' },
  setup_pending: { fr: "Windows lancera l'installation (windeploy) au prochain démarrage : il a été préparé par sysprep.", en: 'Windows runs setup (windeploy) at its next start: sysprep prepared it.' },
  not_generalized: {
    fr: "Windows n'a pas été généralisé : tous les PC auront le même SID et la même identité, ce qui casse la jonction au domaine. Sur le PC maître, lancez sysprep /generalize /oobe /shutdown, puis capturez à nouveau.",
    en: 'Windows was not generalized: every PC gets the same SID and identity, which breaks the domain join. On the master PC run sysprep /generalize /oobe /shutdown, then capture again.',
  },
  specialized: {
    fr: "Windows a été démarré après sysprep : il a repris une identité propre au maître. Lancez à nouveau sysprep /generalize /oobe /shutdown et capturez sans redémarrer Windows.",
    en: 'Windows was started after sysprep: it took an identity of its own again. Run sysprep /generalize /oobe /shutdown again and capture without starting Windows.',
  },
  undeployable: {
    fr: "sysprep n'est pas allé au bout (état IMAGE_STATE_UNDEPLOYABLE) : lisez Windows\\System32\\Sysprep\\Panther\\setupact.log sur le maître, corrigez, relancez sysprep /generalize.",
    en: 'sysprep did not finish (IMAGE_STATE_UNDEPLOYABLE): read Windows\\System32\\Sysprep\\Panther\\setupact.log on the master, fix it, and run sysprep /generalize again.',
  },
  inconsistent: { fr: "Le registre dit Windows généralisé mais aucune installation n'est prévue au démarrage : état incertain.", en: 'The registry says generalized but no setup is pending at the next start: the state is uncertain.' },
  no_image_state: { fr: "Le registre ne dit pas si Windows a été généralisé (pas de valeur ImageState).", en: 'The registry does not tell whether Windows was generalized (no ImageState value).' },
  unknown_image_state: { fr: "Le registre donne un état de sysprep inconnu (ImageState).", en: 'The registry gives an unknown sysprep state (ImageState).' },
  hive_dirty: {
    fr: "Le registre de Windows a des modifications en attente dans ses journaux (le maître n'a pas été arrêté proprement) : ses informations ne sont pas fiables.",
    en: "Windows' registry has changes pending in its transaction logs (the master was not shut down cleanly): what it says cannot be trusted.",
  },
  hive_unreadable: { fr: 'Le registre de Windows (SOFTWARE ou SYSTEM) est absent ou illisible.', en: "Windows' registry (SOFTWARE or SYSTEM) is missing or unreadable." },
};

/** The facts that would make a restore onto several PCs clone one identity: generalized 'no'. */
export const notGeneralized = (facts: readonly WindowsFacts[] | null): WindowsFacts | null => facts?.find((f) => f.generalized === 'no') ?? null;

/** Facts as recorded with a version (JSON); null when none were recorded or they cannot be read (never an error). */
export function parseWindowsFacts(json: string | null | undefined): WindowsFacts[] | null {
  if (!json) return null;
  try {
    const parsed = z.array(WindowsFactsSchema).safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
