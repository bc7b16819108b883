/**
 * Emits the nodes and constants that the training graph adds to the user's graph, under one name prefix
 * so that they can never collide with the graph's own values.
 */
import { onnx } from 'onnx-proto';

const DataType = onnx.TensorProto.DataType;

/** Largest int64, the "to the end" bound of Slice. */
export const INT64_MAX = 9223372036854775807n;

/** Collects the nodes and initializers added to a graph. */
export class NodeEmitter {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  private counter = 0;
  private readonly constantCache = new Map<string, string>();

  /**
   * @param prefix prepended to every new name; the caller checks that no graph value starts with it
   * @param floatType element type of the graph's floating-point values (FLOAT or DOUBLE)
   */
  constructor(
    readonly prefix: string,
    readonly floatType: number,
  ) {}

  /** A fresh value name containing `hint` (for reading the graph). */
  fresh(hint: string): string {
    this.counter += 1;
    return `${this.prefix}${hint}_${this.counter}`;
  }

  /** Adds one node and returns its first output's name. */
  op(opType: string, inputs: readonly string[], attributes: onnx.IAttributeProto[] = [], hint = opType): string {
    return this.opMulti(opType, inputs, 1, attributes, hint)[0]!;
  }

  /** Adds one node with `outputs` outputs and returns their names. */
  opMulti(opType: string, inputs: readonly string[], outputs: number, attributes: onnx.IAttributeProto[] = [], hint = opType): string[] {
    const names = Array.from({ length: outputs }, () => this.fresh(hint));
    this.nodes.push({ opType, input: [...inputs], output: names, name: `${names[0]}_node`, attribute: attributes });
    return names;
  }

  /** An int64 constant: a 1-D tensor, or a scalar when `scalar` is set. */
  int64(values: readonly number[] | readonly bigint[], scalar = false): string {
    const big = (values as readonly (number | bigint)[]).map((v) => BigInt(v));
    const key = `i64:${scalar ? 's' : 'v'}:${big.join(',')}`;
    const cached = this.constantCache.get(key);
    if (cached) return cached;
    const name = this.fresh('const');
    const data = BigInt64Array.from(big);
    this.initializers.push({ name, dims: scalar ? [] : [big.length], dataType: DataType.INT64, rawData: new Uint8Array(data.buffer) });
    this.constantCache.set(key, name);
    return name;
  }

  /** A scalar constant of the graph's float type. */
  float(value: number): string {
    const key = `f:${value}`;
    const cached = this.constantCache.get(key);
    if (cached) return cached;
    const name = this.fresh('const');
    this.initializers.push(floatTensor(name, [], [value], this.floatType));
    this.constantCache.set(key, name);
    return name;
  }

  /** A one-element tensor proto of the graph's float type, for ConstantOfShape's `value`. */
  floatValue(value: number): onnx.ITensorProto {
    return floatTensor('', [1], [value], this.floatType);
  }
}

/** A float or double tensor proto from values. */
export function floatTensor(name: string, dims: readonly number[], values: ArrayLike<number>, dataType: number): onnx.ITensorProto {
  const data = dataType === DataType.DOUBLE ? Float64Array.from(values as ArrayLike<number>) : Float32Array.from(values as ArrayLike<number>);
  return { name, dims: [...dims], dataType, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** Attribute helpers (the ONNX attribute protos the emitter's callers need). */
export const attr = {
  int: (name: string, i: number): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INT, i }),
  ints: (name: string, ints: readonly number[]): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: [...ints] }),
  float: (name: string, f: number): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f }),
  string: (name: string, s: string): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(s) }),
  tensor: (name: string, t: onnx.ITensorProto): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.TENSOR, t }),
};
