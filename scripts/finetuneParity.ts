/**
 * Compares DIMP Curator's training graph with torch.autograd on the same exported model and batch
 * (scripts/finetune_parity.py writes the model and torch's float64 loss and gradients). Used by the unit test
 * (a tiny random BERT) and by `node out/scripts/verify-finetune.js` (pretrained MiniLM with a new head).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { DEFAULT_ADAMW } from '../src/core/finetune/adamw';
import { FineTuner } from '../src/core/finetune/fineTuner';
import { toFloat64Model } from '../src/core/finetune/precision';
import { buildTrainingGraph, TRAINING_GRAPH, type TrainingGraph } from '../src/core/finetune/trainingGraph';
import { tensorFloats } from '../src/core/finetune/graphIr';
import { openModelSession, tensor } from '../src/core/runtime/onnxRuntime';
import { onnx } from 'onnx-proto';

/** The Python with torch, transformers and onnx: $DIMP_TORCH_PYTHON, else the repository's .cache/py. */
export function torchPython(repoRoot: string): string | undefined {
  const candidates = [process.env.DIMP_TORCH_PYTHON, path.join(repoRoot, '.cache', 'py', 'bin', 'python')].filter((p): p is string => !!p);
  return candidates.find((p) => existsSync(p));
}

/** What finetune_parity.py writes next to the model. */
export interface TorchReference {
  batch: { input_ids: number[][]; attention_mask: number[][]; token_type_ids: number[][]; labels: number[]; quality: number[]; row_weight: number[] };
  loss: number;
  cross_entropy: number;
  gold_probability: number[];
  loss_weight: number[];
  gradients: { name: string; parameter: string; transposed: boolean; dims: number[]; offset: number }[];
}

/** Runs the Python side into `dir` (model.onnx, parity.json, gradients.f64). */
export function runTorchReference(python: string, repoRoot: string, dir: string, args: string[], timeoutMs = 600_000): void {
  execFileSync(python, [path.join(repoRoot, 'scripts', 'finetune_parity.py'), dir, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: timeoutMs,
    env: { ...process.env, OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? '2' },
  });
}

/** Agreement of one run of the training graph with torch. */
export interface ParityReport {
  precision: 'float32' | 'float64';
  /** |loss − torch| / |torch|. */
  lossRelative: number;
  /** max over rows of |p(gold) − torch|. */
  goldProbabilityAbs: number;
  /** Worst over weights of ‖g − torch‖∞ / max(‖torch‖∞, 1e-3 · the largest gradient of the model), and which weight. */
  gradientRelative: number;
  worstWeight: string;
  /** Weights compared (every initializer torch has a gradient for). */
  weights: number;
  /** Weights the training graph trains that torch has no gradient for (should be none). */
  unmatched: string[];
  /** Milliseconds of one session.run (after a warm-up run). */
  stepMs: number;
}

/** Builds the training graph of `dir/model.onnx` in the given precision and compares it with torch's reference. */
export async function compareWithTorch(dir: string, precision: 'float32' | 'float64', threads?: number): Promise<ParityReport> {
  const reference = JSON.parse(readFileSync(path.join(dir, 'parity.json'), 'utf8')) as TorchReference;
  const raw = readFileSync(path.join(dir, 'gradients.f64'));
  const torchGradients = new Float64Array(raw.buffer, raw.byteOffset, raw.byteLength / 8);
  const file = path.join(dir, 'model.onnx');
  const floatBytes = new Uint8Array(readFileSync(file));
  const bytes = precision === 'float64' ? toFloat64Model(floatBytes, file) : floatBytes;
  const graph: TrainingGraph = buildTrainingGraph(bytes, file);
  const weights = initialValues(floatBytes);
  const { batch } = reference;
  const rows = batch.labels.length;
  const length = batch.input_ids[0]!.length;
  const ids = (matrix: number[][]): Ort.Tensor => tensor('int64', BigInt64Array.from(matrix.flat(), BigInt), [rows, length]);
  const floats = (values: ArrayLike<number>, dims: number[]): Ort.Tensor =>
    precision === 'float64' ? tensor('float64', Float64Array.from(values), dims) : tensor('float32', Float32Array.from(values), dims);
  const feeds: Record<string, Ort.Tensor> = {
    ...modelFeeds(graph.modelInputs, batch, ids),
    [TRAINING_GRAPH.labels]: tensor('int64', BigInt64Array.from(batch.labels, BigInt), [rows]),
    [TRAINING_GRAPH.quality]: floats(batch.quality, [rows]),
    [TRAINING_GRAPH.rowWeight]: floats(batch.row_weight, [rows]),
  };
  for (const p of graph.parameters) feeds[p.name] = floats(weights.get(p.name)!, p.dims);
  const session = await openModelSession(graph.bytes, 'cpu', threads ? { intraOpThreads: threads } : {});
  let out: Ort.InferenceSession.ReturnType;
  let stepMs: number;
  try {
    await session.run(feeds);
    const started = performance.now();
    out = await session.run(feeds);
    stepMs = performance.now() - started;
  } finally {
    await session.release();
  }
  const loss = Number(out[TRAINING_GRAPH.loss]!.data[0]);
  const pGold = out[TRAINING_GRAPH.goldProbability]!.data as Float32Array | Float64Array;
  let goldProbabilityAbs = 0;
  reference.gold_probability.forEach((p, i) => (goldProbabilityAbs = Math.max(goldProbabilityAbs, Math.abs(p - pGold[i]!))));
  const byName = new Map(reference.gradients.map((g) => [g.name, g]));
  const errors: { name: string; error: number; scale: number }[] = [];
  for (const g of reference.gradients) {
    const p = graph.parameters.find((q) => q.name === g.name);
    if (!p) throw new Error(`torch has a gradient for ${g.name}, which the training graph does not train`);
    const ours = out[p.gradient]!.data as Float32Array | Float64Array;
    const size = g.dims.reduce((a, b) => a * b, 1);
    let error = 0;
    let scale = 0;
    for (let i = 0; i < size; i++) {
      const expected = torchGradients[g.offset + i]!;
      error = Math.max(error, Math.abs(ours[i]! - expected));
      scale = Math.max(scale, Math.abs(expected));
    }
    errors.push({ name: g.name, error, scale });
  }
  // A weight whose gradient is zero in exact arithmetic (BERT's key bias: softmax ignores a shift common to
  // all keys) has only rounding noise; it is measured against the model's gradients, not its own.
  const floor = 1e-3 * Math.max(...errors.map((e) => e.scale));
  let gradientRelative = 0;
  let worstWeight = '';
  for (const { name, error, scale } of errors) {
    const relative = error / Math.max(scale, floor);
    if (relative > gradientRelative) [gradientRelative, worstWeight] = [relative, name];
  }
  return {
    precision,
    lossRelative: Math.abs(loss - reference.loss) / Math.abs(reference.loss),
    goldProbabilityAbs,
    gradientRelative,
    worstWeight,
    weights: reference.gradients.length,
    unmatched: graph.parameters.filter((p) => !byName.has(p.name)).map((p) => p.name),
    stepMs,
  };
}

/** The feeds of the inputs the exported graph takes (DistilBERT and RoBERTa exports have no token types). */
function modelFeeds(names: readonly string[], batch: TorchReference['batch'], ids: (matrix: number[][]) => Ort.Tensor): Record<string, Ort.Tensor> {
  const all: Record<string, number[][]> = { input_ids: batch.input_ids, attention_mask: batch.attention_mask, token_type_ids: batch.token_type_ids };
  return Object.fromEntries(
    names.map((name) => {
      const matrix = all[name];
      if (!matrix) throw new Error(`the exported graph takes an input ${name} the reference batch does not have`);
      return [name, ids(matrix)];
    }),
  );
}

/** The float values of a model's initializers. */
function initialValues(bytes: Uint8Array): Map<string, Float64Array> {
  const model = onnx.ModelProto.decode(bytes);
  const values = new Map<string, Float64Array>();
  for (const t of (model.graph as onnx.GraphProto).initializer as onnx.TensorProto[]) {
    const floats = tensorFloats(t);
    if (floats) values.set(t.name, floats);
  }
  return values;
}

/** What finetune_parity.py --steps writes: the Trainer-style run's settings, batches and per-step record. */
interface TorchCurve {
  settings: { lr: number; warmup: number; weight_decay: number; max_grad_norm: number; steps: number };
  batches: TorchReference['batch'][];
  steps: { loss: number; cross_entropy: number; grad_norm: number; learning_rate: number }[];
}

/** The same run by the FineTuner, step by step, against torch's loss curve. */
export interface CurveReport {
  steps: number;
  /** max over steps of |loss − torch|. */
  lossAbs: number;
  /** max over steps of |loss − torch| / |torch|. */
  lossRelative: number;
  /** max over steps of |grad norm − torch| / torch. */
  gradNormRelative: number;
  first: { ours: number; torch: number };
  last: { ours: number; torch: number };
  /** Mean milliseconds of one step (session run and AdamW update). */
  stepMs: number;
}

/** Runs the curve's steps with the FineTuner from `dir/model.onnx` and compares them with torch's. */
export async function compareTrainingCurve(dir: string, threads?: number): Promise<CurveReport> {
  const curve = JSON.parse(readFileSync(path.join(dir, 'curve.json'), 'utf8')) as TorchCurve;
  const file = path.join(dir, 'model.onnx');
  const tuner = await FineTuner.open(new Uint8Array(readFileSync(file)), file, {
    intraOpThreads: threads,
    optimizer: {
      ...DEFAULT_ADAMW,
      learningRate: curve.settings.lr,
      warmupSteps: curve.settings.warmup,
      weightDecay: curve.settings.weight_decay,
      maxGradNorm: curve.settings.max_grad_norm,
      totalSteps: curve.settings.steps,
    },
  });
  let lossAbs = 0;
  let lossRelative = 0;
  let gradNormRelative = 0;
  const losses: number[] = [];
  const started = performance.now();
  try {
    for (let step = 0; step < curve.steps.length; step++) {
      const batch = curve.batches[step % curve.batches.length]!;
      const rows = batch.labels.length;
      const length = batch.input_ids[0]!.length;
      const ids = (matrix: number[][]): Ort.Tensor => tensor('int64', BigInt64Array.from(matrix.flat(), BigInt), [rows, length]);
      const result = await tuner.step({
        modelFeeds: modelFeeds(tuner.graph.modelInputs, batch, ids),
        labels: batch.labels,
        quality: batch.quality,
        rowWeight: batch.row_weight,
      });
      const expected = curve.steps[step]!;
      losses.push(result.loss);
      lossAbs = Math.max(lossAbs, Math.abs(result.loss - expected.loss));
      lossRelative = Math.max(lossRelative, Math.abs(result.loss - expected.loss) / Math.abs(expected.loss));
      gradNormRelative = Math.max(gradNormRelative, Math.abs(result.gradNorm - expected.grad_norm) / expected.grad_norm);
    }
  } finally {
    await tuner.release();
  }
  const n = curve.steps.length;
  return {
    steps: n,
    lossAbs,
    lossRelative,
    gradNormRelative,
    first: { ours: losses[0]!, torch: curve.steps[0]!.loss },
    last: { ours: losses[n - 1]!, torch: curve.steps[n - 1]!.loss },
    stepMs: (performance.now() - started) / n,
  };
}
