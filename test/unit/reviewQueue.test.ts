import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { computeRowId } from '../../src/core/data/dataset';
import {
  describeFlags,
  duplicatesToDelete,
  nearDuplicateGroups,
  normaliseText,
  parseReviewMarks,
  parseScoreRange,
  reviewQueue,
  rowFlags,
  rowText,
  serialiseReviewMarks,
  tableRowLines,
  weightTail,
  type ReviewSource,
} from '../../src/core/view/reviewQueue';
import { extremeWeightNote, rowHoverMarkdown } from '../../src/core/view/rowHover';
import { bucketOfPercentile } from '../../src/core/view/weightHeat';
import type { RowScore } from '../../src/core/weighting/score';
import { ScoreTable } from '../../src/core/weighting/scoreTable';

const LABELS = ['negative', 'positive'];

interface Example {
  text: string;
  label: 'negative' | 'positive';
  weight: number;
  quality: number;
  /** The label the quality checker prefers, with probability 0.95; absent: the gold label. */
  prefers?: 'negative' | 'positive';
}

// 20 rows, so the 5 % tails hold one row each: line 1 (lowest weight) and line 20 (highest).
const EXAMPLES: Example[] = Array.from({ length: 20 }, (_, i) => ({
  text: `review number ${i + 1}`,
  label: i % 2 === 0 ? 'negative' : 'positive',
  weight: 0.1 * (i + 1),
  quality: 1 - 0.04 * (i + 1),
}));
EXAMPLES[2] = { ...EXAMPLES[2]!, text: 'Five stars!!', prefers: 'positive' }; // line 3: likely mislabelled
EXAMPLES[6] = { ...EXAMPLES[6]!, text: 'five  STARS' }; // line 7: a near duplicate of line 3
EXAMPLES[11] = { ...EXAMPLES[11]!, text: 'Five stars.' }; // line 12: another
EXAMPLES[4] = { ...EXAMPLES[4]!, weight: EXAMPLES[5]!.weight }; // lines 5 and 6 tie on weight

function tableOf(examples: readonly Example[]): ScoreTable {
  const rows: RowScore[] = examples.map((e, i) => ({
    rowId: computeRowId([e.text], e.label),
    line: i + 1,
    label: e.label,
    quality: e.quality,
    diversity: e.quality / e.weight,
    impWeight: e.weight,
    qualityLabel: e.prefers ?? e.label,
    qualityLabelProbability: 0.95,
  }));
  return ScoreTable.fromScores(rows, LABELS);
}

const table = tableOf(EXAMPLES);

function source(overrides: Partial<ReviewSource> = {}): ReviewSource {
  return {
    table,
    lineOf: (index) => table.columns.line[index],
    textOf: (index) => EXAMPLES[table.columns.line[index]! - 1]!.text,
    isReviewed: () => false,
    mislabelThreshold: 0.8,
    mislabelFlagsEarned: true,
    ...overrides,
  };
}

const linesOf = (result: { rows: { line: number }[] }): number[] => result.rows.map((r) => r.line);

describe('reviewQueue', () => {
  test('lists every row lowest weight first, and highest first with ties still in line order', () => {
    const ascending = reviewQueue(source(), {}, { by: 'impWeight', direction: 'ascending' }, 100);
    assert.equal(ascending.matching, 20);
    assert.deepEqual(linesOf(ascending).slice(0, 7), [1, 2, 3, 4, 5, 6, 7]);
    const descending = reviewQueue(source(), {}, { by: 'impWeight', direction: 'descending' }, 100);
    assert.deepEqual(linesOf(descending).slice(0, 3), [20, 19, 18]);
    assert.deepEqual(linesOf(descending).slice(-7), [7, 5, 6, 4, 3, 2, 1], 'lines 5 and 6 tie: 5 before 6 in both orders');
  });

  test('orders by quality in both directions', () => {
    assert.equal(reviewQueue(source(), {}, { by: 'quality', direction: 'ascending' }, 1).rows[0]!.line, 20);
    assert.equal(reviewQueue(source(), {}, { by: 'quality', direction: 'descending' }, 1).rows[0]!.line, 1);
  });

  test('filters by weight range, quality range and label, bounds included', () => {
    const weights = reviewQueue(source(), { weight: { min: 0.65, max: 1.05 } }, { by: 'impWeight', direction: 'ascending' }, 100);
    assert.deepEqual(linesOf(weights), [7, 8, 9, 10]);
    const quality = reviewQueue(source(), { quality: { min: 0.6 } }, { by: 'impWeight', direction: 'ascending' }, 100);
    assert.ok(quality.rows.every((r) => table.columns.quality[r.index]! >= 0.6 - 1e-6));
    assert.deepEqual(linesOf(quality), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const positive = reviewQueue(source(), { label: 'positive' }, { by: 'impWeight', direction: 'ascending' }, 100);
    assert.equal(positive.matching, 10);
    assert.ok(positive.rows.every((r) => r.line % 2 === 0));
  });

  test('filters by flag: likely mislabelled, extreme weight (both tails), or any flag', () => {
    const order = { by: 'impWeight', direction: 'ascending' } as const;
    assert.deepEqual(linesOf(reviewQueue(source(), { flag: 'mislabelled' }, order, 100)), [3]);
    assert.deepEqual(linesOf(reviewQueue(source(), { flag: 'extremeWeight' }, order, 100)), [1, 20]);
    assert.deepEqual(linesOf(reviewQueue(source(), { flag: 'any' }, order, 100)), [1, 3, 20]);
    // A quality checker near chance earns no flags.
    assert.deepEqual(linesOf(reviewQueue(source({ mislabelFlagsEarned: false }), { flag: 'mislabelled' }, order, 100)), []);
  });

  test('searches the text ignoring case, punctuation and spacing', () => {
    const found = reviewQueue(source(), { text: 'FIVE stars' }, { by: 'impWeight', direction: 'ascending' }, 100);
    assert.deepEqual(linesOf(found), [3, 7, 12]);
    const unknownText = reviewQueue(source({ textOf: () => undefined }), { text: 'five' }, { by: 'impWeight', direction: 'ascending' }, 100);
    assert.equal(unknownText.matching, 0, 'rows whose text is not known do not match a search');
  });

  test('hides or shows only the rows marked as reviewed, and says which are', () => {
    const marked = new Set([0, 2]);
    const withMarks = source({ isReviewed: (index) => marked.has(index) });
    const order = { by: 'impWeight', direction: 'ascending' } as const;
    assert.deepEqual(linesOf(reviewQueue(withMarks, { reviewed: 'only' }, order, 100)), [1, 3]);
    assert.equal(reviewQueue(withMarks, { reviewed: 'hide' }, order, 100).matching, 18);
    assert.equal(reviewQueue(withMarks, {}, order, 100).rows[0]!.reviewed, true);
  });

  test('leaves out rows no longer in the file, limits the list and counts all that match', () => {
    const gone = source({ lineOf: (index) => (table.columns.line[index] === 1 ? undefined : table.columns.line[index]) });
    const result = reviewQueue(gone, {}, { by: 'impWeight', direction: 'ascending' }, 5);
    assert.deepEqual(linesOf(result), [2, 3, 4, 5, 6]);
    assert.equal(result.matching, 19);
  });
});

describe('flags and tails', () => {
  test('the lowest and the highest 5 % of weights are extreme; the rest are not', () => {
    assert.equal(weightTail(table, table.columns.weightOrder[0]!), 'lowest');
    assert.equal(weightTail(table, table.columns.weightOrder[19]!), 'highest');
    assert.equal(weightTail(table, table.columns.weightOrder[10]!), undefined);
    const line20 = table.columns.weightOrder[19]!;
    assert.deepEqual(rowFlags(table, line20, { mislabelThreshold: 0.8, mislabelFlagsEarned: true }), ['extremeWeight']);
    assert.deepEqual(describeFlags(table, line20, ['extremeWeight']), ['extreme weight (top 5 %)']);
    const line3 = table.indexOf(computeRowId(['Five stars!!'], 'negative'));
    assert.deepEqual(describeFlags(table, line3, ['mislabelled']), ['likely mislabelled (checker prefers positive)']);
  });
});

describe('colours and hovers of extreme weights', () => {
  const provenance = { qualityChecker: 'q', diversityChecker: 'd', provider: 'cpu', dimpRun: undefined };

  test('the hover says both tails are suspicious; rows in neither tail get no note', () => {
    const lowest = table.columns.weightOrder[0]!;
    const highest = table.columns.weightOrder[19]!;
    assert.match(extremeWeightNote(table, lowest)!, /Extreme weight.*lowest 5 %/);
    assert.match(extremeWeightNote(table, highest)!, /Extreme weight.*top 5 %.*as suspicious as the lowest/);
    assert.equal(extremeWeightNote(table, table.columns.weightOrder[10]!), undefined);
    assert.match(rowHoverMarkdown(table, highest, provenance, 0.8), /as suspicious as the lowest/);
    assert.ok(!rowHoverMarkdown(table, table.columns.weightOrder[10]!, provenance, 0.8).includes('Extreme weight'));
  });

  test('the top 5 % has a heat bucket of its own, the one the extreme flag uses', () => {
    for (let position = 0; position < 20; position++) {
      const index = table.columns.weightOrder[position]!;
      const highestBucket = bucketOfPercentile(table.weightPercentile(index)) === 'highest';
      assert.equal(highestBucket, weightTail(table, index) === 'highest', `row at position ${position}`);
    }
  });
});

describe('near-duplicate groups', () => {
  test('normalising drops case, punctuation and extra spaces', () => {
    assert.equal(normaliseText('  Five   STARS!! '), 'five stars');
    assert.equal(normaliseText('Ｆｉｖｅ stars…'), 'five stars', 'NFKC folds full-width letters');
  });

  test('groups rows whose normalised texts coincide, whatever their labels, members in line order', () => {
    const groups = nearDuplicateGroups(tableRowLines(source()));
    assert.equal(groups.length, 1);
    assert.equal(groups[0]!.key, 'five stars');
    assert.deepEqual(
      groups[0]!.members.map((m) => m.line),
      [3, 7, 12],
    );
  });

  test('largest groups first', () => {
    const examples = [...EXAMPLES, { text: 'review number 1!', label: 'positive', weight: 5, quality: 0.5 } as Example];
    const bigger = tableOf(examples);
    const groups = nearDuplicateGroups(tableRowLines({ table: bigger, lineOf: (i) => bigger.columns.line[i], textOf: (i) => examples[bigger.columns.line[i]! - 1]!.text }));
    assert.deepEqual(
      groups.map((g) => g.members.length),
      [3, 2],
    );
  });

  test('exact duplicate lines are members each at their own line', () => {
    const lines = [
      { index: 0, line: 1, text: 'Great!' },
      { index: 1, line: 2, text: 'other' },
      { index: 0, line: 3, text: 'Great!' },
      { index: 2, line: 4, text: 'great' },
    ];
    assert.deepEqual(
      nearDuplicateGroups(lines).map((g) => g.members.map((m) => m.line)),
      [[1, 3, 4]],
    );
  });

  test('the group action keeps the first reviewed member, else the first line, and deletes the others', () => {
    const [group] = nearDuplicateGroups(tableRowLines(source()));
    assert.deepEqual(duplicatesToDelete(group!, () => false), { keep: 3, deleteLines: [7, 12] });
    const line7 = group!.members[1]!.index;
    assert.deepEqual(duplicatesToDelete(group!, (index) => index === line7), { keep: 7, deleteLines: [3, 12] });
  });

  test('rowText reads the text fields of a line; a pair joined', () => {
    assert.equal(rowText('{"text":"a","label":0}', { text: ['text'], label: 'label' }), 'a');
    assert.equal(rowText('{"q":"a","p":"b","label":0}', { text: ['q', 'p'], label: 'label' }), 'a ‖ b');
    assert.equal(rowText('{"text": ', { text: ['text'], label: 'label' }), undefined);
  });
});

describe('score ranges as typed', () => {
  test('reads both ends, one end, or clears; anything else is not a range', () => {
    assert.deepEqual(parseScoreRange('0.5-2'), { min: 0.5, max: 2 });
    assert.deepEqual(parseScoreRange(' 0.1 to 0.3 '), { min: 0.1, max: 0.3 });
    assert.deepEqual(parseScoreRange('0..1'), { min: 0, max: 1 });
    assert.deepEqual(parseScoreRange('2-'), { min: 2 });
    assert.deepEqual(parseScoreRange('-2'), { max: 2 });
    assert.equal(parseScoreRange(''), 'clear');
    assert.equal(parseScoreRange('3'), undefined);
    assert.equal(parseScoreRange('a-b'), undefined);
  });
});

describe('review marks file', () => {
  test('round-trips sorted row ids and ignores anything that is not one', () => {
    const ids = ['00000000000000ff', '0123456789abcdef'];
    const text = serialiseReviewMarks([ids[1]!, ids[0]!]);
    assert.deepEqual(JSON.parse(text), { version: 1, reviewed: ids });
    assert.deepEqual([...parseReviewMarks(text)], ids);
    assert.deepEqual([...parseReviewMarks('{"reviewed": ["nope", 3, "0123456789abcdef"]}')], ['0123456789abcdef']);
    assert.equal(parseReviewMarks('not json').size, 0);
  });
});
