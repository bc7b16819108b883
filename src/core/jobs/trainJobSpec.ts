import * as path from 'node:path';
import type { LoadedConfig } from '../config';
import type { LossKind } from '../events';
import { removeTemporarySiblings } from '../io/atomic';
import type { DatasetSource } from '../pipeline';
import type { DeviceChoice } from '../runtime/onnxRuntime';
import type { WeightGuards } from '../weighting/weights';
import type { CheckerTrainingOptions } from './checkers';
import type { EncoderHeadSettings } from '../train/encoderHeadTraining';
import type { FineTuneSettings } from '../train/fineTuneTraining';
import type { NgramSettings } from '../train/ngramTraining';
import type { PytorchEngineSettings } from '../train/pytorchEngine';

/**
 * One training job, fully resolved: every path absolute, every setting chosen. The extension builds it
 * on the UI side (cheap) and the training worker runs it (heavy); it is plain JSON so it crosses the
 * worker boundary as is.
 */
/** The checkers' options (CheckerTrainingOptions) apply when the job scores first. */
export interface TrainingJobSpec extends CheckerTrainingOptions {
  loss: LossKind;
  /** Worker threads of the built-in checkers' scoring pass when the job scores first (`scoringThreads`); absent: one. */
  scoringThreads?: number;
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
  /** Scoring first may replace a `scoresFile` that is not a scores file (never an input). */
  force?: boolean;
  /**
   * `when-needed` (default): score first only when the stored scores are missing, use other labels or miss
   * rows; `always`: score first whenever the loss needs scores.
   */
  scoreFirst?: 'always' | 'when-needed';
  /** Where scoring saves the checkers it trains. */
  checkersDir?: string;
  settings: NgramSettings;
  /** Train a head on this frozen transformer encoder instead of the built-in model. */
  encoder?: EncoderHeadSettings;
  /** Fine-tune this transformer classifier (every weight, on onnxruntime-node) instead of the built-in model. */
  finetune?: FineTuneSettings;
  /**
   * Train on the PyTorch engine (Hugging Face Trainer under accelerate) instead: its settings and the folder
   * holding the `dimp_curator` Python package (the front end knows where it ships).
   */
  pytorch?: { settings: PytorchEngineSettings; packageDir: string };
  seed: number;
  guards: WeightGuards;
  /** `filter` baseline: the share of rows kept, highest q first. */
  filterKeep?: number;
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

/**
 * Where run folders go when the front end names no folder, for the CLI, the Train commands and the
 * editor's DIMP-weight lookup alike: the config's `output`, else `runs/` next to the config file, else
 * `runs/` in `base` (the working folder or the workspace folder).
 */
export function defaultRunsDir(project: LoadedConfig, base: string): string {
  return project.config.output ?? path.join(project.file ? path.dirname(project.file) : base, 'runs');
}

/** A run folder name `<loss>-<yyyymmdd-hhmmss>` (UTC), the CLI's default. */
export function defaultRunName(loss: LossKind, now: Date = new Date()): string {
  return `${loss}-${now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-')}`;
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
