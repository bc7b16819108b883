import { entryFields, entryPath, type DatasetEntry } from '../core/config';
import { DimpError } from '../core/errors';
import type { DatasetSource } from '../core/pipeline';
import { checkerSettingsFrom, DEFAULT_CLASSIFIER_SETTINGS, type NgramSettings } from '../core/train/ngramTraining';
import { DEFAULT_WEIGHT_GUARDS, type WeightGuards } from '../core/weighting/weights';
import { numberFlag, stringFlag, type CommandContext, type OptionSpec } from './command';

/** Flags that shape training of the classifier. */
export const TRAINING_OPTIONS: Record<string, OptionSpec> = {
  epochs: { type: 'string', value: 'N', description: `training epochs (default ${DEFAULT_CLASSIFIER_SETTINGS.epochs})` },
  'batch-size': { type: 'string', value: 'N', description: `minibatch size (default ${DEFAULT_CLASSIFIER_SETTINGS.batchSize})` },
  lr: { type: 'string', value: 'X', description: `initial SGD learning rate, decayed linearly to 0 (default ${DEFAULT_CLASSIFIER_SETTINGS.learningRate})` },
  dim: { type: 'string', value: 'N', description: `embedding dimension (default ${DEFAULT_CLASSIFIER_SETTINGS.dim})` },
  'word-ngrams': { type: 'string', value: 'N', description: `longest word n-gram, 1–3 (default ${DEFAULT_CLASSIFIER_SETTINGS.featurizer.wordNgrams})` },
  'char-ngrams': { type: 'string', value: 'MIN-MAX', description: 'character n-grams of each word, e.g. 3-5, or off (default off)' },
  seed: { type: 'string', value: 'N', description: 'random seed; same seed and data give the same result (default 1)' },
  epsilon: { type: 'string', value: 'X', description: `smallest weight denominator (default ${DEFAULT_WEIGHT_GUARDS.epsilon})` },
  'max-weight': { type: 'string', value: 'X', description: 'cap on every weight (default: none)' },
};

function charNgramsFlag(context: CommandContext): [number, number] | null | undefined {
  const text = stringFlag(context.values, 'char-ngrams');
  if (text === undefined) return undefined;
  if (text === 'off') return null;
  const match = /^(\d+)-(\d+)$/.exec(text);
  const range = match && ([Number(match[1]), Number(match[2])] as [number, number]);
  if (!range || range[0] < 1 || range[0] > range[1] || range[1] > 10) throw new DimpError('usage', `--char-ngrams must be MIN-MAX with 1 ≤ MIN ≤ MAX ≤ 10, or off; got "${text}"`);
  return range;
}

/** The classifier's settings from flags, then the config, then defaults. */
export function classifierSettings(context: CommandContext): NgramSettings {
  const t = context.project.config.training ?? {};
  const charNgrams = charNgramsFlag(context);
  const featurizer = {
    ...DEFAULT_CLASSIFIER_SETTINGS.featurizer,
    wordNgrams: numberFlag(context.values, 'word-ngrams', { min: 1, max: 3, integer: true }) ?? DEFAULT_CLASSIFIER_SETTINGS.featurizer.wordNgrams,
    ...(charNgrams !== undefined ? { charNgrams } : {}),
  };
  return {
    ...DEFAULT_CLASSIFIER_SETTINGS,
    featurizer,
    epochs: numberFlag(context.values, 'epochs', { min: 1, max: 1000, integer: true }) ?? t.epochs ?? DEFAULT_CLASSIFIER_SETTINGS.epochs,
    batchSize: numberFlag(context.values, 'batch-size', { min: 1, max: 65536, integer: true }) ?? t.batchSize ?? DEFAULT_CLASSIFIER_SETTINGS.batchSize,
    learningRate: numberFlag(context.values, 'lr', { min: 1e-9, max: 100 }) ?? t.learningRate ?? DEFAULT_CLASSIFIER_SETTINGS.learningRate,
    dim: numberFlag(context.values, 'dim', { min: 1, max: 4096, integer: true }) ?? t.dim ?? DEFAULT_CLASSIFIER_SETTINGS.dim,
  };
}

/** The checkers' settings: the config's `checkers` section over the checker defaults. */
export function checkerSettings(context: CommandContext): NgramSettings {
  return checkerSettingsFrom(context.project.config.checkers);
}

/** The --seed flag or the config's seed, default 1. */
export function seedFlag(context: CommandContext): number {
  return numberFlag(context.values, 'seed', { min: 0, max: 2 ** 32 - 1, integer: true }) ?? context.project.config.training?.seed ?? 1;
}

/** ε and the max weight from flags or config. */
export function guardsFlags(context: CommandContext): WeightGuards {
  const t = context.project.config.training ?? {};
  return {
    epsilon: numberFlag(context.values, 'epsilon', { min: 1e-30, max: 1 }) ?? t.epsilon ?? DEFAULT_WEIGHT_GUARDS.epsilon,
    maxWeight: numberFlag(context.values, 'max-weight', { min: 1e-9 }) ?? t.maxWeight ?? null,
  };
}

/** A dataset from its flag, else from the config's `datasets` entry. */
export function datasetSource(context: CommandContext, flag: string, role: 'synthetic' | 'real' | 'validation' | 'test', required: boolean): DatasetSource | undefined {
  const fromFlag = stringFlag(context.values, flag);
  const entry: DatasetEntry | undefined = fromFlag ?? context.project.config.datasets?.[role];
  const file = entryPath(entry);
  if (!file) {
    if (required) throw new DimpError('usage', `missing --${flag} FILE (or "datasets": {"${role}": …} in dimp.config.json)`);
    return undefined;
  }
  return { path: file, fields: fromFlag ? undefined : entryFields(entry) };
}
