import type { LossKind } from '../events';
import type { Row } from '../data/dataset';
import { DEFAULT_FEATURIZER, Featurizer, type FeatureMatrix, type FeaturizerConfig } from '../model/featurizer';
import { NgramClassifier, type NgramInit, type NgramParameters, type OptimizerKind } from '../model/ngramClassifier';
import { deriveSeed } from '../random';
import { DEFAULT_WEIGHT_GUARDS, type WeightGuards } from '../weighting/weights';
import { resolveTrainingThreads } from './hogwild';
import { trainClassifier, type EvaluationSet, type TrainerContext, type TrainResult } from './trainer';

/** Shape and optimisation settings of one built-in model. */
export interface NgramSettings {
  featurizer: FeaturizerConfig;
  /** Embedding dimension. */
  dim: number;
  epochs: number;
  batchSize: number;
  /** `adam`: Adam, lazy on the embedding rows a batch touches; `sgd`: plain SGD (fastText's). Absent: sgd. */
  optimizer?: OptimizerKind;
  /**
   * Adam's ε, the floor of its per-coordinate denominator; absent: 1e-8. A larger ε damps the full-size
   * steps lazy Adam gives rare n-grams' rows (see EVALUATION.md).
   */
  adamEpsilon?: number;
  /**
   * Decoupled weight decay λ (AdamW's): each step shrinks the output weights and every embedding row by
   * lr·λ, rows a batch does not touch included (brought up to date lazily). Absent: 0.
   */
  weightDecay?: number;
  /**
   * Feature (n-gram) dropout: in each training step every feature occurrence of a row is left out with this
   * probability (at least one is kept), as the word dropout of deep averaging networks. Absent: 0.
   */
  featureDropout?: number;
  /** How the parameters start (see NgramInit); absent: `zero-embeddings`. */
  init?: NgramInit;
  learningRate: number;
  schedule: 'linear' | 'constant';
  /**
   * Clip each step's global gradient L2 norm at this value; null for none. Plain SGD needs it under
   * large IMP weights (q/ε); Adam's steps are bounded by the learning rate whatever the gradient's scale.
   */
  maxGradNorm: number | null;
  /**
   * When set, small training sets get more passes: ⌈budget / rows⌉ epochs, between `epochs` and
   * `maxEpochs`. The checkers use it: 400 real rows get 40 passes, 10,000 synthetic rows 10.
   */
  rowUpdateBudget?: number | null;
  maxEpochs?: number;
  /** `large-set` when the settings are the large-set recipe (LARGE_SET_RECIPE); absent: the defaults' recipe. */
  recipe?: 'large-set';
  /**
   * Threads that train (absent: 1). More than one trains Hogwild-style, lock-free as fastText's `-thread`
   * (Adam recipes without weight decay or clipping; others train on one thread and say so): faster on several
   * cores, and no longer the same bits for the same seed.
   */
  threads?: number;
  /** DIMP's p(y|x;θ) from a pass with every n-gram rather than the training pass's (experiment; absent: the training pass's). */
  dimpFullPass?: boolean;
  /**
   * Checkers only: the quality checker is this many models, differing only in their seed, each keeping its
   * best epoch, with their logits averaged into one exported model (see averageLogits). Absent: 1.
   */
  qualityEnsemble?: number;
}

/** The epochs a training set of `rows` gets under `settings` (see `rowUpdateBudget`). */
export function epochsFor(settings: NgramSettings, rows: number): number {
  if (!settings.rowUpdateBudget) return settings.epochs;
  const wanted = Math.ceil(settings.rowUpdateBudget / Math.max(1, rows));
  return Math.max(settings.epochs, Math.min(settings.maxEpochs ?? settings.epochs, wanted));
}

/**
 * The large-set recipe (`--recipe large-set`): what changes from the defaults for a large, clean training set.
 * Lazy Adam with a small ε gives the row of a rare n-gram a full-size step whatever its gradient, and the
 * n-gram dropout fights the over-fit that follows: on noisy synthetic sets that trains best, while on a large
 * clean set it over-fits (all 67,349 of SST-2's real training rows: 77–80 % on its test sentences, against 82 %
 * for plain SGD). With ε 0.01 Adam steps a rare row in proportion to its gradient, as SGD does, and the learning
 * rate decays linearly to 0 so that the last epoch is a settled one. Not chosen by size: on 26,000 synthetic
 * rows (the three SST-2 sources together) it costs CE 4.7 ± 0.5 and DIMP 5.3 ± 2.0 points (3 paired seeds; EVALUATION.md).
 */
export const LARGE_SET_RECIPE = { adamEpsilon: 0.01, schedule: 'linear', featureDropout: 0 } as const satisfies Partial<NgramSettings>;

/**
 * Defaults for the classifier, chosen once for every source (EVALUATION.md): Adam at 0.01 with batches
 * of 32, 10 epochs and the best epoch on the real validation rows, half of each row's n-grams dropped in
 * every training step. Plain SGD had no setting that was both stable under large weights and well trained
 * on small, noisy sets; the n-gram dropout curbs lazy Adam's over-fit of rare n-grams (all of SST-2's
 * training rows: 77.6 → 79.2 %) and lifts fewgen_s42's CE by 1.4 points. A large clean set trains better
 * with LARGE_SET_RECIPE.
 */
export const DEFAULT_CLASSIFIER_SETTINGS: NgramSettings = {
  featurizer: DEFAULT_FEATURIZER,
  dim: 64,
  epochs: 10,
  batchSize: 32,
  optimizer: 'adam',
  learningRate: 0.01,
  schedule: 'constant',
  maxGradNorm: null,
  featureDropout: 0.5,
};

/**
 * Defaults for the checkers: the classifier's recipe, with more passes over small sets (a budget of
 * 16,000 row updates, up to 40 epochs: 400 real rows get 40) and no n-gram dropout (it did not help them:
 * the `checker-dropout` ablation). Both checkers keep their best epoch on real
 * rows the classifier never trains on (see `scoreSynthetic`).
 */
export const DEFAULT_CHECKER_SETTINGS: NgramSettings = { ...DEFAULT_CLASSIFIER_SETTINGS, featureDropout: 0, rowUpdateBudget: 16_000, maxEpochs: 40 };

/** The checkers' settings: a project's `checkers` section (dimp.config.json) over the checker defaults. */
export function checkerSettingsFrom(
  overrides: Partial<Pick<NgramSettings, 'epochs' | 'batchSize' | 'learningRate' | 'dim' | 'optimizer'>> & { threads?: number | 'auto' } = {},
): NgramSettings {
  const threads = resolveTrainingThreads(overrides.threads);
  return {
    ...DEFAULT_CHECKER_SETTINGS,
    epochs: overrides.epochs ?? DEFAULT_CHECKER_SETTINGS.epochs,
    // Epochs the user chose are kept whatever the set's size.
    rowUpdateBudget: overrides.epochs === undefined ? DEFAULT_CHECKER_SETTINGS.rowUpdateBudget : null,
    batchSize: overrides.batchSize ?? DEFAULT_CHECKER_SETTINGS.batchSize,
    optimizer: overrides.optimizer ?? DEFAULT_CHECKER_SETTINGS.optimizer,
    learningRate: overrides.learningRate ?? DEFAULT_CHECKER_SETTINGS.learningRate,
    dim: overrides.dim ?? DEFAULT_CHECKER_SETTINGS.dim,
    // Recorded only when more than one (see NgramSettings.threads).
    ...(threads > 1 ? { threads } : {}),
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
  /** Start from these parameters (same shape) instead of the seeded initialisation: a warm start. */
  initialParameters?: NgramParameters;
  /** Threads that train (absent: 1; more: Hogwild, see TrainerOptions.threads). */
  threads?: number;
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
  const model = new NgramClassifier({ buckets: settings.featurizer.buckets, dim: settings.dim, numClasses: request.numClasses }, deriveSeed(request.seed, 'init'), settings.init);
  if (request.initialParameters) model.restore(NgramClassifier.fromParameters(request.initialParameters).snapshot());
  const train = { ...toEvaluationSet(featurizer, request.rows), quality: request.quality, diversity: request.diversity };
  model.reserveRowsFor(train.features.ids);
  // The training matrix is built for the trainer alone: the model maps its ids to rows in place rather than
  // keeping a second array of one int32 per feature occurrence.
  model.takeTrainingIds(train.features);
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
      optimizer: settings.optimizer ?? 'sgd',
      adamEpsilon: settings.adamEpsilon,
      weightDecay: settings.weightDecay,
      featureDropout: settings.featureDropout,
      learningRate: settings.learningRate,
      schedule: settings.schedule,
      maxGradNorm: settings.maxGradNorm,
      seed: request.seed,
      guards: request.guards ?? DEFAULT_WEIGHT_GUARDS,
      threads: request.threads ?? settings.threads,
      dimpFullPass: settings.dimpFullPass,
    },
    context,
  ).finally(() => model.releaseTrainingIds());
  return { model, featurizer, result };
}
