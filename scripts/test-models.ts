// Builds small BERT-like ONNX models with seeded weights, in Hugging Face's folder layout, for tests and
// benchmarks (no model may be downloaded, so the project makes its own). Also a reference forward pass of
// the same weights in plain TypeScript (float64 loops, no ONNX), which the tests compare onnxruntime against.
//
//   node out/scripts/test-models.js OUT_DIR [--tokenizer PATH/tokenizer.json]
// writes OUT_DIR/{tiny-classifier, tiny-encoder, bert-mini-classifier}. Without --tokenizer it uses the
// project's shared BERT uncased WordPiece tokenizer (../shared/data/tokenizers/bert-base-uncased) when
// present, else a small WordPiece vocabulary built from the bundled sample.
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { onnx } from 'onnx-proto';
import { ElementType, encodeModel, floatAttribute, initializer, intAttribute, intsAttribute, node, valueInfo } from '../src/core/model/onnxGraph';
import { SeededRandom } from '../src/core/random';

/** Where the real BERT uncased tokenizer lives relative to the repository root. */
export const SHARED_BERT_TOKENIZER = path.join('..', 'shared', 'data', 'tokenizers', 'bert-base-uncased', 'tokenizer.json');

/** The size of a BERT-like encoder. */
export interface BertShape {
  layers: number;
  hidden: number;
  heads: number;
  intermediate: number;
  vocabSize: number;
  maxPositions: number;
  /** Token-type (segment) embeddings; 0 for a model without `token_type_ids` (DistilBERT-like). */
  typeVocabSize: number;
}

/** BERT-mini's shape (4 layers, hidden 256), the benchmark's model. */
export const BERT_MINI: Omit<BertShape, 'vocabSize'> = { layers: 4, hidden: 256, heads: 4, intermediate: 1024, maxPositions: 512, typeVocabSize: 2 };

/** A shape small enough for correctness tests. */
export const BERT_TINY: Omit<BertShape, 'vocabSize'> = { layers: 2, hidden: 64, heads: 4, intermediate: 128, maxPositions: 128, typeVocabSize: 2 };

interface LayerWeights {
  query: Float32Array;
  queryBias: Float32Array;
  key: Float32Array;
  keyBias: Float32Array;
  value: Float32Array;
  valueBias: Float32Array;
  output: Float32Array;
  outputBias: Float32Array;
  attentionNormGamma: Float32Array;
  attentionNormBeta: Float32Array;
  intermediate: Float32Array;
  intermediateBias: Float32Array;
  feedForward: Float32Array;
  feedForwardBias: Float32Array;
  outputNormGamma: Float32Array;
  outputNormBeta: Float32Array;
}

/** All weights of a BERT-like model; matrices are `[in, out]` row-major (ONNX MatMul's right operand). */
export interface BertWeights {
  shape: BertShape;
  wordEmbeddings: Float32Array;
  positionEmbeddings: Float32Array;
  tokenTypeEmbeddings: Float32Array;
  embeddingNormGamma: Float32Array;
  embeddingNormBeta: Float32Array;
  layers: LayerWeights[];
  pooler: Float32Array;
  poolerBias: Float32Array;
  /** `[hidden, numLabels]`; empty for an encoder. */
  classifier: Float32Array;
  classifierBias: Float32Array;
  numLabels: number;
}

/** What the graph outputs. */
export type BertOutput =
  /** `logits` [batch, numLabels] from the pooled [CLS] vector, as `BertForSequenceClassification`. */
  | 'sequence-classification'
  /** `last_hidden_state` [batch, sequence, hidden], as a feature-extraction export. */
  | 'last-hidden-state'
  /** `token_embeddings` and a mean-pooled, L2-normalised `sentence_embedding`, as a sentence-transformers export. */
  | 'sentence-embedding';

/** How the graph is laid out. */
export interface BertGraphOptions {
  output: BertOutput;
  /** Element type of the id inputs. */
  idType: 'int64' | 'int32';
  /** Whether the graph takes `token_type_ids` (needs `typeVocabSize` > 0). */
  tokenTypeIds: boolean;
}

const LAYER_NORM_EPSILON = 1e-12;
const MASKED_SCORE = -10000;

function gaussian(random: SeededRandom): number {
  // Box–Muller; 1 - u keeps the logarithm finite.
  const u = 1 - random.next();
  const v = random.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

function normal(random: SeededRandom, n: number, std: number, mean = 0): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = mean + std * gaussian(random);
  return out;
}

/**
 * Seeded random weights. BERT initialises with N(0, 0.02); layer norms here get a little noise too, and the
 * classifier a larger scale, so that probabilities spread out and a parity test has something to compare.
 */
export function randomBertWeights(shape: BertShape, seed: number, numLabels = 0): BertWeights {
  const random = new SeededRandom(seed);
  const { hidden: h, intermediate: m } = shape;
  const layers: LayerWeights[] = [];
  const wordEmbeddings = normal(random, shape.vocabSize * h, 0.02);
  const positionEmbeddings = normal(random, shape.maxPositions * h, 0.02);
  const tokenTypeEmbeddings = normal(random, shape.typeVocabSize * h, 0.02);
  const embeddingNormGamma = normal(random, h, 0.1, 1);
  const embeddingNormBeta = normal(random, h, 0.1);
  for (let l = 0; l < shape.layers; l++) {
    layers.push({
      query: normal(random, h * h, 0.02 * 4),
      queryBias: normal(random, h, 0.02),
      key: normal(random, h * h, 0.02 * 4),
      keyBias: normal(random, h, 0.02),
      value: normal(random, h * h, 0.02 * 4),
      valueBias: normal(random, h, 0.02),
      output: normal(random, h * h, 0.02 * 4),
      outputBias: normal(random, h, 0.02),
      attentionNormGamma: normal(random, h, 0.1, 1),
      attentionNormBeta: normal(random, h, 0.1),
      intermediate: normal(random, h * m, 0.02 * 4),
      intermediateBias: normal(random, m, 0.02),
      feedForward: normal(random, m * h, 0.02 * 4),
      feedForwardBias: normal(random, h, 0.02),
      outputNormGamma: normal(random, h, 0.1, 1),
      outputNormBeta: normal(random, h, 0.1),
    });
  }
  return {
    shape,
    wordEmbeddings,
    positionEmbeddings,
    tokenTypeEmbeddings,
    embeddingNormGamma,
    embeddingNormBeta,
    layers,
    pooler: normal(random, h * h, 1 / Math.sqrt(h)),
    poolerBias: normal(random, h, 0.02),
    classifier: normal(random, h * numLabels, 2 / Math.sqrt(h)),
    classifierBias: normal(random, numLabels, 0.1),
    numLabels,
  };
}

/** The BERT encoder (and head) as an ONNX graph at opset 17, inputs and outputs named as Optimum names them. */
export function buildBertOnnx(weights: BertWeights, options: BertGraphOptions): Uint8Array {
  const { shape } = weights;
  const { hidden: h, heads, intermediate: m } = shape;
  if (h % heads !== 0) throw new Error(`hidden ${h} is not a multiple of heads ${heads}`);
  if (options.tokenTypeIds && shape.typeVocabSize === 0) throw new Error('token_type_ids needs typeVocabSize > 0');
  const headDim = h / heads;
  const idElement = options.idType === 'int64' ? ElementType.int64 : ElementType.int32;
  const nodes: onnx.INodeProto[] = [];
  const inits: onnx.ITensorProto[] = [];
  const constant = (name: string, dims: number[], data: Float32Array | BigInt64Array): string => {
    inits.push(initializer(name, dims, data));
    return name;
  };
  const add = (op: string, inputs: string[], output: string, attributes: onnx.IAttributeProto[] = []): string => {
    nodes.push(node(op, inputs, [output], attributes));
    return output;
  };
  const linear = (x: string, w: Float32Array, b: Float32Array, rows: number, cols: number, name: string): string => {
    const product = add('MatMul', [x, constant(`${name}.weight`, [rows, cols], w)], `${name}.product`);
    return add('Add', [product, constant(`${name}.bias`, [cols], b)], `${name}.out`);
  };
  const layerNorm = (x: string, gamma: Float32Array, beta: Float32Array, name: string): string =>
    add('LayerNormalization', [x, constant(`${name}.gamma`, [h], gamma), constant(`${name}.beta`, [h], beta)], `${name}.out`, [
      intAttribute('axis', -1),
      floatAttribute('epsilon', LAYER_NORM_EPSILON),
    ]);
  const int64 = (name: string, values: number[]): string => constant(name, [values.length], BigInt64Array.from(values.map(BigInt)));

  // Embeddings: word + position (0..L-1) + token type, then layer norm.
  const ids = options.idType === 'int64' ? 'input_ids' : add('Cast', ['input_ids'], 'input_ids.int64', [intAttribute('to', ElementType.int64)]);
  const words = add('Gather', [constant('embeddings.word', [shape.vocabSize, h], weights.wordEmbeddings), ids], 'embeddings.words', [intAttribute('axis', 0)]);
  const length = add('Shape', ['input_ids'], 'sequence.length', [intAttribute('start', 1), intAttribute('end', 2)]);
  const positions = add('Slice', [constant('embeddings.position', [shape.maxPositions, h], weights.positionEmbeddings), int64('zero.1d', [0]), length, int64('axis0.1d', [0])], 'embeddings.positions');
  let summed = add('Add', [words, positions], 'embeddings.words_positions');
  if (options.tokenTypeIds) {
    const typeIds = options.idType === 'int64' ? 'token_type_ids' : add('Cast', ['token_type_ids'], 'token_type_ids.int64', [intAttribute('to', ElementType.int64)]);
    const types = add('Gather', [constant('embeddings.token_type', [shape.typeVocabSize, h], weights.tokenTypeEmbeddings), typeIds], 'embeddings.types', [intAttribute('axis', 0)]);
    summed = add('Add', [summed, types], 'embeddings.sum');
  } else if (shape.typeVocabSize > 0) {
    // Without the input every token has segment 0, as Hugging Face models do when it is omitted.
    summed = add('Add', [summed, constant('embeddings.token_type0', [h], weights.tokenTypeEmbeddings.slice(0, h))], 'embeddings.sum');
  }
  let x = layerNorm(summed, weights.embeddingNormGamma, weights.embeddingNormBeta, 'embeddings.norm');

  // Additive attention mask: 0 where attended, −10000 at padding; [batch, 1, 1, sequence].
  const maskFloat = add('Cast', ['attention_mask'], 'mask.float', [intAttribute('to', ElementType.float)]);
  const maskInverted = add('Sub', [constant('one', [], new Float32Array([1])), maskFloat], 'mask.inverted');
  const maskBias = add('Mul', [maskInverted, constant('masked_score', [], new Float32Array([MASKED_SCORE]))], 'mask.bias');
  const maskBias4d = add('Reshape', [maskBias, int64('mask.shape', [0, 1, 1, -1])], 'mask.bias4d');
  const scale = constant('attention.scale', [], new Float32Array([1 / Math.sqrt(headDim)]));
  const splitShape = int64('heads.shape', [0, 0, heads, headDim]);
  const mergeShape = int64('merge.shape', [0, 0, h]);

  weights.layers.forEach((layer, l) => {
    const p = `layer${l}`;
    const split = (t: string, perm: number[], name: string): string =>
      add('Transpose', [add('Reshape', [t, splitShape], `${name}.split`)], `${name}.heads`, [intsAttribute('perm', perm)]);
    const q = split(linear(x, layer.query, layer.queryBias, h, h, `${p}.query`), [0, 2, 1, 3], `${p}.q`);
    const k = split(linear(x, layer.key, layer.keyBias, h, h, `${p}.key`), [0, 2, 3, 1], `${p}.k`);
    const v = split(linear(x, layer.value, layer.valueBias, h, h, `${p}.value`), [0, 2, 1, 3], `${p}.v`);
    const scores = add('Add', [add('Mul', [add('MatMul', [q, k], `${p}.qk`), scale], `${p}.scaled`), maskBias4d], `${p}.scores`);
    const attention = add('Softmax', [scores], `${p}.attention`, [intAttribute('axis', -1)]);
    const context = add('Transpose', [add('MatMul', [attention, v], `${p}.context_heads`)], `${p}.context_t`, [intsAttribute('perm', [0, 2, 1, 3])]);
    const merged = add('Reshape', [context, mergeShape], `${p}.context`);
    const attended = linear(merged, layer.output, layer.outputBias, h, h, `${p}.attention_output`);
    const x1 = layerNorm(add('Add', [attended, x], `${p}.residual1`), layer.attentionNormGamma, layer.attentionNormBeta, `${p}.norm1`);
    // GELU (erf form, as BERT): 0.5 · u · (1 + erf(u / √2)).
    const u = linear(x1, layer.intermediate, layer.intermediateBias, h, m, `${p}.intermediate`);
    const erf = add('Erf', [add('Mul', [u, constant(`${p}.inv_sqrt2`, [], new Float32Array([Math.SQRT1_2]))], `${p}.u_scaled`)], `${p}.erf`);
    const gelu = add('Mul', [add('Mul', [u, constant(`${p}.half`, [], new Float32Array([0.5]))], `${p}.half_u`), add('Add', [erf, 'one'], `${p}.erf1`)], `${p}.gelu`);
    const ff = linear(gelu, layer.feedForward, layer.feedForwardBias, m, h, `${p}.output`);
    x = layerNorm(add('Add', [ff, x1], `${p}.residual2`), layer.outputNormGamma, layer.outputNormBeta, `${p}.norm2`);
  });

  const inputs = [valueInfo('input_ids', idElement, ['batch_size', 'sequence_length']), valueInfo('attention_mask', idElement, ['batch_size', 'sequence_length'])];
  if (options.tokenTypeIds) inputs.push(valueInfo('token_type_ids', idElement, ['batch_size', 'sequence_length']));
  const outputs: onnx.IValueInfoProto[] = [];
  if (options.output === 'sequence-classification') {
    if (weights.numLabels < 1) throw new Error('a sequence classifier needs numLabels > 0');
    const cls = add('Gather', [x, constant('cls.index', [], new BigInt64Array([0n]))], 'cls', [intAttribute('axis', 1)]);
    const pooled = add('Tanh', [linear(cls, weights.pooler, weights.poolerBias, h, h, 'pooler')], 'pooled');
    const logits = linear(pooled, weights.classifier, weights.classifierBias, h, weights.numLabels, 'classifier');
    add('Identity', [logits], 'logits');
    outputs.push(valueInfo('logits', ElementType.float, ['batch_size', weights.numLabels]));
  } else if (options.output === 'last-hidden-state') {
    add('Identity', [x], 'last_hidden_state');
    outputs.push(valueInfo('last_hidden_state', ElementType.float, ['batch_size', 'sequence_length', h]));
  } else {
    add('Identity', [x], 'token_embeddings');
    const mask3d = add('Reshape', [maskFloat, int64('mask3d.shape', [0, 1, -1])], 'mask3d');
    const sum = add('Reshape', [add('MatMul', [mask3d, x], 'pool.sum3d'), int64('pool.shape', [0, h])], 'pool.sum');
    const count = add('Max', [add('ReduceSum', [maskFloat, int64('axis1', [1])], 'pool.count', [intAttribute('keepdims', 1)]), constant('tiny', [], new Float32Array([1e-9]))], 'pool.divisor');
    const mean = add('Div', [sum, count], 'pool.mean');
    const norm = add('Max', [add('ReduceL2', [mean], 'pool.l2', [intsAttribute('axes', [-1]), intAttribute('keepdims', 1)]), constant('tiny_norm', [], new Float32Array([1e-12]))], 'pool.norm');
    add('Div', [mean, norm], 'sentence_embedding');
    outputs.push(valueInfo('token_embeddings', ElementType.float, ['batch_size', 'sequence_length', h]));
    outputs.push(valueInfo('sentence_embedding', ElementType.float, ['batch_size', h]));
  }
  return encodeModel({ name: 'dimp_test_bert', input: inputs, output: outputs, initializer: inits, node: nodes }, 17, 'DIMP Curator test model: a BERT-like encoder with seeded random weights');
}

/** One batch of token ids for the reference forward pass (rows may differ in length; no padding needed). */
export interface ReferenceInput {
  ids: readonly number[];
  tokenTypeIds?: readonly number[];
}

/** What the reference pass returns for one row. */
export interface ReferenceOutput {
  /** Logits (classifier) — empty for an encoder. */
  logits: Float64Array;
  /** Final hidden states, `length × hidden`. */
  hidden: Float64Array;
  /** Mean over tokens of `hidden`, L2-normalised (the `sentence_embedding` output). */
  sentenceEmbedding: Float64Array;
}

function matVec(x: Float64Array, xOffset: number, w: Float32Array, b: Float32Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(cols);
  for (let c = 0; c < cols; c++) out[c] = b[c]!;
  for (let r = 0; r < rows; r++) {
    const xr = x[xOffset + r]!;
    for (let c = 0; c < cols; c++) out[c]! += xr * w[r * cols + c]!;
  }
  return out;
}

function layerNormInPlace(x: Float64Array, offset: number, n: number, gamma: Float32Array, beta: Float32Array): void {
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[offset + i]!;
  mean /= n;
  let variance = 0;
  for (let i = 0; i < n; i++) variance += (x[offset + i]! - mean) ** 2;
  variance /= n;
  const inv = 1 / Math.sqrt(variance + LAYER_NORM_EPSILON);
  for (let i = 0; i < n; i++) x[offset + i] = (x[offset + i]! - mean) * inv * gamma[i]! + beta[i]!;
}

function erf(x: number): number {
  // Abramowitz–Stegun 7.1.26 is only good to 1e-7; a series/continued fraction keeps float64 accuracy.
  const t = Math.abs(x);
  if (t < 2.5) {
    let sum = t;
    let term = t;
    for (let n = 1; n < 200; n++) {
      term *= (-t * t) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc continued fraction (Lentz) for large |x|.
  let f = t;
  let c = t;
  let d = 0;
  for (let n = 1; n < 300; n++) {
    const a = n / 2;
    d = t + a * d;
    d = d === 0 ? 1e-300 : 1 / d;
    c = t + a / c;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-t * t) / (f * Math.sqrt(Math.PI));
  return Math.sign(x) * (1 - erfc);
}

/**
 * The same model as `buildBertOnnx`, computed directly in float64 on one unpadded row: an independent
 * implementation to check onnxruntime's results (and the loader's padding and masking) against.
 */
export function referenceBertForward(weights: BertWeights, input: ReferenceInput): ReferenceOutput {
  const { shape } = weights;
  const { hidden: h, heads, intermediate: m } = shape;
  const headDim = h / heads;
  const n = input.ids.length;
  let x = new Float64Array(n * h);
  for (let t = 0; t < n; t++) {
    const id = input.ids[t]!;
    const type = input.tokenTypeIds?.[t] ?? 0;
    for (let i = 0; i < h; i++) {
      const typeEmbedding = shape.typeVocabSize > 0 ? weights.tokenTypeEmbeddings[type * h + i]! : 0;
      x[t * h + i] = weights.wordEmbeddings[id * h + i]! + weights.positionEmbeddings[t * h + i]! + typeEmbedding;
    }
    layerNormInPlace(x, t * h, h, weights.embeddingNormGamma, weights.embeddingNormBeta);
  }
  for (const layer of weights.layers) {
    const q: Float64Array[] = [];
    const k: Float64Array[] = [];
    const v: Float64Array[] = [];
    for (let t = 0; t < n; t++) {
      q.push(matVec(x, t * h, layer.query, layer.queryBias, h, h));
      k.push(matVec(x, t * h, layer.key, layer.keyBias, h, h));
      v.push(matVec(x, t * h, layer.value, layer.valueBias, h, h));
    }
    const context = new Float64Array(n * h);
    for (let head = 0; head < heads; head++) {
      const o = head * headDim;
      for (let t = 0; t < n; t++) {
        const scores = new Float64Array(n);
        let max = -Infinity;
        for (let s = 0; s < n; s++) {
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += q[t]![o + d]! * k[s]![o + d]!;
          scores[s] = dot / Math.sqrt(headDim);
          max = Math.max(max, scores[s]!);
        }
        let sum = 0;
        for (let s = 0; s < n; s++) {
          scores[s] = Math.exp(scores[s]! - max);
          sum += scores[s]!;
        }
        for (let s = 0; s < n; s++) {
          const p = scores[s]! / sum;
          for (let d = 0; d < headDim; d++) context[t * h + o + d]! += p * v[s]![o + d]!;
        }
      }
    }
    const next = new Float64Array(n * h);
    for (let t = 0; t < n; t++) {
      const attended = matVec(context, t * h, layer.output, layer.outputBias, h, h);
      for (let i = 0; i < h; i++) attended[i]! += x[t * h + i]!;
      layerNormInPlace(attended, 0, h, layer.attentionNormGamma, layer.attentionNormBeta);
      const u = matVec(attended, 0, layer.intermediate, layer.intermediateBias, h, m);
      for (let i = 0; i < m; i++) u[i] = 0.5 * u[i]! * (1 + erf(u[i]! * Math.SQRT1_2));
      const ff = matVec(u, 0, layer.feedForward, layer.feedForwardBias, m, h);
      for (let i = 0; i < h; i++) ff[i]! += attended[i]!;
      layerNormInPlace(ff, 0, h, layer.outputNormGamma, layer.outputNormBeta);
      next.set(ff, t * h);
    }
    x = next;
  }
  let logits: Float64Array = new Float64Array(0);
  if (weights.numLabels > 0) {
    const pooled = matVec(x, 0, weights.pooler, weights.poolerBias, h, h).map(Math.tanh);
    logits = matVec(pooled, 0, weights.classifier, weights.classifierBias, h, weights.numLabels);
  }
  const mean = new Float64Array(h);
  for (let t = 0; t < n; t++) for (let i = 0; i < h; i++) mean[i]! += x[t * h + i]! / n;
  const norm = Math.max(Math.hypot(...mean), 1e-12);
  return { logits, hidden: x, sentenceEmbedding: mean.map((value) => value / norm) };
}

/** A `tokenizer.json` object (the subset this script writes). */
export type TokenizerJson = Record<string, unknown> & { model: Record<string, unknown> & { vocab: Record<string, number> } };

const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

/**
 * A BERT-style WordPiece tokenizer with the project's own small vocabulary: the special tokens, every
 * character seen (alone and as a `##` continuation), then the most frequent lowercase words of `texts`.
 */
export function buildWordPieceTokenizer(texts: readonly string[], maxWords = 2000): TokenizerJson {
  const counts = new Map<string, number>();
  const characters = new Set<string>();
  for (const text of texts) {
    for (const word of text.toLowerCase().normalize('NFD').replace(/\p{Mn}/gu, '').match(/[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu) ?? []) {
      counts.set(word, (counts.get(word) ?? 0) + 1);
      for (const ch of word) characters.add(ch);
    }
  }
  const vocab: Record<string, number> = {};
  const addToken = (token: string): void => {
    if (!(token in vocab)) vocab[token] = Object.keys(vocab).length;
  };
  SPECIAL_TOKENS.forEach(addToken);
  const sortedCharacters = [...characters].sort();
  sortedCharacters.forEach(addToken);
  sortedCharacters.forEach((ch) => addToken(`##${ch}`));
  [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, maxWords)
    .forEach(([word]) => addToken(word));
  const special = (content: string): Record<string, unknown> => ({ id: vocab[content], content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const cls = vocab['[CLS]']!;
  const sep = vocab['[SEP]']!;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map(special),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: { '[CLS]': { id: '[CLS]', ids: [cls], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [sep], tokens: ['[SEP]'] } },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
}

/** Reads a `tokenizer.json` and returns it with its vocabulary size. */
export function readTokenizerJson(file: string): { tokenizer: TokenizerJson; vocabSize: number } {
  const tokenizer = JSON.parse(readFileSync(file, 'utf8')) as TokenizerJson;
  const ids = Object.values(tokenizer.model.vocab);
  return { tokenizer, vocabSize: Math.max(...ids) + 1 };
}

/** What to write as a model folder. */
export interface TestModelFolder {
  weights: BertWeights;
  graph: BertGraphOptions;
  tokenizer: TokenizerJson;
  /** Label names for a classifier (`id2label`). */
  labels?: readonly string[];
  /** `model.onnx` at the root (Optimum) or `onnx/model.onnx` (Transformers.js). */
  layout?: 'root' | 'onnx-subfolder';
  /** `model_max_length` in `tokenizer_config.json`. */
  modelMaxLength?: number;
}

/** Writes a model folder in Hugging Face's layout: config.json, tokenizer.json, tokenizer_config.json and the graph. */
export async function writeTestModelFolder(dir: string, folder: TestModelFolder): Promise<string> {
  const { weights, graph } = folder;
  const { shape } = weights;
  const labels = folder.labels ?? [];
  const config: Record<string, unknown> = {
    architectures: [graph.output === 'sequence-classification' ? 'BertForSequenceClassification' : 'BertModel'],
    model_type: 'bert',
    hidden_size: shape.hidden,
    num_hidden_layers: shape.layers,
    num_attention_heads: shape.heads,
    intermediate_size: shape.intermediate,
    hidden_act: 'gelu',
    max_position_embeddings: shape.maxPositions,
    type_vocab_size: shape.typeVocabSize,
    vocab_size: shape.vocabSize,
    layer_norm_eps: LAYER_NORM_EPSILON,
    pad_token_id: 0,
    dimp_test_model: { note: 'random seeded weights built by scripts/test-models.ts; not a trained model' },
  };
  if (labels.length > 0) {
    config.id2label = Object.fromEntries(labels.map((name, i) => [String(i), name]));
    config.label2id = Object.fromEntries(labels.map((name, i) => [name, i]));
    config.problem_type = 'single_label_classification';
  }
  const tokenizerConfig = {
    tokenizer_class: 'BertTokenizer',
    do_lower_case: true,
    model_max_length: folder.modelMaxLength ?? shape.maxPositions,
    cls_token: '[CLS]',
    sep_token: '[SEP]',
    pad_token: '[PAD]',
    unk_token: '[UNK]',
    mask_token: '[MASK]',
  };
  const graphFile = folder.layout === 'onnx-subfolder' ? path.join(dir, 'onnx', 'model.onnx') : path.join(dir, 'model.onnx');
  await fs.mkdir(path.dirname(graphFile), { recursive: true });
  await fs.writeFile(graphFile, buildBertOnnx(weights, graph));
  await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  await fs.writeFile(path.join(dir, 'tokenizer.json'), JSON.stringify(folder.tokenizer));
  await fs.writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig, null, 2) + '\n');
  return dir;
}

/** Texts of the bundled sample (project-generated), for building a small vocabulary. */
export function sampleTexts(repoRoot: string): string[] {
  const texts: string[] = [];
  for (const file of ['real_train.jsonl', 'synthetic.jsonl']) {
    for (const line of readFileSync(path.join(repoRoot, 'sample', file), 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      const value = JSON.parse(line) as { text?: string; sentence?: string };
      const text = value.text ?? value.sentence;
      if (typeof text === 'string') texts.push(text);
    }
  }
  return texts;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { tokenizer: { type: 'string' } }, allowPositionals: true });
  const out = positionals[0];
  if (!out) {
    process.stderr.write('usage: node out/scripts/test-models.js OUT_DIR [--tokenizer tokenizer.json]\n');
    process.exitCode = 2;
    return;
  }
  const root = path.resolve(__dirname, '..', '..');
  const sharedTokenizer = path.join(root, SHARED_BERT_TOKENIZER);
  const tokenizerFile = values.tokenizer ?? (existsSync(sharedTokenizer) ? sharedTokenizer : undefined);
  const { tokenizer, vocabSize } = tokenizerFile ? readTokenizerJson(tokenizerFile) : (() => {
    const built = buildWordPieceTokenizer(sampleTexts(root));
    return { tokenizer: built, vocabSize: Object.keys(built.model.vocab).length };
  })();
  process.stdout.write(`tokenizer: ${tokenizerFile ?? 'a small WordPiece vocabulary built from sample/'} (${vocabSize} tokens)\n`);
  const labels = ['negative', 'neutral', 'positive'];
  const tiny = { ...BERT_TINY, vocabSize };
  const written = [
    await writeTestModelFolder(path.join(out, 'tiny-classifier'), {
      weights: randomBertWeights(tiny, 1, labels.length),
      graph: { output: 'sequence-classification', idType: 'int64', tokenTypeIds: true },
      tokenizer,
      labels,
    }),
    await writeTestModelFolder(path.join(out, 'tiny-encoder'), {
      weights: randomBertWeights(tiny, 2),
      graph: { output: 'last-hidden-state', idType: 'int64', tokenTypeIds: true },
      tokenizer,
      layout: 'onnx-subfolder',
    }),
    await writeTestModelFolder(path.join(out, 'bert-mini-classifier'), {
      weights: randomBertWeights({ ...BERT_MINI, vocabSize }, 3, labels.length),
      graph: { output: 'sequence-classification', idType: 'int64', tokenTypeIds: true },
      tokenizer,
      labels,
    }),
  ];
  for (const dir of written) process.stdout.write(`wrote ${dir}\n`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  });
}
