/**
 * Checks a training graph's gradients against central finite differences of its own loss output, run in
 * onnxruntime (float64 graphs). The DIMP weight is a constant for the gradient, so the differences are taken
 * with each row's weight frozen at its value at the base point (q = 0, row_weight = the loss weight).
 */
import assert from 'node:assert/strict';
import type * as Ort from 'onnxruntime-node';
import { TRAINING_GRAPH, type TrainingGraph } from '../../src/core/finetune/trainingGraph';
import { openModelSession, tensor, type ModelSession } from '../../src/core/runtime/onnxRuntime';

/** The worst disagreement for one parameter. */
export interface ParameterCheck {
  name: string;
  /** Elements compared. */
  checked: number;
  /** max |analytic − finite difference| over the checked elements. */
  maxAbsError: number;
  /** maxAbsError ÷ max |finite difference| (norm-wise relative error). */
  relativeError: number;
  /** Largest |finite difference| seen. */
  scale: number;
}

/** What a check needs: the graph, the model's own feeds, the batch and the starting parameter values. */
export interface GradientCheckInput {
  graph: TrainingGraph;
  /** Feeds of the model's own inputs (token ids, masks…). */
  modelFeeds: Record<string, Ort.Tensor>;
  labels: readonly number[];
  quality: readonly number[];
  rowWeight: readonly number[];
  /** Values of every trainable parameter (float64). */
  parameters: ReadonlyMap<string, Float64Array>;
  /** Finite-difference step. */
  step: number;
  /** Which elements of a parameter to compare (default: all). */
  elements?: (name: string, gradient: Float64Array) => number[];
}

/** The outcome of a check, with the session's base outputs. */
export interface GradientCheckResult {
  parameters: ParameterCheck[];
  loss: number;
  goldProbability: Float64Array;
  lossWeight: Float64Array;
  gradients: Map<string, Float64Array>;
  /** |loss with frozen weights − loss with in-graph weights| at the base point. */
  frozenLossDifference: number;
}

const asFloat64 = (data: Ort.Tensor['data']): Float64Array => Float64Array.from(data as Float64Array);

/** Runs the check; every parameter's elements are perturbed one at a time. */
export async function checkGradients(input: GradientCheckInput): Promise<GradientCheckResult> {
  const { graph } = input;
  assert.equal(graph.floatType, 11, 'gradient checks run float64 graphs');
  const session: ModelSession = await openModelSession(graph.bytes, 'cpu', { intraOpThreads: 1 });
  try {
    const batch = input.labels.length;
    const values = new Map([...input.parameters].map(([name, v]) => [name, Float64Array.from(v)]));
    const feeds = (quality: readonly number[], rowWeight: readonly number[]): Record<string, Ort.Tensor> => {
      const f: Record<string, Ort.Tensor> = {
        ...input.modelFeeds,
        [TRAINING_GRAPH.labels]: tensor('int64', BigInt64Array.from(input.labels, BigInt), [batch]),
        [TRAINING_GRAPH.quality]: tensor('float64', Float64Array.from(quality), [batch]),
        [TRAINING_GRAPH.rowWeight]: tensor('float64', Float64Array.from(rowWeight), [batch]),
      };
      for (const p of graph.parameters) f[p.name] = tensor('float64', values.get(p.name)!, p.dims);
      return f;
    };
    const base = await session.run(feeds(input.quality, input.rowWeight));
    const loss = Number(base[TRAINING_GRAPH.loss]!.data[0]);
    const lossWeight = asFloat64(base[TRAINING_GRAPH.lossWeight]!.data);
    const gradients = new Map(graph.parameters.map((p) => [p.name, asFloat64(base[p.gradient]!.data)]));
    const zeros = new Array<number>(batch).fill(0);
    const frozenFeeds = (): Record<string, Ort.Tensor> => feeds(zeros, Array.from(lossWeight));
    const frozenLoss = Number((await session.run(frozenFeeds()))[TRAINING_GRAPH.loss]!.data[0]);

    const checks: ParameterCheck[] = [];
    for (const p of graph.parameters) {
      const value = values.get(p.name)!;
      const gradient = gradients.get(p.name)!;
      const indices = input.elements ? input.elements(p.name, gradient) : Array.from(value, (_, i) => i);
      let maxAbsError = 0;
      let scale = 0;
      for (const i of indices) {
        const original = value[i]!;
        value[i] = original + input.step;
        const plus = Number((await session.run(frozenFeeds()))[TRAINING_GRAPH.loss]!.data[0]);
        value[i] = original - input.step;
        const minus = Number((await session.run(frozenFeeds()))[TRAINING_GRAPH.loss]!.data[0]);
        value[i] = original;
        const difference = (plus - minus) / (2 * input.step);
        maxAbsError = Math.max(maxAbsError, Math.abs(difference - gradient[i]!));
        scale = Math.max(scale, Math.abs(difference));
      }
      checks.push({ name: p.name, checked: indices.length, maxAbsError, relativeError: maxAbsError / Math.max(scale, 1e-12), scale });
    }
    return {
      parameters: checks,
      loss,
      goldProbability: asFloat64(base[TRAINING_GRAPH.goldProbability]!.data),
      lossWeight,
      gradients,
      frozenLossDifference: Math.abs(frozenLoss - loss),
    };
  } finally {
    await session.release();
  }
}
