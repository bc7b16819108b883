import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadDataset } from '../../src/core/data/dataset';
import { LabelMap } from '../../src/core/data/labels';
import { DEFAULT_FEATURIZER, Featurizer } from '../../src/core/model/featurizer';
import { SAMPLE_DIR } from './helpers';

test('featurizeAll gathers in blocks: the same ids and offsets as one row at a time, exact length, across many blocks', async () => {
  const rows = (await loadDataset(path.join(SAMPLE_DIR, 'synthetic.jsonl'), new LabelMap(['negative', 'neutral', 'positive']))).rows;
  // A row with more features than a block holds, and pairs, among ordinary rows.
  const long = { texts: [Array.from({ length: 70_000 }, (_, i) => `w${i % 5000}`).join(' ')] };
  const all = [...rows, long, ...rows.slice(0, 50).map((r) => ({ texts: [r.texts[0], 'a second text'] })), { texts: ['x'] }];
  for (const config of [DEFAULT_FEATURIZER, { ...DEFAULT_FEATURIZER, maxFeatures: 100_000 }]) {
    const featurizer = new Featurizer(config);
    const matrix = featurizer.featurizeAll(all);
    const one = all.map((row) => featurizer.featurize(row.texts));
    const total = one.reduce((sum, ids) => sum + ids.length, 0);
    assert.ok(total > 2 * (1 << 16), `the ids span several blocks (${total})`);
    assert.equal(matrix.count, all.length);
    assert.equal(matrix.ids.length, total, 'no slack after the last id');
    assert.equal(matrix.ids.buffer.byteLength, total * 4, 'an array of its own, not a view of a larger one');
    let at = 0;
    one.forEach((ids, i) => {
      assert.equal(matrix.offsets[i], at);
      assert.deepEqual(matrix.ids.subarray(at, at + ids.length), ids, `row ${i}`);
      at += ids.length;
    });
    assert.equal(matrix.offsets[all.length], total);
  }
  assert.deepEqual(new Featurizer(DEFAULT_FEATURIZER).featurizeAll([]), { ids: new Int32Array(0), offsets: new Int32Array(1), count: 0 });
});
