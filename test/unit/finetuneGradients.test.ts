/**
 * Each gradient rule against central finite differences: a small graph applies the op to trainable
 * weights (broadcasting where the op allows it), mixes the result with fixed random numbers into logits,
 * and the training graph's gradients are compared with differences of its own loss, in float64.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { onnx } from 'onnx-proto';
import { DimpError } from '../../src/core/errors';
import { attr } from '../../src/core/finetune/emitter';
import { toFloat64Model } from '../../src/core/finetune/precision';
import { buildTrainingGraph, TRAINING_GRAPH } from '../../src/core/finetune/trainingGraph';
import { encodeModel, initializer, node, valueInfo } from '../../src/core/model/onnxGraph';
import { SeededRandom } from '../../src/core/random';
import { openModelSession, tensor } from '../../src/core/runtime/onnxRuntime';
import { checkGradients } from './gradientCheck';

const DataType = onnx.TensorProto.DataType;

interface ParameterSpec {
  dims: number[];
  /** Uniform range of the starting values (default −1…1). */
  range?: [number, number];
}

interface OpCase {
  name: string;
  /** Trainable weights (their names start with "p_"). */
  parameters: Record<string, ParameterSpec>;
  /** Fixed tensors: int64 (shape arguments, indices), bool (conditions) or float. */
  constants?: Record<string, { dims: number[]; int64?: number[]; bool?: boolean[]; float?: number[] }>;
  /** Nodes computing "y" from the weights and constants. */
  nodes: onnx.INodeProto[];
  /** The static shape of "y" (an even number of elements: it becomes 2 rows of logits). */
  yDims: number[];
  /** Finite-difference step and tolerance on the norm-wise relative error (defaults 1e-5, 1e-6). */
  step?: number;
  tolerance?: number;
}

const ints = (values: number[]): { dims: number[]; int64: number[] } => ({ dims: [values.length], int64: values });

function buildCase(c: OpCase, seed: number): { bytes: Uint8Array; parameters: Map<string, Float64Array> } {
  const random = new SeededRandom(seed);
  const inits: onnx.ITensorProto[] = [];
  const parameters = new Map<string, Float64Array>();
  for (const [name, spec] of Object.entries(c.parameters)) {
    const [low, high] = spec.range ?? [-1, 1];
    const values = Float32Array.from({ length: spec.dims.reduce((a, b) => a * b, 1) }, () => low + (high - low) * random.next());
    inits.push(initializer(name, spec.dims, values));
    parameters.set(name, Float64Array.from(values));
  }
  for (const [name, constant] of Object.entries(c.constants ?? {})) {
    if (constant.int64) inits.push(initializer(name, constant.dims, BigInt64Array.from(constant.int64.map(BigInt))));
    else if (constant.bool) inits.push({ name, dims: constant.dims, dataType: DataType.BOOL, rawData: Uint8Array.from(constant.bool.map(Number)) });
    else inits.push(initializer(name, constant.dims, Float32Array.from(constant.float ?? [])));
  }
  const size = c.yDims.reduce((a, b) => a * b, 1);
  inits.push(initializer('mix', c.yDims, Float32Array.from({ length: size }, () => 2 * random.next() - 1)));
  inits.push(initializer('rows_shape', [2], BigInt64Array.from([2n, -1n])));
  const nodes = [...c.nodes, node('Mul', ['y', 'mix'], ['mixed']), node('Reshape', ['mixed', 'rows_shape'], ['logits'])];
  const graph: onnx.IGraphProto = { name: c.name, input: [], output: [valueInfo('logits', DataType.FLOAT, [2, size / 2])], initializer: inits, node: nodes };
  return { bytes: toFloat64Model(encodeModel(graph, 17, c.name), `${c.name}.onnx`), parameters };
}

const axes = (name: string, values: number[]): onnx.IAttributeProto => attr.ints(name, values);

const CASES: OpCase[] = [
  { name: 'Add, same shape', parameters: { p_a: { dims: [2, 3] }, p_b: { dims: [2, 3] } }, nodes: [node('Add', ['p_a', 'p_b'], ['y'])], yDims: [2, 3] },
  { name: 'Add, bias broadcast over leading axes', parameters: { p_a: { dims: [2, 3, 4] }, p_b: { dims: [4] } }, nodes: [node('Add', ['p_a', 'p_b'], ['y'])], yDims: [2, 3, 4] },
  { name: 'Add, both broadcast ([2,1,4] + [3,1])', parameters: { p_a: { dims: [2, 1, 4] }, p_b: { dims: [3, 1] } }, nodes: [node('Add', ['p_a', 'p_b'], ['y'])], yDims: [2, 3, 4] },
  {
    name: 'Add, broadcast of a computed value (run-time axes)',
    parameters: { p_a: { dims: [2, 3, 4] }, p_b: { dims: [3, 1] } },
    nodes: [node('Tanh', ['p_b'], ['t']), node('Add', ['p_a', 't'], ['y'])],
    yDims: [2, 3, 4],
  },
  { name: 'Sub with broadcast', parameters: { p_a: { dims: [2, 3] }, p_b: { dims: [2, 1] } }, nodes: [node('Sub', ['p_a', 'p_b'], ['y'])], yDims: [2, 3] },
  { name: 'Mul with broadcast', parameters: { p_a: { dims: [2, 1, 4] }, p_b: { dims: [3, 1] } }, nodes: [node('Mul', ['p_a', 'p_b'], ['y'])], yDims: [2, 3, 4] },
  {
    name: 'Mul by a scalar constant',
    parameters: { p_a: { dims: [2, 3] } },
    constants: { half: { dims: [], float: [0.5] } },
    nodes: [node('Mul', ['p_a', 'half'], ['y'])],
    yDims: [2, 3],
  },
  { name: 'Div with broadcast', parameters: { p_a: { dims: [2, 3] }, p_b: { dims: [3], range: [1, 2] } }, nodes: [node('Div', ['p_a', 'p_b'], ['y'])], yDims: [2, 3] },
  {
    name: 'Pow with a constant exponent',
    parameters: { p_a: { dims: [2, 3], range: [0.5, 1.5] } },
    constants: { two: { dims: [], float: [2] } },
    nodes: [node('Pow', ['p_a', 'two'], ['y'])],
    yDims: [2, 3],
  },
  {
    // Exponent 2 takes a shortcut (a^1 = a); another constant exponent the general rule.
    name: 'Pow with the constant exponent 3',
    parameters: { p_a: { dims: [2, 3], range: [0.5, 1.5] } },
    constants: { three: { dims: [], float: [3] } },
    nodes: [node('Pow', ['p_a', 'three'], ['y'])],
    yDims: [2, 3],
  },
  { name: 'Pow with a trainable exponent', parameters: { p_a: { dims: [2, 3], range: [0.5, 1.5] }, p_e: { dims: [3], range: [0.5, 2] } }, nodes: [node('Pow', ['p_a', 'p_e'], ['y'])], yDims: [2, 3] },
  { name: 'Sqrt', parameters: { p_a: { dims: [2, 3], range: [0.5, 2] } }, nodes: [node('Sqrt', ['p_a'], ['y'])], yDims: [2, 3] },
  // onnxruntime has no float64 Erf: the forward runs in float32 between Casts, so the differences carry
  // float32 rounding (~1e-7 relative) divided by the step; hence the larger step and tolerance.
  { name: 'Erf (float32 forward)', parameters: { p_a: { dims: [2, 3] } }, nodes: [node('Erf', ['p_a'], ['y'])], yDims: [2, 3], step: 1e-3, tolerance: 2e-4 },
  { name: 'Tanh', parameters: { p_a: { dims: [2, 3] } }, nodes: [node('Tanh', ['p_a'], ['y'])], yDims: [2, 3] },
  { name: 'Exp, Log, Neg, Reciprocal, Sigmoid', parameters: { p_a: { dims: [2, 3], range: [0.5, 1.5] } }, nodes: [node('Log', ['p_a'], ['l']), node('Exp', ['l'], ['e']), node('Reciprocal', ['e'], ['r']), node('Neg', ['r'], ['n']), node('Sigmoid', ['n'], ['y'])], yDims: [2, 3] },
  { name: 'Max and Min', parameters: { p_a: { dims: [2, 3] }, p_b: { dims: [3] } }, nodes: [node('Max', ['p_a', 'p_b'], ['m']), node('Min', ['m', 'p_a'], ['n']), node('Add', ['m', 'n'], ['y'])], yDims: [2, 3] },
  { name: 'MatMul, batch × weight', parameters: { p_a: { dims: [2, 3, 4] }, p_w: { dims: [4, 2] } }, nodes: [node('MatMul', ['p_a', 'p_w'], ['y'])], yDims: [2, 3, 2] },
  { name: 'MatMul, 4-D attention', parameters: { p_q: { dims: [2, 2, 3, 4] }, p_k: { dims: [2, 2, 4, 3] } }, nodes: [node('MatMul', ['p_q', 'p_k'], ['y'])], yDims: [2, 2, 3, 3] },
  { name: 'MatMul, broadcast batch ([1,3,4] @ [2,4,2])', parameters: { p_a: { dims: [1, 3, 4] }, p_b: { dims: [2, 4, 2] } }, nodes: [node('MatMul', ['p_a', 'p_b'], ['y'])], yDims: [2, 3, 2] },
  { name: 'MatMul, 2-D', parameters: { p_a: { dims: [2, 4] }, p_b: { dims: [4, 3] } }, nodes: [node('MatMul', ['p_a', 'p_b'], ['y'])], yDims: [2, 3] },
  ...[0, 1].flatMap((transA) =>
    [0, 1].map(
      (transB): OpCase => ({
        name: `Gemm transA=${transA} transB=${transB}, α=0.7, β=1.3, bias [3]`,
        parameters: { p_a: { dims: transA ? [4, 2] : [2, 4] }, p_b: { dims: transB ? [3, 4] : [4, 3] }, p_c: { dims: [3] } },
        nodes: [node('Gemm', ['p_a', 'p_b', 'p_c'], ['y'], [attr.int('transA', transA), attr.int('transB', transB), attr.float('alpha', 0.7), attr.float('beta', 1.3)])],
        yDims: [2, 3],
      }),
    ),
  ),
  { name: 'Gemm with a column bias [2,1]', parameters: { p_a: { dims: [2, 4] }, p_b: { dims: [4, 3] }, p_c: { dims: [2, 1] } }, nodes: [node('Gemm', ['p_a', 'p_b', 'p_c'], ['y'])], yDims: [2, 3] },
  {
    name: 'Gather axis 0 (embedding lookup, repeated ids)',
    parameters: { p_e: { dims: [5, 4] } },
    constants: { ids: { dims: [2, 3], int64: [1, 3, 1, 0, 4, 1] } },
    nodes: [node('Gather', ['p_e', 'ids'], ['y'], [attr.int('axis', 0)])],
    yDims: [2, 3, 4],
  },
  {
    name: 'Gather axis 1 with a scalar index ([CLS] pooling)',
    parameters: { p_h: { dims: [2, 3, 4] } },
    constants: { zero: { dims: [], int64: [0] } },
    nodes: [node('Gather', ['p_h', 'zero'], ['y'], [attr.int('axis', 1)])],
    yDims: [2, 4],
  },
  {
    name: 'Gather axis −1 with negative indices',
    parameters: { p_h: { dims: [2, 5] } },
    constants: { picks: { dims: [3], int64: [-1, 0, -1] } },
    nodes: [node('Gather', ['p_h', 'picks'], ['y'], [attr.int('axis', -1)])],
    yDims: [2, 3],
  },
  {
    name: 'Reshape, Transpose, Unsqueeze, Squeeze, Flatten',
    parameters: { p_a: { dims: [2, 6] } },
    constants: { shape: ints([2, 3, 2]), axis0: ints([0]) },
    nodes: [
      node('Reshape', ['p_a', 'shape'], ['r']),
      node('Transpose', ['r'], ['t'], [axes('perm', [2, 0, 1])]),
      node('Unsqueeze', ['t', 'axis0'], ['u']),
      node('Squeeze', ['u', 'axis0'], ['s']),
      node('Flatten', ['s'], ['f'], [attr.int('axis', 1)]),
      node('Transpose', ['f'], ['y']),
    ],
    yDims: [6, 2],
  },
  { name: 'Softmax, last axis', parameters: { p_a: { dims: [2, 3, 4] } }, nodes: [node('Softmax', ['p_a'], ['y'], [attr.int('axis', -1)])], yDims: [2, 3, 4] },
  { name: 'Softmax, axis 1', parameters: { p_a: { dims: [2, 3, 4] } }, nodes: [node('Softmax', ['p_a'], ['y'], [attr.int('axis', 1)])], yDims: [2, 3, 4] },
  { name: 'LogSoftmax', parameters: { p_a: { dims: [2, 3] } }, nodes: [node('LogSoftmax', ['p_a'], ['y'], [attr.int('axis', -1)])], yDims: [2, 3] },
  { name: 'ReduceMean keepdims=1 (axes attribute)', parameters: { p_a: { dims: [2, 3, 4] } }, nodes: [node('ReduceMean', ['p_a'], ['y'], [axes('axes', [-1]), attr.int('keepdims', 1)])], yDims: [2, 3, 1] },
  { name: 'ReduceMean keepdims=0 over two axes', parameters: { p_a: { dims: [2, 4, 3] } }, nodes: [node('ReduceMean', ['p_a'], ['y'], [axes('axes', [0, 2]), attr.int('keepdims', 0)])], yDims: [4] },
  {
    name: 'ReduceSum (axes input)',
    parameters: { p_a: { dims: [2, 3, 4] } },
    constants: { axis1: ints([1]) },
    nodes: [node('ReduceSum', ['p_a', 'axis1'], ['y'], [attr.int('keepdims', 0)])],
    yDims: [2, 4],
  },
  { name: 'ReduceL2 keepdims=1 (sentence-embedding normalisation)', parameters: { p_a: { dims: [2, 3] } }, nodes: [node('ReduceL2', ['p_a'], ['n'], [axes('axes', [-1]), attr.int('keepdims', 1)]), node('Div', ['p_a', 'n'], ['y'])], yDims: [2, 3] },
  { name: 'ReduceL2 keepdims=0', parameters: { p_a: { dims: [2, 3, 2] } }, nodes: [node('ReduceL2', ['p_a'], ['y'], [axes('axes', [1]), attr.int('keepdims', 0)])], yDims: [2, 2] },
  {
    name: 'LayerNormalization over the last axis',
    parameters: { p_x: { dims: [2, 3, 4] }, p_g: { dims: [4], range: [0.5, 1.5] }, p_b: { dims: [4] } },
    nodes: [node('LayerNormalization', ['p_x', 'p_g', 'p_b'], ['y'], [attr.int('axis', -1), attr.float('epsilon', 1e-5)])],
    yDims: [2, 3, 4],
  },
  {
    name: 'LayerNormalization over the last two axes',
    parameters: { p_x: { dims: [2, 3, 4] }, p_g: { dims: [3, 4], range: [0.5, 1.5] }, p_b: { dims: [3, 4] } },
    nodes: [node('LayerNormalization', ['p_x', 'p_g', 'p_b'], ['y'], [attr.int('axis', 1), attr.float('epsilon', 1e-5)])],
    yDims: [2, 3, 4],
  },
  {
    name: 'Where with broadcast branches',
    parameters: { p_a: { dims: [2, 3] }, p_b: { dims: [3] } },
    constants: { keep: { dims: [2, 3], bool: [true, false, true, false, false, true] } },
    nodes: [node('Where', ['keep', 'p_a', 'p_b'], ['y'])],
    yDims: [2, 3],
  },
  {
    name: 'Cast to the same float type, and an integer Cast that carries no gradient',
    parameters: { p_a: { dims: [2, 3] } },
    nodes: [node('Cast', ['p_a'], ['c'], [attr.int('to', DataType.FLOAT)]), node('Cast', ['p_a'], ['i'], [attr.int('to', DataType.INT64)]), node('Cast', ['i'], ['f'], [attr.int('to', DataType.FLOAT)]), node('Add', ['c', 'f'], ['y'])],
    yDims: [2, 3],
  },
  {
    name: 'Slice with negative bounds and a step',
    parameters: { p_a: { dims: [4, 6] } },
    constants: { starts: ints([1, -1]), ends: ints([3, -7]), sliceAxes: ints([0, 1]), steps: ints([1, -2]) },
    nodes: [node('Slice', ['p_a', 'starts', 'ends', 'sliceAxes', 'steps'], ['y'])],
    yDims: [2, 3],
  },
  {
    name: 'Slice with an end computed at run time (position embeddings)',
    parameters: { p_pos: { dims: [5, 2] }, p_x: { dims: [3, 2] } },
    constants: { zero: ints([0]), axis0: ints([0]) },
    nodes: [node('Shape', ['p_x'], ['length'], [attr.int('start', 0), attr.int('end', 1)]), node('Slice', ['p_pos', 'zero', 'length', 'axis0'], ['pos']), node('Add', ['p_x', 'pos'], ['y'])],
    yDims: [3, 2],
  },
  {
    name: 'Concat of different widths, and Split',
    parameters: { p_a: { dims: [2, 1] }, p_b: { dims: [2, 3] } },
    constants: { parts: ints([3, 1]) },
    nodes: [node('Concat', ['p_a', 'p_b'], ['c'], [attr.int('axis', 1)]), { opType: 'Split', input: ['c', 'parts'], output: ['s0', 's1'], name: 'split', attribute: [attr.int('axis', -1)] }, node('Concat', ['s1', 's0'], ['y'], [attr.int('axis', 1)])],
    yDims: [2, 4],
  },
  {
    name: 'Split with an unused output',
    parameters: { p_a: { dims: [2, 4] } },
    constants: { parts: ints([2, 2]) },
    nodes: [{ opType: 'Split', input: ['p_a', 'parts'], output: ['s0', 's1'], name: 'split', attribute: [attr.int('axis', 1)] }, node('Identity', ['s1'], ['y'])],
    yDims: [2, 2],
  },
  {
    name: 'Expand, with its shape from a shape subgraph (Shape, ConstantOfShape, Equal, Where on ints)',
    parameters: { p_a: { dims: [3, 1] }, p_x: { dims: [2, 3, 4] } },
    constants: { two: ints([2]) },
    nodes: [
      node('Shape', ['p_x'], ['tail'], [attr.int('start', 1)]),
      node('ConstantOfShape', ['two'], ['minusOnes'], [attr.tensor('value', { dims: [1], dataType: DataType.INT64, rawData: new Uint8Array(BigInt64Array.of(-1n).buffer) })]),
      node('Equal', ['tail', 'minusOnes'], ['unknown']),
      node('Where', ['unknown', 'minusOnes', 'tail'], ['target']),
      node('Expand', ['p_a', 'target'], ['e']),
      node('Mul', ['e', 'p_x'], ['y']),
    ],
    yDims: [2, 3, 4],
  },
  { name: 'CumSum, forward and reverse', parameters: { p_a: { dims: [2, 3] } }, constants: { axis1: { dims: [], int64: [1] } }, nodes: [node('CumSum', ['p_a', 'axis1'], ['c']), node('CumSum', ['c', 'axis1'], ['y'], [attr.int('reverse', 1), attr.int('exclusive', 1)])], yDims: [2, 3] },
  {
    name: 'GatherElements with repeated indices',
    parameters: { p_a: { dims: [2, 3] } },
    constants: { picks: { dims: [2, 2], int64: [2, 2, 0, 1] } },
    nodes: [node('GatherElements', ['p_a', 'picks'], ['y'], [attr.int('axis', 1)])],
    yDims: [2, 2],
  },
  {
    name: 'Clip with both bounds',
    parameters: { p_a: { dims: [2, 3] } },
    constants: { low: { dims: [], float: [-0.3] }, high: { dims: [], float: [0.4] } },
    nodes: [node('Clip', ['p_a', 'low', 'high'], ['y'])],
    yDims: [2, 3],
  },
  { name: 'Identity, Dropout (inference)', parameters: { p_a: { dims: [2, 3] } }, nodes: [node('Identity', ['p_a'], ['i']), { opType: 'Dropout', input: ['i'], output: ['y'], name: 'dropout', attribute: [] }], yDims: [2, 3] },
  {
    name: 'a weight used twice (gradients add up)',
    parameters: { p_a: { dims: [2, 3] }, p_w: { dims: [3, 3] } },
    nodes: [node('MatMul', ['p_a', 'p_w'], ['h']), node('MatMul', ['h', 'p_w'], ['y'])],
    yDims: [2, 3],
  },
];

describe('gradient rules against central finite differences (float64)', () => {
  CASES.forEach((c, index) => {
    test(c.name, async (t) => {
      const { bytes, parameters } = buildCase(c, 1000 + index);
      const graph = buildTrainingGraph(bytes, `${c.name}.onnx`, { trainable: (name) => name.startsWith('p_') });
      assert.deepEqual(graph.parameters.map((p) => p.name).sort(), [...parameters.keys()].sort());
      const random = new SeededRandom(7 + index);
      const classes = c.yDims.reduce((a, b) => a * b, 1) / 2;
      const result = await checkGradients({
        graph,
        modelFeeds: {},
        labels: [random.nextInt(classes), random.nextInt(classes)],
        // A DIMP row and an IMP row: the weight q/p(gold) is frozen for the differences.
        quality: [0.8, 0],
        rowWeight: [0, 1.7],
        parameters,
        step: c.step ?? 1e-5,
      });
      assert.ok(result.frozenLossDifference < 1e-12, `frozen-weight loss differs by ${result.frozenLossDifference}`);
      const worst = Math.max(...result.parameters.map((p) => p.relativeError));
      t.diagnostic(`max relative error ${worst.toExponential(2)} over ${result.parameters.reduce((n, p) => n + p.checked, 0)} elements`);
      for (const p of result.parameters) {
        assert.ok(p.scale > 1e-6, `${p.name}: the loss does not depend on it (test is vacuous)`);
        assert.ok(p.relativeError < (c.tolerance ?? 1e-6), `${p.name}: max |analytic − numeric| = ${p.maxAbsError.toExponential(2)}, relative ${p.relativeError.toExponential(2)}`);
      }
    });
  });
});

describe('the training graph', () => {
  test('the loss, p(gold) and the DIMP weight are as the trainer computes them', async () => {
    const { bytes } = buildCase(CASES[0]!, 1);
    const graph = buildTrainingGraph(bytes, 'add.onnx', { trainable: (name) => name.startsWith('p_'), epsilon: 1e-6, maxWeight: 5 });
    const session = await openModelSession(graph.bytes, 'cpu');
    try {
      const p = { p_a: Float64Array.from([0.1, -0.2, 0.3, 0.5, 0.1, -0.4]), p_b: Float64Array.from([0, 0, 0, 0, 0, 0]) };
      const out = await session.run({
        p_a: tensor('float64', p.p_a, [2, 3]),
        p_b: tensor('float64', p.p_b, [2, 3]),
        [TRAINING_GRAPH.labels]: tensor('int64', BigInt64Array.from([2n, 0n]), [2]),
        [TRAINING_GRAPH.quality]: tensor('float64', Float64Array.from([0.9, 0.99]), [2]),
        [TRAINING_GRAPH.rowWeight]: tensor('float64', Float64Array.from([0.25, 4]), [2]),
      });
      const logits = out.logits!.data as Float64Array;
      let expectedLoss = 0;
      for (let row = 0; row < 2; row++) {
        const z = Array.from(logits.slice(row * 3, row * 3 + 3));
        const max = Math.max(...z);
        const sum = z.reduce((s, v) => s + Math.exp(v - max), 0);
        const gold = row === 0 ? 2 : 0;
        const pGold = Math.exp(z[gold]! - max) / sum;
        const weight = Math.min((row === 0 ? 0.25 : 4) + (row === 0 ? 0.9 : 0.99) / Math.max(pGold, 1e-6), 5);
        assert.ok(Math.abs((out[TRAINING_GRAPH.goldProbability]!.data as Float64Array)[row]! - pGold) < 1e-12);
        assert.ok(Math.abs((out[TRAINING_GRAPH.lossWeight]!.data as Float64Array)[row]! - weight) < 1e-12);
        expectedLoss += (weight * -Math.log(pGold)) / 2;
      }
      // The second row's weight is capped at 5.
      assert.equal((out[TRAINING_GRAPH.lossWeight]!.data as Float64Array)[1], 5);
      assert.ok(Math.abs(Number(out[TRAINING_GRAPH.loss]!.data[0]) - expectedLoss) < 1e-12);
    } finally {
      await session.release();
    }
  });

  test('an op without a gradient rule between a weight and the logits is refused, naming the op and the node', () => {
    const graph: onnx.IGraphProto = {
      name: 'cos',
      input: [],
      output: [valueInfo('logits', DataType.FLOAT, [2, 2])],
      initializer: [initializer('p_a', [2, 2], Float32Array.from([1, 2, 3, 4])), initializer('c', [2, 2], Float32Array.from([1, 2, 3, 4]))],
      node: [{ opType: 'Cos', input: ['p_a'], output: ['wave'], name: 'the_cosine' }, node('Identity', ['wave'], ['logits'])],
    };
    assert.throws(
      () => buildTrainingGraph(encodeModel(graph, 17, 'cos'), 'cos.onnx'),
      (error: unknown) => error instanceof DimpError && error.kind === 'badModel' && /Cos node "the_cosine"/.test(error.message) && /cos\.onnx/.test(error.message),
    );
    // The same op on a constant path (no trainable weight behind it) is fine.
    const constantPath: onnx.IGraphProto = {
      ...graph,
      node: [{ opType: 'Cos', input: ['c'], output: ['wave'], name: 'the_cosine' }, node('Add', ['wave', 'p_a'], ['logits'])],
    };
    const built = buildTrainingGraph(encodeModel(constantPath, 17, 'cos'), 'cos.onnx', { trainable: (name) => name.startsWith('p_') });
    assert.deepEqual(built.parameters.map((p) => p.name), ['p_a']);
  });

  test('a graph older than opset 13 is refused with what to do', () => {
    const graph: onnx.IGraphProto = {
      name: 'old',
      input: [],
      output: [valueInfo('logits', DataType.FLOAT, [1, 2])],
      initializer: [initializer('p_a', [1, 2], Float32Array.from([1, 2]))],
      node: [node('Identity', ['p_a'], ['logits'])],
    };
    assert.throws(() => buildTrainingGraph(encodeModel(graph, 12, 'old'), 'old.onnx'), (error: unknown) => error instanceof DimpError && /opset 12/.test(error.message) && /opset_version=14/.test(error.message));
  });

  test('Dropout in training mode is refused; with training_mode false it is the identity', () => {
    const graph = (training: boolean): Uint8Array =>
      encodeModel(
        {
          name: 'dropout',
          input: [],
          output: [valueInfo('logits', DataType.FLOAT, [1, 2])],
          initializer: [initializer('p_a', [1, 2], Float32Array.from([1, 2])), { name: 'training', dims: [], dataType: DataType.BOOL, rawData: Uint8Array.of(training ? 1 : 0) }],
          node: [{ opType: 'Dropout', input: ['p_a', '', 'training'], output: ['logits'], name: 'the_dropout' }],
        },
        17,
        'dropout',
      );
    assert.throws(() => buildTrainingGraph(graph(true), 'dropout.onnx'), (error: unknown) => error instanceof DimpError && /Dropout node "the_dropout"/.test(error.message) && /eval mode/.test(error.message));
    assert.equal(buildTrainingGraph(graph(false), 'dropout.onnx').parameters.length, 1);
  });
});

