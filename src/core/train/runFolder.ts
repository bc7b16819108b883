/**
 * The run folder, typed: its file names, what each file holds, and how to write and read them. The writer
 * (runTraining), the run history, the DIMP-weight lookup and the panel's replay all go through here.
 *
 *   <run>/model/           the trained model folder (ONNX + config.json with id2label)
 *   <run>/config.json      RunConfigFile: loss, seed, settings, data, checker provenance (the scores header)
 *   <run>/metrics.json     RunMetrics: best epoch, validation and test scores, every epoch, weight diagnostics
 *   <run>/weights.jsonl    RunWeightLine per training row: its weight at its last step
 *   <run>/train-log.jsonl  every core event of the run, with its time in ms since the start
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { CoreEvent, EvalScores, LossKind } from '../events';
import type { FieldMapping } from '../data/fields';
import type { DeviceChoice } from '../runtime/onnxRuntime';
import type { ScoresHeader } from '../weighting/score';
import type { WeightDiagnostics, WeightGuards } from '../weighting/weights';
import type { EncoderHeadSettings, EncoderSummary } from './encoderHeadTraining';
import type { FineTuneSettings, FineTuneSummary } from './fineTuneTraining';
import type { NgramSettings } from './ngramTraining';
import type { EpochRecord } from './trainer';

/** The paths of a run folder's parts. */
export interface RunPaths {
  runDir: string;
  model: string;
  config: string;
  metrics: string;
  weights: string;
  log: string;
}

export function runPaths(runDir: string): RunPaths {
  return {
    runDir,
    model: path.join(runDir, 'model'),
    config: path.join(runDir, 'config.json'),
    metrics: path.join(runDir, 'metrics.json'),
    weights: path.join(runDir, 'weights.jsonl'),
    log: path.join(runDir, 'train-log.jsonl'),
  };
}

/** One data file of a run, as `config.json` records it. */
export interface RunDataFile {
  file: string;
  fields: FieldMapping;
  rows: number;
  problems?: number;
}

/** What `config.json` holds: everything needed to know how the run was made. */
export interface RunConfigFile {
  kind: 'dimp-run';
  version: 1;
  loss: LossKind;
  seed: number;
  guards: WeightGuards;
  filterKeep?: number;
  settings: NgramSettings | EncoderHeadSettings | FineTuneSettings | PytorchRunSettings;
  /**
   * `pytorch`: fine-tuned on the Hugging Face Trainer (python/dimp_curator), `model/` holds its files and `model.onnx`;
   * `finetune`: a transformer classifier fine-tuned on onnxruntime-node, `model/` is its inference folder.
   */
  model: 'ngram' | 'encoder-head' | 'finetune' | 'pytorch';
  device: DeviceChoice;
  labels: string[];
  data: {
    synthetic: RunDataFile;
    validation?: RunDataFile;
    test?: RunDataFile;
    /** The header of the scores the run trained with (checkers, their settings and selection): provenance as data. */
    scores?: ScoresHeader;
  };
  createdAt: string;
}

/** The settings a PyTorch run records (written by python/dimp_curator/train.py). */
export interface PytorchRunSettings {
  engine: 'pytorch';
  model: string;
  epochs: number;
  batchSize: number;
  learningRate: number;
  maxLength: number;
  /** Processes accelerate ran (GPUs, or CPU processes). */
  processes: number;
  versions: Record<string, string>;
  [key: string]: unknown;
}

/** What `metrics.json` holds. */
export interface RunMetrics {
  loss: LossKind;
  bestEpoch: number;
  validation: EvalScores | undefined;
  /** Test scores of the exported model, run through onnxruntime. */
  test: EvalScores | undefined;
  epochs: EpochRecord[];
  trainingRows: number;
  /** Synthetic rows left out because the scores file has no entry for them (stale scores). */
  unscoredRows: number;
  rowsPerSecond: number;
  seconds: number;
  provider: string;
  /** Diagnostics of each row's weight at its last step (IMP: fixed; DIMP: the last epoch's); absent for ce and filter. */
  weightDiagnostics?: WeightDiagnostics;
  /** The frozen encoder of an encoder + head run: provider, pooling, cache use. */
  encoder?: EncoderSummary;
  /** A fine-tuned transformer: provider, parameters trained, optimiser steps, the memory estimate. */
  finetune?: FineTuneSummary;
  /** A PyTorch run: versions, processes and the ONNX exporter used. */
  engine?: { name: 'pytorch'; torch: string; transformers: string; processes: number; onnxExporter: string | null };
}

/** One line of `weights.jsonl`. */
export interface RunWeightLine {
  rowId: string;
  line: number;
  label: string;
  weight: number;
  quality?: number;
  diversity?: number;
}

const json = (value: unknown): string => JSON.stringify(value, null, 2) + '\n';

export async function writeRunConfig(runDir: string, config: RunConfigFile): Promise<void> {
  await fs.writeFile(runPaths(runDir).config, json(config));
}

export async function writeRunMetrics(runDir: string, metrics: RunMetrics): Promise<void> {
  await fs.writeFile(runPaths(runDir).metrics, json(metrics));
}

export async function writeRunWeights(runDir: string, lines: readonly RunWeightLine[]): Promise<void> {
  await fs.writeFile(runPaths(runDir).weights, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** A run's `config.json`; undefined when the folder is not a run (missing, unreadable or foreign). */
export async function readRunConfig(runDir: string): Promise<RunConfigFile | undefined> {
  const config = await readJson<Partial<RunConfigFile>>(runPaths(runDir).config);
  if (config?.kind !== 'dimp-run' || !config.loss || !config.data?.synthetic?.file) return undefined;
  return config as RunConfigFile;
}

/** A run's `metrics.json`; undefined when missing or unreadable (the run is not whole). */
export async function readRunMetrics(runDir: string): Promise<RunMetrics | undefined> {
  return readJson<RunMetrics>(runPaths(runDir).metrics);
}

/** Row id → weight from a run's `weights.jsonl`; undefined when missing. A damaged line costs its row only. */
export async function readRunWeights(runDir: string): Promise<Map<string, number> | undefined> {
  let text: string;
  try {
    text = await fs.readFile(runPaths(runDir).weights, 'utf8');
  } catch {
    return undefined;
  }
  const weights = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const { rowId, weight } = JSON.parse(line) as Partial<RunWeightLine>;
      if (typeof rowId === 'string' && typeof weight === 'number') weights.set(rowId, weight);
    } catch {
      // a damaged line leaves that row without a weight
    }
  }
  return weights;
}

/** The events of a run's `train-log.jsonl`; undefined when missing. A damaged line is skipped. */
export async function readRunLog(runDir: string): Promise<CoreEvent[] | undefined> {
  let text: string;
  try {
    text = await fs.readFile(runPaths(runDir).log, 'utf8');
  } catch {
    return undefined;
  }
  const events: CoreEvent[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      events.push(JSON.parse(line) as CoreEvent);
    } catch {
      // a damaged log line costs one point, not the whole run
    }
  }
  return events;
}
