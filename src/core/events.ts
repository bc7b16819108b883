/**
 * Typed progress events shared by the core, the CLI, the training worker and (later) the webview.
 * Every event is a plain JSON-serialisable object with a `type` tag.
 */

/**
 * Which loss a run uses (PRODUCT §2): `ce` plain cross-entropy; `imp` w = q/d; `dimp` w = q/p(y|x;θₜ);
 * and two baselines a reviewer asks for: `quality` (w = q) and `filter` (plain cross-entropy on the rows
 * whose q is in the top share, `filterKeep`).
 */
export type LossKind = 'ce' | 'imp' | 'dimp' | 'quality' | 'filter';

/** Every loss, in the order commands and tables list them. */
export const LOSS_KINDS: readonly LossKind[] = ['ce', 'imp', 'dimp', 'quality', 'filter'];

/** A histogram of per-example weights; `edges` has one more entry than `counts`, the last is Infinity as null. */
export interface WeightHistogram {
  edges: (number | null)[];
  counts: number[];
  mean: number;
  min: number;
  max: number;
  /** (Σw)² / Σw² ÷ rows, 0–1: the effective share of the rows (absent in runs written before it existed). */
  effectiveShare?: number;
  /** Share of the total weight held by the heaviest 1 % of rows. */
  top1PercentShare?: number;
}

/** Accuracy and macro-F1 on one evaluation set, both 0–1. */
export interface EvalScores {
  accuracy: number;
  macroF1: number;
  rows: number;
  /** Share of the rows in their most frequent gold class: the accuracy of always guessing it (absent in older runs). */
  majority?: number;
}

/** A training run started. */
export interface TrainStartEvent {
  type: 'train-start';
  loss: LossKind;
  epochs: number;
  rows: number;
  stepsPerEpoch: number;
  /** Threads that train (more than one: Hogwild, not reproducible bit for bit). */
  threads?: number;
}

/** Throttled progress inside an epoch. */
export interface TrainProgressEvent {
  type: 'train-progress';
  epoch: number;
  /** Steps done in the whole run. */
  step: number;
  totalSteps: number;
  /** Mean weighted loss over the steps since the last progress event. */
  loss: number;
  learningRate: number;
  rowsPerSecond: number;
  etaSeconds: number;
}

/** One epoch finished and was evaluated. */
export interface TrainEpochEvent {
  type: 'train-epoch';
  epoch: number;
  /** Mean weighted loss (the objective) over the epoch. */
  trainLoss: number;
  /** Mean plain cross-entropy over the epoch. */
  trainCrossEntropy: number;
  validation: EvalScores | undefined;
  /** Test scores after this epoch, for the report only (selection uses validation). */
  test: EvalScores | undefined;
  weights: WeightHistogram;
  seconds: number;
  rowsPerSecond: number;
}

/** Training ended; the best epoch's parameters are in the model. */
export interface TrainDoneEvent {
  type: 'train-done';
  bestEpoch: number;
  validation: EvalScores | undefined;
  seconds: number;
}

/** Stages of scoring synthetic data; `embed` is a frozen transformer encoder computing embeddings. */
export type ScoreStage = 'read' | 'quality-checker' | 'diversity-checker' | 'score' | 'write' | 'embed';

/** Scoring progress. */
export interface ScoreProgressEvent {
  type: 'score-progress';
  stage: ScoreStage;
  done: number;
  total: number;
  message: string;
}

/** A message for the log, e.g. a provider fallback or skipped lines. */
export interface LogEvent {
  type: 'log';
  level: 'info' | 'warning' | 'error';
  message: string;
}

/** Every event the core emits. */
export type CoreEvent = TrainStartEvent | TrainProgressEvent | TrainEpochEvent | TrainDoneEvent | ScoreProgressEvent | LogEvent;

/** Where the core sends its events. */
export type EventSink = (event: CoreEvent) => void;
