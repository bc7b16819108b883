// averageLogits: one exported model whose logits are the mean of its members' logits.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadDataset } from '../../src/core/data/dataset';
import { LabelMap } from '../../src/core/data/labels';
import { runScoreJob } from '../../src/core/jobs/scoreJob';
import { resolveJobSettings } from '../../src/core/jobs/settings';
import type { FeatureMatrix } from '../../src/core/model/featurizer';
import { NgramClassifier } from '../../src/core/model/ngramClassifier';
import { averageLogits } from '../../src/core/model/ngramEnsemble';
import { deriveSeed } from '../../src/core/random';
import { toEvaluationSet, trainNgram } from '../../src/core/train/ngramTraining';
import { SAMPLE_DIR, temporaryFolder } from './helpers';

test('the merged model computes the mean of the members’ logits, buckets trained by only some members included', () => {
  const shape = { buckets: 32, dim: 3, numClasses: 2 };
  // Rows of bucket ids; each member trains on a different subset, so some buckets are known to one member only.
  const rows = [[1, 2, 2], [3, 4], [5, 1, 9], [20], [7]];
  const offsets = Int32Array.from([0, ...rows.map((_, i) => rows.slice(0, i + 1).flat().length)]);
  const features: FeatureMatrix = { ids: Int32Array.from(rows.flat()), offsets, count: rows.length };
  const members = [0, 1, 2].map((seed) => {
    const model = new NgramClassifier(shape, 100 + seed);
    model.useOptimizer('adam');
    const logits = new Float32Array(4);
    // Member `seed` trains on examples seed and seed + 1 only: bucket 20 (example 3) is trained by member 2
    // alone, bucket 7 (example 4) by none.
    const batch = [seed, seed + 1];
    for (let step = 0; step < 3; step++) {
      model.forward(features, batch, logits);
      model.backward(Float32Array.from([0.3, -0.3, -0.2, 0.2]), 0.05, null);
    }
    return model.parameters();
  });
  const merged = averageLogits(members);
  assert.equal(merged.shape.dim, 9);
  const all = Int32Array.from(rows.keys());
  const expected = new Float32Array(rows.length * 2);
  for (const p of members) {
    const out = new Float32Array(rows.length * 2);
    NgramClassifier.fromParameters(p).forward(features, all, out);
    for (let i = 0; i < out.length; i++) expected[i]! += out[i]! / members.length;
  }
  const got = new Float32Array(rows.length * 2);
  NgramClassifier.fromParameters(merged).forward(features, all, got);
  for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i]! - expected[i]!) < 1e-6, `logit ${i}: ${got[i]} vs ${expected[i]}`);
  // Rows: the zero row plus one per bucket some member trained (1, 2, 3, 4, 5, 9, 20), none for bucket 7.
  assert.equal(merged.rows, 8);
  assert.notEqual(merged.rowOf[20], 0);
  assert.equal(merged.rowOf[7], 0);
  assert.throws(() => averageLogits([]), /at least one/);
});

test('an ensemble quality checker: recorded in the scores header, exported as one model whose q matches its members’ averaged logits', async () => {
  const { dir, cleanup } = temporaryFolder();
  try {
    const settings = resolveJobSettings({});
    const labels = ['negative', 'neutral', 'positive'];
    const checkerSettings = { ...settings.checkerSettings, qualityEnsemble: 3 };
    const scored = await runScoreJob({
      synthetic: { path: path.join(SAMPLE_DIR, 'synthetic.jsonl') },
      real: { path: path.join(SAMPLE_DIR, 'real_train.jsonl') },
      validation: { path: path.join(SAMPLE_DIR, 'real_val.jsonl') },
      labels,
      checkerSettings,
      seed: 1,
      guards: settings.guards,
      device: 'cpu',
      scoresFile: path.join(dir, 'x.scores.jsonl'),
      checkersDir: path.join(dir, 'checkers'),
    });
    const header = scored.scores.header;
    assert.equal(header.checkers!.quality!.members, 3);
    assert.equal(header.checkers!.diversity!.members, undefined, 'the diversity checker stays one model');
    assert.equal((header.checkers!.settings as typeof checkerSettings).qualityEnsemble, 3, 'the setting is in the header');
    // The members, trained again the same way (same rows, seeds and selection), averaged by hand.
    const map = new LabelMap(labels);
    const real = (await loadDataset(path.join(SAMPLE_DIR, 'real_train.jsonl'), map)).rows;
    const validation = (await loadDataset(path.join(SAMPLE_DIR, 'real_val.jsonl'), map)).rows;
    const synthetic = (await loadDataset(path.join(SAMPLE_DIR, 'synthetic.jsonl'), map)).rows.slice(0, 50);
    const seeds = [1, deriveSeed(1, 'quality-ensemble-1'), deriveSeed(1, 'quality-ensemble-2')];
    const average = new Float64Array(synthetic.length * 3);
    for (const seed of seeds) {
      const member = await trainNgram({ rows: real, numClasses: 3, settings: checkerSettings, loss: 'ce', seed, validation });
      const set = toEvaluationSet(member.featurizer, synthetic);
      const logits = new Float32Array(synthetic.length * 3);
      member.model.forward(set.features, Int32Array.from(synthetic.keys()), logits);
      for (let i = 0; i < logits.length; i++) average[i]! += logits[i]! / seeds.length;
    }
    synthetic.forEach((row, i) => {
      const z = Array.from(average.subarray(i * 3, i * 3 + 3));
      const max = Math.max(...z);
      const e = z.map((x) => Math.exp(x - max));
      const q = e[row.label]! / e.reduce((a, b) => a + b, 0);
      const stored = scored.scores.rows.find((r) => r.rowId === row.rowId)!;
      assert.ok(Math.abs(stored.quality - q) < 1e-4, `row ${i}: q ${stored.quality} vs ${q}`);
    });
  } finally {
    cleanup();
  }
});
