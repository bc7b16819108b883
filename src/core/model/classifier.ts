import type { LabelMap } from '../data/labels';
/**
 * What the trainer needs from a model: a batched forward pass to logits and a backward pass from the
 * loss gradient with respect to those logits. Softmax, losses and weights live in the trainer.
 */
export interface TrainableClassifier<Features> {
  readonly numClasses: number;
  /**
   * Computes logits of `examples` (indices into `features`) into `logits` (`examples.length × numClasses`)
   * and keeps what `backward` needs. `training`: a training step's pass (a model may then apply its
   * training-only regularisation, such as feature dropout); absent: an evaluation pass.
   */
  forward(features: Features, examples: ArrayLike<number>, logits: Float32Array, training?: boolean): void;
  /**
   * Applies one SGD step from dLoss/dLogits of the last forward batch. When `maxGradNorm` is set and the
   * global L2 norm of the parameter gradient exceeds it, the whole gradient is scaled down to that norm.
   * Returns the norm before clipping; a model may skip computing it (and return NaN) when `reportNorm` is
   * false and there is no clipping.
   */
  backward(gradLogits: Float32Array, learningRate: number, maxGradNorm?: number | null, reportNorm?: boolean): number;
  /** Chooses the optimiser of `backward` (`sgd` when never called); models without the choice use SGD. */
  useOptimizer?(kind: 'sgd' | 'adam', options?: TrainingOptions): void;
  /** A copy of the parameters, to restore the best epoch. */
  snapshot(): ClassifierSnapshot;
  restore(snapshot: ClassifierSnapshot): void;
}

/** Optimiser and regularisation settings a model may take (see NgramClassifier.useOptimizer). */
export interface TrainingOptions {
  adamEpsilon?: number;
  weightDecay?: number;
  featureDropout?: number;
}

/** Opaque saved parameters of a classifier. */
export interface ClassifierSnapshot {
  readonly kind: string;
}

/** Numerically stable softmax of `logits[offset .. offset+n)` into `out[offset ..)`; returns log-sum-exp. */
export function softmaxInto(logits: Float32Array, offset: number, n: number, out: Float32Array): number {
  let max = -Infinity;
  for (let c = 0; c < n; c++) max = Math.max(max, logits[offset + c]!);
  let sum = 0;
  for (let c = 0; c < n; c++) {
    const e = Math.exp(logits[offset + c]! - max);
    out[offset + c] = e;
    sum += e;
  }
  for (let c = 0; c < n; c++) out[offset + c] = out[offset + c]! / sum;
  return max + Math.log(sum);
}

/** A classifier loaded from a model folder, run through onnxruntime. */
export interface LoadedClassifier {
  /** The folder it was loaded from. */
  readonly folder: string;
  /** A short description for hovers and reports, e.g. "built-in n-gram (dim 64)". */
  readonly description: string;
  readonly labelMap: LabelMap;
  /** The execution provider in use. */
  readonly provider: string;
  readonly fallbackReason: string | undefined;
  /** Softmax probabilities, `rows.length × labelMap.size`, row-major. */
  predict(rows: readonly { texts: readonly string[] }[], options?: PredictOptions): Promise<Float32Array>;
  dispose(): Promise<void>;
}

/** Options for batched inference. */
export interface PredictOptions {
  batchSize?: number;
  signal?: AbortSignal;
  /** Called after each batch with rows done so far. */
  onProgress?: (done: number, total: number) => void;
}
