import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { parseJsonlFile } from '../../src/core/data/dataset';
import { exportHfDataset } from '../../src/core/hfDataset';
import type { Scores } from '../../src/core/weighting/score';
import { temporaryFolder } from './helpers';

describe('export as a Hugging Face dataset folder', () => {
  test('writes data/train.jsonl with class indices and the q, d, weight columns, and a card naming the labels', async () => {
    const { dir, cleanup } = temporaryFolder();
    try {
      const synthetic = path.join(dir, 'syn.jsonl');
      fs.writeFileSync(
        synthetic,
        ['{"review":"great fun","sentiment":"pos"}', '{"review":"dull, it\'s long","sentiment":"neg"}', '{not json', '{"review":"added later","sentiment":"pos"}'].join('\n') + '\n',
      );
      const fields = { text: 'review', label: 'sentiment' };
      const parsed = await parseJsonlFile(synthetic, { fields });
      const [a, b] = parsed.lines;
      const scores: Scores = {
        header: { kind: 'dimp-scores', version: 1, synthetic, real: undefined, labels: ['neg', 'pos'], qualityChecker: 'q', diversityChecker: 'd', provider: 'cpu', guards: { epsilon: 1e-6, maxWeight: null }, createdAt: '2026-12-03T00:00:00Z', rows: 2 },
        rows: [
          { rowId: a!.rowId, line: 1, label: 'pos', quality: 0.9, diversity: 0.5, impWeight: 1.8, qualityLabel: 'pos', qualityLabelProbability: 0.9 },
          { rowId: b!.rowId, line: 2, label: 'neg', quality: 0.3, diversity: 0.6, impWeight: 0.5, qualityLabel: 'pos', qualityLabelProbability: 0.7 },
        ],
      };
      const out = path.join(dir, 'syn-hf');
      const summary = await exportHfDataset(synthetic, scores, out, { fields });
      assert.deepEqual([summary.rows, summary.unscored, summary.unusable], [2, 1, 1]);
      assert.deepEqual(fs.readdirSync(out).sort(), ['README.md', 'data']);
      const rows = fs.readFileSync(path.join(out, 'data', 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual(rows, [
        { review: 'great fun', sentiment: 1, quality: 0.9, diversity: 0.5, imp_weight: 1.8 },
        { review: "dull, it's long", sentiment: 0, quality: 0.3, diversity: 0.6, imp_weight: 0.5 },
      ]);
      const card = fs.readFileSync(path.join(out, 'README.md'), 'utf8');
      assert.match(card, /^---\ndataset_info:\n {2}features:\n {2}- name: 'review'\n {4}dtype: string\n {2}- name: 'sentiment'\n {4}dtype:\n {6}class_label:\n {8}names:\n {10}'0': 'neg'\n {10}'1': 'pos'\n/);
      assert.match(card, new RegExp(`num_bytes: ${fs.statSync(path.join(out, 'data', 'train.jsonl')).size}\\n {4}num_examples: 2\\n`));
      assert.match(card, /path: data\/train\.jsonl\n---\n/);
      for (const column of ['quality', 'diversity', 'imp_weight']) assert.match(card, new RegExp(`- name: ${column}\\n {4}dtype: float32`));

      await assert.rejects(exportHfDataset(synthetic, scores, out, { fields }), /exists; choose a new one/, 'never over an existing folder');
      await assert.rejects(exportHfDataset(synthetic, scores, synthetic, { fields }), /would be written over the synthetic file/, 'never over an input');
    } finally {
      cleanup();
    }
  });
});
