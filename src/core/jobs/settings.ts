/**
 * One place that decides a job's settings, for every front end (the CLI's flags, the editor's pickers and
 * task definitions, `npm run eval`): the front end's values first, then `dimp.config.json`, then the
 * defaults. Nothing else merges these.
 */
import * as path from 'node:path';
import { RECIPES, type ProjectConfig, type RecipeChoice } from '../config';
import { DimpError } from '../errors';
import type { FeaturizerConfig } from '../model/featurizer';
import type { OptimizerKind } from '../model/ngramClassifier';
import type { DeviceChoice } from '../runtime/onnxRuntime';
import type { HeadKind } from '../model/transformer/headClassifier';
import type { PoolingChoice } from '../model/transformer/messages';
import { DEFAULT_ENCODER_HEAD_SETTINGS, type EncoderHeadSettings } from '../train/encoderHeadTraining';
import { checkFineTuneSettings, DEFAULT_FINETUNE_SETTINGS, type FineTuneSettings } from '../train/fineTuneTraining';
import { DEFAULT_PYTORCH_SETTINGS, type PytorchEngineSettings } from '../train/pytorchEngine';
import { resolveTrainingThreads } from '../train/hogwild';
import { DEFAULT_FILTER_KEEP } from '../train/run';
import { checkerSettingsFrom, DEFAULT_CLASSIFIER_SETTINGS, LARGE_SET_RECIPE, type NgramSettings } from '../train/ngramTraining';
import { DEFAULT_WEIGHT_GUARDS, type WeightGuards } from '../weighting/weights';

/** The execution provider when neither the front end nor `dimp.config.json` names one, everywhere. */
export const DEFAULT_DEVICE: DeviceChoice = 'auto';

/** The device: the front end's choice, then the config's, then DEFAULT_DEVICE. */
export function resolveDevice(config: ProjectConfig, chosen?: DeviceChoice): DeviceChoice {
  return chosen ?? config.device ?? DEFAULT_DEVICE;
}

/** Values a front end sets; each absent one comes from the config, then the default. */
export interface SettingOverrides {
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  dim?: number;
  optimizer?: OptimizerKind;
  /** null: no clipping. */
  maxGradNorm?: number | null;
  /** The classifier's n-gram dropout, 0 ≤ p < 1. */
  featureDropout?: number;
  /** The classifier's recipe: the defaults (`small-set`) or LARGE_SET_RECIPE (`large-set`). */
  recipe?: RecipeChoice;
  /** Threads that train the classifier, or `auto` (one per core). */
  threads?: number | 'auto';
  /** Threads that train the built-in checkers, or `auto` (one per core). */
  checkerThreads?: number | 'auto';
  wordNgrams?: number;
  /** null: no character n-grams. */
  charNgrams?: FeaturizerConfig['charNgrams'];
  seed?: number;
  epsilon?: number;
  maxWeight?: number | null;
  filterKeep?: number;
}

export { RECIPES, type RecipeChoice };

/** Every setting a score or train job needs besides its data and paths. */
export interface JobSettings {
  settings: NgramSettings;
  checkerSettings: NgramSettings;
  seed: number;
  guards: WeightGuards;
  /** `filter` baseline: the share of rows kept, highest q first. */
  filterKeep: number;
}

/** The first value that is not undefined: null ("none") counts as set, unlike with `??`. */
function firstDefined<T>(...values: (T | undefined)[]): T {
  return values.find((v) => v !== undefined) as T;
}

/** Resolves a job's settings: front-end values, then `config`, then defaults. */
export function resolveJobSettings(config: ProjectConfig, overrides: SettingOverrides = {}): JobSettings {
  const t = config.training ?? {};
  const d = DEFAULT_CLASSIFIER_SETTINGS;
  let optimizer = overrides.optimizer ?? t.optimizer ?? d.optimizer;
  let recipe: RecipeChoice = overrides.recipe ?? t.recipe ?? 'small-set';
  if (!RECIPES.includes(recipe)) throw new DimpError('usage', `the recipe must be one of ${RECIPES.join(', ')}, got "${String(recipe)}"`);
  // The large-set recipe is Adam's. Against plain SGD, the front end's choice wins over the config's: a recipe
  // the front end names brings Adam back, an optimizer it names drops the config's recipe.
  if (recipe === 'large-set' && optimizer !== 'adam') {
    if (overrides.recipe !== undefined && overrides.optimizer === undefined) optimizer = 'adam';
    else recipe = 'small-set';
  }
  const dropout = overrides.featureDropout ?? t.featureDropout;
  const threads = resolveTrainingThreads(overrides.threads ?? t.threads);
  // The large-set recipe's values; a dropout the user chose is kept in it.
  const large = recipe === 'large-set' ? { ...LARGE_SET_RECIPE, featureDropout: dropout ?? LARGE_SET_RECIPE.featureDropout, recipe } : {};
  return {
    settings: {
      ...d,
      featurizer: {
        ...d.featurizer,
        wordNgrams: overrides.wordNgrams ?? d.featurizer.wordNgrams,
        charNgrams: firstDefined(overrides.charNgrams, d.featurizer.charNgrams),
      },
      epochs: overrides.epochs ?? t.epochs ?? d.epochs,
      batchSize: overrides.batchSize ?? t.batchSize ?? d.batchSize,
      optimizer,
      learningRate: overrides.learningRate ?? t.learningRate ?? d.learningRate,
      dim: overrides.dim ?? t.dim ?? d.dim,
      maxGradNorm: firstDefined(overrides.maxGradNorm, t.maxGradNorm, d.maxGradNorm),
      featureDropout: dropout ?? d.featureDropout,
      ...large,
      // Recorded only when more than one: one thread is the default and gives the same bits for the same seed.
      ...(threads > 1 ? { threads } : {}),
    },
    checkerSettings: checkerSettingsFrom({ ...config.checkers, threads: overrides.checkerThreads ?? config.checkers?.threads }),
    seed: overrides.seed ?? t.seed ?? 1,
    guards: {
      epsilon: overrides.epsilon ?? t.epsilon ?? DEFAULT_WEIGHT_GUARDS.epsilon,
      maxWeight: firstDefined(overrides.maxWeight, t.maxWeight, DEFAULT_WEIGHT_GUARDS.maxWeight),
    },
    filterKeep: overrides.filterKeep ?? t.filterKeep ?? DEFAULT_FILTER_KEEP,
  };
}

/** Pooling choices and head kinds an encoder head accepts. */
export const POOLINGS: readonly PoolingChoice[] = ['auto', 'mean', 'cls', 'sentence_embedding'];
export const HEADS: readonly HeadKind[] = ['linear', 'mlp'];

/** Encoder-head values a front end sets; each absent one comes from the config's `encoder`, then the default. */
export interface EncoderHeadOverrides {
  /** The encoder folder; absent: the config's `encoder.path`. */
  encoder?: string;
  pooling?: PoolingChoice;
  head?: HeadKind;
  hiddenUnits?: number;
  maxLength?: number;
  encoderBatchSize?: number;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  /** The embedding cache folder; null: no cache. Absent: the config's, else `.dimp/embeddings` under `base`. */
  cacheDir?: string | null;
}

/**
 * Settings of a head on a frozen transformer encoder, for the classifier or the checkers alike: the front
 * end's values, then the config's `encoder` section, then defaults; undefined when no encoder is named. The
 * config's `training` values are tuned for the built-in model and are not carried over. `base` resolves
 * relative paths (the working folder, or the workspace folder).
 */
export function resolveEncoderHeadSettings(config: ProjectConfig, overrides: EncoderHeadOverrides = {}, base = process.cwd()): EncoderHeadSettings | undefined {
  const e = config.encoder;
  const folder = overrides.encoder ?? e?.path;
  if (!folder) return undefined;
  const d = DEFAULT_ENCODER_HEAD_SETTINGS;
  const pooling = overrides.pooling ?? e?.pooling ?? d.pooling;
  if (!POOLINGS.includes(pooling)) throw new DimpError('usage', `the encoder pooling must be one of ${POOLINGS.join(', ')}, got "${pooling}"`);
  const head = overrides.head ?? e?.head ?? d.head;
  if (!HEADS.includes(head)) throw new DimpError('usage', `the encoder head must be one of ${HEADS.join(', ')}, got "${head}"`);
  const cacheDir = overrides.cacheDir === null ? undefined : path.resolve(base, overrides.cacheDir ?? e?.cacheDir ?? path.join('.dimp', 'embeddings'));
  return {
    ...d,
    encoder: path.resolve(base, folder),
    pooling,
    head,
    hiddenUnits: overrides.hiddenUnits ?? e?.hiddenUnits ?? d.hiddenUnits,
    maxLength: overrides.maxLength ?? e?.maxLength,
    encoderBatchSize: overrides.encoderBatchSize ?? d.encoderBatchSize,
    epochs: overrides.epochs ?? e?.epochs ?? d.epochs,
    batchSize: overrides.batchSize ?? e?.batchSize ?? d.batchSize,
    learningRate: overrides.learningRate ?? e?.learningRate ?? d.learningRate,
    cacheDir,
  };
}

/** Where the Python interpreter of the PyTorch engine comes from when no front end names one. */
export const PYTHON_ENV_VARIABLE = 'DIMP_CURATOR_PYTHON';

/** PyTorch-engine settings a front end was given (flags, editor settings); undefined means "not given". */
export interface PytorchOverrides {
  python?: string;
  model?: string;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  maxLength?: number;
  launcher?: 'accelerate' | 'python';
  launchArgs?: string[];
}

/**
 * The PyTorch engine's settings: the front end's, then the config's `pytorch` section, then defaults; the
 * interpreter falls back to $DIMP_CURATOR_PYTHON, then `python3`. A model to fine-tune must be named.
 */
export function resolvePytorchSettings(config: ProjectConfig, overrides: PytorchOverrides = {}, env: NodeJS.ProcessEnv = process.env): PytorchEngineSettings {
  const section = config.pytorch ?? {};
  const model = overrides.model ?? section.model;
  if (!model) throw new DimpError('usage', 'the PyTorch engine needs a model to fine-tune: --model DIR (a Hugging Face folder) or "pytorch": {"model": …} in dimp.config.json');
  const launcher = overrides.launcher ?? section.launcher ?? DEFAULT_PYTORCH_SETTINGS.launcher;
  if (launcher !== 'accelerate' && launcher !== 'python') throw new DimpError('usage', `the launcher must be accelerate or python, got "${String(launcher)}"`);
  return {
    python: overrides.python ?? section.pythonPath ?? env[PYTHON_ENV_VARIABLE] ?? 'python3',
    model,
    epochs: overrides.epochs ?? section.epochs ?? DEFAULT_PYTORCH_SETTINGS.epochs,
    batchSize: overrides.batchSize ?? section.batchSize ?? DEFAULT_PYTORCH_SETTINGS.batchSize,
    learningRate: overrides.learningRate ?? section.learningRate ?? DEFAULT_PYTORCH_SETTINGS.learningRate,
    maxLength: overrides.maxLength ?? section.maxLength ?? DEFAULT_PYTORCH_SETTINGS.maxLength,
    weightDecay: section.weightDecay ?? DEFAULT_PYTORCH_SETTINGS.weightDecay,
    warmupRatio: section.warmupRatio ?? DEFAULT_PYTORCH_SETTINGS.warmupRatio,
    launcher,
    launchArgs: overrides.launchArgs ?? section.launchArgs ?? DEFAULT_PYTORCH_SETTINGS.launchArgs,
  };
}

/** Fine-tuning values a front end sets; each absent one comes from the config's `finetune` section, then the defaults. */
export type FineTuneOverrides = Partial<FineTuneSettings>;

/**
 * The settings of a fine-tuning run: the front end's values, then the config's `finetune` section, then the
 * defaults of the common BERT recipe (DEFAULT_FINETUNE_SETTINGS; the `training` section does not apply: its
 * learning rate and epochs suit the built-in model). A model folder must be named; values out of range are a
 * usage error naming the setting.
 */
export function resolveFineTuneSettings(config: ProjectConfig, overrides: FineTuneOverrides = {}): FineTuneSettings {
  const section = config.finetune ?? {};
  const model = overrides.model ?? section.model;
  if (!model) throw new DimpError('usage', 'fine-tuning needs a classifier folder: --finetune DIR, or "finetune": {"model": "DIR"} in dimp.config.json');
  const d = DEFAULT_FINETUNE_SETTINGS;
  const settings: FineTuneSettings = {
    model: path.resolve(model),
    epochs: overrides.epochs ?? section.epochs ?? d.epochs,
    batchSize: overrides.batchSize ?? section.batchSize ?? d.batchSize,
    gradientAccumulation: overrides.gradientAccumulation ?? section.gradientAccumulation ?? d.gradientAccumulation,
    learningRate: overrides.learningRate ?? section.learningRate ?? d.learningRate,
    warmupRatio: overrides.warmupRatio ?? section.warmupRatio ?? d.warmupRatio,
    weightDecay: overrides.weightDecay ?? section.weightDecay ?? d.weightDecay,
    maxGradNorm: firstDefined(overrides.maxGradNorm, section.maxGradNorm, d.maxGradNorm),
    maxLength: overrides.maxLength ?? section.maxLength ?? d.maxLength,
  };
  checkFineTuneSettings(settings);
  return settings;
}
