/** What the user picked per synthetic file, remembered in the workspace state: shared by scoring's question and the training picker. */
import type * as vscode from 'vscode';
import type { TrainableModelKind } from './training/jobRequest';

/** The workspaceState key of the choices remembered per synthetic file. */
export const CHOICES_KEY = 'dimpCurator.training.choices';

/** What the user picked for a synthetic file; '' means "none" (overrides the config). */
export interface TrainingChoices {
  validation?: string;
  test?: string;
  real?: string;
  epochs?: number;
  model?: TrainableModelKind;
}

/** Remembered choices of every synthetic file in this workspace. */
export function rememberedChoices(state: vscode.Memento): Record<string, TrainingChoices> {
  return state.get<Record<string, TrainingChoices>>(CHOICES_KEY, {});
}

/** The real set last picked for a synthetic file (by scoring's question or the training picker), if any. */
export function rememberedReal(state: vscode.Memento, synthetic: string): string | undefined {
  return rememberedChoices(state)[synthetic]?.real || undefined;
}

/** Remembers the real set picked for a synthetic file: scoring asks once, and the training picker shows it. */
export async function rememberReal(state: vscode.Memento, synthetic: string, real: string): Promise<void> {
  const all = rememberedChoices(state);
  await state.update(CHOICES_KEY, { ...all, [synthetic]: { ...all[synthetic], real } });
}
