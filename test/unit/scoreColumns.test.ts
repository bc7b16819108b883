import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { describeScores } from '../../src/cli/commands/score';
import { loadDataset } from '../../src/core/data/dataset';
import { LabelMap } from '../../src/core/data/labels';
import { scoreSynthetic } from '../../src/core/jobs/checkers';
import { loadClassifier } from '../../src/core/model/modelFolder';
import { argmaxRow } from '../../src/core/train/metrics';
import { DEFAULT_CHECKER_SETTINGS } from '../../src/core/train/ngramTraining';
import { readScores, writeScores, type RowScore, type Scores, type ScoresHeader } from '../../src/core/weighting/score';
import { ColumnarScores, ScoreColumns, scoreColumnsOf } from '../../src/core/weighting/scoreColumns';
import { ScoreTable } from '../../src/core/weighting/scoreTable';
import { impWeight, weightDiagnostics } from '../../src/core/weighting/weights';
import { SAMPLE_DIR, temporaryFolder } from './helpers';

const folder = temporaryFolder();
after(() => folder.cleanup());

const labels = ['negative', 'neu"tral\\', 'positivé ✓'];

/** Rows with awkward values: float32 and double probabilities, weights from tiny to huge, labels needing escapes. */
function awkwardRows(): RowScore[] {
  const f32 = (x: number): number => Math.fround(x);
  return [
    { rowId: '0123456789abcdef', line: 1, label: labels[0]!, quality: f32(0.7), diversity: f32(0.3), impWeight: f32(0.7) / f32(0.3), qualityLabel: labels[0]!, qualityLabelProbability: f32(0.7) },
    { rowId: 'ffffffffffffffff', line: 4_000_000_000, label: labels[1]!, quality: 1e-9, diversity: 0, impWeight: 1e-9 / 1e-6, qualityLabel: labels[2]!, qualityLabelProbability: 0.999999999 },
    { rowId: '0000000000000000', line: 3, label: labels[2]!, quality: 1, diversity: 1e-300, impWeight: 1e6, qualityLabel: labels[1]!, qualityLabelProbability: 1 / 3 },
    { rowId: '0000000000000000', line: 7, label: labels[2]!, quality: 0.123456789012345, diversity: 5e-324, impWeight: 1.7976931348623157e308, qualityLabel: labels[2]!, qualityLabelProbability: 0.5 },
  ];
}

function header(rows: number): ScoresHeader {
  return {
    kind: 'dimp-scores',
    version: 1,
    synthetic: '/data/synthetic.jsonl',
    real: undefined,
    labels: [...labels],
    qualityChecker: 'q',
    diversityChecker: 'd',
    provider: 'cpu',
    guards: { epsilon: 1e-6, maxWeight: null },
    createdAt: '2026-12-03T00:00:00.000Z',
    rows,
  };
}

test('score columns hold exactly the values of the row objects they replace', () => {
  const rows = awkwardRows();
  const columns = ScoreColumns.fromRows(rows, labels);
  assert.equal(columns.length, rows.length);
  assert.deepEqual(columns.toRows(), rows);
  rows.forEach((r, i) => {
    assert.deepEqual(columns.row(i), r);
    assert.deepEqual(Object.keys(columns.row(i)), Object.keys(r), 'fields in the scores file order');
  });
  assert.throws(() => ScoreColumns.fromRows([{ ...rows[0]!, qualityLabel: 'unknown' }], labels), /label "unknown" is not one of/);
});

test('columnar scores materialise their rows once, equal to the columns', () => {
  const rows = awkwardRows();
  const scores = new ColumnarScores(header(rows.length), ScoreColumns.fromRows(rows, labels));
  const first = scores.rows;
  assert.equal(scores.rows, first, 'the same array on the second read');
  assert.deepEqual(first, rows);
  assert.equal(scoreColumnsOf(scores), scores.columns);
  assert.deepEqual(scoreColumnsOf({ header: header(rows.length), rows }).toRows(), rows);
});

test("the editor's score table built from columns is the one built from their rows (duplicate row ids stored once)", () => {
  const rows = awkwardRows();
  const columns = ScoreColumns.fromRows(rows, labels);
  const dimp = new Map([['ffffffffffffffff', 0.25]]);
  const fromColumns = ScoreTable.fromScoreColumns(columns, dimp);
  assert.equal(fromColumns.size, 3, 'the second row with id 0000000000000000 is dropped');
  assert.deepEqual(fromColumns.columns, ScoreTable.fromScores(rows, labels, dimp).columns);
  assert.equal(fromColumns.row(fromColumns.indexOf('ffffffffffffffff')).dimpWeight, 0.25);
  assert.throws(() => ScoreTable.fromScoreColumns(ScoreColumns.fromRows([{ ...rows[0]!, rowId: 'not a row id' }], labels)), /is not 16 hex digits/);
});

test('a scores file written from columns is byte for byte the one written from row objects, and reads back to it', async () => {
  const rows = awkwardRows();
  const fromObjects = path.join(folder.dir, 'objects.scores.jsonl');
  const fromColumns = path.join(folder.dir, 'columns.scores.jsonl');
  await writeScores(fromObjects, { header: header(rows.length), rows });
  await writeScores(fromColumns, new ColumnarScores(header(rows.length), ScoreColumns.fromRows(rows, labels)));
  assert.ok(readFileSync(fromColumns).equals(readFileSync(fromObjects)));
  const read = await readScores(fromColumns);
  const again = path.join(folder.dir, 'again.scores.jsonl');
  await writeScores(again, new ColumnarScores(read.header, ScoreColumns.fromRows(read.rows, read.header.labels)));
  assert.ok(readFileSync(again).equals(readFileSync(fromObjects)), 'the values read back write the same file');
});

test("the score job's columns are the row objects it built before, and write the same file", async () => {
  const labelMap = new LabelMap(['negative', 'neutral', 'positive']);
  const synthetic = await loadDataset(path.join(SAMPLE_DIR, 'synthetic.jsonl'), labelMap);
  const real = await loadDataset(path.join(SAMPLE_DIR, 'real_train.jsonl'), labelMap);
  const guards = { epsilon: 1e-6, maxWeight: 20 };
  const rowsScored = synthetic.rows.slice(0, 700);
  const checkersDir = path.join(folder.dir, 'job.checkers');
  const scores = await scoreSynthetic({
    synthetic: { ...synthetic, rows: rowsScored },
    real,
    labelMap,
    checkersDir,
    checkerSettings: { ...DEFAULT_CHECKER_SETTINGS, epochs: 2 },
    seed: 3,
    guards,
    device: 'cpu',
  });
  assert.ok(scores instanceof ColumnarScores);
  // The object form, built as the score job built it before columns: from the saved checkers' probabilities.
  const quality = await loadClassifier(path.join(checkersDir, 'quality'), 'cpu');
  const diversity = await loadClassifier(path.join(checkersDir, 'diversity'), 'cpu');
  const qp = await quality.predict(rowsScored);
  const dp = await diversity.predict(rowsScored);
  await quality.dispose();
  await diversity.dispose();
  const n = labelMap.size;
  const objects: RowScore[] = rowsScored.map((row, i) => {
    const q = qp[i * n + row.label]!;
    const d = dp[i * n + row.label]!;
    const preferred = argmaxRow(qp, i, n);
    return {
      rowId: row.rowId,
      line: row.line,
      label: labelMap.nameOf(row.label),
      quality: q,
      diversity: d,
      impWeight: impWeight(q, d, guards),
      qualityLabel: labelMap.nameOf(preferred),
      qualityLabelProbability: qp[i * n + preferred]!,
    };
  });
  assert.ok(objects.some((r) => r.impWeight === 20) || objects.some((r) => r.qualityLabel !== r.label), 'the rows exercise the cap or a preferred label');
  assert.deepEqual(scores.columns.toRows(), objects);
  assert.deepEqual(scores.header.diagnostics, weightDiagnostics(Float64Array.from(objects, (r) => r.impWeight)));
  const plain: Scores = { header: scores.header, rows: objects };
  const a = path.join(folder.dir, 'job-columns.scores.jsonl');
  const b = path.join(folder.dir, 'job-objects.scores.jsonl');
  await writeScores(a, scores);
  await writeScores(b, plain);
  assert.ok(readFileSync(a).equals(readFileSync(b)));
  assert.deepEqual(describeScores(scores), describeScores(plain), "the CLI's summary reads the same from columns");
  assert.deepEqual(scores.rows, objects, 'rows read through Scores are the objects');
});
