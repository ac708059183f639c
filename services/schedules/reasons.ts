// Why a schedule's instant did not start a run: its code, parameters and English text (what the
// database keeps); the French comes from runs/not-started.ts, which the runs' report shares.
import { notStartedWords } from '../runs/not-started.js';

export interface FireReason {
  code: string;
  params: Record<string, string>;
  /** English, as recorded. */
  text: string;
}

/** The reason in both languages: the words of a run that did not start (runs/not-started.ts). */
export const fireReasonWords = notStartedWords;
