import type { LossKind } from '../../protocol/events';
import type { Row } from '../data/dataset';
import { DEFAULT_FEATURIZER, Featurizer, type FeatureMatrix, type FeaturizerConfig } from '../model/featurizer';
import { NgramClassifier } from '../model/ngramClassifier';
import { deriveSeed } from '../random';
import { DEFAULT_WEIGHT_GUARDS, type WeightGuards } from '../weighting/weights';
import { trainClassifier, type EvaluationSet, type TrainerContext, type TrainResult } from './trainer';

/** Shape and optimisation settings of one built-in model. */
export interface NgramSettings {
  featurizer: FeaturizerConfig;
  /** Embedding dimension. */
  dim: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  schedule: 'linear' | 'constant';
  /**
   * Clip each step's global gradient L2 norm at this value; null for none. Without it one row whose
   * denominator is near ε (IMP weight up to q/ε) throws plain SGD off; 1.0 is the Hugging Face Trainer's
   * default, under which the paper's BERT models were trained.
   */
  maxGradNorm: number | null;
  /**
   * When set, large training sets get fewer epochs: ⌈budget / rows⌉, between 3 and `epochs`. Checkers
   * use it so that scoring a million rows does not make 25 passes; null trains `epochs` passes always.
   */
  rowUpdateBudget?: number | null;
}

/** The epochs a training set of `rows` gets under `settings` (see `rowUpdateBudget`). */
export function epochsFor(settings: NgramSettings, rows: number): number {
  if (!settings.rowUpdateBudget) return settings.epochs;
  return Math.max(Math.min(3, settings.epochs), Math.min(settings.epochs, Math.ceil(settings.rowUpdateBudget / Math.max(1, rows))));
}

/** Defaults for the classifier trained on synthetic data. */
export const DEFAULT_CLASSIFIER_SETTINGS: NgramSettings = {
  featurizer: DEFAULT_FEATURIZER,
  dim: 64,
  epochs: 10,
  batchSize: 8,
  learningRate: 0.5,
  schedule: 'linear',
  maxGradNorm: 1,
};

/**
 * Defaults for the checkers: the quality checker sees only a few hundred real rows, so it takes smaller
 * batches and more passes (with a batch of 8 and 20 epochs its probabilities stay near chance).
 */
export const DEFAULT_CHECKER_SETTINGS: NgramSettings = { ...DEFAULT_CLASSIFIER_SETTINGS, epochs: 25, batchSize: 4, learningRate: 2, rowUpdateBudget: 300_000 };

/** The checkers' settings: a project's `checkers` section (dimp.config.json) over the checker defaults. */
export function checkerSettingsFrom(overrides: Partial<Pick<NgramSettings, 'epochs' | 'batchSize' | 'learningRate' | 'dim'>> = {}): NgramSettings {
  return {
    ...DEFAULT_CHECKER_SETTINGS,
    epochs: overrides.epochs ?? DEFAULT_CHECKER_SETTINGS.epochs,
    // Epochs the user chose are kept whatever the set's size.
    rowUpdateBudget: overrides.epochs === undefined ? DEFAULT_CHECKER_SETTINGS.rowUpdateBudget : null,
    batchSize: overrides.batchSize ?? DEFAULT_CHECKER_SETTINGS.batchSize,
    learningRate: overrides.learningRate ?? DEFAULT_CHECKER_SETTINGS.learningRate,
    dim: overrides.dim ?? DEFAULT_CHECKER_SETTINGS.dim,
  };
}

/** Rows, loss and per-row checker probabilities: what training any classifier needs. */
export interface WeightedTrainingRequest {
  rows: readonly Row[];
  numClasses: number;
  loss: LossKind;
  seed: number;
  guards?: WeightGuards;
  /** q per row, aligned with `rows` (imp, dimp). */
  quality?: Float32Array;
  /** d per row, aligned with `rows` (imp). */
  diversity?: Float32Array;
  validation?: readonly Row[];
  /** Evaluated after every epoch for the report; never used for selection. */
  test?: readonly Row[];
}

/** What training the built-in model needs. */
export interface NgramTrainingRequest extends WeightedTrainingRequest {
  settings: NgramSettings;
}

/** A trained built-in model and how its training went. */
export interface TrainedNgram {
  model: NgramClassifier;
  featurizer: Featurizer;
  result: TrainResult;
}

/** Featurizes labelled rows for the trainer. */
export function toEvaluationSet(featurizer: Featurizer, rows: readonly Row[]): EvaluationSet<FeatureMatrix> {
  return { features: featurizer.featurizeAll(rows), labels: Int32Array.from(rows, (r) => r.label), count: rows.length };
}

/** Trains the built-in n-gram classifier on rows with one of the three losses. */
export async function trainNgram(request: NgramTrainingRequest, context: TrainerContext = {}): Promise<TrainedNgram> {
  const { settings } = request;
  const featurizer = new Featurizer(settings.featurizer);
  const model = new NgramClassifier({ buckets: settings.featurizer.buckets, dim: settings.dim, numClasses: request.numClasses }, deriveSeed(request.seed, 'init'));
  const train = { ...toEvaluationSet(featurizer, request.rows), quality: request.quality, diversity: request.diversity };
  const validation = request.validation && request.validation.length > 0 ? toEvaluationSet(featurizer, request.validation) : undefined;
  const test = request.test && request.test.length > 0 ? toEvaluationSet(featurizer, request.test) : undefined;
  const result = await trainClassifier(
    model,
    train,
    { validation, test },
    {
      loss: request.loss,
      epochs: epochsFor(settings, request.rows.length),
      batchSize: settings.batchSize,
      learningRate: settings.learningRate,
      schedule: settings.schedule,
      maxGradNorm: settings.maxGradNorm,
      seed: request.seed,
      guards: request.guards ?? DEFAULT_WEIGHT_GUARDS,
    },
    context,
  );
  return { model, featurizer, result };
}
