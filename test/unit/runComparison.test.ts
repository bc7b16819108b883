import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compareRuns, type ComparableRun } from '../../src/core/view/runComparison';

const run = (loss: ComparableRun['loss'], seed: number, accuracy: number, createdAt = '2026-01-01', majority = 0.55): ComparableRun => ({
  loss,
  seed,
  createdAt,
  test: { accuracy, macroF1: accuracy - 0.1, rows: 100, majority },
});

describe('the runs comparison', () => {
  test('mean ± sd per loss, differences to CE paired by seed, and the rule for calling one', () => {
    const comparison = compareRuns([
      run('dimp', 1, 0.7),
      run('ce', 1, 0.6),
      run('ce', 2, 0.64),
      run('dimp', 2, 0.72),
      run('dimp', 3, 0.9), // no CE with seed 3: not paired
      run('imp', 1, 0.58),
      { loss: 'imp', seed: 2, createdAt: '2026-01-02', test: undefined }, // no test scores: left out
    ]);
    assert.deepEqual(comparison.losses.map((l) => l.loss), ['ce', 'imp', 'dimp']);
    const [ce, imp, dimp] = comparison.losses;
    assert.deepEqual(ce!.seeds, [1, 2]);
    assert.ok(Math.abs(ce!.accuracy!.mean - 0.62) < 1e-12);
    // sd of 0.60, 0.64: |0.02|·√2 = 0.0282…
    assert.ok(Math.abs(ce!.accuracy!.sd - Math.SQRT2 * 0.02) < 1e-12);
    assert.equal(ce!.versusCe, undefined);
    // DIMP − CE: seed 1 +0.10, seed 2 +0.08: mean 0.09, sd 0.01414, se 0.01; 0.09 > 2·0.01: called.
    assert.equal(dimp!.versusCe!.pairs, 2);
    assert.ok(Math.abs(dimp!.versusCe!.mean - 0.09) < 1e-12);
    assert.ok(Math.abs(dimp!.versusCe!.se! - 0.01) < 1e-12);
    assert.equal(dimp!.versusCe!.clear, true);
    // One pair: a difference, no standard error, never called.
    assert.equal(imp!.versusCe!.pairs, 1);
    assert.equal(imp!.versusCe!.se, undefined);
    assert.equal(imp!.versusCe!.clear, false);
    assert.equal(comparison.majority, 0.55);
  });

  test('within the noise is not called, and a newer run of the same loss and seed replaces the older', () => {
    const comparison = compareRuns([run('ce', 1, 0.6), run('ce', 2, 0.6), run('dimp', 1, 0.7), run('dimp', 2, 0.5), run('dimp', 2, 0.62, '2026-02-01')]);
    const dimp = comparison.losses.find((l) => l.loss === 'dimp')!;
    // Differences +0.10 and +0.02: mean 0.06, se 0.04: 0.06 < 0.08.
    assert.ok(Math.abs(dimp.versusCe!.mean - 0.06) < 1e-12);
    assert.equal(dimp.versusCe!.clear, false);
    assert.equal(dimp.accuracy!.n, 2);
  });
});
