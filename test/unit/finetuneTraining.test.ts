/**
 * The fine-tuning loop without Python: AdamW and its schedule against their formulas, and the FineTuner on
 * the 2-layer BERT-like test classifier (it learns a batch; its exported model is an ordinary inference graph
 * that gives the probabilities the training graph saw).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AdamW, DEFAULT_ADAMW, linearScheduleRate } from '../../src/core/finetune/adamw';
import { FineTuner } from '../../src/core/finetune/fineTuner';
import { openModelSession, tensor } from '../../src/core/runtime/onnxRuntime';
import { BERT_TINY, buildBertOnnx, randomBertWeights } from '../../scripts/test-models';

describe('AdamW and the linear schedule', () => {
  test('warm-up rises from 0, then the rate decays linearly to 0 at the last step', () => {
    const settings = { learningRate: 1e-3, warmupSteps: 4, totalSteps: 12 };
    assert.deepEqual([0, 1, 2, 3].map((s) => linearScheduleRate(settings, s)), [0, 2.5e-4, 5e-4, 7.5e-4]);
    assert.equal(linearScheduleRate(settings, 4), 1e-3);
    assert.ok(Math.abs(linearScheduleRate(settings, 8) - 5e-4) < 1e-18);
    assert.equal(linearScheduleRate(settings, 12), 0);
    assert.equal(linearScheduleRate({ ...settings, warmupSteps: 0 }, 0), 1e-3);
  });

  test('one step: bias-corrected moments, decoupled decay on matrices only, clipping of the global norm', () => {
    const matrix = { name: 'w', dims: [1, 2], values: Float32Array.from([1, -2]) };
    const bias = { name: 'b', dims: [1], values: Float32Array.from([0.5]) };
    const optimizer = new AdamW([matrix, bias], { ...DEFAULT_ADAMW, learningRate: 0.1, weightDecay: 0.5, maxGradNorm: 1, totalSteps: 10 });
    const step = optimizer.update([Float32Array.from([3, 0]), Float32Array.from([4])]);
    assert.equal(step.gradNorm, 5);
    assert.ok(Math.abs(step.clipScale - 1 / (5 + 1e-6)) < 1e-12);
    // After one step m̂ = g and v̂ = g², so each weight moves by lr·g/(|g| + ε) ≈ lr·sign(g); decay only on w.
    const move = (g: number): number => (0.1 * g) / (Math.abs(g) + 1e-8);
    assert.ok(Math.abs(matrix.values[0]! - (1 * (1 - 0.1 * 0.5) - move(3 * step.clipScale))) < 1e-6);
    assert.ok(Math.abs(matrix.values[1]! - -2 * (1 - 0.1 * 0.5)) < 1e-6);
    assert.ok(Math.abs(bias.values[0]! - (0.5 - move(4 * step.clipScale))) < 1e-6);
  });

  test('skipping rows that never had a gradient gives the dense update bit for bit, with and without weight decay', () => {
    // An embedding of 6 rows × 3 and a bias; each step's batch touches a few rows (zero gradient elsewhere),
    // rows 4 and 5 only late, row 5 with −0; a touched row then has zero gradients in later steps.
    const touched = [[0, 1], [1], [], [2, 4], [0], [5], [3]];
    for (const weightDecay of [0, 0.1]) {
      const settings = { ...DEFAULT_ADAMW, learningRate: 0.05, weightDecay, warmupSteps: 2, maxGradNorm: 0.5, totalSteps: touched.length };
      const embedding = Float32Array.from({ length: 18 }, (_, i) => Math.sin(i + 1));
      const bias = Float32Array.from([0.3, -0.2, 0.1]);
      const optimizer = new AdamW([{ name: 'emb', dims: [6, 3], values: embedding }, { name: 'b', dims: [3], values: bias }], settings);
      const dense = denseAdamW([embedding.slice(), bias.slice()], [true, false], settings);
      touched.forEach((rows, step) => {
        const g = new Float32Array(18);
        for (const row of rows) for (let j = 0; j < 3; j++) g[row * 3 + j] = row === 5 && j === 0 ? -0 : Math.cos(step * 7 + row * 3 + j);
        const gb = Float32Array.from([step % 3 === 0 ? 0 : 0.2, -0.1, 0.05 * step]);
        optimizer.update([g, gb]);
        dense.update([g, gb]);
        assert.deepEqual(Array.from(embedding), Array.from(dense.values[0]!), `weight decay ${weightDecay}, step ${step}: embedding`);
        assert.deepEqual(Array.from(bias), Array.from(dense.values[1]!), `weight decay ${weightDecay}, step ${step}: bias`);
      });
    }
  });

  test('a gradient that is not finite stops training with a message', () => {
    const optimizer = new AdamW([{ name: 'w', dims: [1], values: Float32Array.from([1]) }], { ...DEFAULT_ADAMW, totalSteps: 1 });
    assert.throws(() => optimizer.update([Float32Array.from([Number.NaN])]), /diverged/);
  });
});

describe('the FineTuner on a 2-layer BERT-like classifier', () => {
  test('learns a batch, and its exported model gives the probabilities the training graph computed', async () => {
    const weights = randomBertWeights({ ...BERT_TINY, vocabSize: 40, maxPositions: 16 }, 21, 3);
    const modelBytes = buildBertOnnx(weights, { output: 'sequence-classification', idType: 'int64', tokenTypeIds: true });
    const rows = 4;
    const length = 6;
    const ids = BigInt64Array.from({ length: rows * length }, (_, i) => BigInt(2 + ((i * 7) % 37)));
    const ones = new BigInt64Array(rows * length).fill(1n);
    const zeros = new BigInt64Array(rows * length);
    const modelFeeds = () => ({
      input_ids: tensor('int64', ids, [rows, length]),
      attention_mask: tensor('int64', ones, [rows, length]),
      token_type_ids: tensor('int64', zeros, [rows, length]),
    });
    const batch = { modelFeeds: modelFeeds(), labels: [0, 1, 2, 1], quality: [0.9, 0, 0.7, 0], rowWeight: [0, 1, 0, 1] };
    const tuner = await FineTuner.open(modelBytes, 'tiny-bert.onnx', { intraOpThreads: 1, optimizer: { ...DEFAULT_ADAMW, learningRate: 3e-3, warmupSteps: 2, totalSteps: 30 } });
    let first: number | undefined;
    let last: { crossEntropy: number; goldProbability: Float32Array } | undefined;
    try {
      for (let step = 0; step < 30; step++) {
        const result = await tuner.step(batch);
        first ??= result.crossEntropy;
        assert.ok(result.lossWeight.every((w, i) => (batch.quality[i]! > 0 ? Math.abs(w - batch.quality[i]! / result.goldProbability[i]!) < 1e-4 * w : w === 1)));
      }
      const after = await tuner.backward(batch);
      last = after;
      assert.ok(after.crossEntropy < 0.2 * first!, `cross-entropy ${first} → ${after.crossEntropy}`);
    } finally {
      await tuner.release();
    }
    const exported = await openModelSession(tuner.exportModel(), 'cpu');
    try {
      assert.deepEqual(exported.inputNames, ['input_ids', 'attention_mask', 'token_type_ids']);
      const logits = (await exported.run(modelFeeds())).logits!.data as Float32Array;
      for (let row = 0; row < rows; row++) {
        const z = Array.from(logits.slice(row * 3, row * 3 + 3));
        const sum = z.reduce((s, v) => s + Math.exp(v), 0);
        const p = Math.exp(z[batch.labels[row]!]!) / sum;
        assert.ok(Math.abs(p - last!.goldProbability[row]!) < 1e-5, `row ${row}: ${p} vs ${last!.goldProbability[row]}`);
      }
    } finally {
      await exported.release();
    }
  });

  test('gradient accumulation over micro-batches takes the step the whole batch takes', async () => {
    const weights = randomBertWeights({ ...BERT_TINY, vocabSize: 40, maxPositions: 16 }, 22, 2);
    const modelBytes = buildBertOnnx(weights, { output: 'sequence-classification', idType: 'int64', tokenTypeIds: true });
    const length = 5;
    const batchOf = (rows: number[]) => {
      const ids = BigInt64Array.from(rows.flatMap((r) => Array.from({ length }, (_, t) => BigInt(2 + ((r * 11 + t * 5) % 37)))));
      const ones = new BigInt64Array(rows.length * length).fill(1n);
      return {
        modelFeeds: { input_ids: tensor('int64', ids, [rows.length, length]), attention_mask: tensor('int64', ones, [rows.length, length]), token_type_ids: tensor('int64', new BigInt64Array(rows.length * length), [rows.length, length]) },
        labels: rows.map((r) => r % 2),
        quality: rows.map((r) => (r % 3 === 0 ? 0.8 : 0)),
        rowWeight: rows.map((r) => (r % 3 === 0 ? 0 : 1.2)),
      };
    };
    const options = { intraOpThreads: 1, optimizer: { ...DEFAULT_ADAMW, learningRate: 1e-3, totalSteps: 3 } };
    const whole = await FineTuner.open(modelBytes, 'tiny-bert.onnx', options);
    const parts = await FineTuner.open(modelBytes, 'tiny-bert.onnx', options);
    try {
      for (let step = 0; step < 3; step++) {
        const a = await whole.step(batchOf([0, 1, 2, 3, 4]));
        const b = await parts.stepAccumulated([batchOf([0, 1]), batchOf([2, 3, 4])]);
        assert.ok(Math.abs(a.loss - b.loss) < 1e-6 * Math.abs(a.loss), `step ${step}: loss ${a.loss} vs ${b.loss}`);
        assert.ok(Math.abs(a.gradNorm - b.gradNorm) < 1e-5 * a.gradNorm, `step ${step}: gradient norm ${a.gradNorm} vs ${b.gradNorm}`);
        assert.deepEqual(Array.from(b.goldProbability, (p) => p.toFixed(5)), Array.from(a.goldProbability, (p) => p.toFixed(5)));
      }
      // The key biases' gradients are zero up to float32 rounding (softmax ignores a shift common to all keys),
      // and Adam scales that noise up to steps of ±lr: only the other weights can be compared.
      for (const p of whole.graph.parameters.filter((q) => !q.name.endsWith('key.bias'))) {
        const x = whole.weight(p.name)!;
        const y = parts.weight(p.name)!;
        for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i]! - y[i]!) < 1e-5, `${p.name}[${i}]: ${x[i]} vs ${y[i]}`);
      }
    } finally {
      await whole.release();
      await parts.release();
    }
  });
});

/**
 * The dense AdamW update as first written (every weight every step, in float32 storage): the reference that the
 * row-skipping optimiser must match bit for bit.
 */
function denseAdamW(values: Float32Array[], decays: boolean[], settings: typeof DEFAULT_ADAMW & { totalSteps: number }): { values: Float32Array[]; update: (gradients: Float32Array[]) => void } {
  const m = values.map((v) => new Float32Array(v.length));
  const v2 = values.map((v) => new Float32Array(v.length));
  let step = 0;
  return {
    values,
    update: (gradients) => {
      const { beta1, beta2, epsilon, weightDecay, maxGradNorm } = settings;
      let squares = 0;
      for (const g of gradients) for (let i = 0; i < g.length; i++) squares += g[i]! * g[i]!;
      const clipScale = maxGradNorm === null ? 1 : Math.min(1, maxGradNorm / (Math.sqrt(squares) + 1e-6));
      const learningRate = linearScheduleRate(settings, step);
      step += 1;
      const stepSize = learningRate / (1 - beta1 ** step);
      const correction2Root = Math.sqrt(1 - beta2 ** step);
      values.forEach((w, k) => {
        const g = gradients[k]!;
        for (let i = 0; i < w.length; i++) {
          const gi = g[i]! * clipScale;
          m[k]![i] = beta1 * m[k]![i]! + (1 - beta1) * gi;
          v2[k]![i] = beta2 * v2[k]![i]! + (1 - beta2) * gi * gi;
          const theta = decays[k] && weightDecay !== 0 ? w[i]! * (1 - learningRate * weightDecay) : w[i]!;
          w[i] = theta - (stepSize * m[k]![i]!) / (Math.sqrt(v2[k]![i]!) / correction2Root + epsilon);
        }
      });
    },
  };
}
