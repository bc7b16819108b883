// The training recipe's pieces: lazy Adam against a dense reference, weight diagnostics against hand-computed
// values, temperature scaling, treebank normalisation, the two baselines, and model selection that never
// looks at test rows.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { LabelMap } from '../../src/core/data/labels';
import { loadDataset, type Row } from '../../src/core/data/dataset';
import { runScoreJob } from '../../src/core/jobs/scoreJob';
import { resolveJobSettings } from '../../src/core/jobs/settings';
import { Featurizer, DEFAULT_FEATURIZER, normalizeText, type FeatureMatrix } from '../../src/core/model/featurizer';
import { NgramClassifier } from '../../src/core/model/ngramClassifier';
import { expectedCalibrationError, fitTemperature, labelShares, temperedNll } from '../../src/core/train/metrics';
import { checkerSummary, checkerWarning, describeLabelBalance } from '../../src/core/weighting/score';
import { DEFAULT_ENCODER_HEAD_SETTINGS } from '../../src/core/train/encoderHeadTraining';
import { DEFAULT_CHECKER_SETTINGS, DEFAULT_CLASSIFIER_SETTINGS, trainNgram } from '../../src/core/train/ngramTraining';
import { keepTopByQuality } from '../../src/core/train/run';
import { batchLoss, type BatchLossBuffers } from '../../src/core/train/trainer';
import { dominanceWarning, weightDiagnostics } from '../../src/core/weighting/weights';
import { SAMPLE_DIR, temporaryFolder } from './helpers';

describe('lazy Adam', () => {
  test('equals a dense reference that updates only the rows a batch touches', () => {
    const dim = 4;
    const numClasses = 3;
    const buckets = 16;
    // Rows of bucket ids; bucket 5 repeats within a row and across rows.
    const rows = [[1, 5, 5], [5, 7], [2, 3, 9, 11], [7, 1]];
    const offsets = Int32Array.from([0, ...rows.map((_, i) => rows.slice(0, i + 1).flat().length)]);
    const features: FeatureMatrix = { ids: Int32Array.from(rows.flat()), offsets, count: rows.length };
    const labels = [0, 2, 1, 2];
    const model = new NgramClassifier({ buckets, dim, numClasses }, 42);
    model.useOptimizer('adam');
    const start = model.parameters();
    // Adam turns round-off-sized gradients (1e-10 where float64 has 0) into steps of about lr·|g|/ε, so the
    // float32 model and this float64 reference agree to a small fraction of lr (2 %); updating an untouched
    // row, or decaying its moments, would be off by up to lr itself.
    const lr = 0.05;
    const tolerance = 0.02 * lr;
    // The dense reference: every bucket has a row (zero at first), with its own moments.
    const E = new Float64Array(buckets * dim);
    const W = Float64Array.from(start.weight);
    const b = Float64Array.from(start.bias);
    const moments = (n: number) => ({ m: new Float64Array(n), v: new Float64Array(n) });
    const mE = moments(E.length);
    const mW = moments(W.length);
    const mb = moments(b.length);
    const batches = [[0, 1], [2, 3], [1, 3], [0, 2]];
    let t = 0;
    for (const batch of batches) {
      // Reference forward: mean of the rows' embeddings, linear layer, softmax-CE gradient.
      const hidden = batch.map((r) => {
        const h = new Float64Array(dim);
        for (const id of rows[r]!) for (let d = 0; d < dim; d++) h[d]! += E[id * dim + d]! / rows[r]!.length;
        return h;
      });
      const gradLogits = new Float32Array(batch.length * numClasses);
      batch.forEach((r, i) => {
        const z = Array.from({ length: numClasses }, (_, c) => b[c]! + hidden[i]!.reduce((a, h, d) => a + h * W[d * numClasses + c]!, 0));
        const max = Math.max(...z);
        const e = z.map((x) => Math.exp(x - max));
        const sum = e.reduce((a, x) => a + x, 0);
        for (let c = 0; c < numClasses; c++) gradLogits[i * numClasses + c] = (e[c]! / sum - (c === labels[r] ? 1 : 0)) / batch.length;
      });
      const logits = new Float32Array(batch.length * numClasses);
      model.forward(features, Int32Array.from(batch), logits);
      model.backward(gradLogits, lr, null);
      // Reference gradients.
      const gW = new Float64Array(W.length);
      const gb = new Float64Array(b.length);
      const gE = new Map<number, Float64Array>();
      batch.forEach((r, i) => {
        const gh = new Float64Array(dim);
        for (let c = 0; c < numClasses; c++) {
          const g = gradLogits[i * numClasses + c]!;
          gb[c]! += g;
          for (let d = 0; d < dim; d++) {
            gW[d * numClasses + c]! += hidden[i]![d]! * g;
            gh[d]! += W[d * numClasses + c]! * g;
          }
        }
        for (const id of rows[r]!) {
          const row = gE.get(id) ?? new Float64Array(dim);
          for (let d = 0; d < dim; d++) row[d]! += gh[d]! / rows[r]!.length;
          gE.set(id, row);
        }
      });
      t += 1;
      const step = (p: Float64Array, s: { m: Float64Array; v: Float64Array }, i: number, g: number): void => {
        s.m[i] = 0.9 * s.m[i]! + 0.1 * g;
        s.v[i] = 0.999 * s.v[i]! + 0.001 * g * g;
        const mHat = s.m[i]! / (1 - 0.9 ** t);
        const vHat = s.v[i]! / (1 - 0.999 ** t);
        p[i]! -= (lr * mHat) / (Math.sqrt(vHat) + 1e-8);
      };
      for (let i = 0; i < W.length; i++) step(W, mW, i, gW[i]!);
      for (let i = 0; i < b.length; i++) step(b, mb, i, gb[i]!);
      for (const [id, g] of gE) for (let d = 0; d < dim; d++) step(E, mE, id * dim + d, g[d]!);
    }
    const end = model.parameters();
    for (let i = 0; i < W.length; i++) assert.ok(Math.abs(end.weight[i]! - W[i]!) < tolerance, `weight ${i}: ${end.weight[i]} vs ${W[i]}`);
    for (let i = 0; i < b.length; i++) assert.ok(Math.abs(end.bias[i]! - b[i]!) < tolerance, `bias ${i}`);
    for (let id = 0; id < buckets; id++) {
      const row = end.rowOf[id]!;
      for (let d = 0; d < dim; d++) {
        const ours = row === 0 ? 0 : end.embeddings[row * dim + d]!;
        assert.ok(Math.abs(ours - E[id * dim + d]!) < tolerance, `bucket ${id} dim ${d}: ${ours} vs ${E[id * dim + d]}`);
      }
    }
    // Buckets never in a batch stay exactly zero (never allocated).
    for (const id of [0, 4, 6, 8, 10, 12, 13, 14, 15]) assert.equal(end.rowOf[id], 0);
  });
});

describe('weight diagnostics', () => {
  test('effective sample size, largest weight and top-1 % share match hand-computed values', () => {
    const even = weightDiagnostics([1, 1, 1, 1]);
    assert.equal(even.effectiveSampleSize, 4);
    assert.equal(even.effectiveShare, 1);
    assert.equal(even.top1PercentShare, 0.25);
    const skewed = weightDiagnostics([3, 1]);
    assert.ok(Math.abs(skewed.effectiveSampleSize - 16 / 10) < 1e-12);
    assert.equal(skewed.maxWeight, 3);
    assert.equal(skewed.top1PercentShare, 0.75);
    // 200 rows: the top 1 % is 2 rows; two weights of 1000 among 198 of 1.
    const dominated = weightDiagnostics([1000, 1000, ...new Array<number>(198).fill(1)]);
    assert.ok(Math.abs(dominated.top1PercentShare - 2000 / 2198) < 1e-12);
    assert.ok(Math.abs(dominated.effectiveSampleSize - 2198 ** 2 / (2 * 1000 ** 2 + 198)) < 1e-9);
    assert.match(dominanceWarning(dominated) ?? '', /a few rows dominate/);
    assert.equal(dominanceWarning(even), undefined);
  });
});

describe('checker diagnostics', () => {
  test('expected calibration error and label shares by hand', () => {
    // Two rows in the 0.9 bin (one right, one wrong: accuracy 0.5, confidence 0.9) and two in the 0.6 bin
    // (both right: accuracy 1, confidence 0.6): ECE = (2·|0.5 − 0.9| + 2·|1 − 0.6|) / 4 = 0.4.
    const p = Float32Array.from([0.9, 0.1, 0.9, 0.1, 0.4, 0.6, 0.6, 0.4]);
    const ece = expectedCalibrationError(p, [0, 1, 1, 0], 2);
    assert.ok(Math.abs(ece - 0.4) < 1e-6, `ECE ${ece}`);
    assert.equal(expectedCalibrationError(Float32Array.from([1, 0, 0, 1]), [0, 1], 2), 0, 'certain and right');
    assert.deepEqual(labelShares([0, 1, 1, 1], 3), [0.25, 0.75, 0]);
  });

  test('the summary and the label balance say what a reviewer needs', () => {
    assert.equal(checkerSummary({ trainedOn: 'r', rows: 400, epochs: 40, bestEpoch: 3, selectionAccuracy: 0.64, selectionMajority: 0.545 }), 'quality checker 64.0 % (majority class 54.5 %)');
    assert.equal(checkerSummary({ trainedOn: 'r', rows: 400, epochs: 40, bestEpoch: 3 }), undefined);
    assert.equal(describeLabelBalance({ real: [0.48, 0.52], synthetic: [0.5, 0.5] }, ['0', '1']), 'labels 0/1: real 48/52 %, synthetic 50/50 %');
    assert.match(describeLabelBalance({ real: [0.5, 0.5], synthetic: [0.8, 0.2] }, ['neg', 'pos']), /differ by 30 points/);
  });

  test('a quality checker near chance is said, with the way out that fits its kind', () => {
    const near = { trainedOn: 'r', rows: 400, epochs: 40, bestEpoch: 3, selectionAccuracy: 0.57, selectionMajority: 0.545 };
    assert.equal(checkerWarning({ ...near, selectionAccuracy: 0.6 }, DEFAULT_CHECKER_SETTINGS), undefined, '5.5 points above the majority class is enough');
    assert.match(checkerWarning(near, DEFAULT_CHECKER_SETTINGS)!, /near chance \(57\.0 % where always guessing the majority class gives 54\.5 %\).*--encoder DIR/);
    const encoder = { ...DEFAULT_ENCODER_HEAD_SETTINGS, encoder: '/models/minilm' };
    assert.match(checkerWarning(near, encoder)!, /more real rows or a stronger checker model\.$/);
    assert.doesNotMatch(checkerWarning(near, encoder)!, /--encoder/);
    assert.match(checkerWarning(near)!, /a stronger checker model\.$/, 'checkers of unknown kind (an older scores file)');
  });
});

describe('temperature scaling', () => {
  test('finds the temperature that turns over-confident 0.99 into the observed 0.7', () => {
    const n = 100;
    const probabilities = new Float32Array(n * 2);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      probabilities[i * 2] = 0.99;
      probabilities[i * 2 + 1] = 0.01;
      labels[i] = i < 70 ? 0 : 1;
    }
    const T = fitTemperature(probabilities, labels, 2);
    // p_T(0) = 0.99^(1/T) / (0.99^(1/T) + 0.01^(1/T)) = 0.7  ⇔  T = ln 99 / ln(7/3).
    assert.ok(Math.abs(T - Math.log(99) / Math.log(7 / 3)) < 1e-3, `T = ${T}`);
    assert.ok(temperedNll(probabilities, labels, 2, T) < temperedNll(probabilities, labels, 2, 1));
  });
});

describe('treebank normalisation', () => {
  test('raw LLM text and treebank-tokenised real text share their features', () => {
    const featurizer = new Featurizer(DEFAULT_FEATURIZER);
    assert.deepEqual(featurizer.featurize(["I don't think it's &quot;great&quot;."]), featurizer.featurize(['i do n\'t think it \'s " great " .']));
    assert.equal(normalizeText('can’t &#34;x&#34; &amp; we’ll &bogus;'), 'ca n\'t "x" & we \'ll &bogus;');
  });
});

describe('baselines', () => {
  test('quality weights each row by q; filter keeps the top share by q in row order', () => {
    const buffers: BatchLossBuffers = { probabilities: new Float32Array(4), gradLogits: new Float32Array(4), weights: new Float32Array(2) };
    batchLoss(new Float32Array([0, 0, 1, -1]), [0, 1], 2, 'quality', { epsilon: 1e-6, maxWeight: null }, [0.2, 0.9], undefined, buffers);
    assert.deepEqual(Array.from(buffers.weights), [Math.fround(0.2), Math.fround(0.9)]);
    batchLoss(new Float32Array([0, 0, 1, -1]), [0, 1], 2, 'filter', { epsilon: 1e-6, maxWeight: null }, [0.2, 0.9], undefined, buffers);
    assert.deepEqual(Array.from(buffers.weights), [1, 1]);
    const rows: Row[] = ['a', 'b', 'c', 'd', 'e'].map((rowId, i) => ({ rowId, line: i + 1, texts: [rowId], label: 0, rawLabel: 0, byteOffset: 0, byteLength: 0 }));
    const kept = keepTopByQuality({ rows, quality: Float32Array.from([0.1, 0.9, 0.5, 0.9, 0.3]), diversity: Float32Array.from([1, 2, 3, 4, 5]) }, 0.6);
    assert.deepEqual(kept.rows.map((r) => r.rowId), ['b', 'c', 'd']);
    assert.deepEqual(Array.from(kept.diversity!), [2, 3, 4]);
  });
});

describe("fastText's initialisation", () => {
  test('starts with a zero output layer and draws each trained row in ±1/dim; the default starts the other way round', () => {
    const shape = { buckets: 64, dim: 8, numClasses: 2 };
    const fasttext = new NgramClassifier(shape, 7, 'fasttext');
    assert.ok(fasttext.parameters().weight.every((w) => w === 0), 'output layer zero');
    const features: FeatureMatrix = { ids: Int32Array.from([3, 5, 3]), offsets: Int32Array.from([0, 2, 3]), count: 2 };
    const logits = new Float32Array(4);
    fasttext.useOptimizer('sgd');
    fasttext.forward(features, [0, 1], logits);
    assert.deepEqual(Array.from(logits), [0, 0, 0, 0], 'untrained rows are zero in both initialisations');
    fasttext.backward(new Float32Array([0.5, -0.5, 0.5, -0.5]), 0);
    const rows = fasttext.parameters();
    assert.equal(rows.rows, 3, 'rows allocated for buckets 3 and 5');
    const drawn = rows.embeddings.subarray(shape.dim, 3 * shape.dim);
    assert.ok(drawn.every((v) => Math.abs(v) <= 1 / shape.dim) && drawn.some((v) => v !== 0), 'rows start in ±1/dim (the zero output layer passes them no gradient yet)');
    const again = new NgramClassifier(shape, 7, 'fasttext');
    again.useOptimizer('sgd');
    again.forward(features, [0, 1], logits);
    again.backward(new Float32Array([0.5, -0.5, 0.5, -0.5]), 0);
    assert.deepEqual(again.parameters().embeddings, rows.embeddings, 'the same seed draws the same rows');
    const zero = new NgramClassifier(shape, 7);
    assert.ok(zero.parameters().weight.some((w) => w !== 0), 'the default draws the output layer');
  });
});

describe('model selection', () => {
  test('the kept epoch and parameters do not depend on the test rows', async () => {
    const labels = new LabelMap(['negative', 'neutral', 'positive']);
    const synthetic = (await loadDataset(path.join(SAMPLE_DIR, 'synthetic.jsonl'), labels)).rows.slice(0, 1500);
    const validation = (await loadDataset(path.join(SAMPLE_DIR, 'real_val.jsonl'), labels)).rows;
    const test = (await loadDataset(path.join(SAMPLE_DIR, 'real_test.jsonl'), labels)).rows.slice(0, 300);
    const flipped = test.map((r) => ({ ...r, label: (r.label + 1) % 3 }));
    const settings = { ...DEFAULT_CLASSIFIER_SETTINGS, epochs: 6 };
    const a = await trainNgram({ rows: synthetic, numClasses: 3, settings, loss: 'ce', seed: 3, validation, test });
    const b = await trainNgram({ rows: synthetic, numClasses: 3, settings, loss: 'ce', seed: 3, validation, test: flipped });
    assert.equal(a.result.bestEpoch, b.result.bestEpoch);
    assert.deepEqual(a.model.parameters().weight, b.model.parameters().weight);
    const accuracies = a.result.epochs.map((e) => e.validation!.accuracy);
    assert.equal(a.result.bestEpoch, accuracies.indexOf(Math.max(...accuracies)) + 1, 'the first epoch with the best validation accuracy');
    assert.notDeepEqual(a.result.epochs.map((e) => e.test!.accuracy), b.result.epochs.map((e) => e.test!.accuracy), 'the test rows did differ');
  });

  test('checkers choose their epochs on the validation rows, else on a held-out third of the real rows', async () => {
    const { dir, cleanup } = temporaryFolder();
    try {
      const settings = resolveJobSettings({});
      const base = {
        synthetic: { path: path.join(SAMPLE_DIR, 'synthetic.jsonl') },
        real: { path: path.join(SAMPLE_DIR, 'real_train.jsonl') },
        labels: ['negative', 'neutral', 'positive'],
        checkerSettings: settings.checkerSettings,
        seed: 1,
        guards: settings.guards,
        device: 'cpu' as const,
      };
      const withValidation = await runScoreJob({ ...base, validation: { path: path.join(SAMPLE_DIR, 'real_val.jsonl') }, scoresFile: path.join(dir, 'a.scores.jsonl'), checkersDir: path.join(dir, 'a') });
      const checkers = withValidation.scores.header.checkers!;
      assert.equal(checkers.selection, 'validation');
      assert.equal(checkers.selectionRows, 200);
      assert.equal(checkers.quality!.rows, 300);
      assert.ok(checkers.quality!.bestEpoch >= 1 && checkers.quality!.bestEpoch <= checkers.quality!.epochs);
      assert.equal(checkers.quality!.temperature, undefined, "by default q is the checker's own probability (no temperature)");
      assert.ok(checkers.quality!.selectionAccuracy! > checkers.quality!.selectionMajority!, 'the sample is learnable');
      assert.ok(checkers.quality!.selectionMacroF1! > 0 && checkers.quality!.selectionMacroF1! <= 1);
      assert.ok(checkers.quality!.selectionCalibrationError! >= 0 && checkers.quality!.selectionCalibrationError! < 1);
      for (const shares of [checkers.labelBalance!.real, checkers.labelBalance!.synthetic]) {
        assert.equal(shares.length, 3);
        assert.ok(Math.abs(shares.reduce((a, b) => a + b, 0) - 1) < 1e-9, 'label shares sum to 1');
      }
      assert.ok(withValidation.scores.header.diagnostics!.effectiveSampleSize > 0);
      const heldOut = await runScoreJob({ ...base, calibrateQuality: true, scoresFile: path.join(dir, 'b.scores.jsonl'), checkersDir: path.join(dir, 'b') });
      assert.ok(heldOut.scores.header.checkers!.quality!.temperature! > 0, 'temperature scaling when asked for');
      assert.equal(heldOut.scores.header.checkers!.selection, 'held-out');
      assert.equal(heldOut.scores.header.checkers!.selectionRows, 100);
      // Retrained on all 300 real rows for the chosen number of epochs.
      assert.equal(heldOut.scores.header.checkers!.quality!.rows, 300);
    } finally {
      cleanup();
    }
  });
});
