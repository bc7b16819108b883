import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { computeRowId, parseJsonlFile } from '../../src/core/data/dataset';
import { LabelMap } from '../../src/core/data/labels';
import { lastDimpWeights, mayBringDimpWeights } from '../../src/core/train/lastDimpWeights';
import { lineProblems } from '../../src/core/view/lineProblems';
import { LineRows, NOT_A_ROW, parseLineState, UNSCORED } from '../../src/core/view/lineRows';
import { describePercentile, escapeMarkdown, rowHoverMarkdown, type ScoreProvenance } from '../../src/core/view/rowHover';
import { sampleItemText, sampleSnippet } from '../../src/core/view/samples';
import { sortLinesByWeight, sortOrderByWeight } from '../../src/core/view/sortLines';
import { annotateLines, bucketOfPercentile, formatScore, linesToDecorate, UNSCORED_BADGE } from '../../src/core/view/weightHeat';
import type { RowScore } from '../../src/core/weighting/score';
import { ScoreTable } from '../../src/core/weighting/scoreTable';
import type { ProjectConfig } from '../../src/core/config';
import { checkerModelsToRun, resolveCheckerChoice } from '../../src/core/jobs/trust';
import { SAMPLE_DIR, temporaryFolder } from './helpers';

const LABELS = ['negative', 'positive'];
const FIELDS = { text: ['text'] as [string], label: 'label' };
const line = (text: string, label: string | number): string => JSON.stringify({ text, label });

/** A score for a row written as `line(text, label)`. */
function score(text: string, label: string, values: Partial<RowScore> & { impWeight: number }, at = 1): RowScore {
  return {
    rowId: computeRowId([text], label),
    line: at,
    label,
    quality: 0.5,
    diversity: 0.5,
    qualityLabel: label,
    qualityLabelProbability: 0.9,
    ...values,
  };
}

const provenance: ScoreProvenance = { qualityChecker: 'built-in n-gram, trained on real.jsonl', diversityChecker: 'built-in n-gram, trained on synthetic.jsonl', provider: 'cpu', dimpRun: undefined };

describe('ScoreTable (the score cache keyed by row id)', () => {
  const rows = [
    score('a', 'negative', { impWeight: 2 }, 1),
    score('b', 'positive', { impWeight: 0.5 }, 2),
    score('c', 'negative', { impWeight: 2 }, 3),
    score('d', 'positive', { impWeight: 8, qualityLabel: 'negative', qualityLabelProbability: 0.95 }, 4),
    score('e', 'negative', { impWeight: 0.1 }, 5),
  ];
  const table = ScoreTable.fromScores(rows, LABELS, new Map([[rows[0]!.rowId, 1.5]]));

  test('finds every row by its id and answers -1 for unknown or malformed ids', () => {
    for (const [i, row] of rows.entries()) {
      assert.equal(table.indexOf(row.rowId), i);
      assert.equal(table.rowIdAt(i), row.rowId);
    }
    assert.equal(table.indexOf(computeRowId(['zzz'], 'negative')), -1);
    assert.equal(table.indexOf('not-a-row-id'), -1);
    assert.equal(table.indexOf(''), -1);
  });

  test('gives each row its percentile by IMP weight: the share of rows with a lower weight; ties share it', () => {
    const percentiles = rows.map((r) => table.weightPercentile(table.indexOf(r.rowId)));
    // weights 2, 0.5, 2, 8, 0.1 → ranks 2, 1, 2, 4, 0 of 4
    assert.deepEqual(percentiles, [50, 25, 50, 100, 0]);
    assert.deepEqual([...table.orderBy('impWeight')], [4, 1, 0, 2, 3], 'ascending, ties by line');
  });

  test('returns a row as an object, with the DIMP weight when a run is known', () => {
    const first = table.row(0);
    assert.equal(first.label, 'negative');
    assert.equal(first.dimpWeight, 1.5);
    assert.equal(table.row(1).dimpWeight, undefined);
    assert.equal(first.percentile, 50);
  });

  test('flags a row as likely mislabelled when the quality checker prefers another label above the threshold', () => {
    assert.equal(table.isLikelyMislabelled(3, 0.9), true);
    assert.equal(table.isLikelyMislabelled(3, 0.96), false);
    assert.equal(table.isLikelyMislabelled(0, 0.1), false, 'same label is never flagged');
  });

  test('stores exact duplicate rows once', () => {
    const twice = ScoreTable.fromScores([...rows, { ...rows[0]!, line: 9 }], LABELS);
    assert.equal(twice.size, rows.length);
    assert.equal(twice.row(0).line, 1, 'the first occurrence wins');
  });

  test('survives a transfer between threads as plain columns', () => {
    const copy = ScoreTable.fromColumns(structuredClone(table.columns));
    for (const row of rows) assert.equal(copy.indexOf(row.rowId), table.indexOf(row.rowId));
    assert.equal(copy.weightPercentile(3), 100);
    assert.equal(table.transferList().length, 13);
  });

  test('holds a million rows in under 64 bytes per row', () => {
    const many: RowScore[] = [];
    for (let i = 0; i < 100_000; i++) many.push(score(`row ${i}`, LABELS[i % 2]!, { impWeight: (i * 7919) % 1000 }, i + 1));
    const big = ScoreTable.fromScores(many, LABELS);
    assert.equal(big.size, many.length);
    assert.ok(big.byteLength / many.length < 64, `${big.byteLength / many.length} bytes per row`);
    for (const i of [0, 1, 99_999, 54_321]) assert.equal(big.indexOf(many[i]!.rowId), i);
  });
});

describe('LineRows (row identity of an open document’s lines)', () => {
  test('computes the same row ids and reasons as the core reading the file', async () => {
    const file = path.join(SAMPLE_DIR, 'synthetic.jsonl');
    const parsed = await parseJsonlFile(file);
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    const rows = new LineRows(parsed.fields, new LabelMap(['negative', 'neutral', 'positive']), lines.length);
    for (const parsedLine of parsed.lines) {
      const state = rows.stateAt(parsedLine.line - 1, (n) => lines[n]!);
      assert.equal(state.kind === 'row' && state.rowId, parsedLine.rowId, `line ${parsedLine.line}`);
    }
  });

  test('classifies blank, unusable and unknown-label lines like the core', () => {
    const labelMap = new LabelMap(LABELS);
    assert.equal(parseLineState('   ', FIELDS, labelMap).kind, 'blank');
    assert.match((parseLineState('{"text": "x", ', FIELDS, labelMap) as { reason: string }).reason, /^invalid JSON/);
    assert.match((parseLineState('[1, 2]', FIELDS, labelMap) as { reason: string }).reason, /expected a JSON object, found an array/);
    assert.match((parseLineState('{"text": "x"}', FIELDS, labelMap) as { reason: string }).reason, /missing label field "label"/);
    assert.match((parseLineState(line('x', 'maybe'), FIELDS, labelMap) as { reason: string }).reason, /unknown label "maybe" \(known: negative, positive\)/);
    assert.deepEqual(parseLineState(line('x', 1), FIELDS, labelMap), { kind: 'row', rowId: computeRowId(['x'], 1) });
  });

  test('parses lazily and, after an edit, only the lines it touched', () => {
    const text = ['a', 'b', 'c', 'd'].map((t) => line(t, 'negative'));
    let reads = 0;
    const textAt = (n: number): string => {
      reads += 1;
      return text[n]!;
    };
    const rows = new LineRows(FIELDS, undefined, text.length);
    assert.equal(rows.parseRange(0, 4, textAt), 4);
    assert.equal(rows.complete, true);
    // Replace line 1 ("b") with two lines, as typing a newline in it would.
    text.splice(1, 1, line('b1', 'negative'), line('b2', 'positive'));
    rows.replaceLines(1, 1, 2);
    assert.equal(rows.lineCount, 5);
    assert.equal(rows.complete, false);
    reads = 0;
    const ids = Array.from({ length: 5 }, (_, n) => rows.stateAt(n, textAt));
    assert.equal(reads, 2, 'only the two new lines are parsed again');
    assert.deepEqual(
      ids.map((s) => s.kind === 'row' && s.rowId),
      text.map((t) => computeRowId([JSON.parse(t).text], JSON.parse(t).label)),
    );
    const table = ScoreTable.fromScores([score('d', 'negative', { impWeight: 1 }, 4), score('b', 'negative', { impWeight: 1 }, 2)], LABELS);
    assert.deepEqual([...rows.currentLines(table, textAt)], [5, 0], 'the moved row is found on its new line; the replaced one is gone');
    assert.equal(rows.scoreIndexAt(4, textAt, table), 0);
    assert.equal(rows.scoreIndexAt(1, textAt, table), UNSCORED);
  });

  test('a reorder carries every parsed line to its new place, with no parsing again', () => {
    const text = [line('a', 'negative'), '{bad', '', line('d', 'positive'), line('e', 'negative')];
    let reads = 0;
    const textAt = (n: number): string => {
      reads += 1;
      return text[n]!;
    };
    const rows = new LineRows(FIELDS, undefined, text.length);
    rows.parseRange(0, 4, textAt); // line 4 ("e") left unparsed
    const before = text.map((_, n) => JSON.stringify(parseLineState(text[n]!, FIELDS, undefined)));
    const order = [3, 1, 4, 0, 2];
    const sorted = order.map((n) => text[n]!);
    rows.permute(order);
    text.splice(0, text.length, ...sorted);
    reads = 0;
    assert.deepEqual(text.map((_, n) => JSON.stringify(rows.stateAt(n, textAt))), order.map((n) => before[n]));
    assert.equal(reads, 1, 'only the line that was never parsed is read');
    assert.equal(rows.complete, true);
    assert.throws(() => rows.permute([0, 1]), /a reorder of 2 lines for a document of 5/);
  });

  test('keeps unusable lines’ reasons on the right lines through edits, and grows and shrinks with the document', () => {
    const text = [line('a', 'negative'), '{bad', line('c', 'negative')];
    const textAt = (n: number): string => text[n]!;
    const rows = new LineRows(FIELDS, undefined, text.length);
    /** Replaces lines start..end of the document with `lines`, as an edit event would report it. */
    const edit = (start: number, end: number, lines: string[]): void => {
      text.splice(start, end - start + 1, ...lines);
      rows.replaceLines(start, end, lines.length);
    };
    rows.parseRange(0, 3, textAt);
    const reason = (parseLineState('{bad', FIELDS, undefined) as { reason: string }).reason;
    // Paste 3000 lines before "a": more than the spare capacity.
    edit(0, 0, [...Array.from({ length: 3000 }, (_, i) => line(`p${i}`, 'positive')), line('a', 'negative')]);
    assert.equal(rows.lineCount, 3003);
    assert.deepEqual(rows.stateAt(3001, textAt), { kind: 'unusable', reason });
    assert.equal(rows.scoreIndexAt(3001, textAt, ScoreTable.fromScores([], LABELS)), NOT_A_ROW);
    // Replace everything before "{bad" with one blank line.
    edit(0, 3000, ['']);
    assert.equal(rows.lineCount, 3);
    assert.equal(rows.stateAt(0, textAt).kind, 'blank');
    assert.deepEqual(rows.stateAt(1, textAt), { kind: 'unusable', reason });
    assert.deepEqual(rows.stateAt(2, textAt), { kind: 'row', rowId: computeRowId(['c'], 'negative') });
    assert.equal(rows.complete, true);
  });
});

describe('decorations', () => {
  test('heat buckets by percentile: lowest tenth, next 15 %, middle half, top quarter', () => {
    assert.deepEqual([0, 9.99, 10, 24.9, 25, 74.9, 75, 95, 95.1, 100].map(bucketOfPercentile), ['lowest', 'lowest', 'low', 'low', 'middle', 'middle', 'high', 'high', 'highest', 'highest']);
  });

  test('scores print with three significant digits', () => {
    assert.deepEqual([0, 0.00000189, 0.0001, 0.0123456, 0.68943, 1.2345, 142.9, 142901, 2e6].map(formatScore), ['0', '1.89e-6', '1e-4', '0.0123', '0.689', '1.23', '143', '1.43e+5', '2e+6']);
  });

  test('only the visible ranges, grown by the overscan, merged and clipped, are decorated', () => {
    assert.deepEqual(linesToDecorate([{ start: 10, end: 12 }], 100, 2), [8, 9, 10, 11, 12, 13, 14]);
    assert.deepEqual(linesToDecorate([{ start: 0, end: 1 }, { start: 3, end: 4 }], 5, 1), [0, 1, 2, 3, 4]);
    assert.deepEqual(linesToDecorate([{ start: 98, end: 99 }], 100, 5), [93, 94, 95, 96, 97, 98, 99]);
  });

  test('each row gets its bucket and badge; changed rows show as unscored; blank and unusable lines get nothing', () => {
    const text = [line('a', 'negative'), '', line('e', 'negative'), '{bad', line('a', 'positive'), line('d', 'positive')];
    const table = ScoreTable.fromScores(
      [score('a', 'negative', { impWeight: 2, quality: 0.4 }), score('e', 'negative', { impWeight: 0.1 }), score('d', 'positive', { impWeight: 8 })],
      LABELS,
    );
    const rows = new LineRows(FIELDS, new LabelMap(LABELS), text.length);
    const annotations = annotateLines([0, 1, 2, 3, 4, 5], rows, (n) => text[n]!, table);
    assert.deepEqual(annotations.buckets, { lowest: [2], low: [], middle: [0], high: [], highest: [5], unscored: [4] }, 'the top weight of three is in the top 5 %: highest');
    assert.deepEqual(
      annotations.badges.map((b) => [b.line, b.text]),
      [
        [0, 'w 2.00 · q 0.400'],
        [2, 'w 0.100 · q 0.500'],
        [4, UNSCORED_BADGE],
        [5, 'w 8.00 · q 0.500'],
      ],
    );
  });
});

describe('hover', () => {
  test('shows label, q, d, IMP weight, DIMP weight, percentile, preferred label and the models', () => {
    const table = ScoreTable.fromScores(
      [score('a', 'negative', { impWeight: 0.25, quality: 0.2, diversity: 0.8, qualityLabel: 'positive', qualityLabelProbability: 0.8 }), score('b', 'positive', { impWeight: 1 })],
      LABELS,
      new Map([[computeRowId(['a'], 'negative'), 0.3]]),
    );
    const text = rowHoverMarkdown(table, 0, { ...provenance, dimpRun: 'dimp-1' }, 0.75);
    for (const expected of ['| label | negative |', '| 0.200 |', '| 0.800 |', '| IMP weight q / d | 0.250 |', '| last DIMP weight | 0.300 |', '| percentile (IMP weight) | 0 |', 'positive (p 0.800) ⚠ likely mislabelled', 'trained on real.jsonl', 'Execution provider: cpu', 'run dimp-1']) {
      assert.ok(text.includes(expected), `${expected} in\n${text}`);
    }
    assert.ok(rowHoverMarkdown(table, 1, provenance, 0.75).includes('no DIMP run yet'));
  });

  test('never says "0th percentile", and explains w ≈ q when d ≈ 1', () => {
    assert.equal(describePercentile(0), 'lowest 1 % of this file');
    assert.equal(describePercentile(0.6), 'lowest 1 % of this file');
    assert.equal(describePercentile(37.2), '37th percentile of this file');
    assert.equal(describePercentile(12), '12th percentile of this file');
    assert.equal(describePercentile(100), 'top 1 % of this file');
    const table = ScoreTable.fromScores([score('a', 'negative', { impWeight: 0.967, quality: 0.967, diversity: 0.9995 }), score('b', 'positive', { impWeight: 2, diversity: 0.5 })], LABELS);
    const first = rowHoverMarkdown(table, 0, provenance, 0.75);
    assert.ok(first.includes('lowest 1 % of this file') && !first.includes('0th'), first);
    assert.ok(first.includes('so w ≈ q'), first);
    assert.ok(!rowHoverMarkdown(table, 1, provenance, 0.75).includes('w ≈ q'));
  });

  test('escapes Markdown in names that come from the user’s files', () => {
    assert.equal(escapeMarkdown('a|b*c_d'), 'a\\|b\\*c\\_d');
  });
});

describe('Problems', () => {
  test('unusable lines are errors; rows whose quality checker prefers another label above the threshold are warnings', () => {
    const text = [line('a', 'negative'), '{bad', line('b', 'positive'), '', line('new', 'negative')];
    const table = ScoreTable.fromScores(
      [
        score('a', 'negative', { impWeight: 0.1, qualityLabel: 'positive', qualityLabelProbability: 0.85 }),
        score('b', 'positive', { impWeight: 1, qualityLabel: 'negative', qualityLabelProbability: 0.6 }),
      ],
      LABELS,
    );
    const rows = new LineRows(FIELDS, new LabelMap(LABELS), text.length);
    const problems = lineProblems(rows, (n) => text[n]!, table, { threshold: 0.8, earned: true });
    assert.deepEqual(
      problems.map((p) => [p.line, p.severity, p.code, p.preferredLabel]),
      [
        [0, 'warning', 'likely-mislabelled', 'positive'],
        [1, 'error', 'unusable-line', undefined],
      ],
    );
    assert.match(problems[0]!.message, /labelled "negative", but the quality checker prefers "positive" \(p 0\.850\)/);
    assert.equal(lineProblems(rows, (n) => text[n]!, table, { threshold: 0.5, earned: true }).length, 3, 'a lower threshold flags more rows');
    assert.deepEqual(
      lineProblems(rows, (n) => text[n]!, table, { threshold: 0.5, earned: false }).map((p) => p.code),
      ['unusable-line'],
      'a quality checker near chance flags nothing',
    );
    const capped = lineProblems(rows, (n) => text[n]!, table, { threshold: 0.5, earned: true, max: 1 });
    assert.deepEqual(capped.map((p) => [p.line, p.code]), [[0, 'likely-mislabelled'], [1, 'unusable-line']], 'the cap keeps the most confident flag (p 0.85 over 0.6), in line order');
  });
});

describe('Sort Lines by Weight', () => {
  test('orders rows by weight (stable), then keeps every other line in its order', () => {
    const lines = ['w2', 'blank', 'w1', 'unscored', 'w1b', 'w3'];
    const weights: Record<string, number> = { w2: 2, w1: 1, w1b: 1, w3: 3 };
    const weightOf = (n: number): number | undefined => weights[lines[n]!];
    assert.deepEqual(sortLinesByWeight(lines, weightOf, 'ascending'), ['w1', 'w1b', 'w2', 'w3', 'blank', 'unscored']);
    assert.deepEqual(sortLinesByWeight(lines, weightOf, 'descending'), ['w3', 'w2', 'w1', 'w1b', 'blank', 'unscored']);
    assert.deepEqual(sortOrderByWeight(lines.length, weightOf, 'ascending'), [2, 4, 0, 5, 1, 3], 'the order as old line indices');
  });
});

describe('review queue rows', () => {
  test('a row shows both texts of a pair, and its label never runs into its line number', () => {
    const pair = { text: ['sentence1', 'sentence2'] as [string, string], label: 'label' };
    const item = sampleItemText('w 0.120', '0', 2827, JSON.stringify({ sentence1: 'The cat sat.', sentence2: 'A cat was sitting.', label: 0 }), pair);
    assert.equal(item.label, 'w 0.120 · label 0');
    assert.equal(item.description, 'line 2827 · The cat sat. ‖ A cat was sitting.');
    assert.equal(sampleSnippet('{not json', pair), '{not json');
    assert.equal(sampleSnippet(JSON.stringify({ sentence1: 'x'.repeat(200), sentence2: 'y' }), pair).length, 120);
  });
});

describe('which runs-folder changes reload the scores', () => {
  test('a runs folder, a DIMP or user-named run and their weights do; temporaries and CE/IMP/baseline runs do not', () => {
    for (const file of ['/w/runs', '/w/runs/dimp-20261203-081500', '/w/runs/dimp-20261203-081500/weights.jsonl', '/w/runs/my-run', '/w/runs/my-run/weights.jsonl']) {
      assert.equal(mayBringDimpWeights(file), true, file);
    }
    for (const file of ['/w/runs/.dimp-20261203-081500.tmp-123-abc', '/w/runs/.x.tmp-1/weights.jsonl', '/w/runs/ce-20261203-081500', '/w/runs/imp-20261203-081500/weights.jsonl', '/w/runs/filter-20261203-081500']) {
      assert.equal(mayBringDimpWeights(file), false, file);
    }
  });
});

describe('lastDimpWeights', () => {
  test('takes the newest DIMP run trained on the file, and ignores other losses and files', async () => {
    const { dir, cleanup } = temporaryFolder();
    try {
      const synthetic = path.join(dir, 'synthetic.jsonl');
      const run = (name: string, loss: string, file: string, createdAt: string, weight: number): void => {
        fs.mkdirSync(path.join(dir, 'runs', name), { recursive: true });
        fs.writeFileSync(path.join(dir, 'runs', name, 'config.json'), JSON.stringify({ kind: 'dimp-run', loss, createdAt, data: { synthetic: { file } } }));
        fs.writeFileSync(path.join(dir, 'runs', name, 'weights.jsonl'), JSON.stringify({ rowId: 'aaaaaaaaaaaaaaaa', weight }) + '\n');
      };
      run('dimp-old', 'dimp', synthetic, '2026-01-01T00:00:00Z', 1);
      run('dimp-new', 'dimp', 'synthetic.jsonl', '2026-02-01T00:00:00Z', 2);
      run('imp-newer', 'imp', synthetic, '2026-03-01T00:00:00Z', 3);
      run('dimp-other', 'dimp', path.join(dir, 'other.jsonl'), '2026-04-01T00:00:00Z', 4);
      const found = await lastDimpWeights(path.join(dir, 'runs'), synthetic);
      assert.equal(path.basename(found!.runDir), 'dimp-new', 'a relative path is taken against the project root');
      assert.equal(found!.weights.get('aaaaaaaaaaaaaaaa'), 2);
      assert.equal(await lastDimpWeights(path.join(dir, 'no-runs'), synthetic), undefined);
    } finally {
      cleanup();
    }
  });
});

describe('workspace trust', () => {
  const config = { quality: '/project/models/q', diversity: '/project/models/d' };
  test('a trusted workspace runs the models of dimp.config.json unless the settings name others', () => {
    assert.deepEqual(checkerModelsToRun(true, { quality: '/mine/q', diversity: undefined }, config), { quality: '/mine/q', diversity: '/project/models/d', ignored: [] });
  });
  test('an untrusted workspace runs no model named by dimp.config.json, and says which it skipped', () => {
    assert.deepEqual(checkerModelsToRun(false, { quality: undefined, diversity: undefined }, config), { quality: undefined, diversity: undefined, ignored: ['/project/models/q', '/project/models/d'] });
    // What is left of the settings in an untrusted workspace is the user's own (VS Code drops workspace values).
    assert.equal(checkerModelsToRun(false, { quality: '/mine/q', diversity: undefined }, config).quality, '/mine/q');
  });
  test("the config's encoder trains the checkers as heads on it, as the CLI does, and only in a trusted workspace", () => {
    const project: ProjectConfig = { models: config, encoder: { path: '/project/encoder', epochs: 3, head: 'linear' } };
    const trusted = resolveCheckerChoice(project, true, { quality: undefined, diversity: undefined }, '/project');
    assert.equal(trusted.checkerEncoder?.encoder, '/project/encoder');
    assert.equal(trusted.checkerEncoder?.epochs, 3);
    assert.equal(trusted.checkerEncoder?.head, 'linear');
    assert.deepEqual(trusted.ignored, []);
    const untrusted = resolveCheckerChoice(project, false, { quality: undefined, diversity: undefined }, '/project');
    assert.equal(untrusted.checkerEncoder, undefined);
    assert.deepEqual(untrusted.ignored, ['/project/models/q', '/project/models/d', '/project/encoder']);
  });
});
