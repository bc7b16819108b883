import * as path from 'node:path';
import type { LossKind } from '../../protocol/events';
import type { ProjectConfig } from '../config';
import { removeTemporarySiblings } from '../io/atomic';
import type { DatasetSource } from '../pipeline';
import type { DeviceChoice } from '../runtime/onnxRuntime';
import { DEFAULT_WEIGHT_GUARDS, type WeightGuards } from '../weighting/weights';
import { checkerSettingsFrom, DEFAULT_CLASSIFIER_SETTINGS, type NgramSettings } from './ngramTraining';

/**
 * One training job, fully resolved: every path absolute, every setting chosen. The extension builds it
 * on the UI side (cheap) and the training worker runs it (heavy); it is plain JSON so it crosses the
 * worker boundary as is.
 */
export interface TrainingJobSpec {
  loss: LossKind;
  synthetic: DatasetSource;
  validation?: DatasetSource;
  test?: DatasetSource;
  /** Real rows for the quality checker, used only when imp/dimp scores must be computed first. */
  real?: DatasetSource;
  qualityModel?: string;
  diversityModel?: string;
  /** Label names in class-index order; empty or absent: from the scores file, else inferred. */
  labels?: string[];
  /** Scores file of the synthetic set: read when it covers every row, else (re)written by scoring first. */
  scoresFile?: string;
  /** Where scoring saves the checkers it trains. */
  checkersDir?: string;
  settings: NgramSettings;
  checkerSettings: NgramSettings;
  seed: number;
  guards: WeightGuards;
  device: DeviceChoice;
  /** Parent folder of run folders. */
  outDir: string;
  /** Name of the run folder inside `outDir`. */
  runName: string;
}

/** Default scores path next to the synthetic file, shared with the CLI: `x.jsonl` → `x.scores.jsonl`. */
export function defaultScoresFile(syntheticFile: string): string {
  return path.join(path.dirname(syntheticFile), `${path.basename(syntheticFile).replace(/\.(jsonl|ndjson|json)$/i, '')}.scores.jsonl`);
}

/** Default checkers folder next to a scores file, shared with the CLI: `x.scores.jsonl` → `x.checkers/`. */
export function defaultCheckersDir(scoresFile: string): string {
  return path.join(path.dirname(scoresFile), `${path.basename(scoresFile).replace(/(\.scores)?\.jsonl$/i, '')}.checkers`);
}

/** A run folder name `<loss>-<yyyymmdd-hhmmss>` (UTC), the CLI's default. */
export function defaultRunName(loss: LossKind, now: Date = new Date()): string {
  return `${loss}-${now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-')}`;
}

/**
 * Classifier and checker settings from a project's `dimp.config.json` over the defaults, with
 * `epochs` overridable (the one setting the editor asks for).
 */
export function jobSettingsFromConfig(config: ProjectConfig, overrides: { epochs?: number } = {}): { settings: NgramSettings; checkerSettings: NgramSettings; seed: number; guards: WeightGuards } {
  const t = config.training ?? {};
  return {
    settings: {
      ...DEFAULT_CLASSIFIER_SETTINGS,
      epochs: overrides.epochs ?? t.epochs ?? DEFAULT_CLASSIFIER_SETTINGS.epochs,
      batchSize: t.batchSize ?? DEFAULT_CLASSIFIER_SETTINGS.batchSize,
      learningRate: t.learningRate ?? DEFAULT_CLASSIFIER_SETTINGS.learningRate,
      dim: t.dim ?? DEFAULT_CLASSIFIER_SETTINGS.dim,
    },
    checkerSettings: checkerSettingsFrom(config.checkers),
    seed: t.seed ?? 1,
    guards: { epsilon: t.epsilon ?? DEFAULT_WEIGHT_GUARDS.epsilon, maxWeight: t.maxWeight ?? null },
  };
}

/** The paths a job may write, each through a temporary sibling: what to sweep if the job was killed. */
export function jobOutputs(spec: TrainingJobSpec): string[] {
  const outputs = [path.join(spec.outDir, spec.runName)];
  if (spec.loss !== 'ce' && spec.scoresFile) {
    outputs.push(spec.scoresFile);
    const checkers = spec.checkersDir ?? defaultCheckersDir(spec.scoresFile);
    outputs.push(path.join(checkers, 'quality'), path.join(checkers, 'diversity'));
  }
  return outputs;
}

/**
 * Removes the temporary siblings a job leaves when its thread is killed before it can clean up (a
 * cancelled or failed job removes them itself). Returns how many were removed.
 */
export async function sweepJobTemporaries(spec: TrainingJobSpec): Promise<number> {
  let removed = 0;
  for (const target of jobOutputs(spec)) removed += await removeTemporarySiblings(target);
  return removed;
}
