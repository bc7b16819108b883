/**
 * Exports a frozen encoder and its trained head as one deployable model folder in Hugging Face's layout.
 *
 * Design: the encoder's graph is copied and extended — the same pooling the embeddings were computed with,
 * then the head — so `model.onnx` is a self-contained sequence classifier (inputs `input_ids`,
 * `attention_mask`[, `token_type_ids`], output `logits`) that this loader, onnxruntime anywhere, or
 * Transformers.js can run with the copied tokenizer. The folder does not depend on the encoder folder
 * staying where it was; the price is a copy of the encoder per exported model. `head.onnx` (the head alone,
 * on pooled embeddings) and `config.json`'s `dimp_head` record what was trained on what.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import type { LabelMap } from '../../data/labels';
import { DimpError } from '../../errors';
import { writeFolderAtomic } from '../../io/atomic';
import { ElementType, initializer, intAttribute, intsAttribute, node, valueInfo } from '../onnxGraph';
import { POOL_COUNT_FLOOR } from './engine';
import type { TransformerFolder } from './folder';
import { buildHeadOnnx, HEAD_PREFIX, headGraphParts, type HeadParameters } from './headClassifier';

/** What an exported encoder + head folder is made of. */
export interface EncoderHeadExport {
  encoder: TransformerFolder;
  /** Identifies the encoder's embeddings (graph, tokenizer, pooling, maximum length). */
  encoderFingerprint: string;
  pooling: 'mean' | 'cls' | 'sentence_embedding';
  /** The encoder output pooled: last_hidden_state, token_embeddings or sentence_embedding. */
  embeddingOutput: string;
  /** Tokens per row the embeddings were computed with; the exported tokenizer truncates the same way. */
  maxLength: number;
  head: HeadParameters;
  labelMap: LabelMap;
  /** Added to `config.json` (e.g. how the head was trained). */
  extra?: Record<string, unknown>;
}

/** Tokenizer files copied with the model when the encoder folder has them. */
const TOKENIZER_FILES = ['tokenizer.json', 'special_tokens_map.json', 'vocab.txt', 'merges.txt', 'sentencepiece.bpe.model', 'spiece.model'];

const toNumber = (value: number | { toNumber(): number } | null | undefined): number => (value === null || value === undefined ? 0 : typeof value === 'number' ? value : value.toNumber());

/**
 * The encoder graph with pooling and head appended and `logits` as its only output. Names added carry the
 * `dimp_head/` prefix; a graph that already uses them (or `logits`) is refused rather than silently broken.
 */
export function appendPoolingAndHead(encoderBytes: Uint8Array, spec: Pick<EncoderHeadExport, 'pooling' | 'embeddingOutput' | 'head'>, graphFile: string): Uint8Array {
  const model = onnx.ModelProto.decode(encoderBytes);
  // Decoding yields full message instances, whose repeated fields are always arrays.
  const graph = model.graph as onnx.GraphProto | null;
  if (!graph) throw new DimpError('badModel', 'the ONNX file has no graph', { file: graphFile });
  const opset = toNumber(model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx')?.version);
  const names = new Set<string>([...graph.input.map((v) => v.name ?? ''), ...graph.initializer.map((t) => t.name ?? ''), ...graph.node.flatMap((n) => n.output ?? [])]);
  const clash = [...names].find((n) => n.startsWith(HEAD_PREFIX) || n === 'logits');
  if (clash) throw new DimpError('badModel', `the encoder graph already has a value named "${clash}"; it cannot take a head without renaming`, { file: graphFile });
  if (!graph.output.some((v) => v.name === spec.embeddingOutput)) throw new DimpError('badModel', `the encoder graph has no output ${spec.embeddingOutput}`, { file: graphFile });

  const p = (name: string): string => `${HEAD_PREFIX}${name}`;
  const nodes: onnx.INodeProto[] = [];
  const initializers: onnx.ITensorProto[] = [];
  let pooled: string;
  if (spec.pooling === 'sentence_embedding') {
    pooled = spec.embeddingOutput;
  } else if (spec.pooling === 'cls') {
    initializers.push(initializer(p('cls_index'), [], new BigInt64Array([0n])));
    nodes.push(node('Gather', [spec.embeddingOutput, p('cls_index')], [p('pooled')], [intAttribute('axis', 1)]));
    pooled = p('pooled');
  } else {
    // Mean over the attention mask, as the engine computes it: Σₜ maskₜ·hₜ / max(Σₜ maskₜ, floor).
    initializers.push(
      initializer(p('mask3d_shape'), [3], new BigInt64Array([0n, 1n, -1n])),
      initializer(p('pooled_shape'), [2], new BigInt64Array([0n, -1n])),
      initializer(p('count_floor'), [], new Float32Array([POOL_COUNT_FLOOR])),
    );
    nodes.push(
      node('Cast', ['attention_mask'], [p('mask')], [intAttribute('to', ElementType.float)]),
      node('Reshape', [p('mask'), p('mask3d_shape')], [p('mask3d')]),
      node('MatMul', [p('mask3d'), spec.embeddingOutput], [p('sum3d')]),
      node('Reshape', [p('sum3d'), p('pooled_shape')], [p('sum')]),
    );
    // ReduceSum takes its axes as an input from opset 13, as an attribute before.
    if (opset >= 13) {
      initializers.push(initializer(p('axis1'), [1], new BigInt64Array([1n])));
      nodes.push(node('ReduceSum', [p('mask'), p('axis1')], [p('count')], [intAttribute('keepdims', 1)]));
    } else {
      nodes.push(node('ReduceSum', [p('mask')], [p('count')], [intsAttribute('axes', [1]), intAttribute('keepdims', 1)]));
    }
    nodes.push(node('Max', [p('count'), p('count_floor')], [p('divisor')]), node('Div', [p('sum'), p('divisor')], [p('pooled')]));
    pooled = p('pooled');
  }
  const head = headGraphParts(spec.head, pooled, 'logits');
  graph.node.push(...nodes.map((n) => onnx.NodeProto.create(n)), ...head.nodes.map((n) => onnx.NodeProto.create(n)));
  graph.initializer.push(...[...initializers, ...head.initializers].map((t) => onnx.TensorProto.create(t)));
  graph.output = [onnx.ValueInfoProto.create(valueInfo('logits', ElementType.float, ['batch_size', spec.head.shape.numClasses]))];
  model.docString = `${model.docString ? `${model.docString}\n` : ''}With a ${spec.head.shape.kind} head trained by DIMP Curator on ${spec.pooling}-pooled embeddings.`;
  return onnx.ModelProto.encode(model).finish();
}

/** External-data files a graph refers to, relative to its folder. */
function externalLocations(encoderBytes: Uint8Array): string[] {
  const model = onnx.ModelProto.decode(encoderBytes);
  const locations = new Set<string>();
  for (const tensor of (model.graph as onnx.GraphProto | null)?.initializer ?? []) {
    if (tensor.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) continue;
    const location = (tensor.externalData ?? []).find((e) => e.key === 'location')?.value;
    if (location) locations.add(location);
  }
  return [...locations];
}

/** Writes the folder's files into `dir` (which exists): model.onnx, head.onnx, config.json, tokenizer files. */
export async function writeEncoderHeadFiles(dir: string, spec: EncoderHeadExport): Promise<void> {
  const { encoder, head, labelMap } = spec;
  if (head.shape.numClasses !== labelMap.size) throw new Error(`the head has ${head.shape.numClasses} classes, the label map ${labelMap.size}`);
  const encoderBytes = await fs.readFile(encoder.graphFile);
  await fs.writeFile(path.join(dir, 'model.onnx'), appendPoolingAndHead(encoderBytes, spec, encoder.graphFile));
  // Large encoders keep their weights in external files, named relative to the graph: copy them alongside.
  for (const location of externalLocations(encoderBytes)) {
    const source = path.resolve(path.dirname(encoder.graphFile), location);
    const target = path.resolve(dir, location);
    if (!target.startsWith(path.resolve(dir) + path.sep)) throw new DimpError('badModel', `external data location "${location}" points outside the model folder`, { file: encoder.graphFile });
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.copyFile(source, target);
  }
  await fs.writeFile(path.join(dir, 'head.onnx'), buildHeadOnnx(head));
  for (const name of TOKENIZER_FILES) {
    const source = path.join(encoder.folder, name);
    if (await fs.stat(source).catch(() => undefined)) await fs.copyFile(source, path.join(dir, name));
  }
  // The embeddings were computed at this maximum length; the exported tokenizer must cut rows the same way.
  const tokenizerConfig = { ...encoder.tokenizerConfig, model_max_length: spec.maxLength };
  await fs.writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig, null, 2) + '\n');
  const config = {
    ...encoder.config,
    architectures: ['DimpEncoderWithHead'],
    id2label: labelMap.toId2Label(),
    label2id: labelMap.toLabel2Id(),
    num_labels: labelMap.size,
    problem_type: 'single_label_classification',
    dimp_head: {
      head: head.shape.kind,
      hidden_units: head.shape.hiddenUnits,
      input_dim: head.shape.inputDim,
      pooling: spec.pooling,
      embedding_output: spec.embeddingOutput,
      max_length: spec.maxLength,
      head_graph: 'head.onnx',
      encoder: { folder: path.resolve(encoder.folder), fingerprint: spec.encoderFingerprint },
    },
    ...spec.extra,
  };
  await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
}

/** Saves an encoder + head as a new model folder, atomically (whole or not at all). */
export async function saveEncoderHeadModel(target: string, spec: EncoderHeadExport): Promise<void> {
  await fs.rm(target, { recursive: true, force: true });
  await writeFolderAtomic(target, (tmp) => writeEncoderHeadFiles(tmp, spec));
}
