/**
 * Reverse-mode rules, one per ONNX op: given the gradient of a node's outputs, emit ONNX nodes that
 * compute the gradient of its inputs. Shapes are read at run time (Shape, Size) so one training graph
 * serves every batch size and sequence length; only ranks (for Transpose perms and reduction axes) must
 * be fixed by the graph. Ops that only compute shapes, masks or indices have no differentiable inputs.
 */
import { onnx } from 'onnx-proto';
import { DimpError } from '../errors';
import { attr, INT64_MAX, type NodeEmitter } from './emitter';
import { attribute, describeNode, FLOAT_TYPES, floatAttr, intAttr, intsAttr, tensorFloats, type GraphIr } from './graphIr';

const DataType = onnx.TensorProto.DataType;

/** What a rule is given. */
export interface RuleContext {
  node: onnx.NodeProto;
  ir: GraphIr;
  emit: NodeEmitter;
  /** Gradient of each output (undefined: none flows back from it). */
  outputGradients: (string | undefined)[];
  /** Whether the gradient of each input is wanted. */
  wanted: boolean[];
  /** The rank of a value; fails naming the node when the graph does not fix it. */
  rank(name: string): number;
  /** Stops with a message naming the node. */
  fail(message: string): never;
}

/** A gradient rule: which inputs a gradient flows to, and how to compute it. */
export interface GradientRule {
  /** Input positions through which the output depends differentiably on the input. */
  differentiable(node: onnx.NodeProto, ir: GraphIr): number[];
  /** Gradients of the inputs (undefined where not wanted or zero). */
  backward(context: RuleContext): (string | undefined)[];
}

const first = (): number[] => [0];
const all = (node: onnx.NodeProto): number[] => node.input.map((_, i) => i).filter((i) => node.input[i] !== '');

/** The gradient of output 0, which rules for single-output ops may assume present. */
function gradient(context: RuleContext, output = 0): string {
  const g = context.outputGradients[output];
  if (!g) context.fail('no gradient reached its output');
  return g;
}

/** `axis` as a non-negative index into a tensor of `rank` dimensions. */
function normalizeAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/**
 * The gradient `g` of a broadcasting op's output `output`, summed over the axes along which input `x` was
 * broadcast and reshaped to `x`'s shape. When `x` is a constant (a weight or bias) and the output's rank is
 * known, the axes are static; otherwise they are found at run time from the two shapes.
 */
export function unbroadcast(context: RuleContext, g: string, x: string, output: string): string {
  const { ir, emit } = context;
  const outputRank = ir.rank(output);
  const xConstant = ir.constants.get(x);
  const xRank = ir.rank(x);
  if (xConstant && outputRank !== undefined) {
    const dims = xConstant.dims;
    const lead = outputRank - dims.length;
    const axes = [...Array.from({ length: lead }, (_, i) => i), ...dims.flatMap((d, i) => (d === 1 ? [lead + i] : []))];
    if (axes.length === 0) return g;
    const summed = emit.op('ReduceSum', [g, emit.int64(axes)], [attr.int('keepdims', 0)], 'unbroadcast');
    return emit.op('Reshape', [summed, emit.int64(dims)], [], 'unbroadcast');
  }
  const xShape = emit.op('Shape', [x]);
  let padding: string;
  if (xRank !== undefined && outputRank !== undefined) {
    if (xRank > outputRank) context.fail(`input "${x}" has rank ${xRank}, above its output's ${outputRank}`);
    padding = emit.int64(Array.from({ length: outputRank - xRank }, () => 1));
  } else {
    const lead = emit.op('Sub', [emit.op('Size', [emit.op('Shape', [g])]), emit.op('Size', [xShape])]);
    padding = emit.op('ConstantOfShape', [emit.op('Reshape', [lead, emit.int64([1])])], [attr.tensor('value', { dims: [1], dataType: DataType.INT64, rawData: new Uint8Array(BigInt64Array.from([1n]).buffer) })]);
  }
  const padded = emit.op('Concat', [padding, xShape], [attr.int('axis', 0)]);
  const axes = emit.op('Reshape', [emit.op('NonZero', [emit.op('Equal', [padded, emit.int64([1])])]), emit.int64([-1])]);
  const summed = emit.op('ReduceSum', [g, axes], [attr.int('keepdims', 1), attr.int('noop_with_empty_axes', 1)], 'unbroadcast');
  return emit.op('Reshape', [summed, xShape], [], 'unbroadcast');
}

/** The value of a one-element float or integer constant (an initializer or a Constant node's tensor), else undefined. */
function scalarConstant(ir: GraphIr, name: string): number | undefined {
  const known = ir.constants.get(name);
  if (!known || known.size !== 1) return undefined;
  if (known.ints) return known.ints[0];
  const initializer = ir.initializers.get(name);
  const producer = initializer ? undefined : ir.nodes.find((n) => n.opType === 'Constant' && n.output[0] === name);
  const value = initializer ?? (producer ? attribute(producer, 'value')?.t : undefined) ?? undefined;
  if (value) return tensorFloats(value)?.[0];
  const single = producer ? attribute(producer, 'value_float') : undefined;
  return single?.f ?? undefined;
}

/** Whether every other input is a one-element constant of rank at most `x`'s, so `x` has the output's shape. */
function othersAreScalars(context: RuleContext, index: number): boolean {
  const { node, ir } = context;
  const xRank = ir.rank(node.input[index]!);
  return node.input.every((name, i) => {
    if (i === index) return true;
    const c = ir.constants.get(name);
    return c !== undefined && c.size === 1 && (c.dims.length === 0 || (xRank !== undefined && c.dims.length <= xRank));
  });
}

/** `unbroadcast` for input `index` of the context's node, skipped when nothing was broadcast. */
function toInput(context: RuleContext, g: string, index: number): string {
  if (othersAreScalars(context, index)) return g;
  return unbroadcast(context, g, context.node.input[index]!, context.node.output[0]!);
}

/** Transpose's default perm: the axes reversed. */
function reversed(rank: number): number[] {
  return Array.from({ length: rank }, (_, i) => rank - 1 - i);
}

/** Swaps the last two axes of a tensor of the given rank. */
function transposeLast(emit: NodeEmitter, x: string, rank: number): string {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return emit.op('Transpose', [x], [attr.ints('perm', perm)]);
}

/** The reduction axes of a Reduce* node (attribute before opset 18, input from 18), normalised; undefined: all. */
function reduceAxes(context: RuleContext): number[] | undefined {
  const { node, ir } = context;
  const fromAttribute = intsAttr(node, 'axes');
  let axes = fromAttribute;
  if (!axes && node.input[1]) {
    axes = ir.ints(node.input[1]);
    if (!axes) context.fail('its axes are computed at run time; fine-tuning needs them constant');
  }
  if (!axes || axes.length === 0) return undefined;
  const rank = context.rank(node.input[0]!);
  return axes.map((a) => normalizeAxis(a, rank));
}

/** Gradient of a reduction's input before scaling: `g` broadcast back to the input's shape. */
function expandReduced(context: RuleContext, g: string): string {
  const { node, emit } = context;
  const x = node.input[0]!;
  const axes = reduceAxes(context);
  const keep = intAttr(node, 'keepdims', 1) === 1;
  let kept = g;
  if (!keep && axes) kept = emit.op('Unsqueeze', [g, emit.int64(axes)]);
  return emit.op('Expand', [kept, emit.op('Shape', [x])]);
}

const reshapeBack: GradientRule = {
  differentiable: first,
  backward: (c) => [c.emit.op('Reshape', [gradient(c), c.emit.op('Shape', [c.node.input[0]!])])],
};

const identity: GradientRule = { differentiable: first, backward: (c) => [gradient(c)] };

/** Ops whose outputs carry no gradient (shapes, masks, comparisons, indices). */
const NON_DIFFERENTIABLE = [
  'Shape',
  'Size',
  'ConstantOfShape',
  'Range',
  'Equal',
  'Less',
  'Greater',
  'LessOrEqual',
  'GreaterOrEqual',
  'Not',
  'And',
  'Or',
  'NonZero',
  'ArgMax',
  'ArgMin',
  'Constant',
  'OneHot',
  'Trilu',
  'IsNaN',
  'IsInf',
  'Sign',
  'Floor',
  'Ceil',
  'Round',
  'Mod',
];

/** A scalar constant of `reference`'s element type (the graph's float type unless the graph says otherwise). */
function scalarLike(c: RuleContext, value: number, reference: string): string {
  const type = c.ir.elementTypes.get(reference);
  return type && type !== c.emit.floatType ? c.emit.op('CastLike', [c.emit.float(value), reference]) : c.emit.float(value);
}

const elementwise = (backward: (c: RuleContext, g: string, x: string, y: string) => string): GradientRule => ({
  differentiable: first,
  backward: (c) => [backward(c, gradient(c), c.node.input[0]!, c.node.output[0]!)],
});

/** The table of gradient rules, by op type. */
export const GRADIENT_RULES: ReadonlyMap<string, GradientRule> = new Map<string, GradientRule>([
  ...NON_DIFFERENTIABLE.map((op): [string, GradientRule] => [op, { differentiable: () => [], backward: () => [] }]),
  ['Identity', identity],
  // Inference graphs run Dropout as the identity (no training_mode input); the mask output has no gradient.
  [
    'Dropout',
    {
      differentiable: first,
      backward: (c) => {
        const trainingMode = c.node.input[2];
        if (trainingMode && c.ir.ints(trainingMode)?.[0] !== 0) {
          c.fail('dropout with a training_mode input is not supported yet; export the model in eval mode');
        }
        return [gradient(c)];
      },
    },
  ],
  [
    'Cast',
    {
      differentiable: (node, ir) => {
        const from = ir.elementTypes.get(node.input[0]!) ?? 0;
        return FLOAT_TYPES.has(intAttr(node, 'to', 0)) && (from === 0 || FLOAT_TYPES.has(from)) ? [0] : [];
      },
      backward: (c) => {
        const from = c.ir.elementTypes.get(c.node.input[0]!) || c.emit.floatType;
        return [from === intAttr(c.node, 'to', 0) ? gradient(c) : c.emit.op('Cast', [gradient(c)], [attr.int('to', from)])];
      },
    },
  ],
  ['Reshape', reshapeBack],
  ['Flatten', reshapeBack],
  ['Squeeze', reshapeBack],
  ['Unsqueeze', reshapeBack],
  [
    'Expand',
    {
      differentiable: first,
      backward: (c) => [unbroadcast(c, gradient(c), c.node.input[0]!, c.node.output[0]!)],
    },
  ],
  [
    'Add',
    {
      differentiable: all,
      backward: (c) => c.node.input.map((_, i) => (c.wanted[i] ? toInput(c, gradient(c), i) : undefined)),
    },
  ],
  [
    'Sum',
    {
      differentiable: all,
      backward: (c) => c.node.input.map((_, i) => (c.wanted[i] ? toInput(c, gradient(c), i) : undefined)),
    },
  ],
  [
    'Sub',
    {
      differentiable: all,
      backward: (c) => [c.wanted[0] ? toInput(c, gradient(c), 0) : undefined, c.wanted[1] ? toInput(c, c.emit.op('Neg', [gradient(c)]), 1) : undefined],
    },
  ],
  [
    'Mul',
    {
      differentiable: all,
      backward: (c) => {
        const [a, b] = c.node.input as [string, string];
        const g = gradient(c);
        return [c.wanted[0] ? toInput(c, c.emit.op('Mul', [g, b]), 0) : undefined, c.wanted[1] ? toInput(c, c.emit.op('Mul', [g, a]), 1) : undefined];
      },
    },
  ],
  [
    'Div',
    {
      differentiable: all,
      backward: (c) => {
        const [, b] = c.node.input as [string, string];
        const y = c.node.output[0]!;
        const g = gradient(c);
        // y = a / b:  ∂y/∂a = 1/b,  ∂y/∂b = −y/b.
        return [
          c.wanted[0] ? toInput(c, c.emit.op('Div', [g, b]), 0) : undefined,
          c.wanted[1] ? toInput(c, c.emit.op('Neg', [c.emit.op('Div', [c.emit.op('Mul', [g, y]), b])]), 1) : undefined,
        ];
      },
    },
  ],
  [
    'Pow',
    {
      differentiable: all,
      backward: (c) => {
        const [a, b] = c.node.input as [string, string];
        const y = c.node.output[0]!;
        const g = gradient(c);
        const e = c.emit;
        // y = a^b:  ∂y/∂a = b·a^(b−1),  ∂y/∂b = y·ln a. The exponent may have another type (Pow allows it).
        const bLike = e.op('CastLike', [b, a]);
        // LayerNorm's variance squares (b = 2): a^(b−1) is a itself, and onnxruntime's Pow with a tensor exponent
        // costs ~5 % of a MiniLM step. a^1 = a exactly, so the gradient's bits are unchanged.
        const power = scalarConstant(c.ir, b) === 2 ? a : e.op('Pow', [a, e.op('Sub', [bLike, e.op('CastLike', [e.float(1), a])])]);
        const da = c.wanted[0] ? e.op('Mul', [g, e.op('Mul', [bLike, power])]) : undefined;
        const db = c.wanted[1] ? e.op('Mul', [g, e.op('Mul', [y, e.op('Log', [a])])]) : undefined;
        return [da && toInput(c, da, 0), db && toInput(c, db, 1)];
      },
    },
  ],
  [
    'Max',
    {
      differentiable: all,
      backward: (c) => minMax(c, 'GreaterOrEqual'),
    },
  ],
  [
    'Min',
    {
      differentiable: all,
      backward: (c) => minMax(c, 'LessOrEqual'),
    },
  ],
  ['Neg', elementwise((c, g) => c.emit.op('Neg', [g]))],
  // y = √x: ∂y/∂x = 1 / (2y).
  ['Sqrt', elementwise((c, g, _x, y) => c.emit.op('Div', [c.emit.op('Mul', [g, c.emit.float(0.5)]), y]))],
  // y = erf(x): ∂y/∂x = (2/√π)·exp(−x²).
  // x is float32 where a float64 graph runs Erf in float32 (see precision.ts); the constant follows it.
  ['Erf', elementwise((c, g, x) => c.emit.op('Mul', [g, c.emit.op('Mul', [scalarLike(c, 2 / Math.sqrt(Math.PI), x), c.emit.op('Exp', [c.emit.op('Neg', [c.emit.op('Mul', [x, x])])])])]))],
  // y = tanh(x): ∂y/∂x = 1 − y².
  ['Tanh', elementwise((c, g, _x, y) => c.emit.op('Mul', [g, c.emit.op('Sub', [c.emit.float(1), c.emit.op('Mul', [y, y])])]))],
  ['Exp', elementwise((c, g, _x, y) => c.emit.op('Mul', [g, y]))],
  ['Log', elementwise((c, g, x) => c.emit.op('Div', [g, x]))],
  // y = σ(x): ∂y/∂x = y(1 − y).
  ['Sigmoid', elementwise((c, g, _x, y) => c.emit.op('Mul', [g, c.emit.op('Mul', [y, c.emit.op('Sub', [c.emit.float(1), y])])]))],
  ['Relu', elementwise((c, g, x) => c.emit.op('Where', [c.emit.op('Greater', [x, c.emit.op('CastLike', [c.emit.float(0), x])]), g, c.emit.float(0)]))],
  // y = 1/x: ∂y/∂x = −y².
  ['Reciprocal', elementwise((c, g, _x, y) => c.emit.op('Neg', [c.emit.op('Mul', [g, c.emit.op('Mul', [y, y])])]))],
  [
    'Softmax',
    {
      differentiable: first,
      // ∂x = y ⊙ (g − Σ_axis g⊙y)
      backward: (c) => {
        const axis = intAttr(c.node, 'axis', -1);
        const y = c.node.output[0]!;
        const g = gradient(c);
        const dot = c.emit.op('ReduceSum', [c.emit.op('Mul', [g, y]), c.emit.int64([axis])], [attr.int('keepdims', 1)]);
        return [c.emit.op('Mul', [y, c.emit.op('Sub', [g, dot])])];
      },
    },
  ],
  [
    'LogSoftmax',
    {
      differentiable: first,
      // ∂x = g − exp(y) ⊙ Σ_axis g
      backward: (c) => {
        const axis = intAttr(c.node, 'axis', -1);
        const g = gradient(c);
        const total = c.emit.op('ReduceSum', [g, c.emit.int64([axis])], [attr.int('keepdims', 1)]);
        return [c.emit.op('Sub', [g, c.emit.op('Mul', [c.emit.op('Exp', [c.node.output[0]!]), total])])];
      },
    },
  ],
  [
    'Transpose',
    {
      differentiable: first,
      backward: (c) => {
        const perm = intsAttr(c.node, 'perm') ?? reversed(c.rank(c.node.input[0]!));
        const inverse = new Array<number>(perm.length);
        perm.forEach((p, i) => (inverse[p] = i));
        return [c.emit.op('Transpose', [gradient(c)], [attr.ints('perm', inverse)])];
      },
    },
  ],
  [
    'CumSum',
    {
      differentiable: first,
      // The gradient of a running sum is the running sum of the gradient in the other direction.
      backward: (c) => [
        c.emit.op('CumSum', [gradient(c), c.node.input[1]!], [attr.int('exclusive', intAttr(c.node, 'exclusive', 0)), attr.int('reverse', 1 - intAttr(c.node, 'reverse', 0))]),
      ],
    },
  ],
  [
    'GatherElements',
    {
      differentiable: first,
      backward: (c) => {
        const [data, indices] = c.node.input as [string, string];
        const e = c.emit;
        const zeros = e.op('ConstantOfShape', [e.op('Shape', [data])], [attr.tensor('value', e.floatValue(0))]);
        return [e.op('ScatterElements', [zeros, indices, gradient(c)], [attr.int('axis', intAttr(c.node, 'axis', 0)), attr.string('reduction', 'add')])];
      },
    },
  ],
  [
    'Clip',
    {
      differentiable: first,
      // The gradient passes where the input lies within [min, max] (bounds are optional inputs).
      backward: (c) => {
        const [x, low, high] = c.node.input as [string, string | undefined, string | undefined];
        const e = c.emit;
        const g = gradient(c);
        const zero = e.op('CastLike', [e.float(0), g]);
        let inside: string | undefined;
        if (low) inside = e.op('GreaterOrEqual', [x, low]);
        if (high) {
          const below = e.op('LessOrEqual', [x, high]);
          inside = inside ? e.op('And', [inside, below]) : below;
        }
        return [inside ? e.op('Where', [inside, g, zero]) : g];
      },
    },
  ],
  ['MatMul', { differentiable: all, backward: matMulBackward }],
  ['Gemm', { differentiable: all, backward: gemmBackward }],
  ['Gather', { differentiable: first, backward: gatherBackward }],
  ['Slice', { differentiable: first, backward: sliceBackward }],
  ['Concat', { differentiable: all, backward: concatBackward }],
  ['Split', { differentiable: first, backward: splitBackward }],
  [
    'ReduceSum',
    {
      differentiable: first,
      backward: (c) => {
        if (intAttr(c.node, 'noop_with_empty_axes', 0) === 1 && !reduceAxes(c)) return [gradient(c)];
        return [expandReduced(c, gradient(c))];
      },
    },
  ],
  [
    'ReduceMean',
    {
      differentiable: first,
      backward: (c) => {
        const e = c.emit;
        const x = c.node.input[0]!;
        // Elements averaged per output = size(x) / size(y).
        const count = e.op('CastLike', [e.op('Div', [e.op('Size', [x]), e.op('Size', [c.node.output[0]!])]), x]);
        return [e.op('Div', [expandReduced(c, gradient(c)), count])];
      },
    },
  ],
  [
    'ReduceL2',
    {
      differentiable: first,
      // y = √(Σ x²): ∂x = g · x / y, with g and y broadcast back over the reduced axes (a zero norm gives NaN,
      // as in torch; sentence-transformers exports guard it with Max/Clip before dividing by it).
      backward: (c) => {
        const x = c.node.input[0]!;
        const gx = expandReduced(c, gradient(c));
        const y = expandReduced(c, c.node.output[0]!);
        return [c.emit.op('Div', [c.emit.op('Mul', [gx, x]), y])];
      },
    },
  ],
  ['LayerNormalization', { differentiable: all, backward: layerNormBackward }],
  [
    'Where',
    {
      differentiable: (node) => [1, 2].filter((i) => node.input[i]),
      backward: (c) => {
        const [condition, a, b] = c.node.input as [string, string, string];
        const g = gradient(c);
        const zero = c.emit.op('CastLike', [c.emit.float(0), g]);
        return [
          undefined,
          c.wanted[1] ? unbroadcast(c, c.emit.op('Where', [condition, g, zero]), a, c.node.output[0]!) : undefined,
          c.wanted[2] ? unbroadcast(c, c.emit.op('Where', [condition, zero, g]), b, c.node.output[0]!) : undefined,
        ];
      },
    },
  ],
]);

/** Max/Min: the gradient goes to the input that was selected (to the first on ties). */
function minMax(c: RuleContext, comparison: 'GreaterOrEqual' | 'LessOrEqual'): (string | undefined)[] {
  if (c.node.input.length !== 2) c.fail(`${c.node.opType} with ${c.node.input.length} inputs is not supported (two are)`);
  const [a, b] = c.node.input as [string, string];
  const g = gradient(c);
  const zero = c.emit.op('CastLike', [c.emit.float(0), g]);
  const firstWins = c.emit.op(comparison, [a, b]);
  return [
    c.wanted[0] ? toInput(c, c.emit.op('Where', [firstWins, g, zero]), 0) : undefined,
    c.wanted[1] ? toInput(c, c.emit.op('Where', [firstWins, zero, g]), 1) : undefined,
  ];
}

function matMulBackward(c: RuleContext): (string | undefined)[] {
  const [a, b] = c.node.input as [string, string];
  const y = c.node.output[0]!;
  const e = c.emit;
  const g = gradient(c);
  const ra = c.rank(a);
  const rb = c.rank(b);
  if (ra < 2 || rb < 2) c.fail('MatMul with a 1-D operand is not supported');
  let da: string | undefined;
  let db: string | undefined;
  if (c.wanted[0]) {
    const product = e.op('MatMul', [g, transposeLast(e, b, rb)]);
    // With a 2-D right operand, the product already has a's shape.
    da = rb === 2 ? product : unbroadcast(c, product, a, y);
  }
  if (c.wanted[1]) {
    if (rb === 2 && ra > 2) {
      // A weight [k, n] under a batch of rows: flatten the rows and contract them in one Gemm, rather than
      // materialising one [k, n] product per batch element.
      const flatA = e.op('Flatten', [a], [attr.int('axis', ra - 1)]);
      const flatG = e.op('Flatten', [g], [attr.int('axis', ra - 1)]);
      db = e.op('Gemm', [flatA, flatG], [attr.int('transA', 1)]);
    } else {
      db = unbroadcast(c, e.op('MatMul', [transposeLast(e, a, ra), g]), b, y);
    }
  }
  return [da, db];
}

function gemmBackward(c: RuleContext): (string | undefined)[] {
  const [a, b, bias] = c.node.input as [string, string, string | undefined];
  const e = c.emit;
  const g = gradient(c);
  const alpha = floatAttr(c.node, 'alpha', 1);
  const beta = floatAttr(c.node, 'beta', 1);
  const transA = intAttr(c.node, 'transA', 0);
  const transB = intAttr(c.node, 'transB', 0);
  const gemm = (x: string, y: string, tA: number, tB: number): string => e.op('Gemm', [x, y], [attr.float('alpha', alpha), attr.int('transA', tA), attr.int('transB', tB)]);
  // Y = α·A′B′ + βC with A′ = transA ? Aᵀ : A, B′ likewise:  ∂A′ = α·G·B′ᵀ,  ∂B′ = α·A′ᵀ·G.
  const da = !c.wanted[0] ? undefined : transA === 0 ? gemm(g, b, 0, 1 - transB) : transB === 0 ? gemm(b, g, 0, 1) : gemm(b, g, 1, 1);
  const db = !c.wanted[1] ? undefined : transB === 0 ? (transA === 0 ? gemm(a, g, 1, 0) : gemm(a, g, 0, 0)) : transA === 0 ? gemm(g, a, 1, 0) : gemm(g, a, 1, 1);
  let dc: string | undefined;
  if (bias && c.wanted[2]) {
    const scaled = beta === 1 ? g : e.op('Mul', [g, e.op('CastLike', [e.float(beta), g])]);
    dc = unbroadcast(c, scaled, bias, c.node.output[0]!);
  }
  return [da, db, dc];
}

/**
 * Gather along `axis`: the gradient of the data adds each output slice back at the position it came from
 * (ScatterElements with reduction "add", so repeated indices, e.g. a token seen twice, accumulate).
 */
function gatherBackward(c: RuleContext): (string | undefined)[] {
  const [data, indices] = c.node.input as [string, string];
  const e = c.emit;
  const g = gradient(c);
  const rank = c.rank(data);
  const axis = normalizeAxis(intAttr(c.node, 'axis', 0), rank);
  const dataShape = e.op('Shape', [data]);
  // g has shape data[:axis] + indices.shape + data[axis+1:]; fold the index dimensions into one.
  const foldedShape = e.op('Concat', [e.op('Slice', [dataShape, e.int64([0]), e.int64([axis])]), e.int64([-1]), e.op('Slice', [dataShape, e.int64([axis + 1]), e.int64([INT64_MAX])])], [attr.int('axis', 0)]);
  const folded = e.op('Reshape', [g, foldedShape]);
  const positions = Array.from({ length: rank }, (_, i) => (i === axis ? -1 : 1));
  const index = e.op('Expand', [e.op('Reshape', [e.op('Cast', [indices], [attr.int('to', DataType.INT64)]), e.int64(positions)]), e.op('Shape', [folded])]);
  const zeros = e.op('ConstantOfShape', [dataShape], [attr.tensor('value', e.floatValue(0))]);
  return [e.op('ScatterElements', [zeros, index, folded], [attr.int('axis', axis), attr.string('reduction', 'add')])];
}

/**
 * Slice: each sliced axis in turn (last first) puts the gradient back at the positions it was taken from.
 * The positions are those of a Range over the axis sliced exactly as the data was, so negative, clamped
 * and strided bounds follow onnxruntime's own Slice.
 */
function sliceBackward(c: RuleContext): (string | undefined)[] {
  const [data, starts, ends, axesName, stepsName] = c.node.input as [string, string, string, string | undefined, string | undefined];
  const e = c.emit;
  const rank = c.rank(data);
  let axes: number[];
  if (axesName) {
    const constant = c.ir.ints(axesName);
    if (!constant) c.fail('its axes are computed at run time; fine-tuning needs them constant');
    axes = constant.map((a) => normalizeAxis(a, rank));
  } else {
    const count = c.ir.length(starts);
    if (count === undefined) c.fail('the number of sliced axes is not fixed by the graph');
    axes = Array.from({ length: count }, (_, i) => i);
  }
  const dataShape = e.op('Shape', [data]);
  let g = gradient(c);
  for (let k = axes.length - 1; k >= 0; k--) {
    const axis = axes[k]!;
    const pick = (name: string): string => e.op('Slice', [name, e.int64([k]), e.int64([k + 1])]);
    const full = e.op('Slice', [dataShape, e.int64([axis]), e.int64([axis + 1])]);
    const range = e.op('Range', [e.int64([0], true), e.op('Squeeze', [full, e.int64([0])]), e.int64([1], true)]);
    const sliceInputs = [range, pick(starts), pick(ends), e.int64([0])];
    if (stepsName) sliceInputs.push(pick(stepsName));
    const taken = e.op('Slice', sliceInputs);
    const gShape = e.op('Shape', [g]);
    const positions = Array.from({ length: rank }, (_, i) => (i === axis ? -1 : 1));
    const index = e.op('Expand', [e.op('Reshape', [taken, e.int64(positions)]), gShape]);
    const targetShape = e.op('Concat', [e.op('Slice', [gShape, e.int64([0]), e.int64([axis])]), full, e.op('Slice', [gShape, e.int64([axis + 1]), e.int64([INT64_MAX])])], [attr.int('axis', 0)]);
    const zeros = e.op('ConstantOfShape', [targetShape], [attr.tensor('value', e.floatValue(0))]);
    g = e.op('ScatterElements', [zeros, index, g], [attr.int('axis', axis)]);
  }
  return [g];
}

/** Concat: each input's gradient is its part of the output's, split at the inputs' sizes along the axis. */
function concatBackward(c: RuleContext): (string | undefined)[] {
  const e = c.emit;
  const inputs = c.node.input;
  const axis = normalizeAxis(intAttr(c.node, 'axis', 0), c.rank(inputs[0]!));
  const sizes = inputs.map((x) => e.op('Slice', [e.op('Shape', [x]), e.int64([axis]), e.int64([axis + 1])]));
  const split = sizes.length === 1 ? sizes[0]! : e.op('Concat', sizes, [attr.int('axis', 0)]);
  const parts = e.opMulti('Split', [gradient(c), split], inputs.length, [attr.int('axis', axis)]);
  return parts.map((p, i) => (c.wanted[i] ? p : undefined));
}

/** Split: the input's gradient is the outputs' gradients joined again (zeros where none flowed back). */
function splitBackward(c: RuleContext): (string | undefined)[] {
  const e = c.emit;
  const axis = normalizeAxis(intAttr(c.node, 'axis', 0), c.rank(c.node.input[0]!));
  const parts = c.node.output.map((y, i) => c.outputGradients[i] ?? e.op('ConstantOfShape', [e.op('Shape', [y])], [attr.tensor('value', e.floatValue(0))]));
  return [e.op('Concat', parts, [attr.int('axis', axis)])];
}

/**
 * LayerNormalization over axes [axis, rank): with x̂ = (x − μ)·σ⁻¹ and ĝ = g·γ,
 *   ∂x = σ⁻¹ · (ĝ − mean(ĝ) − x̂ · mean(ĝ · x̂)),  ∂γ = Σ g·x̂,  ∂β = Σ g  (sums over the leading axes).
 * μ and σ are recomputed from x rather than read from the optional outputs, whose type is float only.
 */
function layerNormBackward(c: RuleContext): (string | undefined)[] {
  const [x, scale, bias] = c.node.input as [string, string, string | undefined];
  const e = c.emit;
  const g = gradient(c);
  const rank = c.rank(x);
  const axis = normalizeAxis(intAttr(c.node, 'axis', -1), rank);
  const epsilon = floatAttr(c.node, 'epsilon', 1e-5);
  const axes = e.int64(Array.from({ length: rank - axis }, (_, i) => axis + i));
  const count = e.op('CastLike', [e.op('Size', [scale]), x]);
  const mean = (t: string): string => e.op('Div', [e.op('ReduceSum', [t, axes], [attr.int('keepdims', 1)]), count]);
  const centered = e.op('Sub', [x, mean(x)]);
  const variance = mean(e.op('Mul', [centered, centered]));
  const inverseStd = e.op('Reciprocal', [e.op('Sqrt', [e.op('Add', [variance, e.op('CastLike', [e.float(epsilon), x])])])]);
  const normalized = e.op('Mul', [centered, inverseStd]);
  let dx: string | undefined;
  if (c.wanted[0]) {
    const gHat = e.op('Mul', [g, scale]);
    const inner = e.op('Sub', [e.op('Sub', [gHat, mean(gHat)]), e.op('Mul', [normalized, mean(e.op('Mul', [gHat, normalized]))])]);
    dx = e.op('Mul', [inverseStd, inner]);
  }
  const output = c.node.output[0]!;
  const dScale = c.wanted[1] ? unbroadcast(c, e.op('Mul', [g, normalized]), scale, output) : undefined;
  const dBias = bias && c.wanted[2] ? unbroadcast(c, g, bias, output) : undefined;
  return [dx, dScale, dBias];
}

/** The error for a differentiable path through an op without a rule. */
export function unsupportedOp(node: onnx.INodeProto, index: number, file: string): DimpError {
  return new DimpError(
    'badModel',
    `${describeNode(node, index)} lies between the trainable weights and the logits, and fine-tuning has no gradient rule for ${node.opType}. Supported: ${[...GRADIENT_RULES.keys()].filter((op) => !NON_DIFFERENTIABLE.includes(op)).join(', ')}.`,
    { file },
  );
}
