/**
 * The training graph of a user's classifier: its forward pass, the weighted loss of Kuo et al. (ICLR 2025)
 * and the backward pass, as one ONNX graph that an ordinary onnxruntime inference session runs. Trainable
 * initializers become graph inputs; each has a gradient output.
 *
 * Loss, per batch of B rows with logits zᵢ and gold labels yᵢ (as `batchLoss` in ../train/trainer.ts):
 *   pᵢ = softmax(zᵢ)[yᵢ],  wᵢ = min(row_weightᵢ + qᵢ / max(pᵢ, ε), cap),  loss = (1/B) Σᵢ wᵢ · (−log pᵢ)
 * For DIMP feed q (the quality checker's P̂′(y|x)) and row_weight 0: wᵢ = q/max(p(yᵢ|xᵢ;θₜ), ε) from this very
 * forward pass. For IMP feed q = 0 and row_weight = the IMP weight; for CE q = 0 and row_weight = 1. The
 * weight is a constant for the gradient, as the reference code's detached `pt`:
 *   ∂loss/∂zᵢ = (wᵢ/B)(softmax(zᵢ) − onehot(yᵢ)), emitted directly rather than differentiated.
 */
import { onnx } from 'onnx-proto';
import { DimpError } from '../errors';
import { attr, NodeEmitter } from './emitter';
import { GRADIENT_RULES, unsupportedOp, type RuleContext } from './gradientRules';
import { describeNode, FLOAT_TYPES, GraphIr, tensorDims } from './graphIr';

const DataType = onnx.TensorProto.DataType;

/** Names of the inputs and outputs the training graph adds. */
export const TRAINING_GRAPH = {
  /** Gold label per row, int64 [batch]. */
  labels: 'dimp_train.labels',
  /** DIMP numerator q per row (0 for IMP/CE), the logits' float type [batch]. */
  quality: 'dimp_train.dimp_quality',
  /** Fixed weight per row (1 for CE, the IMP weight, 0 for DIMP), [batch]. */
  rowWeight: 'dimp_train.row_weight',
  /** The weighted loss, a scalar. */
  loss: 'dimp_train.loss',
  /** Mean unweighted cross-entropy of the batch, a scalar. */
  crossEntropy: 'dimp_train.cross_entropy',
  /** p(gold) of each row from this forward pass, [batch]. */
  goldProbability: 'dimp_train.gold_probability',
  /** The weight each row's loss got (after ε and the cap), [batch]. */
  lossWeight: 'dimp_train.loss_weight',
  /** Prefix of gradient outputs: `dimp_train.grad.<initializer name>`. */
  gradientPrefix: 'dimp_train.grad.',
} as const;

const PREFIX = 'dimp_train.';

/** How to build the training graph. */
export interface TrainingGraphOptions {
  /** The logits output, [batch, classes]; default "logits", or the graph's only output. */
  logitsOutput?: string;
  /** Which float initializers to train; default: every float initializer with more than one element. */
  trainable?: (name: string, dims: readonly number[]) => boolean;
  /** Smallest denominator of the DIMP weight (ε), default 1e-6. */
  epsilon?: number;
  /** Largest row weight, or null (default) for none. */
  maxWeight?: number | null;
}

/** One trained weight: an input of the training graph, with the output that carries its gradient. */
export interface TrainableParameter {
  name: string;
  gradient: string;
  dims: number[];
  /** Element type (FLOAT or DOUBLE). */
  dataType: number;
}

/** The built training graph. */
export interface TrainingGraph {
  /** Serialised ONNX model. */
  bytes: Uint8Array;
  /** The model's own inputs (token ids, masks…), still fed by name. */
  modelInputs: string[];
  parameters: TrainableParameter[];
  /** Float initializers the loss does not depend on, left as constants. */
  unused: string[];
  /** Element type of the logits (FLOAT or DOUBLE): the type of the q and row-weight inputs. */
  floatType: number;
  /** Forward and backward node counts. */
  forwardNodes: number;
  backwardNodes: number;
}

/**
 * Builds the training graph of an ONNX classifier. Fails with the op and the node when a node between the
 * trainable weights and the logits has no gradient rule.
 */
export function buildTrainingGraph(modelBytes: Uint8Array, file: string, options: TrainingGraphOptions = {}): TrainingGraph {
  const ir = GraphIr.decode(modelBytes, file);
  const { graph, tensors, inputs, outputs } = ir;
  const logits = options.logitsOutput ?? (outputs.length === 1 ? (outputs[0]!.name ?? 'logits') : 'logits');
  if (!outputs.some((o) => o.name === logits)) throw new DimpError('badModel', `the graph has no output "${logits}" (outputs: ${outputs.map((o) => o.name).join(', ')})`, { file });
  const declared = outputs.find((o) => o.name === logits)?.type?.tensorType?.elemType;
  const floatType = declared || ir.elementTypes.get(logits) || DataType.FLOAT;
  if (!FLOAT_TYPES.has(floatType)) throw new DimpError('badModel', `output "${logits}" is not floating point`, { file });
  const names = new Set<string>([...inputs.map((v) => v.name ?? ''), ...tensors.map((t) => t.name), ...ir.nodes.flatMap((n) => n.output)]);
  const clash = [...names].find((n) => n.startsWith(PREFIX));
  if (clash) throw new DimpError('badModel', `the graph already has a value named "${clash}", which the training graph needs`, { file });

  const isTrainable = options.trainable ?? ((_name: string, dims: readonly number[]) => dims.reduce((a, b) => a * b, 1) > 1);
  const candidates = new Set(
    tensors.filter((t) => FLOAT_TYPES.has(t.dataType) && isTrainable(t.name, tensorDims(t))).map((t) => t.name),
  );

  // Values that depend on a trainable weight through differentiable inputs.
  const reached = new Set<string>(candidates);
  const unknownNodes = new Map<onnx.NodeProto, number>();
  ir.nodes.forEach((node, index) => {
    const rule = GRADIENT_RULES.get(node.opType);
    const slots = rule ? rule.differentiable(node, ir) : node.input.map((_, i) => i);
    if (!slots.some((i) => reached.has(node.input[i] ?? ''))) return;
    // An op without a rule on a weight's path is an error only if the logits depend on it (checked below).
    if (!rule) unknownNodes.set(node, index);
    for (const y of node.output) reached.add(y);
  });
  // Values the logits depend on.
  const needed = new Set<string>([logits]);
  for (let index = ir.nodes.length - 1; index >= 0; index--) {
    const node = ir.nodes[index]!;
    if (!node.output.some((y) => needed.has(y))) continue;
    for (const x of node.input) if (x) needed.add(x);
  }
  for (const [node, index] of unknownNodes) if (node.output.some((y) => needed.has(y))) throw unsupportedOp(node, index, file);

  const emit = new NodeEmitter(PREFIX, floatType);
  const gradients = new Map<string, string[]>();
  const addGradient = (name: string, g: string): void => {
    const list = gradients.get(name) ?? [];
    list.push(g);
    gradients.set(name, list);
  };
  const gradientOf = (name: string): string | undefined => {
    const list = gradients.get(name);
    if (!list || list.length === 0) return undefined;
    if (list.length > 1) gradients.set(name, [emit.op('Sum', list, [], 'grad_sum')]);
    return gradients.get(name)![0];
  };

  addGradient(logits, lossGradient(emit, logits, floatType, options));
  for (let index = ir.nodes.length - 1; index >= 0; index--) {
    const node = ir.nodes[index]!;
    if (!node.output.some((y) => reached.has(y) && needed.has(y))) continue;
    const outputGradients = node.output.map(gradientOf);
    if (outputGradients.every((g) => g === undefined)) continue;
    const rule = GRADIENT_RULES.get(node.opType);
    if (!rule) throw unsupportedOp(node, index, file);
    const slots = new Set(rule.differentiable(node, ir));
    const wanted = node.input.map((x, i) => slots.has(i) && reached.has(x) && needed.has(x));
    if (!wanted.some(Boolean)) continue;
    const fail = (message: string): never => {
      throw new DimpError('badModel', `${describeNode(node, index)}: ${message}`, { file });
    };
    const context: RuleContext = {
      node,
      ir,
      emit,
      outputGradients,
      wanted,
      rank: (name) => ir.rank(name) ?? fail(`the rank of "${name}" is not fixed by the graph`),
      fail,
    };
    const inputGradients = rule.backward(context);
    node.input.forEach((x, i) => {
      const g = inputGradients[i];
      if (wanted[i] && g) addGradient(x, g);
    });
  }

  const parameters: TrainableParameter[] = [];
  const unused: string[] = [];
  const gradientOutputs: onnx.IValueInfoProto[] = [];
  for (const tensor of tensors) {
    if (!candidates.has(tensor.name)) continue;
    const g = gradientOf(tensor.name);
    if (!g) {
      unused.push(tensor.name);
      continue;
    }
    const output = `${TRAINING_GRAPH.gradientPrefix}${tensor.name}`;
    emit.nodes.push({ opType: 'Identity', input: [g], output: [output], name: `${output}_node` });
    const dims = tensorDims(tensor);
    parameters.push({ name: tensor.name, gradient: output, dims, dataType: tensor.dataType });
    gradientOutputs.push(tensorValue(output, tensor.dataType, dims));
  }
  const trainableNames = new Set(parameters.map((p) => p.name));

  const forwardNodes = ir.nodes.length;
  const backwardNodes = emit.nodes.length;
  const trainingGraph: onnx.IGraphProto = {
    name: `${graph.name || 'model'}_training`,
    input: [
      ...inputs.filter((v) => !trainableNames.has(v.name)),
      tensorValue(TRAINING_GRAPH.labels, DataType.INT64, ['batch']),
      tensorValue(TRAINING_GRAPH.quality, floatType, ['batch']),
      tensorValue(TRAINING_GRAPH.rowWeight, floatType, ['batch']),
      ...parameters.map((p) => tensorValue(p.name, p.dataType, p.dims)),
    ],
    output: [
      tensorValue(TRAINING_GRAPH.loss, floatType, []),
      tensorValue(TRAINING_GRAPH.crossEntropy, floatType, []),
      tensorValue(TRAINING_GRAPH.goldProbability, floatType, ['batch']),
      tensorValue(TRAINING_GRAPH.lossWeight, floatType, ['batch']),
      outputs.find((o) => o.name === logits)!,
      ...gradientOutputs,
    ],
    initializer: [...tensors.filter((t) => !trainableNames.has(t.name)), ...emit.initializers],
    node: [...ir.nodes, ...emit.nodes],
    valueInfo: graph.valueInfo,
  };
  // ScatterElements' reduction (Gather's gradient) needs opset 16; the ops BERT-family exports use mean
  // the same from 13 to 16.
  const opsetImport = ir.model.opsetImport.map((o) => (!o.domain || o.domain === 'ai.onnx' ? { domain: o.domain, version: Math.max(ir.opset, 16) } : o));
  const model: onnx.IModelProto = { ...ir.model, opsetImport, graph: trainingGraph, producerName: 'dimp-curator finetune' };
  const bytes = onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  return {
    bytes,
    modelInputs: inputs.filter((v) => !tensors.some((t) => t.name === v.name)).map((v) => v.name),
    parameters,
    unused,
    floatType,
    forwardNodes,
    backwardNodes,
  };
}

/** The loss outputs, and the gradient of the loss with respect to the logits (see the module comment). */
function lossGradient(e: NodeEmitter, logits: string, floatType: number, options: TrainingGraphOptions): string {
  const T = TRAINING_GRAPH;
  const epsilon = options.epsilon ?? 1e-6;
  const logProbabilities = e.op('LogSoftmax', [logits], [attr.int('axis', -1)]);
  const labelColumn = e.op('Unsqueeze', [T.labels, e.int64([1])]);
  const goldLogProbability = e.op('Reshape', [e.op('GatherElements', [logProbabilities, labelColumn], [attr.int('axis', 1)]), e.int64([-1])]);
  e.nodes.push({ opType: 'Exp', input: [goldLogProbability], output: [T.goldProbability], name: `${T.goldProbability}_node` });
  // The DIMP weight uses p(gold) from this pass and is a constant for the gradient (nothing flows back into it).
  let weight = e.op('Add', [T.rowWeight, e.op('Div', [T.quality, e.op('Max', [T.goldProbability, e.float(epsilon)])])]);
  if (options.maxWeight !== undefined && options.maxWeight !== null) weight = e.op('Min', [weight, e.float(options.maxWeight)]);
  e.nodes.push({ opType: 'Identity', input: [weight], output: [T.lossWeight], name: `${T.lossWeight}_node` });
  const crossEntropy = e.op('Neg', [goldLogProbability]);
  const batch = e.op('Cast', [e.op('Size', [T.labels])], [attr.int('to', floatType)]);
  e.nodes.push(
    { opType: 'Div', input: [e.op('ReduceSum', [e.op('Mul', [T.lossWeight, crossEntropy])], [attr.int('keepdims', 0)]), batch], output: [T.loss], name: `${T.loss}_node` },
    { opType: 'Div', input: [e.op('ReduceSum', [crossEntropy], [attr.int('keepdims', 0)]), batch], output: [T.crossEntropy], name: `${T.crossEntropy}_node` },
  );
  const classes = e.op('Squeeze', [e.op('Slice', [e.op('Shape', [logits]), e.int64([-1]), e.int64([2 ** 31])]), e.int64([0])]);
  const oneHot = e.op('Cast', [e.op('Equal', [e.op('Range', [e.int64([0], true), classes, e.int64([1], true)]), labelColumn])], [attr.int('to', floatType)]);
  const rowScale = e.op('Unsqueeze', [e.op('Div', [T.lossWeight, batch]), e.int64([1])]);
  return e.op('Mul', [rowScale, e.op('Sub', [e.op('Exp', [logProbabilities]), oneHot])], [], 'grad_logits');
}

function tensorValue(name: string, elemType: number, dims: readonly (number | string)[]): onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } };
}
