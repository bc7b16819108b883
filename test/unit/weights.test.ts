import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { batchLoss, weightHistogram, type BatchLossBuffers } from '../../src/core/train/trainer';
import { evaluatePredictions } from '../../src/core/train/metrics';
import { dimpWeight, impWeight } from '../../src/core/weighting/weights';
import { DEFAULT_CHECKER_SETTINGS, epochsFor } from '../../src/core/train/ngramTraining';

const guards = { epsilon: 1e-6, maxWeight: null };

function buffers(rows: number, classes: number): BatchLossBuffers {
  return { probabilities: new Float32Array(rows * classes), gradLogits: new Float32Array(rows * classes), weights: new Float32Array(rows) };
}

describe('IMP and DIMP weights', () => {
  test('IMP weight is q / d', () => {
    assert.equal(impWeight(0.6, 0.3, guards), 2);
    assert.equal(impWeight(0.2, 0.8, guards), 0.25);
  });

  test('the denominator is clamped at ε, and the cap applies after the division', () => {
    assert.equal(impWeight(0.5, 0, guards), 0.5 / 1e-6);
    assert.equal(dimpWeight(0.5, 1e-9, { epsilon: 1e-3, maxWeight: null }), 500);
    assert.equal(impWeight(0.9, 0.01, { epsilon: 1e-6, maxWeight: 10 }), 10);
    assert.equal(impWeight(0.9, 0.3, { epsilon: 1e-6, maxWeight: 10 }), 0.9 / 0.3);
  });
});

describe('batch loss', () => {
  // Two rows, two classes. Row 0: logits (0, ln 3) → p = (1/4, 3/4), gold 1. Row 1: logits (0, 0) → p = (1/2, 1/2), gold 0.
  const logits = new Float32Array([0, Math.log(3), 0, 0]);
  const labels = [1, 0];
  const ce0 = -Math.log(3 / 4);
  const ce1 = -Math.log(1 / 2);

  test('ce is the plain mean of cross-entropies', () => {
    const b = buffers(2, 2);
    const { objective, crossEntropy } = batchLoss(logits, labels, 2, 'ce', guards, undefined, undefined, b);
    assert.ok(Math.abs(objective - (ce0 + ce1) / 2) < 1e-6);
    assert.ok(Math.abs(crossEntropy - (ce0 + ce1) / 2) < 1e-6);
    // ∂/∂z = (1/B)(p − onehot)
    assert.deepEqual(Array.from(b.gradLogits, (x) => Number(x.toFixed(6))), [0.125, -0.125, -0.25, 0.25]);
  });

  test('imp weighs each CE by q/d and keeps the plain batch mean (not divided by Σw)', () => {
    const b = buffers(2, 2);
    const quality = [0.9, 0.2];
    const diversity = [0.3, 0.8];
    const { objective } = batchLoss(logits, labels, 2, 'imp', guards, quality, diversity, b);
    const w0 = 0.9 / 0.3;
    const w1 = 0.2 / 0.8;
    assert.ok(Math.abs(objective - (w0 * ce0 + w1 * ce1) / 2) < 1e-5);
    assert.ok(Math.abs(b.weights[0]! - w0) < 1e-6);
    assert.ok(Math.abs(b.gradLogits[0]! - (w0 / 2) * 0.25) < 1e-6);
    assert.ok(Math.abs(b.gradLogits[3]! - (w1 / 2) * 0.5) < 1e-6);
  });

  test('dimp divides q by the model’s own gold probability from the same forward pass', () => {
    const b = buffers(2, 2);
    const quality = [0.6, 0.4];
    const { objective } = batchLoss(logits, labels, 2, 'dimp', guards, quality, undefined, b);
    const w0 = 0.6 / 0.75;
    const w1 = 0.4 / 0.5;
    assert.ok(Math.abs(b.weights[0]! - w0) < 1e-6);
    assert.ok(Math.abs(b.weights[1]! - w1) < 1e-6);
    assert.ok(Math.abs(objective - (w0 * ce0 + w1 * ce1) / 2) < 1e-6);
  });

  test('extreme logits stay finite', () => {
    const b = buffers(1, 2);
    const { objective } = batchLoss(new Float32Array([1000, -1000]), [1], 2, 'dimp', guards, [0.5], undefined, b);
    assert.ok(Number.isFinite(objective));
    assert.ok(Math.abs(b.weights[0]! - 0.5 / 1e-6) < 1e-3, 'p(gold) underflows to 0 and the weight is q/ε');
  });
});

describe('metrics', () => {
  test('accuracy and macro-F1 by hand', () => {
    // gold 0 0 1 1 2, predicted 0 1 1 1 0: class 0 F1 = 2·1/(2+2) = 0.5; class 1 F1 = 2·2/(2+3) = 0.8; class 2 F1 = 0.
    const scores = evaluatePredictions([0, 1, 1, 1, 0], [0, 0, 1, 1, 2], 3);
    assert.equal(scores.accuracy, 3 / 5);
    assert.ok(Math.abs(scores.macroF1 - (0.5 + 0.8 + 0) / 3) < 1e-12);
    assert.equal(scores.majority, 2 / 5, 'classes 0 and 1 have two gold rows each');
  });

  test('weight histogram counts every weight once', () => {
    const h = weightHistogram(new Float32Array([0.005, 0.5, 1, 2, 150]));
    assert.equal(h.counts.reduce((a, b) => a + b, 0), 5);
    assert.equal(h.counts[0], 1);
    assert.equal(h.counts[h.counts.length - 1], 1);
    assert.equal(h.edges[h.edges.length - 1], null);
    assert.equal(h.max, 150);
  });
});

describe('checker epochs', () => {
  test('a row-update budget gives small sets more passes, between the epochs and maxEpochs', () => {
    const settings = { ...DEFAULT_CHECKER_SETTINGS, epochs: 10, maxEpochs: 40, rowUpdateBudget: 16_000 };
    assert.equal(epochsFor(settings, 400), 40);
    assert.equal(epochsFor(settings, 100), 40);
    assert.equal(epochsFor(settings, 1_000), 16);
    assert.equal(epochsFor(settings, 10_000), 10);
    assert.equal(epochsFor(settings, 1_000_000), 10);
    assert.equal(epochsFor({ ...settings, rowUpdateBudget: null }, 400), 10);
  });
});
