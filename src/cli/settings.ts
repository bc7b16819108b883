import { entryFields, entryPath, type DatasetEntry } from '../core/config';
import type { FieldOverrides } from '../core/data/fields';
import { DimpError } from '../core/errors';
import type { DatasetSource } from '../core/pipeline';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { HeadKind } from '../core/model/transformer/headClassifier';
import { DEFAULT_ENCODER_HEAD_SETTINGS, type EncoderHeadSettings } from '../core/train/encoderHeadTraining';
import { DEFAULT_CLASSIFIER_SETTINGS, LARGE_SET_RECIPE, type NgramSettings } from '../core/train/ngramTraining';
import { HEADS, POOLINGS, PYTHON_ENV_VARIABLE, resolveEncoderHeadSettings, resolveFineTuneSettings, resolveJobSettings, resolvePytorchSettings, RECIPES, type JobSettings, type RecipeChoice, type SettingOverrides } from '../core/jobs/settings';
import { DEFAULT_FINETUNE_SETTINGS, type FineTuneSettings } from '../core/train/fineTuneTraining';
import type { PytorchEngineSettings } from '../core/train/pytorchEngine';
import type { PoolingChoice } from '../core/model/transformer/messages';
import { DEFAULT_WEIGHT_GUARDS, type WeightGuards } from '../core/weighting/weights';
import { numberFlag, stringFlag, type CommandContext, type OptionSpec } from './command';

/** Flags that shape training of the classifier. */
export const TRAINING_OPTIONS: Record<string, OptionSpec> = {
  epochs: { type: 'string', value: 'N', description: `training epochs (default ${DEFAULT_CLASSIFIER_SETTINGS.epochs})` },
  'batch-size': { type: 'string', value: 'N', description: `minibatch size (default ${DEFAULT_CLASSIFIER_SETTINGS.batchSize})` },
  optimizer: { type: 'string', value: 'OPT', description: `adam (lazy on embedding rows) | sgd (default ${DEFAULT_CLASSIFIER_SETTINGS.optimizer})` },
  lr: { type: 'string', value: 'X', description: `learning rate (default ${DEFAULT_CLASSIFIER_SETTINGS.learningRate})` },
  dim: { type: 'string', value: 'N', description: `embedding dimension (default ${DEFAULT_CLASSIFIER_SETTINGS.dim})` },
  'word-ngrams': { type: 'string', value: 'N', description: `longest word n-gram, 1–3 (default ${DEFAULT_CLASSIFIER_SETTINGS.featurizer.wordNgrams})` },
  'char-ngrams': { type: 'string', value: 'MIN-MAX', description: 'character n-grams of each word, e.g. 3-5, or off (default off)' },
  seed: { type: 'string', value: 'N', description: 'random seed; same seed and data give the same result (default 1)' },
  epsilon: { type: 'string', value: 'X', description: `smallest weight denominator (default ${DEFAULT_WEIGHT_GUARDS.epsilon})` },
  'max-weight': { type: 'string', value: 'X', description: 'cap on every weight (default: none)' },
  'max-grad-norm': { type: 'string', value: 'X', description: `clip each step's gradient L2 norm at X, or none (default ${DEFAULT_CLASSIFIER_SETTINGS.maxGradNorm ?? 'none'})` },
  'feature-dropout': { type: 'string', value: 'P', description: `share of each row's n-grams left out in every training step, 0 to below 1 (default ${DEFAULT_CLASSIFIER_SETTINGS.featureDropout ?? 0}; ${LARGE_SET_RECIPE.featureDropout} in the large-set recipe)` },
  'train-threads': { type: 'string', value: 'N', description: "threads that train the built-in classifier, or auto (one per core); more than one trains Hogwild-style, lock-free as fastText's -thread: faster, and no longer the same bits for the same seed (default: training.threads in dimp.config.json, else 1)" },
  recipe: { type: 'string', value: 'R', description: `the built-in classifier's recipe: small-set (default: noisy synthetic sets of any size) | large-set (a large clean set: Adam's ε ${LARGE_SET_RECIPE.adamEpsilon}, the learning rate decayed linearly to 0, n-gram dropout ${LARGE_SET_RECIPE.featureDropout} unless --feature-dropout is given)` },
};

function recipeFlag(context: CommandContext): RecipeChoice | undefined {
  const text = stringFlag(context.values, 'recipe');
  if (text === undefined) return undefined;
  if (!(RECIPES as readonly string[]).includes(text)) throw new DimpError('usage', `--recipe must be one of ${RECIPES.join(', ')}; got "${text}"`);
  if (text === 'large-set' && stringFlag(context.values, 'optimizer') === 'sgd') throw new DimpError('usage', '--recipe large-set is an Adam recipe: it cannot go with --optimizer sgd');
  return text as RecipeChoice;
}

/** Flags that shape training of the built-in checkers (score, and train when it scores first). */
export const CHECKER_OPTIONS: Record<string, OptionSpec> = {
  'checker-threads': { type: 'string', value: 'N', description: "threads that train the built-in checkers, or auto (one per core); more than one trains them Hogwild-style (as --train-threads): faster, and the scores no longer the same bits for the same seed (default: checkers.threads in dimp.config.json, else 1)" },
};

/** A thread count flag: a whole number from 1, or auto. */
function threadsFlag(context: CommandContext, name: string): number | 'auto' | undefined {
  return stringFlag(context.values, name) === 'auto' ? 'auto' : numberFlag(context.values, name, { min: 1, max: 1024, integer: true });
}

function charNgramsFlag(context: CommandContext): [number, number] | null | undefined {
  const text = stringFlag(context.values, 'char-ngrams');
  if (text === undefined) return undefined;
  if (text === 'off') return null;
  const match = /^(\d+)-(\d+)$/.exec(text);
  const range = match && ([Number(match[1]), Number(match[2])] as [number, number]);
  if (!range || range[0] < 1 || range[0] > range[1] || range[1] > 10) throw new DimpError('usage', `--char-ngrams must be MIN-MAX with 1 ≤ MIN ≤ MAX ≤ 10, or off; got "${text}"`);
  return range;
}

/** The values of the training flags that were given; resolveJobSettings fills in the rest. */
export function settingOverrides(context: CommandContext): SettingOverrides {
  const values = context.values;
  return {
    epochs: numberFlag(values, 'epochs', { min: 1, max: 1000, integer: true }),
    batchSize: numberFlag(values, 'batch-size', { min: 1, max: 65536, integer: true }),
    learningRate: numberFlag(values, 'lr', { min: 1e-9, max: 100 }),
    dim: numberFlag(values, 'dim', { min: 1, max: 4096, integer: true }),
    optimizer: optimizerFlag(context),
    maxGradNorm: maxGradNormFlag(context),
    featureDropout: numberFlag(values, 'feature-dropout', { min: 0, max: 0.99 }),
    recipe: recipeFlag(context),
    threads: threadsFlag(context, 'train-threads'),
    checkerThreads: threadsFlag(context, 'checker-threads'),
    wordNgrams: numberFlag(values, 'word-ngrams', { min: 1, max: 3, integer: true }),
    charNgrams: charNgramsFlag(context),
    seed: numberFlag(values, 'seed', { min: 0, max: 2 ** 32 - 1, integer: true }),
    epsilon: numberFlag(values, 'epsilon', { min: 1e-30, max: 1 }),
    maxWeight: numberFlag(values, 'max-weight', { min: 1e-9 }),
    filterKeep: numberFlag(values, 'keep', { min: 1e-6, max: 1 }),
  };
}

/** Every job setting: the flags, then the config, then defaults (the one resolver every front end uses). */
export function jobSettings(context: CommandContext): JobSettings {
  return resolveJobSettings(context.project.config, settingOverrides(context));
}

/** The classifier's settings from flags, then the config, then defaults. */
export function classifierSettings(context: CommandContext): NgramSettings {
  return jobSettings(context).settings;
}

function optimizerFlag(context: CommandContext): 'adam' | 'sgd' | undefined {
  const text = stringFlag(context.values, 'optimizer');
  if (text === undefined || text === 'adam' || text === 'sgd') return text;
  throw new DimpError('usage', `--optimizer must be adam or sgd, got "${text}"`);
}

function maxGradNormFlag(context: CommandContext): number | null | undefined {
  if (stringFlag(context.values, 'max-grad-norm') === 'none') return null;
  return numberFlag(context.values, 'max-grad-norm', { min: 1e-9 });
}

/** The checkers' settings: the config's `checkers` section over the checker defaults. */
export function checkerSettings(context: CommandContext): NgramSettings {
  return jobSettings(context).checkerSettings;
}

/** The --seed flag or the config's seed, default 1. */
export function seedFlag(context: CommandContext): number {
  return jobSettings(context).seed;
}

/** ε and the max weight from flags or config. */
export function guardsFlags(context: CommandContext): WeightGuards {
  return jobSettings(context).guards;
}

/** The --text-field and --label-field flags, when given ("a,b" names the two texts of a pair). */
export function fieldFlags(context: CommandContext): FieldOverrides | undefined {
  const text = stringFlag(context.values, 'text-field');
  const label = stringFlag(context.values, 'label-field');
  if (text === undefined && label === undefined) return undefined;
  const overrides: FieldOverrides = {};
  if (text !== undefined) {
    const names = text.split(',').map((s) => s.trim());
    if (names.length > 2 || names.some((n) => n === '')) throw new DimpError('usage', `--text-field must be one field name, or two comma-separated for a pair; got "${text}"`);
    overrides.text = names.length === 1 ? names[0]! : [names[0]!, names[1]!];
  }
  if (label !== undefined) {
    if (label.trim() === '') throw new DimpError('usage', '--label-field must be a field name');
    overrides.label = label.trim();
  }
  return overrides;
}

/** The row limit in bytes: --max-row-bytes, else the config's `maxRowBytes`, else undefined (1 MiB). */
export function maxRowBytesFlag(context: CommandContext): number | undefined {
  return numberFlag(context.values, 'max-row-bytes', { min: 1, max: 2 ** 31 - 1, integer: true }) ?? context.project.config.maxRowBytes;
}

/**
 * A dataset from its flag, else from the config's `datasets` entry; --text-field/--label-field override
 * the entry's field mapping (for every file the command reads).
 */
export function datasetSource(context: CommandContext, flag: string, role: 'synthetic' | 'real' | 'validation' | 'test', required: boolean): DatasetSource | undefined {
  const fromFlag = stringFlag(context.values, flag);
  const entry: DatasetEntry | undefined = fromFlag ?? context.project.config.datasets?.[role];
  const file = entryPath(entry);
  if (!file) {
    if (required) throw new DimpError('usage', `missing --${flag} FILE (or "datasets": {"${role}": …} in dimp.config.json)`);
    return undefined;
  }
  const configured = fromFlag ? undefined : entryFields(entry);
  const flags = fieldFlags(context);
  const fields = configured || flags ? { ...configured, ...flags } : undefined;
  const maxRowBytes = maxRowBytesFlag(context);
  return { path: file, fields, ...(maxRowBytes !== undefined ? { maxRowBytes } : {}) };
}

/** Flags of a frozen transformer encoder with a trained head. */
export const ENCODER_OPTIONS: Record<string, OptionSpec> = {
  encoder: { type: 'string', value: 'DIR', description: 'train a head on this frozen transformer encoder (Hugging Face folder with an ONNX graph) instead of the built-in model' },
  pooling: { type: 'string', value: 'POOLING', description: `encoder pooling: ${POOLINGS.join(' | ')} (default auto: sentence_embedding when the graph has it, else mean)` },
  head: { type: 'string', value: 'HEAD', description: `head on the embeddings: ${HEADS.join(' | ')} (default ${DEFAULT_ENCODER_HEAD_SETTINGS.head})` },
  'head-hidden': { type: 'string', value: 'N', description: `hidden units of the mlp head (default ${DEFAULT_ENCODER_HEAD_SETTINGS.hiddenUnits})` },
  'max-length': { type: 'string', value: 'N', description: "tokens per row, special tokens included (default: the model's limit)" },
  'encoder-batch': { type: 'string', value: 'N', description: `rows per encoder run (default ${DEFAULT_ENCODER_HEAD_SETTINGS.encoderBatchSize})` },
  cache: { type: 'string', value: 'DIR', description: 'embedding cache folder (default .dimp/embeddings)' },
  'no-cache': { type: 'boolean', description: 'compute embeddings without reading or writing the cache' },
};

/** The embedding cache folder: --cache, else the config's, else `.dimp/embeddings`; undefined with --no-cache. */
export function embeddingCacheFlag(context: CommandContext): string | undefined {
  if (context.values['no-cache'] === true) return undefined;
  return path.resolve(stringFlag(context.values, 'cache') ?? context.project.config.encoder?.cacheDir ?? path.join('.dimp', 'embeddings'));
}

/**
 * Encoder + head settings from flags, then the config's `encoder` section, then defaults
 * (`resolveEncoderHeadSettings`); undefined when no encoder is named. Epochs, batch size and learning rate
 * come from their flags only for the classifier (`trainingFlags`): those flags are the classifier's.
 */
export function encoderHeadSettings(context: CommandContext, options: { trainingFlags: boolean } = { trainingFlags: true }): EncoderHeadSettings | undefined {
  const values = context.values;
  const training = options.trainingFlags;
  return resolveEncoderHeadSettings(context.project.config, {
    encoder: stringFlag(values, 'encoder'),
    pooling: stringFlag(values, 'pooling') as PoolingChoice | undefined,
    head: stringFlag(values, 'head') as HeadKind | undefined,
    hiddenUnits: numberFlag(values, 'head-hidden', { min: 1, max: 65536, integer: true }),
    maxLength: numberFlag(values, 'max-length', { min: 4, max: 1 << 20, integer: true }),
    encoderBatchSize: numberFlag(values, 'encoder-batch', { min: 1, max: 65536, integer: true }),
    epochs: training ? numberFlag(values, 'epochs', { min: 1, max: 1000, integer: true }) : undefined,
    batchSize: training ? numberFlag(values, 'batch-size', { min: 1, max: 65536, integer: true }) : undefined,
    learningRate: training ? numberFlag(values, 'lr', { min: 1e-9, max: 100 }) : undefined,
    cacheDir: embeddingCacheFlag(context) ?? null,
  });
}

/** Flags of the PyTorch engine (Hugging Face Trainer under accelerate). */
export const PYTORCH_OPTIONS: Record<string, OptionSpec> = {
  engine: { type: 'string', value: 'ENGINE', description: 'builtin (default: the built-in trainer) | pytorch (Hugging Face Trainer launched by accelerate)' },
  python: { type: 'string', value: 'PATH', description: `pytorch: Python with torch, transformers, accelerate, datasets (default: config "pytorch.pythonPath", else $${PYTHON_ENV_VARIABLE}, else python3)` },
  model: { type: 'string', value: 'DIR', description: 'pytorch: Hugging Face model folder or hub name to fine-tune (default: config "pytorch.model")' },
  launcher: { type: 'string', value: 'L', description: 'pytorch: accelerate (default: accelerate launch) | python (one process)' },
  'launch-args': { type: 'string', value: 'ARGS', description: 'pytorch: extra arguments of accelerate launch, space-separated and given with "=": --launch-args="--num_processes 2 --cpu"' },
};

/** The PyTorch engine's settings: flags, then the config's `pytorch` section, then defaults. */
export function pytorchSettings(context: CommandContext): PytorchEngineSettings {
  const values = context.values;
  const launcher = stringFlag(values, 'launcher');
  if (launcher !== undefined && launcher !== 'accelerate' && launcher !== 'python') throw new DimpError('usage', `--launcher must be accelerate or python, got "${launcher}"`);
  const launchArgs = stringFlag(values, 'launch-args');
  const python = stringFlag(values, 'python');
  return resolvePytorchSettings(context.project.config, {
    python: python && /[\\/]/.test(python) ? path.resolve(python) : python,
    model: stringFlag(values, 'model'),
    epochs: numberFlag(values, 'epochs', { min: 1, max: 1000, integer: true }),
    batchSize: numberFlag(values, 'batch-size', { min: 1, max: 65536, integer: true }),
    learningRate: numberFlag(values, 'lr', { min: 1e-9, max: 100 }),
    maxLength: numberFlag(values, 'max-length', { min: 4, max: 1 << 20, integer: true }),
    launcher,
    launchArgs: launchArgs === undefined ? undefined : launchArgs.split(/\s+/).filter(Boolean),
  });
}

/** The `python/` folder holding the dimp_curator package, next to the CLI's bundle (dist/) or its compiled source (out/src/cli). */
export function pythonPackageDir(): string {
  const candidates = [path.join(__dirname, '..', 'python'), path.join(__dirname, '..', '..', '..', 'python')];
  return candidates.find((dir) => existsSync(path.join(dir, 'dimp_curator', 'train.py'))) ?? candidates[0]!;
}

/** Flags of fine-tuning a transformer classifier (--epochs, --batch-size, --lr, --max-length and --max-grad-norm apply too). */
export const FINETUNE_OPTIONS: Record<string, OptionSpec> = {
  finetune: { type: 'string', value: 'DIR', description: 'fine-tune this transformer classifier (Hugging Face folder: config.json, tokenizer.json, an ONNX *ForSequenceClassification graph; an encoder gets a new linear head) instead of the built-in model' },
  warmup: { type: 'string', value: 'X', description: `fine-tuning: share of the optimiser steps of linear learning-rate warm-up, 0–1 (default ${DEFAULT_FINETUNE_SETTINGS.warmupRatio})` },
  'weight-decay': { type: 'string', value: 'X', description: `fine-tuning: AdamW weight decay (default ${DEFAULT_FINETUNE_SETTINGS.weightDecay})` },
  'grad-accum': { type: 'string', value: 'N', description: `fine-tuning: batches accumulated into one optimiser step (default ${DEFAULT_FINETUNE_SETTINGS.gradientAccumulation})` },
};

/**
 * Fine-tuning settings from flags, then the config's `finetune` section, then defaults (`resolveFineTuneSettings`);
 * undefined without --finetune.
 * --epochs, --batch-size, --lr, --max-length and --max-grad-norm are shared with the other trainers; their
 * fine-tuning defaults are those of DEFAULT_FINETUNE_SETTINGS.
 */
export function fineTuneSettings(context: CommandContext): FineTuneSettings | undefined {
  const values = context.values;
  const model = stringFlag(values, 'finetune');
  if (model === undefined) return undefined;
  return resolveFineTuneSettings(context.project.config, {
    model,
    epochs: numberFlag(values, 'epochs', { min: 1, max: 1000, integer: true }),
    batchSize: numberFlag(values, 'batch-size', { min: 1, max: 65536, integer: true }),
    gradientAccumulation: numberFlag(values, 'grad-accum', { min: 1, max: 65536, integer: true }),
    learningRate: numberFlag(values, 'lr', { min: 1e-12, max: 100 }),
    warmupRatio: numberFlag(values, 'warmup', { min: 0, max: 1 }),
    weightDecay: numberFlag(values, 'weight-decay', { min: 0, max: 100 }),
    maxGradNorm: maxGradNormFlag(context),
    maxLength: numberFlag(values, 'max-length', { min: 4, max: 1 << 20, integer: true }),
  });
}
