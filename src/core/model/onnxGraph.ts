import { onnx } from 'onnx-proto';

/**
 * Small helpers over `onnx-proto` for building ONNX graphs in TypeScript: the built-in model and the
 * trained heads are exported through these.
 */

/** Element types used by the project's graphs. */
export const ElementType = {
  float: onnx.TensorProto.DataType.FLOAT,
  int32: onnx.TensorProto.DataType.INT32,
  int64: onnx.TensorProto.DataType.INT64,
} as const;

/** A constant tensor (initializer) with its raw little-endian bytes. */
export function initializer(name: string, dims: readonly number[], data: Float32Array | Int32Array | BigInt64Array): onnx.ITensorProto {
  const dataType = data instanceof Float32Array ? ElementType.float : data instanceof Int32Array ? ElementType.int32 : ElementType.int64;
  const expected = dims.reduce((a, b) => a * b, 1);
  if (expected !== data.length) throw new Error(`initializer ${name}: dims [${dims.join(', ')}] hold ${expected} values, data has ${data.length}`);
  return { name, dims: [...dims], dataType, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** A graph input or output; a string dimension is symbolic (e.g. "batch"). */
export function valueInfo(name: string, elementType: number, dims: readonly (number | string)[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: elementType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** An integer attribute. */
export function intAttribute(name: string, value: number): onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i: value };
}

/** A float attribute. */
export function floatAttribute(name: string, value: number): onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: value };
}

/** A list-of-integers attribute (e.g. Transpose's `perm`). */
export function intsAttribute(name: string, values: readonly number[]): onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: [...values] };
}

/** A graph node. */
export function node(opType: string, inputs: readonly string[], outputs: readonly string[], attributes: onnx.IAttributeProto[] = []): onnx.INodeProto {
  return { opType, input: [...inputs], output: [...outputs], name: `${opType}_${outputs[0]}`, attribute: attributes };
}

/** Serialises a graph as an ONNX model (IR 7, default domain at `opset`). */
export function encodeModel(graph: onnx.IGraphProto, opset: number, docString: string): Uint8Array {
  const model: onnx.IModelProto = {
    irVersion: 7,
    producerName: 'dimp-curator',
    producerVersion: '1',
    docString,
    opsetImport: [{ domain: '', version: opset }],
    graph,
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}
