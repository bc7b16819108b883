/**
 * Fine-tunes a float32 ONNX classifier step by step: one onnxruntime session runs the training graph
 * (forward, weighted loss, backward) and AdamW updates the weights held here, which are fed back as inputs
 * on the next step. The trained weights can be written back into the user's graph as an inference model.
 */
import { onnx } from 'onnx-proto';
import type * as Ort from 'onnxruntime-node';
import { DimpError } from '../errors';
import { openModelSession, tensor, type DeviceChoice, type ModelSession } from '../runtime/onnxRuntime';
import { AdamW, type AdamWSettings, type AdamWStep } from './adamw';
import { tensorFloats } from './graphIr';
import { buildTrainingGraph, TRAINING_GRAPH, type TrainingGraph, type TrainingGraphOptions } from './trainingGraph';

const DataType = onnx.TensorProto.DataType;

/** One batch: the model's own feeds (token ids, masks…) and, per row, gold label, DIMP q and fixed weight. */
export interface FineTuneBatch {
  modelFeeds: Record<string, Ort.Tensor>;
  labels: ArrayLike<number>;
  /** q for DIMP rows (weight q / max(p(gold), ε)), 0 otherwise. */
  quality: ArrayLike<number>;
  /** Fixed weight: 1 for CE, the IMP weight, 0 for DIMP. */
  rowWeight: ArrayLike<number>;
}

/** What one forward and backward pass gave. */
export interface BatchResult {
  loss: number;
  crossEntropy: number;
  /** p(gold) per row, 0–1, from this pass (the DIMP denominator). */
  goldProbability: Float32Array;
  /** The weight each row's loss got. */
  lossWeight: Float32Array;
}

/** A batch's result and the optimiser step taken on it. */
export type StepResult = BatchResult & AdamWStep;

/** How to open a fine-tuner. */
export interface FineTunerOptions {
  device?: DeviceChoice;
  intraOpThreads?: number;
  graph?: TrainingGraphOptions;
  optimizer: AdamWSettings;
}

/** A classifier being fine-tuned. */
export class FineTuner {
  private constructor(
    private readonly modelBytes: Uint8Array,
    readonly graph: TrainingGraph,
    private readonly session: ModelSession,
    private readonly weights: Map<string, Float32Array>,
    readonly optimizer: AdamW,
    private readonly logitsOutput: string,
    private readonly intraOpThreads: number | undefined,
  ) {}

  /** The inference graph with the trained weights as inputs (opened on first use by `logits`). */
  private inference: ModelSession | undefined;

  /** Builds the training graph of a float32 ONNX classifier and opens its session. */
  static async open(modelBytes: Uint8Array, file: string, options: FineTunerOptions): Promise<FineTuner> {
    const graph = buildTrainingGraph(modelBytes, file, options.graph);
    if (graph.floatType !== DataType.FLOAT) throw new DimpError('badModel', 'fine-tuning runs float32 models; this graph computes its logits in another type', { file });
    const initializers = new Map(((onnx.ModelProto.decode(modelBytes).graph as onnx.GraphProto).initializer as onnx.TensorProto[]).map((t) => [t.name, t]));
    const weights = new Map<string, Float32Array>();
    for (const p of graph.parameters) {
      if (p.dataType !== DataType.FLOAT) throw new DimpError('badModel', `weight ${p.name} is not float32`, { file });
      weights.set(p.name, Float32Array.from(tensorFloats(initializers.get(p.name)!)!));
    }
    const session = await openModelSession(graph.bytes, options.device ?? 'cpu', { intraOpThreads: options.intraOpThreads });
    const optimizer = new AdamW(
      graph.parameters.map((p) => ({ name: p.name, dims: p.dims, values: weights.get(p.name)! })),
      options.optimizer,
    );
    const outputs = ((onnx.ModelProto.decode(modelBytes).graph as onnx.GraphProto).output as onnx.ValueInfoProto[]).map((o) => o.name);
    const logitsOutput = options.graph?.logitsOutput ?? (outputs.length === 1 ? outputs[0]! : 'logits');
    return new FineTuner(modelBytes, graph, session, weights, optimizer, logitsOutput, options.intraOpThreads);
  }

  /** The execution provider the session runs on, and why another was not used. */
  get provider(): { provider: string; fallbackReason: string | undefined } {
    return { provider: this.session.provider, fallbackReason: this.session.fallbackReason };
  }

  /** The current value of a trained weight (live: changes with every step). */
  weight(name: string): Float32Array | undefined {
    return this.weights.get(name);
  }

  /** Forward and backward pass on a batch: the loss and each weight's gradient (in the graph's parameter order). */
  async backward(batch: FineTuneBatch): Promise<BatchResult & { gradients: Float32Array[] }> {
    const rows = batch.labels.length;
    if (rows === 0) throw new Error('an empty batch has no loss');
    if (batch.quality.length !== rows || batch.rowWeight.length !== rows) throw new Error(`batch of ${rows} labels has ${batch.quality.length} q values and ${batch.rowWeight.length} row weights`);
    const feeds: Record<string, Ort.Tensor> = {
      ...batch.modelFeeds,
      [TRAINING_GRAPH.labels]: tensor('int64', BigInt64Array.from(Array.from(batch.labels), BigInt), [rows]),
      [TRAINING_GRAPH.quality]: tensor('float32', Float32Array.from(batch.quality), [rows]),
      [TRAINING_GRAPH.rowWeight]: tensor('float32', Float32Array.from(batch.rowWeight), [rows]),
    };
    for (const p of this.graph.parameters) feeds[p.name] = tensor('float32', this.weights.get(p.name)!, p.dims);
    const out = await this.session.run(feeds);
    const floats = (name: string): Float32Array => out[name]!.data as Float32Array;
    return {
      loss: floats(TRAINING_GRAPH.loss)[0]!,
      crossEntropy: floats(TRAINING_GRAPH.crossEntropy)[0]!,
      goldProbability: floats(TRAINING_GRAPH.goldProbability),
      lossWeight: floats(TRAINING_GRAPH.lossWeight),
      gradients: this.graph.parameters.map((p) => floats(p.gradient)),
    };
  }

  /** One optimiser step on a batch. */
  async step(batch: FineTuneBatch): Promise<StepResult> {
    const { gradients, ...result } = await this.backward(batch);
    return { ...result, ...this.optimizer.update(gradients) };
  }

  /**
   * One optimiser step on a batch given as micro-batches (gradient accumulation, for batches that do not fit in
   * memory at once). Each micro-batch's mean loss and gradient count in proportion to its rows, so the step is
   * the one the whole batch would give: loss = Σₖ (nₖ/N)·lossₖ, gradient likewise.
   */
  async stepAccumulated(microBatches: readonly FineTuneBatch[]): Promise<StepResult> {
    if (microBatches.length === 0) throw new Error('no micro-batches to step on');
    const total = microBatches.reduce((n, b) => n + b.labels.length, 0);
    const sums = this.graph.parameters.map((p) => new Float32Array(this.weights.get(p.name)!.length));
    let loss = 0;
    let crossEntropy = 0;
    const goldProbability = new Float32Array(total);
    const lossWeight = new Float32Array(total);
    let offset = 0;
    for (const batch of microBatches) {
      const result = await this.backward(batch);
      const share = batch.labels.length / total;
      loss += share * result.loss;
      crossEntropy += share * result.crossEntropy;
      result.gradients.forEach((g, k) => {
        const sum = sums[k]!;
        for (let i = 0; i < g.length; i++) sum[i]! += share * g[i]!;
      });
      goldProbability.set(result.goldProbability, offset);
      lossWeight.set(result.lossWeight, offset);
      offset += batch.labels.length;
    }
    return { loss, crossEntropy, goldProbability, lossWeight, ...this.optimizer.update(sums) };
  }

  /** The user's model with the trained weights in place of the original ones: an ordinary inference graph. */
  exportModel(): Uint8Array {
    const model = onnx.ModelProto.decode(this.modelBytes);
    for (const t of (model.graph as onnx.GraphProto).initializer as onnx.TensorProto[]) {
      const values = this.weights.get(t.name);
      if (!values) continue;
      t.rawData = new Uint8Array(Float32Array.from(values).buffer);
      t.floatData = [];
    }
    return onnx.ModelProto.encode(model).finish();
  }

  /**
   * The logits `[rows, classes]` of the model with the current weights (no loss, no gradient): for evaluating
   * between steps. Runs the user's own graph with the trained initializers turned into inputs, so the
   * weights are fed, not copied into a new session after every epoch.
   */
  async logits(modelFeeds: Record<string, Ort.Tensor>): Promise<Float32Array> {
    if (!this.inference) {
      const names = new Set(this.graph.parameters.map((p) => p.name));
      // The provider the training session got: a device that failed there is not tried (and reported) again.
      this.inference = await openModelSession(weightsAsInputs(this.modelBytes, names), this.session.provider as DeviceChoice, { intraOpThreads: this.intraOpThreads });
    }
    const feeds: Record<string, Ort.Tensor> = { ...modelFeeds };
    for (const p of this.graph.parameters) feeds[p.name] = tensor('float32', this.weights.get(p.name)!, p.dims);
    const out = await this.inference.run(feeds);
    return out[this.logitsOutput]!.data as Float32Array;
  }

  /** Frees the sessions. */
  async release(): Promise<void> {
    await this.inference?.release();
    this.inference = undefined;
    await this.session.release();
  }
}

/** The model with the named initializers removed and declared as graph inputs of the same type and shape. */
export function weightsAsInputs(modelBytes: Uint8Array, names: ReadonlySet<string>): Uint8Array {
  const model = onnx.ModelProto.decode(modelBytes);
  const graph = model.graph as onnx.GraphProto;
  const moved = (graph.initializer as onnx.TensorProto[]).filter((t) => names.has(t.name));
  graph.initializer = (graph.initializer as onnx.TensorProto[]).filter((t) => !names.has(t.name));
  const declared = new Set((graph.input as onnx.ValueInfoProto[]).map((v) => v.name));
  for (const t of moved) {
    if (declared.has(t.name)) continue;
    graph.input.push(
      onnx.ValueInfoProto.create({
        name: t.name,
        type: { tensorType: { elemType: t.dataType, shape: { dim: (t.dims as (number | { toNumber(): number })[]).map((d) => ({ dimValue: typeof d === 'number' ? d : d.toNumber() })) } } },
      }),
    );
  }
  return onnx.ModelProto.encode(model).finish();
}
