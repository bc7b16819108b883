/**
 * Kind 3 of PRODUCT §4, second half: the trainable head on a frozen encoder's pooled embeddings, trained in
 * TypeScript by the core trainer with ce, imp or dimp, and exported to ONNX.
 *
 *   x = (e − μ) ⊙ s                    standardisation fitted on the training embeddings (fixed, not trained)
 *   linear: z = x·W + b
 *   mlp:    h = relu(x·W₁ + b₁),  z = h·W + b
 */
import { ElementType, encodeModel, initializer, intAttribute, node, valueInfo } from '../onnxGraph';
import type { ClassifierSnapshot, TrainableClassifier } from '../classifier';
import { SeededRandom } from '../../random';
import type { EmbeddingMatrix } from './encoder';

/** A linear layer, or one hidden ReLU layer then a linear layer. */
export type HeadKind = 'linear' | 'mlp';

/** The head's shape. */
export interface HeadShape {
  kind: HeadKind;
  inputDim: number;
  /** Units of the hidden layer (mlp). */
  hiddenUnits: number;
  numClasses: number;
}

/** Everything the head computes with; matrices are `[in, out]` row-major (ONNX MatMul's right operand). */
export interface HeadParameters {
  shape: HeadShape;
  /** μ and s of the standardisation. */
  mean: Float32Array;
  scale: Float32Array;
  /** `[inputDim, hiddenUnits]` and `[hiddenUnits]`; empty for a linear head. */
  hiddenWeight: Float32Array;
  hiddenBias: Float32Array;
  /** `[inputDim or hiddenUnits, numClasses]` and `[numClasses]`. */
  outputWeight: Float32Array;
  outputBias: Float32Array;
}

interface HeadSnapshot extends ClassifierSnapshot {
  kind: 'head';
  parameters: HeadParameters;
}

/** Smallest standard deviation divided by: a constant dimension stays 0 instead of exploding. */
const MIN_STD = 1e-6;

/** Per-dimension mean and 1/std of embeddings (the standardisation the head applies first). */
export function fitStandardization(embeddings: EmbeddingMatrix): { mean: Float32Array; scale: Float32Array } {
  const { values, dim, count } = embeddings;
  const mean = new Float64Array(dim);
  const square = new Float64Array(dim);
  for (let r = 0; r < count; r++) {
    for (let d = 0; d < dim; d++) {
      const v = values[r * dim + d]!;
      mean[d]! += v;
      square[d]! += v * v;
    }
  }
  const outMean = new Float32Array(dim);
  const outScale = new Float32Array(dim);
  for (let d = 0; d < dim; d++) {
    const m = count > 0 ? mean[d]! / count : 0;
    const variance = count > 0 ? Math.max(0, square[d]! / count - m * m) : 0;
    outMean[d] = m;
    outScale[d] = 1 / Math.max(Math.sqrt(variance), MIN_STD);
  }
  return { mean: outMean, scale: outScale };
}

/** A linear or one-hidden-layer head trained with SGD on pooled embeddings. */
export class HeadClassifier implements TrainableClassifier<EmbeddingMatrix> {
  readonly numClasses: number;
  readonly shape: HeadShape;
  private parameters_: HeadParameters;
  // Forward state kept for backward: standardised inputs and hidden activations of the batch.
  private inputs = new Float32Array(0);
  private hidden = new Float32Array(0);
  private batchCount = 0;
  private readonly gradHiddenWeight: Float32Array;
  private readonly gradHiddenBias: Float32Array;
  private readonly gradOutputWeight: Float32Array;
  private readonly gradOutputBias: Float32Array;

  /** A new head with seeded initial weights (uniform, He for the ReLU layer, Glorot for the output). */
  constructor(shape: HeadShape, standardization: { mean: Float32Array; scale: Float32Array }, seed: number) {
    if (standardization.mean.length !== shape.inputDim) throw new Error(`standardisation has ${standardization.mean.length} dims, the head ${shape.inputDim}`);
    this.shape = { ...shape, hiddenUnits: shape.kind === 'mlp' ? shape.hiddenUnits : 0 };
    this.numClasses = shape.numClasses;
    const random = new SeededRandom(seed);
    const uniform = (n: number, bound: number): Float32Array => Float32Array.from({ length: n }, () => (random.next() * 2 - 1) * bound);
    const { inputDim, numClasses } = this.shape;
    const hiddenUnits = this.shape.hiddenUnits;
    const outputIn = this.outputInputs;
    this.parameters_ = {
      shape: this.shape,
      mean: standardization.mean.slice(),
      scale: standardization.scale.slice(),
      hiddenWeight: uniform(inputDim * hiddenUnits, Math.sqrt(6 / inputDim)),
      hiddenBias: new Float32Array(hiddenUnits),
      outputWeight: uniform(outputIn * numClasses, Math.sqrt(6 / (outputIn + numClasses))),
      outputBias: new Float32Array(numClasses),
    };
    this.gradHiddenWeight = new Float32Array(inputDim * hiddenUnits);
    this.gradHiddenBias = new Float32Array(hiddenUnits);
    this.gradOutputWeight = new Float32Array(outputIn * numClasses);
    this.gradOutputBias = new Float32Array(numClasses);
  }

  /** Rebuilds a head from exported parameters. */
  static fromParameters(parameters: HeadParameters): HeadClassifier {
    const head = new HeadClassifier(parameters.shape, parameters, 0);
    head.restore({ kind: 'head', parameters } as HeadSnapshot);
    return head;
  }

  private get outputInputs(): number {
    return this.shape.kind === 'mlp' ? this.shape.hiddenUnits : this.shape.inputDim;
  }

  forward(features: EmbeddingMatrix, examples: ArrayLike<number>, logits: Float32Array): void {
    const { inputDim, hiddenUnits, numClasses } = this.shape;
    const p = this.parameters_;
    const count = examples.length;
    if (features.dim !== inputDim) throw new Error(`embeddings have ${features.dim} dims, the head expects ${inputDim}`);
    if (this.inputs.length < count * inputDim) this.inputs = new Float32Array(count * inputDim);
    if (this.hidden.length < count * hiddenUnits) this.hidden = new Float32Array(count * hiddenUnits);
    const outputIn = this.outputInputs;
    for (let b = 0; b < count; b++) {
      const source = examples[b]! * inputDim;
      const x = b * inputDim;
      for (let d = 0; d < inputDim; d++) this.inputs[x + d] = (features.values[source + d]! - p.mean[d]!) * p.scale[d]!;
      let activations = this.inputs;
      let offset = x;
      if (this.shape.kind === 'mlp') {
        const h = b * hiddenUnits;
        for (let u = 0; u < hiddenUnits; u++) this.hidden[h + u] = p.hiddenBias[u]!;
        for (let d = 0; d < inputDim; d++) {
          const xd = this.inputs[x + d]!;
          if (xd === 0) continue;
          const row = d * hiddenUnits;
          for (let u = 0; u < hiddenUnits; u++) this.hidden[h + u]! += xd * p.hiddenWeight[row + u]!;
        }
        for (let u = 0; u < hiddenUnits; u++) if (this.hidden[h + u]! < 0) this.hidden[h + u] = 0;
        activations = this.hidden;
        offset = h;
      }
      const z = b * numClasses;
      for (let c = 0; c < numClasses; c++) logits[z + c] = p.outputBias[c]!;
      for (let i = 0; i < outputIn; i++) {
        const a = activations[offset + i]!;
        if (a === 0) continue;
        const row = i * numClasses;
        for (let c = 0; c < numClasses; c++) logits[z + c]! += a * p.outputWeight[row + c]!;
      }
    }
    this.batchCount = count;
  }

  backward(gradLogits: Float32Array, learningRate: number, maxGradNorm: number | null = null): number {
    const { inputDim, hiddenUnits, numClasses } = this.shape;
    const p = this.parameters_;
    const count = this.batchCount;
    const outputIn = this.outputInputs;
    const mlp = this.shape.kind === 'mlp';
    const activations = mlp ? this.hidden : this.inputs;
    this.gradOutputWeight.fill(0);
    this.gradOutputBias.fill(0);
    this.gradHiddenWeight.fill(0);
    this.gradHiddenBias.fill(0);
    const gradHidden = new Float32Array(hiddenUnits);
    for (let b = 0; b < count; b++) {
      const z = b * numClasses;
      const a = b * outputIn;
      for (let c = 0; c < numClasses; c++) this.gradOutputBias[c]! += gradLogits[z + c]!;
      // dL/dW = aᵀg, dL/da = W g (for the hidden layer, through the ReLU: zero where h = 0).
      for (let i = 0; i < outputIn; i++) {
        const ai = activations[a + i]!;
        const row = i * numClasses;
        let back = 0;
        for (let c = 0; c < numClasses; c++) {
          const g = gradLogits[z + c]!;
          this.gradOutputWeight[row + c]! += ai * g;
          back += p.outputWeight[row + c]! * g;
        }
        if (mlp) gradHidden[i] = ai > 0 ? back : 0;
      }
      if (!mlp) continue;
      const x = b * inputDim;
      for (let u = 0; u < hiddenUnits; u++) this.gradHiddenBias[u]! += gradHidden[u]!;
      for (let d = 0; d < inputDim; d++) {
        const xd = this.inputs[x + d]!;
        if (xd === 0) continue;
        const row = d * hiddenUnits;
        for (let u = 0; u < hiddenUnits; u++) this.gradHiddenWeight[row + u]! += xd * gradHidden[u]!;
      }
    }
    let squared = 0;
    for (const g of [this.gradOutputWeight, this.gradOutputBias, this.gradHiddenWeight, this.gradHiddenBias]) for (let i = 0; i < g.length; i++) squared += g[i]! * g[i]!;
    const norm = Math.sqrt(squared);
    const step = maxGradNorm !== null && norm > maxGradNorm ? (learningRate * maxGradNorm) / norm : learningRate;
    const apply = (weights: Float32Array, grad: Float32Array): void => {
      for (let i = 0; i < weights.length; i++) weights[i]! -= step * grad[i]!;
    };
    apply(p.outputWeight, this.gradOutputWeight);
    apply(p.outputBias, this.gradOutputBias);
    apply(p.hiddenWeight, this.gradHiddenWeight);
    apply(p.hiddenBias, this.gradHiddenBias);
    return norm;
  }

  snapshot(): ClassifierSnapshot {
    return { kind: 'head', parameters: this.parameters() } as HeadSnapshot;
  }

  restore(snapshot: ClassifierSnapshot): void {
    if (snapshot.kind !== 'head') throw new Error(`cannot restore a ${snapshot.kind} snapshot into a head`);
    const q = (snapshot as HeadSnapshot).parameters;
    this.parameters_ = {
      shape: { ...q.shape },
      mean: q.mean.slice(),
      scale: q.scale.slice(),
      hiddenWeight: q.hiddenWeight.slice(),
      hiddenBias: q.hiddenBias.slice(),
      outputWeight: q.outputWeight.slice(),
      outputBias: q.outputBias.slice(),
    };
  }

  /** A copy of the parameters, for export. */
  parameters(): HeadParameters {
    const p = this.parameters_;
    return {
      shape: { ...p.shape },
      mean: p.mean.slice(),
      scale: p.scale.slice(),
      hiddenWeight: p.hiddenWeight.slice(),
      hiddenBias: p.hiddenBias.slice(),
      outputWeight: p.outputWeight.slice(),
      outputBias: p.outputBias.slice(),
    };
  }
}

/** Names of the head's graph nodes, prefixed so they cannot collide with an encoder's when merged. */
export const HEAD_PREFIX = 'dimp_head/';

/**
 * The head's nodes and initializers, reading `input` ([batch, inputDim] float) and writing `output`
 * (logits). Used alone (`buildHeadOnnx`) and appended to an encoder's graph (`encoderHead.ts`).
 */
export function headGraphParts(parameters: HeadParameters, input: string, output: string): { nodes: ReturnType<typeof node>[]; initializers: ReturnType<typeof initializer>[] } {
  const { inputDim, hiddenUnits, numClasses, kind } = parameters.shape;
  const n = (name: string): string => `${HEAD_PREFIX}${name}`;
  const initializers = [initializer(n('mean'), [inputDim], parameters.mean), initializer(n('scale'), [inputDim], parameters.scale)];
  const nodes = [node('Sub', [input, n('mean')], [n('centered')]), node('Mul', [n('centered'), n('scale')], [n('standardized')])];
  let last = n('standardized');
  let width = inputDim;
  if (kind === 'mlp') {
    initializers.push(initializer(n('hidden.weight'), [inputDim, hiddenUnits], parameters.hiddenWeight), initializer(n('hidden.bias'), [hiddenUnits], parameters.hiddenBias));
    nodes.push(
      node('MatMul', [last, n('hidden.weight')], [n('hidden.product')]),
      node('Add', [n('hidden.product'), n('hidden.bias')], [n('hidden.preactivation')]),
      node('Relu', [n('hidden.preactivation')], [n('hidden')]),
    );
    last = n('hidden');
    width = hiddenUnits;
  }
  initializers.push(initializer(n('output.weight'), [width, numClasses], parameters.outputWeight), initializer(n('output.bias'), [numClasses], parameters.outputBias));
  nodes.push(node('MatMul', [last, n('output.weight')], [n('output.product')]), node('Add', [n('output.product'), n('output.bias')], [output]));
  return { nodes, initializers };
}

/** Input and output names of the standalone head graph. */
export const HEAD_GRAPH = { embedding: 'embedding', logits: 'logits', probabilities: 'probabilities' } as const;

/** The head alone as an ONNX graph: `embedding` [batch, inputDim] → `logits`, `probabilities` (opset 13). */
export function buildHeadOnnx(parameters: HeadParameters): Uint8Array {
  const { inputDim, numClasses } = parameters.shape;
  const parts = headGraphParts(parameters, HEAD_GRAPH.embedding, HEAD_GRAPH.logits);
  return encodeModel(
    {
      name: 'dimp_head',
      input: [valueInfo(HEAD_GRAPH.embedding, ElementType.float, ['batch_size', inputDim])],
      output: [valueInfo(HEAD_GRAPH.logits, ElementType.float, ['batch_size', numClasses]), valueInfo(HEAD_GRAPH.probabilities, ElementType.float, ['batch_size', numClasses])],
      initializer: parts.initializers,
      node: [...parts.nodes, node('Softmax', [HEAD_GRAPH.logits], [HEAD_GRAPH.probabilities], [intAttribute('axis', -1)])],
    },
    13,
    `DIMP Curator ${parameters.shape.kind} head on pooled encoder embeddings`,
  );
}
