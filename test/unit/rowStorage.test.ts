// Issue 14, score memory: rows are kept for a whole score job, so how they are stored matters (761 → 295 B
// of heap per row). These tests hold the values to what they were: the row id is the SHA-1 definition, the
// texts are exactly the row's texts, a row has exactly its named fields, and scores files do not change.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { computeRowId, legacyDigest, loadDataset } from '../../src/core/data/dataset';
import { runScoreJob } from '../../src/core/jobs/scoreJob';
import { DEFAULT_CHECKER_SETTINGS } from '../../src/core/train/ngramTraining';
import { DEFAULT_WEIGHT_GUARDS } from '../../src/core/weighting/weights';
import { SAMPLE_DIR } from './helpers';
import type { RawLabel } from '../../src/core/data/labels';

/** The row id as first defined: SHA-1 of each text then U+0000, then the label as written, updated piece by piece. */
function referenceRowId(texts: readonly string[], rawLabel: RawLabel): string {
  const hash = createHash('sha1');
  for (const text of texts) hash.update(text).update('\u0000');
  hash.update(typeof rawLabel === 'string' ? rawLabel.trim() : JSON.stringify(rawLabel) ?? '');
  return hash.digest('hex').slice(0, 16);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dimp-rows-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('row storage', () => {
  test('row ids are the SHA-1 definition for single texts, pairs, numeric and text labels, non-ASCII and lone surrogates', () => {
    const cases: [string[], RawLabel][] = [
      [['a plain sentence'], 1],
      [['a plain sentence'], '1'],
      [['a plain sentence'], ' positive '],
      [['first of a pair', 'second of a pair'], 0],
      [['', ''], 'x'],
      [['naïve café — 日本語 😀'], 'pos'],
      [['ends with a lone high surrogate \ud83d', '\ude00 starts with a lone low one'], 2],
      [['nul \u0000 inside'], -3.5],
      [['x'.repeat(100_000)], 7],
    ];
    for (const [texts, label] of cases) {
      const id = computeRowId(texts, label);
      assert.equal(id, referenceRowId(texts, label), `${JSON.stringify(texts).slice(0, 60)} / ${JSON.stringify(label)}`);
      assert.match(id, /^[0-9a-f]{16}$/);
      // The path of runtimes without one-shot crypto.hash gives the same id.
      assert.equal(legacyDigest(texts, typeof label === 'string' ? label.trim() : JSON.stringify(label)).toString('hex', 0, 8), id);
    }
    // The pieces stay apart: moving text across the separator changes the id.
    assert.notEqual(computeRowId(['ab', 'c'], 1), computeRowId(['a', 'bc'], 1));
  });

  test('rows read from a file: exactly their fields, texts of their own length, the same values', async () => {
    const file = path.join(dir, 'pairs.jsonl');
    const objects = [
      { s1: 'The cat sat.', s2: 'A cat was sitting.', label: 1 },
      { s1: 'Héllo “world”', s2: 'bye', label: 0 },
    ];
    fs.writeFileSync(file, objects.map((o) => JSON.stringify(o)).join('\n') + '\n');
    const pairs = await loadDataset(file, ['0', '1'], { fields: { text: ['s1', 's2'], label: 'label' } });
    const single = await loadDataset(file, ['0', '1'], { fields: { text: ['s1'], label: 'label' } });
    let offset = 0;
    objects.forEach((o, i) => {
      const line = JSON.stringify(o);
      for (const [dataset, texts] of [[pairs, [o.s1, o.s2]], [single, [o.s1]]] as const) {
        const row = dataset.rows[i]!;
        assert.deepEqual(Object.keys(row), ['line', 'byteOffset', 'byteLength', 'texts', 'rawLabel', 'rowId', 'label']);
        assert.deepEqual(row.texts, texts);
        assert.equal(row.texts.length, texts.length);
        assert.equal(row.rowId, referenceRowId(texts, o.label));
        assert.deepEqual([row.line, row.byteOffset, row.byteLength, row.rawLabel, row.label], [i + 1, offset, Buffer.byteLength(line), o.label, o.label]);
      }
      offset += Buffer.byteLength(line) + 1;
    });
  });
});

describe('score files', () => {
  // What changed for memory (how rows are stored, how row ids are hashed) must change no score: the same
  // seed gives the same scores file, line for line, for single texts and for pairs, and every row id in it
  // is the SHA-1 definition of the row's texts and label as written in the input.
  for (const kind of ['single', 'pairs'] as const) {
    test(`the same seed writes the same scores, ${kind}`, async () => {
      const sentences = fs.readFileSync(path.join(SAMPLE_DIR, 'synthetic.jsonl'), 'utf8').trim().split('\n').slice(0, 600).map((l) => JSON.parse(l) as { sentence: string; label: number });
      const textsOf = sentences.map((s, i) => (kind === 'single' ? [s.sentence] : [s.sentence, sentences[(i * 7 + 3) % sentences.length]!.sentence]));
      const objects = sentences.map((s, i) => (kind === 'single' ? { sentence: s.sentence, label: s.label } : { sentence1: s.sentence, sentence2: textsOf[i]![1], label: s.label }));
      const synthetic = path.join(dir, `${kind}.jsonl`);
      fs.writeFileSync(synthetic, objects.map((o) => JSON.stringify(o)).join('\n') + '\n');
      const real = path.join(dir, `${kind}-real.jsonl`);
      fs.writeFileSync(real, objects.slice(0, 150).map((o) => JSON.stringify(o)).join('\n') + '\n');
      const run = async (n: number): Promise<string[]> => {
        const scoresFile = path.join(dir, `${kind}-${n}.scores.jsonl`);
        await runScoreJob({
          synthetic: { path: synthetic },
          real: { path: real },
          labels: ['negative', 'neutral', 'positive'],
          scoresFile,
          checkersDir: path.join(dir, `${kind}-${n}.checkers`),
          checkerSettings: { ...DEFAULT_CHECKER_SETTINGS, epochs: 2, rowUpdateBudget: null },
          seed: 5,
          guards: DEFAULT_WEIGHT_GUARDS,
          device: 'cpu',
        });
        return fs.readFileSync(scoresFile, 'utf8').trim().split('\n');
      };
      const [first, second] = [await run(1), await run(2)];
      assert.equal(first.length, objects.length + 1);
      assert.deepEqual(first.slice(1), second.slice(1), 'the rows of the two scores files');
      first.slice(1).forEach((line, i) => {
        const row = JSON.parse(line) as { rowId: string; line: number; quality: number };
        assert.equal(row.rowId, referenceRowId(textsOf[i]!, objects[i]!.label), `line ${i + 1}`);
        assert.equal(row.line, i + 1);
        assert.ok(row.quality > 0 && row.quality < 1);
      });
    });
  }
});
