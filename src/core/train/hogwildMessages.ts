/**
 * What the Hogwild team (`hogwild.ts`, the trainer's thread) and its workers (`hogwildWorker.ts`) share and
 * say. The model, the training rows and the run's counters live in shared memory, handed over once in the
 * worker's `workerData`; messages only start epochs and report their end.
 */
import type { LossKind } from '../events';
import type { SharedNgramModel } from '../model/ngramClassifier';
import type { WeightGuards } from '../weighting/weights';

/** Slots of the shared control array (Int32). */
export const HogwildControl = {
  /** The next batch of the epoch to claim (Atomics.add). */
  cursor: 0,
  /** Batches of the epoch done so far (progress). */
  done: 1,
  /** Set to 1 to stop every thread before its next batch. */
  cancel: 2,
  /** Deterministic mode: the batch whose turn it is. */
  turn: 3,
  /** Deterministic mode: the n-gram dropout stream's state, handed from batch to batch. */
  dropout: 4,
  length: 5,
} as const;

/** Doubles per thread in the shared progress array: Σ objective·n, Σ cross-entropy·n, Σ batch objective, batches (this epoch). */
export const PROGRESS_FIELDS = 4;

/** The run's settings a thread needs (the trainer's, less what the model holds). */
export interface HogwildRun {
  loss: LossKind;
  guards: WeightGuards;
  batchSize: number;
  learningRate: number;
  schedule: 'linear' | 'constant';
  stepsPerEpoch: number;
  totalSteps: number;
  count: number;
  numClasses: number;
}

export interface HogwildWorkerData {
  model: SharedNgramModel;
  /** The compiled kernels of the trainer's thread (a WebAssembly.Module), reused rather than compiled again. */
  kernels: unknown;
  /** This worker's scratch region of the shared memory (1 and up; 0 is the trainer's thread). */
  thread: number;
  /** Seeds the worker's own n-gram dropout stream (unused in deterministic mode, which hands one stream along). */
  seed: number;
  /** Batches run one at a time in order, the dropout stream handed along: the single thread's model, bit for bit. */
  deterministic: boolean;
  run: HogwildRun;
  ids: Int32Array;
  offsets: Int32Array;
  labels: Int32Array;
  quality?: Float32Array;
  diversity?: Float32Array;
  /** The epoch's row order (written by the trainer's thread before each epoch). */
  order: Int32Array;
  control: Int32Array;
  /** PROGRESS_FIELDS doubles per worker. */
  progress: Float64Array;
  /** Each row's weight at its last step. */
  lastWeights: Float32Array;
}

export const HogwildMessage = {
  ready: 'hogwild/ready',
  epoch: 'hogwild/epoch',
  epochDone: 'hogwild/epoch-done',
  failed: 'hogwild/failed',
} as const;

export type HogwildRequest = { type: typeof HogwildMessage.epoch; epoch: number };

export type HogwildReply =
  | { type: typeof HogwildMessage.ready }
  | { type: typeof HogwildMessage.epochDone; epoch: number; objective: number; crossEntropy: number }
  | { type: typeof HogwildMessage.failed; kind: string; message: string };
