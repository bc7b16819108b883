/**
 * Whole-model gradients of a 2-layer BERT-like classifier (the test models' graph, as Optimum lays it out)
 * against central finite differences of the project's independent float64 reference forward pass
 * (scripts/test-models.ts `referenceBertForward`), with padded rows of different lengths.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type * as Ort from 'onnxruntime-node';
import { toFloat64Model } from '../../src/core/finetune/precision';
import { buildTrainingGraph, TRAINING_GRAPH } from '../../src/core/finetune/trainingGraph';
import { SeededRandom } from '../../src/core/random';
import { openModelSession, tensor } from '../../src/core/runtime/onnxRuntime';
import { BERT_TINY, buildBertOnnx, randomBertWeights, referenceBertForward, type BertWeights } from '../../scripts/test-models';

/** The graph's initializer names (buildBertOnnx) and the arrays they were built from. */
function weightsByName(weights: BertWeights): Map<string, Float32Array> {
  const named = new Map<string, Float32Array>([
    ['embeddings.word', weights.wordEmbeddings],
    ['embeddings.position', weights.positionEmbeddings],
    ['embeddings.token_type', weights.tokenTypeEmbeddings],
    ['embeddings.norm.gamma', weights.embeddingNormGamma],
    ['embeddings.norm.beta', weights.embeddingNormBeta],
    ['pooler.weight', weights.pooler],
    ['pooler.bias', weights.poolerBias],
    ['classifier.weight', weights.classifier],
    ['classifier.bias', weights.classifierBias],
  ]);
  weights.layers.forEach((layer, l) => {
    const p = `layer${l}`;
    const parts: [string, Float32Array][] = [
      ['query.weight', layer.query],
      ['query.bias', layer.queryBias],
      ['key.weight', layer.key],
      ['key.bias', layer.keyBias],
      ['value.weight', layer.value],
      ['value.bias', layer.valueBias],
      ['attention_output.weight', layer.output],
      ['attention_output.bias', layer.outputBias],
      ['norm1.gamma', layer.attentionNormGamma],
      ['norm1.beta', layer.attentionNormBeta],
      ['intermediate.weight', layer.intermediate],
      ['intermediate.bias', layer.intermediateBias],
      ['output.weight', layer.feedForward],
      ['output.bias', layer.feedForwardBias],
      ['norm2.gamma', layer.outputNormGamma],
      ['norm2.beta', layer.outputNormBeta],
    ];
    for (const [name, values] of parts) named.set(`${p}.${name}`, values);
  });
  return named;
}

const ROWS = [
  { ids: [2, 17, 5, 33, 3], types: [0, 0, 0, 1, 1] },
  { ids: [2, 9, 3], types: [0, 0, 0] },
  { ids: [2, 17, 17, 4], types: [0, 1, 1, 1] },
];
const LABELS = [2, 0, 1];
const QUALITY = [0.9, 0, 0.6];
const ROW_WEIGHT = [0, 1.5, 0.2];

/** The batch padded to its longest row, as the model's feeds. */
function modelFeeds(): Record<string, Ort.Tensor> {
  const length = Math.max(...ROWS.map((r) => r.ids.length));
  const ids = new BigInt64Array(ROWS.length * length);
  const mask = new BigInt64Array(ROWS.length * length);
  const types = new BigInt64Array(ROWS.length * length);
  ROWS.forEach((row, b) =>
    row.ids.forEach((id, t) => {
      ids[b * length + t] = BigInt(id);
      mask[b * length + t] = 1n;
      types[b * length + t] = BigInt(row.types[t]!);
    }),
  );
  const dims = [ROWS.length, length];
  return { input_ids: tensor('int64', ids, dims), attention_mask: tensor('int64', mask, dims), token_type_ids: tensor('int64', types, dims) };
}

/** The weighted loss by the reference forward pass, with each row's weight given. */
function referenceLoss(weights: BertWeights, rowWeights: readonly number[]): { loss: number; goldProbability: number[] } {
  let loss = 0;
  const goldProbability: number[] = [];
  ROWS.forEach((row, b) => {
    const { logits } = referenceBertForward(weights, { ids: row.ids, tokenTypeIds: row.types });
    const max = Math.max(...logits);
    const logSum = Math.log(logits.reduce((s, z) => s + Math.exp(z - max), 0)) + max;
    const logP = logits[LABELS[b]!]! - logSum;
    goldProbability.push(Math.exp(logP));
    loss += (rowWeights[b]! * -logP) / ROWS.length;
  });
  return { loss, goldProbability };
}

describe('fine-tuning a 2-layer BERT-like classifier', () => {
  const weights = randomBertWeights({ ...BERT_TINY, vocabSize: 40, maxPositions: 16 }, 11, 3);
  const modelBytes = buildBertOnnx(weights, { output: 'sequence-classification', idType: 'int64', tokenTypeIds: true });
  const named = weightsByName(weights);

  test('every weight is trainable and its gradient matches finite differences of the float64 reference', async (t) => {
    const graph = buildTrainingGraph(toFloat64Model(modelBytes, 'tiny-bert.onnx'), 'tiny-bert.onnx');
    assert.deepEqual(graph.parameters.map((p) => p.name).sort(), [...named.keys()].sort());
    assert.deepEqual(graph.modelInputs, ['input_ids', 'attention_mask', 'token_type_ids']);
    const session = await openModelSession(graph.bytes, 'cpu', { intraOpThreads: 1 });
    let out: Ort.InferenceSession.ReturnType;
    try {
      const feeds: Record<string, Ort.Tensor> = {
        ...modelFeeds(),
        [TRAINING_GRAPH.labels]: tensor('int64', BigInt64Array.from(LABELS, BigInt), [3]),
        [TRAINING_GRAPH.quality]: tensor('float64', Float64Array.from(QUALITY), [3]),
        [TRAINING_GRAPH.rowWeight]: tensor('float64', Float64Array.from(ROW_WEIGHT), [3]),
      };
      for (const p of graph.parameters) feeds[p.name] = tensor('float64', Float64Array.from(named.get(p.name)!), p.dims);
      out = await session.run(feeds);
    } finally {
      await session.release();
    }
    const lossWeight = Array.from(out[TRAINING_GRAPH.lossWeight]!.data as Float64Array);
    const base = referenceLoss(weights, lossWeight);
    // The graph runs Erf in float32 (onnxruntime has no float64 kernel): agreement to ~1e-7, not 1e-15.
    const pGold = out[TRAINING_GRAPH.goldProbability]!.data as Float64Array;
    base.goldProbability.forEach((p, b) => assert.ok(Math.abs(p - pGold[b]!) < 1e-6, `row ${b}: p(gold) ${pGold[b]} vs reference ${p}`));
    base.goldProbability.forEach((p, b) => assert.ok(Math.abs(lossWeight[b]! - (ROW_WEIGHT[b]! + QUALITY[b]! / Math.max(p, 1e-6))) < 1e-5));
    assert.ok(Math.abs(Number(out[TRAINING_GRAPH.loss]!.data[0]) - base.loss) < 1e-6 * base.loss);

    const random = new SeededRandom(5);
    const usedTokens = [...new Set(ROWS.flatMap((r) => r.ids))];
    let worst = 0;
    let worstName = '';
    let worstNonZero = 0;
    let compared = 0;
    for (const p of graph.parameters) {
      const values = named.get(p.name)!;
      const gradient = out[p.gradient]!.data as Float64Array;
      const hidden = p.dims[p.dims.length - 1]!;
      // The largest gradient, two random elements, and for the word embeddings an element of a used token.
      let largest = 0;
      for (let i = 1; i < gradient.length; i++) if (Math.abs(gradient[i]!) > Math.abs(gradient[largest]!)) largest = i;
      const picks = [largest, random.nextInt(values.length), random.nextInt(values.length)];
      if (p.name === 'embeddings.word') picks.push(usedTokens[random.nextInt(usedTokens.length)]! * hidden + random.nextInt(hidden));
      let maxError = 0;
      for (const i of picks) {
        const original = values[i]!;
        values[i] = Math.fround(original + 1e-3);
        const up = values[i]!;
        const plus = referenceLoss(weights, lossWeight).loss;
        values[i] = Math.fround(original - 1e-3);
        const down = values[i]!;
        const minus = referenceLoss(weights, lossWeight).loss;
        values[i] = original;
        const numeric = (plus - minus) / (up - down);
        maxError = Math.max(maxError, Math.abs(numeric - gradient[i]!));
        compared += 1;
      }
      // The key bias has no effect on the loss (softmax over keys ignores a shift common to all of them):
      // its gradient is zero up to rounding, and is then compared on an absolute scale.
      const scale = Math.max(Math.abs(gradient[largest]!), 1e-6);
      const relative = maxError / scale;
      if (relative > worst) [worst, worstName] = [relative, p.name];
      if (Math.abs(gradient[largest]!) > 1e-6 && relative > worstNonZero) worstNonZero = relative;
      assert.ok(relative < 1e-4, `${p.name}: max |analytic − numeric| = ${maxError.toExponential(2)}, ${relative.toExponential(2)} of its largest gradient`);
    }
    t.diagnostic(`${graph.parameters.length} weights, ${compared} elements: worst error ${worst.toExponential(2)} of the weight's largest gradient (${worstName}); ${worstNonZero.toExponential(2)} among weights whose gradient is not zero in exact arithmetic`);
  });

  test('the float32 training graph agrees with the float64 one', async (t) => {
    const run = async (bytes: Uint8Array, type: 'float32' | 'float64'): Promise<Ort.InferenceSession.ReturnType> => {
      const graph = buildTrainingGraph(bytes, 'tiny-bert.onnx');
      const session = await openModelSession(graph.bytes, 'cpu', { intraOpThreads: 1 });
      try {
        const floats = (values: readonly number[] | Float32Array, dims: number[]): Ort.Tensor =>
          type === 'float32' ? tensor('float32', Float32Array.from(values), dims) : tensor('float64', Float64Array.from(values), dims);
        const feeds: Record<string, Ort.Tensor> = {
          ...modelFeeds(),
          [TRAINING_GRAPH.labels]: tensor('int64', BigInt64Array.from(LABELS, BigInt), [3]),
          [TRAINING_GRAPH.quality]: floats(QUALITY, [3]),
          [TRAINING_GRAPH.rowWeight]: floats(ROW_WEIGHT, [3]),
        };
        for (const p of graph.parameters) feeds[p.name] = floats(named.get(p.name)!, p.dims);
        const out = await session.run(feeds);
        return Object.fromEntries(graph.parameters.map((p) => [p.name, out[p.gradient]!]).concat([[TRAINING_GRAPH.loss, out[TRAINING_GRAPH.loss]!]]));
      } finally {
        await session.release();
      }
    };
    const single = await run(modelBytes, 'float32');
    const double = await run(toFloat64Model(modelBytes, 'tiny-bert.onnx'), 'float64');
    let worst = 0;
    // Gradients that are zero in exact arithmetic (the key bias) are float32 noise: compare them on the scale
    // of the model's gradients.
    const floor = 1e-3 * Math.max(...Object.values(double).map((v) => Math.max(...Array.from(v.data as Float64Array, Math.abs))));
    for (const [name, value] of Object.entries(double)) {
      const a = single[name]!.data as Float32Array;
      const b = value.data as Float64Array;
      let error = 0;
      let scale = 0;
      for (let i = 0; i < b.length; i++) {
        error = Math.max(error, Math.abs(a[i]! - b[i]!));
        scale = Math.max(scale, Math.abs(b[i]!));
      }
      scale = Math.max(scale, floor);
      worst = Math.max(worst, error / scale);
      assert.ok(error / scale < 1e-4, `${name}: float32 differs from float64 by ${(error / scale).toExponential(2)} of its largest value`);
    }
    t.diagnostic(`float32 vs float64 training graph: worst ${worst.toExponential(2)} of a gradient's largest value`);
  });
});
