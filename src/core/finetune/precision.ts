/**
 * A float32 ONNX graph rewritten in float64: for checking gradients against finite differences, where float32
 * rounding would hide errors. Ops onnxruntime's CPU provider has no double kernel for run in float32
 * between two Casts (their float32 rounding, ~1e-7 relative, is then the only loss of precision).
 */
import { onnx } from 'onnx-proto';
import { attribute, GraphIr, intAttr, tensorDims, tensorFloats } from './graphIr';

const DataType = onnx.TensorProto.DataType;

/** Ops without a float64 kernel in onnxruntime's CPU provider (1.30). */
export const FLOAT32_ONLY_OPS: ReadonlySet<string> = new Set(['Erf']);

function toDouble(tensor: onnx.ITensorProto): onnx.ITensorProto {
  if (tensor.dataType !== DataType.FLOAT) return tensor;
  const values = Float64Array.from(tensorFloats(tensor) ?? []);
  return { name: tensor.name, dims: tensorDims(tensor), dataType: DataType.DOUBLE, rawData: new Uint8Array(values.buffer) };
}

function valueToDouble(value: onnx.IValueInfoProto): onnx.IValueInfoProto {
  const tensorType = value.type?.tensorType;
  if (!tensorType || tensorType.elemType !== DataType.FLOAT) return value;
  return { ...value, type: { ...value.type, tensorType: { ...tensorType, elemType: DataType.DOUBLE } } };
}

/** The model with every float32 tensor, input, output and Cast target made float64. */
export function toFloat64Model(bytes: Uint8Array, file: string): Uint8Array {
  const ir = GraphIr.decode(bytes, file);
  const nodes: onnx.INodeProto[] = [];
  for (const node of ir.nodes) {
    const attributes = (node.attribute ?? []).map((a) => {
      if (a.t) return { ...a, t: toDouble(a.t) };
      if (node.opType === 'Cast' && a.name === 'to' && intAttr(node, 'to', 0) === DataType.FLOAT) return { ...a, i: DataType.DOUBLE };
      return a;
    });
    if (node.opType === 'Constant' && attribute(node, 'value_float')) {
      const f = attribute(node, 'value_float')!.f ?? 0;
      nodes.push({ ...node, attribute: [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: { dims: [], dataType: DataType.DOUBLE, rawData: new Uint8Array(Float64Array.of(f).buffer) } }] });
      continue;
    }
    if (FLOAT32_ONLY_OPS.has(node.opType)) {
      const narrowed = node.input.map((x) => `${x}.as_float32`);
      node.input.forEach((x, i) => nodes.push({ opType: 'Cast', input: [x], output: [narrowed[i]!], name: `${narrowed[i]}_cast`, attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: DataType.FLOAT }] }));
      const results = node.output.map((y) => `${y}.float32`);
      nodes.push({ ...node, input: narrowed, output: results, attribute: attributes });
      node.output.forEach((y, i) => nodes.push({ opType: 'Cast', input: [results[i]!], output: [y], name: `${y}_cast`, attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: DataType.DOUBLE }] }));
      continue;
    }
    nodes.push({ ...node, attribute: attributes });
  }
  const graph: onnx.IGraphProto = {
    ...ir.graph,
    node: nodes,
    initializer: ir.tensors.map(toDouble),
    input: ir.inputs.map(valueToDouble),
    output: ir.outputs.map(valueToDouble),
    valueInfo: (ir.graph.valueInfo ?? []).map(valueToDouble),
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create({ ...ir.model, graph })).finish();
}
