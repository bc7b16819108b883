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

test('featurizeAll on many rows writes straight into one array sized from a sample: the same ids, no copy; rows longer than the sample foretold fall back to blocks', async () => {
  const rows = (await loadDataset(path.join(SAMPLE_DIR, 'synthetic.jsonl'), new LabelMap(['negative', 'neutral', 'positive']))).rows;
  const featurizer = new Featurizer(DEFAULT_FEATURIZER);
  // Thresholds small enough for the sample's 4,000 rows (the defaults start at 65,536 rows and 2^24 ids).
  const direct = { ids: 10_000, rows: 1000 };
  const check = (all: readonly { texts: readonly string[] }[], what: string): ReturnType<Featurizer['featurizeAll']> => {
    const matrix = featurizer.featurizeAll(all, direct);
    const one = all.map((row) => featurizer.featurize(row.texts));
    const total = one.reduce((sum, ids) => sum + ids.length, 0);
    assert.equal(matrix.count, all.length);
    assert.equal(matrix.ids.length, total, `${what}: the matrix ends at the last id`);
    let at = 0;
    one.forEach((ids, i) => {
      assert.equal(matrix.offsets[i], at);
      assert.deepEqual(matrix.ids.subarray(at, at + ids.length), ids, `${what}: row ${i}`);
      at += ids.length;
    });
    assert.equal(matrix.offsets[all.length], total);
    return matrix;
  };
  const sized = check(rows, 'sized from the sample');
  assert.equal(sized.ids.byteOffset, 0);
  assert.ok(sized.ids.buffer.byteLength > sized.ids.byteLength, 'a view of the start of one larger array: written in place, not copied');
  assert.ok(sized.ids.buffer.byteLength < 2 * sized.ids.byteLength, 'room to spare, within reason');
  // The rows the sample skips, ten times longer: the array fills up and the rest goes to blocks, then one exact copy.
  const sampled = new Set(Array.from({ length: 1024 }, (_, j) => Math.floor((j * rows.length) / 1024)));
  const skewed = rows.map((row, i) => (sampled.has(i) ? row : { texts: [Array.from({ length: 10 }, () => row.texts[0]).join(' ')] }));
  const overflowed = check(skewed, 'overflowing the sample');
  assert.equal(overflowed.ids.buffer.byteLength, overflowed.ids.byteLength, 'an exact array after the overflow');
  // Few rows, or the default thresholds: blocks, as before.
  assert.equal(featurizer.featurizeAll(rows.slice(0, 999), direct).ids.buffer.byteLength, featurizer.featurizeAll(rows.slice(0, 999), direct).ids.byteLength);
  const plain = featurizer.featurizeAll(rows);
  assert.equal(plain.ids.buffer.byteLength, plain.ids.byteLength);
  assert.deepEqual(plain.ids, sized.ids);
});
