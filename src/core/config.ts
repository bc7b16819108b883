import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { LossKind } from './events';
import type { FieldOverrides } from './data/fields';
import { DimpError } from './errors';
import { pathExists } from './io/atomic';
import type { DeviceChoice } from './runtime/onnxRuntime';

/** A dataset entry of `dimp.config.json`: a path, or a path with its field mapping. */
export type DatasetEntry = string | { path: string; fields?: FieldOverrides };

/**
 * The built-in classifier's recipes: `small-set`, the defaults (noisy synthetic sets of any size); `large-set`,
 * LARGE_SET_RECIPE (a large clean set). Adam's, both.
 */
export const RECIPES = ['small-set', 'large-set'] as const;
export type RecipeChoice = (typeof RECIPES)[number];

/** Training settings a project can fix in `dimp.config.json`; the CLI's flags override them. */
export interface TrainingConfig {
  loss?: LossKind;
  /** `filter` baseline: share of the rows kept, highest q first. */
  filterKeep?: number;
  epochs?: number;
  batchSize?: number;
  /** `adam` (the default; lazy on embedding rows) or `sgd`. */
  optimizer?: 'adam' | 'sgd';
  learningRate?: number;
  dim?: number;
  seed?: number;
  /** Smallest weight denominator, default 1e-6. */
  epsilon?: number;
  /** Largest weight; null or absent for none. */
  maxWeight?: number | null;
  /** Clip each step's gradient L2 norm at this value; null or absent for none (the default). */
  maxGradNorm?: number | null;
  /** The classifier's n-gram dropout: the share of each row's n-grams left out in every training step, 0 ≤ p < 1 (default 0.5). */
  featureDropout?: number;
  /** The classifier's recipe (RECIPES); default `small-set`. */
  recipe?: RecipeChoice;
  /** Threads that train the built-in classifier: a count, or "auto" (one per core); default 1 (the same bits for the same seed). */
  threads?: number | 'auto';
}

/** A frozen transformer encoder to train heads on (`--encoder`); paths are relative to the config file. */
export interface EncoderConfig {
  path: string;
  pooling?: 'auto' | 'mean' | 'cls' | 'sentence_embedding';
  head?: 'linear' | 'mlp';
  hiddenUnits?: number;
  maxLength?: number;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  /** Embedding cache folder, default `.dimp/embeddings`. */
  cacheDir?: string;
}

/** The PyTorch engine (Hugging Face Trainer under accelerate); `--engine pytorch` and the editor's engine choice use it. */
export interface PytorchConfig {
  /** The Python interpreter with torch, transformers and accelerate (a path is relative to this file's folder). */
  pythonPath?: string;
  /** Hugging Face model folder (relative to this file's folder) or hub name to fine-tune. */
  model?: string;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  maxLength?: number;
  weightDecay?: number;
  warmupRatio?: number;
  /** `accelerate` (default): `accelerate launch`; `python`: one process. */
  launcher?: 'accelerate' | 'python';
  /** Extra arguments of `accelerate launch`, e.g. ["--config_file", "accelerate.yaml"]. */
  launchArgs?: string[];
}

/** Fine-tuning a transformer classifier on onnxruntime-node (`train --finetune`, the editor's "fine-tune a transformer"). */
export interface FineTuneConfig {
  /** The classifier folder to fine-tune (relative to this file's folder): config.json, tokenizer.json, an ONNX graph with logits. */
  model?: string;
  epochs?: number;
  batchSize?: number;
  gradientAccumulation?: number;
  learningRate?: number;
  warmupRatio?: number;
  weightDecay?: number;
  /** null: no clipping. */
  maxGradNorm?: number | null;
  maxLength?: number;
}

/**
 * `dimp.config.json` at the workspace root: datasets, models and training for a project, read by the
 * extension and the CLI alike. Relative paths are relative to the file's folder.
 */
export interface ProjectConfig {
  /** Label names in class-index order; makes 0, "0" and "negative" line up. */
  labels?: string[];
  datasets?: { synthetic?: DatasetEntry; real?: DatasetEntry; validation?: DatasetEntry; test?: DatasetEntry };
  models?: { quality?: string; diversity?: string };
  training?: TrainingConfig;
  checkers?: Pick<TrainingConfig, 'epochs' | 'batchSize' | 'learningRate' | 'dim' | 'optimizer' | 'threads'>;
  /** Train heads on a frozen transformer encoder instead of the built-in model. */
  encoder?: EncoderConfig;
  /** Train on PyTorch (Hugging Face Trainer + accelerate) when the engine chosen is `pytorch`. */
  pytorch?: PytorchConfig;
  /** Fine-tune a transformer classifier (every weight) on onnxruntime-node. */
  finetune?: FineTuneConfig;
  device?: DeviceChoice;
  /** Folder for run folders, default `runs`. */
  output?: string;
  /** Longest line (row) read, in bytes, default 1 MiB; longer lines are reported and skipped. */
  maxRowBytes?: number;
  /** Worker threads of the built-in checkers' scoring pass (`score --threads`); absent: one per 40,000 rows, at most one per core. */
  scoringThreads?: number;
}

/** The config file's name. */
export const PROJECT_CONFIG_FILE = 'dimp.config.json';

/** A config with every path made absolute. */
export interface LoadedConfig {
  file: string | undefined;
  config: ProjectConfig;
}

const DATASET_KEYS = ['synthetic', 'real', 'validation', 'test'] as const;

function resolveEntry(entry: DatasetEntry | undefined, base: string, file: string, key: string): DatasetEntry | undefined {
  if (entry === undefined) return undefined;
  if (typeof entry === 'string') return path.resolve(base, entry);
  if (entry && typeof entry === 'object' && typeof entry.path === 'string') return { ...entry, path: path.resolve(base, entry.path) };
  throw new DimpError('usage', `datasets.${key} must be a path or {"path": …, "fields": …}`, { file });
}

/** Reads `dimp.config.json` (a given path, or the one in `dir` when present); absent → empty config. */
export async function loadProjectConfig(explicit: string | undefined, dir: string): Promise<LoadedConfig> {
  const file = explicit ? path.resolve(explicit) : path.join(dir, PROJECT_CONFIG_FILE);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    if (explicit) throw new DimpError('usage', 'config file not found', { file });
    return { file: undefined, config: {} };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new DimpError('usage', `not valid JSON: ${(error as Error).message}`, { file });
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new DimpError('usage', 'must be a JSON object', { file });
  const config = raw as ProjectConfig;
  const base = path.dirname(file);
  if (config.labels !== undefined && (!Array.isArray(config.labels) || !config.labels.every((l) => typeof l === 'string'))) {
    throw new DimpError('usage', '"labels" must be a list of label names', { file });
  }
  if (config.maxRowBytes !== undefined && !(Number.isInteger(config.maxRowBytes) && config.maxRowBytes >= 1 && config.maxRowBytes < 2 ** 31)) {
    throw new DimpError('usage', '"maxRowBytes" must be a whole number of bytes (≥ 1)', { file });
  }
  if (config.scoringThreads !== undefined && !(Number.isInteger(config.scoringThreads) && config.scoringThreads >= 0 && config.scoringThreads <= 1024)) {
    throw new DimpError('usage', '"scoringThreads" must be a whole number from 0 (one per 40,000 rows) to 1024', { file });
  }
  const datasets: NonNullable<ProjectConfig['datasets']> = {};
  for (const key of DATASET_KEYS) {
    const entry = resolveEntry(config.datasets?.[key], base, file, key);
    if (entry !== undefined) datasets[key] = entry;
  }
  const models = config.models && {
    quality: config.models.quality && path.resolve(base, config.models.quality),
    diversity: config.models.diversity && path.resolve(base, config.models.diversity),
  };
  const dropout = config.training?.featureDropout;
  if (dropout !== undefined && !(typeof dropout === 'number' && dropout >= 0 && dropout < 1)) {
    throw new DimpError('usage', `"training.featureDropout" must be a number from 0 to below 1, got ${JSON.stringify(dropout)}`, { file });
  }
  for (const [key, threads] of [['training', config.training?.threads], ['checkers', config.checkers?.threads]] as const) {
    if (threads !== undefined && threads !== 'auto' && !(Number.isInteger(threads) && threads >= 1 && threads <= 1024)) {
      throw new DimpError('usage', `"${key}.threads" must be a whole number from 1 to 1024, or "auto" (one per core), got ${JSON.stringify(threads)}`, { file });
    }
  }
  const recipe = config.training?.recipe;
  if (recipe !== undefined && !(RECIPES as readonly unknown[]).includes(recipe)) {
    throw new DimpError('usage', `"training.recipe" must be one of ${RECIPES.map((r) => `"${r}"`).join(', ')}, got ${JSON.stringify(recipe)}`, { file });
  }
  if (recipe === 'large-set' && config.training?.optimizer === 'sgd') {
    throw new DimpError('usage', '"training.recipe": "large-set" is an Adam recipe; it cannot go with "training.optimizer": "sgd"', { file });
  }
  if (config.encoder !== undefined && (typeof config.encoder !== 'object' || typeof config.encoder.path !== 'string')) {
    throw new DimpError('usage', '"encoder" must be {"path": "encoder folder", …}', { file });
  }
  const encoder = config.encoder && {
    ...config.encoder,
    path: path.resolve(base, config.encoder.path),
    ...(config.encoder.cacheDir ? { cacheDir: path.resolve(base, config.encoder.cacheDir) } : {}),
  };
  if (config.pytorch !== undefined && (typeof config.pytorch !== 'object' || Array.isArray(config.pytorch))) {
    throw new DimpError('usage', '"pytorch" must be an object ({"pythonPath": …, "model": …})', { file });
  }
  if (config.finetune !== undefined && (typeof config.finetune !== 'object' || config.finetune === null || Array.isArray(config.finetune) || (config.finetune.model !== undefined && typeof config.finetune.model !== 'string'))) {
    throw new DimpError('usage', '"finetune" must be an object ({"model": "classifier folder", "epochs": …})', { file });
  }
  const finetune = config.finetune && { ...config.finetune, ...(config.finetune.model ? { model: path.resolve(base, config.finetune.model) } : {}) };
  // A path (it names a folder) is relative to this file; a bare command (python3) or hub name stays as it is.
  const relative = (value: string | undefined): string | undefined => (value && /[\\/]/.test(value) && !value.includes('://') ? path.resolve(base, value) : value);
  const pytorch = config.pytorch && {
    ...config.pytorch,
    ...(config.pytorch.pythonPath ? { pythonPath: relative(config.pytorch.pythonPath) } : {}),
    ...(config.pytorch.model ? { model: (await pathExists(path.resolve(base, config.pytorch.model))) ? path.resolve(base, config.pytorch.model) : config.pytorch.model } : {}),
  };
  return {
    file,
    config: {
      ...config,
      datasets,
      ...(pytorch ? { pytorch } : {}),
      ...(finetune ? { finetune } : {}),
      ...(models ? { models: models as ProjectConfig['models'] } : {}),
      ...(encoder ? { encoder } : {}),
      output: config.output && path.resolve(base, config.output),
    },
  };
}

/** The path of a dataset entry. */
export function entryPath(entry: DatasetEntry | undefined): string | undefined {
  return typeof entry === 'string' ? entry : entry?.path;
}

/** A dataset entry as a source to read (path and field mapping), or undefined. */
export function datasetSourceOf(entry: DatasetEntry | undefined): { path: string; fields?: FieldOverrides } | undefined {
  const file = entryPath(entry);
  return file ? { path: file, fields: entryFields(entry) } : undefined;
}

/** The field overrides of a dataset entry. */
export function entryFields(entry: DatasetEntry | undefined): FieldOverrides | undefined {
  return typeof entry === 'object' ? entry.fields : undefined;
}

/**
 * The `dimp.config.json` that applies to a file in `startDir`: the nearest one from that folder up to the
 * workspace folder (so a sample folder inside a repository has its own), else none.
 */
export async function findProjectConfig(startDir: string, workspaceFolder: string | undefined): Promise<string | undefined> {
  const stop = path.resolve(workspaceFolder ?? startDir);
  let dir = path.resolve(startDir);
  for (;;) {
    const candidate = path.join(dir, PROJECT_CONFIG_FILE);
    if (await pathExists(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (dir === stop || parent === dir || !dir.startsWith(stop)) return undefined;
    dir = parent;
  }
}
