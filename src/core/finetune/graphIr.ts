/**
 * A read-only view of a user's ONNX graph for building its training graph: nodes in order, initializers,
 * constant integer tensors (shape arguments), and the rank of every value where the graph determines it.
 * Ranks matter because gradient rules emit Transpose perms and reduction axes, which ONNX wants static.
 */
import { onnx } from 'onnx-proto';
import { DimpError } from '../errors';

type LongLike = number | { toNumber(): number } | null | undefined;

/** A protobuf integer (number or Long) as a number. */
export function toNumber(value: LongLike): number {
  return value === null || value === undefined ? 0 : typeof value === 'number' ? value : value.toNumber();
}

const DataType = onnx.TensorProto.DataType;

/** Floating-point element types a gradient can flow through. */
export const FLOAT_TYPES: ReadonlySet<number> = new Set([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);

/** How a node is named in messages: op type, name and position in the graph. */
export function describeNode(node: onnx.INodeProto, index: number): string {
  return `${node.opType ?? '?'} node "${node.name || (node.output ?? [])[0] || '?'}" (#${index} in the graph)`;
}

/** An attribute of a node, or undefined. */
export function attribute(node: onnx.INodeProto, name: string): onnx.IAttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

/** An integer attribute, or `fallback` when absent. */
export function intAttr(node: onnx.INodeProto, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a ? toNumber(a.i) : fallback;
}

/** A float attribute, or `fallback` when absent. */
export function floatAttr(node: onnx.INodeProto, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a?.f ?? fallback;
}

/** A list-of-integers attribute, or undefined when absent. */
export function intsAttr(node: onnx.INodeProto, name: string): number[] | undefined {
  const a = attribute(node, name);
  return a ? (a.ints ?? []).map(toNumber) : undefined;
}

/** The dimensions of a tensor proto. */
export function tensorDims(tensor: onnx.ITensorProto): number[] {
  return (tensor.dims ?? []).map(toNumber);
}

/** The values of an integer or boolean tensor proto (int64, int32, bool as 0/1), or undefined for other types. */
export function tensorInts(tensor: onnx.ITensorProto): number[] | undefined {
  const type = tensor.dataType ?? 0;
  const raw = tensor.rawData && tensor.rawData.length > 0 ? tensor.rawData : undefined;
  if (type === DataType.INT64) {
    if (raw) {
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      return Array.from({ length: raw.byteLength / 8 }, (_, i) => Number(view.getBigInt64(i * 8, true)));
    }
    return (tensor.int64Data ?? []).map(toNumber);
  }
  if (type === DataType.INT32) {
    if (raw) {
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      return Array.from({ length: raw.byteLength / 4 }, (_, i) => view.getInt32(i * 4, true));
    }
    return [...(tensor.int32Data ?? [])];
  }
  if (type === DataType.BOOL) return raw ? Array.from(raw) : [...(tensor.int32Data ?? [])];
  return undefined;
}

/** The values of a floating-point tensor proto (float or double) as float64, or undefined for other types. */
export function tensorFloats(tensor: onnx.ITensorProto): Float64Array | undefined {
  const type = tensor.dataType ?? 0;
  const raw = tensor.rawData && tensor.rawData.length > 0 ? tensor.rawData : undefined;
  if (type === DataType.FLOAT) {
    if (raw) {
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      return Float64Array.from({ length: raw.byteLength / 4 }, (_, i) => view.getFloat32(i * 4, true));
    }
    return Float64Array.from(tensor.floatData ?? []);
  }
  if (type === DataType.DOUBLE) {
    if (raw) {
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      return Float64Array.from({ length: raw.byteLength / 8 }, (_, i) => view.getFloat64(i * 8, true));
    }
    return Float64Array.from(tensor.doubleData ?? []);
  }
  return undefined;
}

/** A constant known when the graph is built: an initializer or a Constant node's value. */
export interface KnownTensor {
  dims: number[];
  dataType: number;
  /** Integer values (int64/int32 tensors only). */
  ints: number[] | undefined;
  /** Number of elements. */
  size: number;
}

function known(tensor: onnx.ITensorProto): KnownTensor {
  const dims = tensorDims(tensor);
  return { dims, dataType: tensor.dataType ?? 0, ints: tensorInts(tensor), size: dims.reduce((a, b) => a * b, 1) };
}

/** The graph as the training-graph builder reads it. */
export class GraphIr {
  readonly graph: onnx.GraphProto;
  /** The default domain's opset. */
  readonly opset: number;
  readonly nodes: onnx.NodeProto[];
  readonly tensors: onnx.TensorProto[];
  readonly inputs: onnx.ValueInfoProto[];
  readonly outputs: onnx.ValueInfoProto[];
  readonly initializers = new Map<string, onnx.TensorProto>();
  /** Initializers and Constant outputs. */
  readonly constants = new Map<string, KnownTensor>();
  /** Element type of graph inputs, initializers and values whose type follows from them (0: unknown). */
  readonly elementTypes = new Map<string, number>();
  private readonly ranks = new Map<string, number>();
  /** Static lengths of 1-D integer tensors (shape arguments). */
  private readonly lengths = new Map<string, number>();
  /** Integer vectors the graph fixes without being constants (the Shape of a 1-D tensor of known length). */
  private readonly values = new Map<string, number[]>();

  constructor(
    readonly model: onnx.ModelProto,
    readonly file: string,
  ) {
    const graph = model.graph as onnx.GraphProto | null;
    if (!graph) throw new DimpError('badModel', 'the ONNX file has no graph', { file });
    this.graph = graph;
    // Decoded messages are class instances, whose repeated and string fields are always set.
    this.nodes = graph.node as onnx.NodeProto[];
    this.tensors = graph.initializer as onnx.TensorProto[];
    this.inputs = graph.input as onnx.ValueInfoProto[];
    this.outputs = graph.output as onnx.ValueInfoProto[];
    this.opset = toNumber(model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx')?.version);
    if (this.opset < 13) throw new DimpError('badModel', `the graph uses ONNX opset ${this.opset}; fine-tuning needs opset 13 or later (export again with opset_version=14 or newer)`, { file });
    for (const input of graph.input) {
      const tensorType = input.type?.tensorType;
      const name = input.name ?? '';
      if (!tensorType || !name) continue;
      this.elementTypes.set(name, tensorType.elemType ?? 0);
      if (tensorType.shape) this.ranks.set(name, (tensorType.shape.dim ?? []).length);
    }
    for (const tensor of this.tensors) {
      if (tensor.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
        throw new DimpError('badModel', `initializer "${tensor.name}" is stored as external data; save the model with its weights inside the .onnx file`, { file });
      }
      this.initializers.set(tensor.name, tensor);
      this.setConstant(tensor.name, tensor);
    }
    this.nodes.forEach((node, index) => this.infer(node, index));
  }

  /** Decodes an ONNX model. */
  static decode(bytes: Uint8Array, file: string): GraphIr {
    let model: onnx.ModelProto;
    try {
      model = onnx.ModelProto.decode(bytes);
    } catch (error) {
      throw new DimpError('badModel', `not an ONNX model: ${(error as Error).message}`, { file });
    }
    return new GraphIr(model, file);
  }

  /** The rank of a value, or undefined where the graph does not fix it. */
  rank(name: string): number | undefined {
    return this.ranks.get(name);
  }

  /** Static length of a 1-D integer tensor, or undefined. */
  length(name: string): number | undefined {
    const c = this.constants.get(name);
    if (c && c.dims.length === 1) return c.dims[0];
    return this.lengths.get(name);
  }

  /** Constant integer values of a tensor, or undefined. */
  ints(name: string): number[] | undefined {
    return this.constants.get(name)?.ints ?? this.values.get(name);
  }

  private setConstant(name: string, tensor: onnx.ITensorProto): void {
    const k = known(tensor);
    this.constants.set(name, k);
    this.ranks.set(name, k.dims.length);
    this.elementTypes.set(name, k.dataType);
  }

  /**
   * The length of an elementwise op's 1-D output: the longest known input length, when every input of known
   * rank is a vector or scalar (shape arithmetic; the other inputs broadcast against it).
   */
  private setVectorLength(out: string, inputs: readonly string[]): void {
    if (inputs.some((x) => (this.ranks.get(x) ?? 0) > 1)) return;
    const lengths = inputs.map((x) => (this.ranks.get(x) === 0 ? 1 : this.length(x))).filter((x): x is number => x !== undefined);
    if (lengths.length > 0 && this.ranks.get(out) === 1) this.lengths.set(out, Math.max(...lengths));
  }

  /** Rank, element type and static length of each output, as far as the inputs fix them. */
  private infer(node: onnx.NodeProto, index: number): void {
    const op = node.opType;
    const inputs = node.input;
    const out = node.output[0];
    if (!out) return;
    const r = (i: number): number | undefined => (inputs[i] ? this.ranks.get(inputs[i]!) : undefined);
    const type = (i: number): number => (inputs[i] ? (this.elementTypes.get(inputs[i]!) ?? 0) : 0);
    const len = (i: number): number | undefined => (inputs[i] ? this.length(inputs[i]!) : undefined);
    const setRank = (value: number | undefined, name = out): void => {
      if (value !== undefined) this.ranks.set(name, value);
    };
    const setType = (value: number, name = out): void => {
      if (value) this.elementTypes.set(name, value);
    };
    const maxRank = (indices: number[]): number | undefined => {
      const ranks = indices.map(r);
      return ranks.some((x) => x === undefined) ? undefined : Math.max(...(ranks as number[]));
    };
    const axesOf = (): number[] | undefined => intsAttr(node, 'axes') ?? (inputs[1] ? this.ints(inputs[1]) : undefined);
    switch (op) {
      case 'Constant': {
        const value = attribute(node, 'value')?.t;
        if (value) this.setConstant(out, value);
        else {
          const ints = intsAttr(node, 'value_ints');
          const i = attribute(node, 'value_int');
          const floats = attribute(node, 'value_floats');
          const f = attribute(node, 'value_float');
          if (ints) this.constants.set(out, { dims: [ints.length], dataType: DataType.INT64, ints, size: ints.length });
          else if (i) this.constants.set(out, { dims: [], dataType: DataType.INT64, ints: [toNumber(i.i)], size: 1 });
          else if (floats) this.constants.set(out, { dims: [(floats.floats ?? []).length], dataType: DataType.FLOAT, ints: undefined, size: (floats.floats ?? []).length });
          else if (f) this.constants.set(out, { dims: [], dataType: DataType.FLOAT, ints: undefined, size: 1 });
          const c = this.constants.get(out);
          if (c) {
            setRank(c.dims.length);
            setType(c.dataType);
          }
        }
        return;
      }
      case 'Identity':
      case 'Dropout':
      case 'Neg':
      case 'Erf':
      case 'Tanh':
      case 'Sqrt':
      case 'Exp':
      case 'Log':
      case 'Relu':
      case 'Sigmoid':
      case 'Reciprocal':
      case 'Abs':
      case 'Softmax':
      case 'LogSoftmax':
      case 'LayerNormalization':
      case 'CumSum':
      case 'Clip':
      case 'ScatterElements':
      case 'ScatterND':
      case 'Not':
        setRank(r(0));
        setType(type(0));
        if (op !== 'Not' && len(0) !== undefined) this.lengths.set(out, len(0)!);
        return;
      case 'Cast':
      case 'CastLike':
        setRank(r(0));
        setType(op === 'Cast' ? intAttr(node, 'to', 0) : type(1));
        if (len(0) !== undefined) this.lengths.set(out, len(0)!);
        return;
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div':
      case 'Pow':
      case 'Max':
      case 'Min':
      case 'Sum':
      case 'Mod': {
        const indices = inputs.map((_, i) => i);
        setRank(maxRank(indices));
        setType(type(0));
        this.setVectorLength(out, inputs);
        return;
      }
      case 'Equal':
      case 'Less':
      case 'Greater':
      case 'LessOrEqual':
      case 'GreaterOrEqual':
      case 'And':
      case 'Or':
        setRank(maxRank([0, 1]));
        setType(DataType.BOOL);
        this.setVectorLength(out, inputs);
        return;
      case 'Where':
        setRank(maxRank([0, 1, 2]));
        setType(type(1));
        this.setVectorLength(out, inputs);
        return;
      case 'MatMul': {
        const a = r(0);
        const b = r(1);
        if (a !== undefined && b !== undefined) setRank(a === 1 && b === 1 ? 0 : a === 1 ? b - 1 : b === 1 ? a - 1 : Math.max(a, b));
        setType(type(0));
        return;
      }
      case 'GatherElements':
        setRank(r(1));
        setType(type(0));
        return;
      case 'Gemm':
        setRank(2);
        setType(type(0));
        return;
      case 'Gather': {
        const a = r(0);
        const b = r(1);
        if (a !== undefined && b !== undefined) setRank(a + b - 1);
        setType(type(0));
        const indices = inputs[1] ? this.constants.get(inputs[1]) : undefined;
        if (a === 1 && indices && b === 1) this.lengths.set(out, indices.size);
        return;
      }
      case 'Shape': {
        setRank(1);
        setType(DataType.INT64);
        const rank = r(0);
        if (rank === 1 && len(0) !== undefined && !attribute(node, 'start') && !attribute(node, 'end')) this.values.set(out, [len(0)!]);
        if (rank !== undefined) {
          const clamp = (x: number): number => Math.min(Math.max(x < 0 ? x + rank : x, 0), rank);
          this.lengths.set(out, Math.max(0, clamp(intAttr(node, 'end', rank)) - clamp(intAttr(node, 'start', 0))));
        }
        return;
      }
      case 'Size':
        setRank(0);
        setType(DataType.INT64);
        return;
      case 'ConstantOfShape': {
        setRank(len(0));
        const shape = inputs[0] ? this.ints(inputs[0]) : undefined;
        if (shape?.length === 1) this.lengths.set(out, shape[0]!);
        setType(attribute(node, 'value')?.t?.dataType ?? DataType.FLOAT);
        return;
      }
      case 'Range':
      case 'NonZero':
        setRank(op === 'Range' ? 1 : 2);
        setType(op === 'Range' ? type(0) : DataType.INT64);
        return;
      case 'Reshape':
        setRank(len(1));
        setType(type(0));
        if (len(1) === 1) {
          const target = inputs[1] ? this.ints(inputs[1]) : undefined;
          if (target && target[0]! > 0) this.lengths.set(out, target[0]!);
          else if (target?.[0] === -1 && r(0) === 0) this.lengths.set(out, 1);
          else if (target?.[0] === -1 && r(0) === 1 && len(0) !== undefined) this.lengths.set(out, len(0)!);
        }
        return;
      case 'Expand': {
        const a = r(0);
        const b = len(1);
        if (a !== undefined && b !== undefined) setRank(Math.max(a, b));
        setType(type(0));
        return;
      }
      case 'Transpose':
      case 'Slice':
      case 'Tile':
      case 'Split':
        for (const name of node.output) {
          setRank(r(0), name);
          setType(type(0), name);
        }
        return;
      case 'Concat': {
        setRank(r(0));
        setType(type(0));
        const lengths = inputs.map((_, i) => len(i));
        if (r(0) === 1 && lengths.every((x) => x !== undefined)) this.lengths.set(out, (lengths as number[]).reduce((a, b) => a + b, 0));
        return;
      }
      case 'Unsqueeze': {
        const axes = axesOf();
        const a = r(0);
        if (a !== undefined && axes) setRank(a + axes.length);
        setType(type(0));
        if (a === 0 && axes?.length === 1) this.lengths.set(out, 1);
        return;
      }
      case 'Squeeze': {
        const axes = axesOf();
        const a = r(0);
        if (a !== undefined && axes) setRank(a - axes.length);
        setType(type(0));
        return;
      }
      case 'Flatten':
        setRank(2);
        setType(type(0));
        return;
      case 'ReduceMean':
      case 'ReduceSum':
      case 'ReduceMax':
      case 'ReduceMin':
      case 'ReduceL2':
      case 'ReduceProd': {
        const a = r(0);
        const keep = intAttr(node, 'keepdims', 1) === 1;
        const axes = axesOf();
        if (a !== undefined) {
          if (keep) setRank(a);
          else if (axes && axes.length > 0) setRank(a - axes.length);
          else if (!(intAttr(node, 'noop_with_empty_axes', 0) === 1)) setRank(0);
        }
        setType(type(0));
        return;
      }
      default:
        // Ops the rank inference does not know leave their outputs' ranks unknown; a gradient rule that
        // needs one reports it then.
        void index;
        return;
    }
  }
}
