import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { curateFile, rejectedPathFor, type CurationRule } from '../../src/core/curate';
import { computeRowId } from '../../src/core/data/dataset';
import { DimpError } from '../../src/core/errors';
import type { RowScore, Scores } from '../../src/core/weighting/score';
import { DEFAULT_WEIGHT_GUARDS } from '../../src/core/weighting/weights';

interface Example {
  text: string;
  label: 'a' | 'b';
  /** Hand-made scores; absent for a row the scores file does not know. */
  score?: { quality: number; weight: number };
}

// The synthetic file, line by line: scored rows, one unscored row, and three lines that cannot be used.
const FILE_LINES: (Example | string)[] = [
  { text: 'alpha', label: 'a', score: { quality: 0.8, weight: 2 } }, // 1
  '', // 2 blank
  '{"text": "broken", ', // 3 bad JSON
  { text: 'beta', label: 'b', score: { quality: 0.9, weight: 0.5 } }, // 4
  { text: 'gamma', label: 'a' }, // 5 unscored
  { text: 'delta', label: 'b', score: { quality: 0.3, weight: 2 } }, // 6 ties with line 1
  { text: 'epsilon', label: 'a', score: { quality: 0.6, weight: 1 } }, // 7
  '{"text":"no label here"}', // 8 unusable
  { text: 'zeta', label: 'b', score: { quality: 0.1, weight: 3 } }, // 9
  { text: 'eta', label: 'a', score: { quality: 0.95, weight: 0.1 } }, // 10
];
const SCORED_LINES = [1, 4, 6, 7, 9, 10];
const NON_BLANK_LINES = [1, 3, 4, 5, 6, 7, 8, 9, 10];

const lineText = (entry: Example | string): string => (typeof entry === 'string' ? entry : JSON.stringify({ text: entry.text, label: entry.label }));
/** The text of 1-based line `n`. */
const textOfLine = (n: number): string => lineText(FILE_LINES[n - 1]!);

function handMadeScores(syntheticFile: string): Scores {
  const rows: RowScore[] = [];
  FILE_LINES.forEach((entry, i) => {
    if (typeof entry === 'string' || !entry.score) return;
    const { quality, weight } = entry.score;
    rows.push({
      rowId: computeRowId([entry.text], entry.label),
      line: i + 1,
      label: entry.label,
      quality,
      diversity: quality / weight,
      impWeight: weight,
      qualityLabel: entry.label,
      qualityLabelProbability: quality,
    });
  });
  return {
    header: {
      kind: 'dimp-scores',
      version: 1,
      synthetic: syntheticFile,
      real: undefined,
      labels: ['a', 'b'],
      qualityChecker: 'hand-made',
      diversityChecker: 'hand-made',
      provider: 'cpu',
      guards: DEFAULT_WEIGHT_GUARDS,
      createdAt: new Date(0).toISOString(),
      rows: rows.length,
    },
    rows,
  };
}

let dir: string;
let synthetic: string;
let scores: Scores;
let curated: string;
let rejected: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dimp-test-'));
  synthetic = path.join(dir, 'synthetic.jsonl');
  // No newline after the last line.
  fs.writeFileSync(synthetic, FILE_LINES.map(lineText).join('\n'));
  scores = handMadeScores(synthetic);
  curated = path.join(dir, 'out', 'curated.jsonl');
  rejected = path.join(dir, 'out', 'rejected.jsonl');
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Lines of a written output (every line ends with a newline). */
function readLines(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  if (text === '') return [];
  assert.ok(text.endsWith('\n'), `${file} should end with a newline`);
  return text.slice(0, -1).split('\n');
}

/** 1-based input line numbers of the lines in `file`, matched by text. */
function inputLinesOf(file: string): number[] {
  return readLines(file).map((text) => {
    const n = FILE_LINES.findIndex((entry) => lineText(entry) === text);
    assert.ok(n >= 0, `output line not in the input: ${text}`);
    return n + 1;
  });
}

async function curate(rule: CurationRule): Promise<Awaited<ReturnType<typeof curateFile>>> {
  return curateFile(synthetic, scores, rule, { curated, rejected });
}

describe('curateFile', () => {
  const rules: [string, CurationRule][] = [
    ['keep half by weight', { by: 'weight', keepFraction: 0.5 }],
    ['keep a third by weight', { by: 'weight', keepFraction: 1 / 3 }],
    ['keep all', { by: 'weight', keepFraction: 1 }],
    ['minimum weight', { by: 'weight', minimum: 2 }],
    ['minimum quality, sorted', { by: 'quality', minimum: 0.5, sort: 'descending' }],
  ];
  for (const [name, rule] of rules) {
    test(`every non-blank line lands in exactly one output (${name})`, async () => {
      await curate(rule);
      const outputs = [...readLines(curated), ...readLines(rejected)].sort();
      const inputs = NON_BLANK_LINES.map(textOfLine).sort();
      assert.deepEqual(outputs, inputs);
    });
  }

  test('the summary counts kept, rejected, unusable and unscored lines', async () => {
    const summary = await curate({ by: 'weight', keepFraction: 0.5 });
    // 6 scored rows, round(6 · 0.5) = 3 kept; lines 3 and 8 unusable; line 5 unscored.
    assert.equal(summary.kept, 3);
    assert.equal(summary.rejected, 3);
    assert.equal(summary.unusable, 2);
    assert.equal(summary.unscored, 1);
    assert.equal(summary.threshold, 2);
  });

  test('keep-fraction keeps the highest weights, in file order', async () => {
    await curate({ by: 'weight', keepFraction: 0.5 });
    // Weights 3 (line 9), 2 (line 1), 2 (line 6).
    assert.deepEqual(inputLinesOf(curated), [1, 6, 9]);
    assert.deepEqual(inputLinesOf(rejected), [3, 4, 5, 7, 8, 10]);
  });

  test('a tie at the threshold is broken by file order so exactly round(n·f) rows are kept', async () => {
    // round(6 / 3) = 2: line 9 (weight 3), then lines 1 and 6 tie at weight 2 and only line 1 fits.
    await curate({ by: 'weight', keepFraction: 1 / 3 });
    assert.deepEqual(inputLinesOf(curated), [1, 9]);
  });

  test('keep-fraction counts only scored rows', async () => {
    for (const [fraction, expected] of [
      [1, SCORED_LINES],
      [0.1, [9]], // round(0.6) = 1
      [0.75, [1, 4, 6, 7, 9]], // round(4.5) = 5: all but the lowest weight (line 10)
    ] as const) {
      const summary = await curateFile(synthetic, scores, { by: 'weight', keepFraction: fraction }, { curated, rejected, overwrite: true });
      assert.equal(summary.kept, expected.length, `fraction ${fraction}`);
      assert.deepEqual(inputLinesOf(curated), expected, `fraction ${fraction}`);
    }
  });

  test('keep-fraction by quality ranks by quality', async () => {
    // Qualities: 0.95 (line 10), 0.9 (line 4), 0.8 (line 1), 0.6, 0.3, 0.1.
    await curate({ by: 'quality', keepFraction: 0.5 });
    assert.deepEqual(inputLinesOf(curated), [1, 4, 10]);
  });

  test('minimum weight keeps every row at or above it, ties included', async () => {
    const summary = await curate({ by: 'weight', minimum: 2 });
    assert.deepEqual(inputLinesOf(curated), [1, 6, 9]);
    assert.equal(summary.threshold, 2);
  });

  test('minimum quality thresholds on quality, not weight', async () => {
    await curate({ by: 'quality', minimum: 0.8 });
    assert.deepEqual(inputLinesOf(curated), [1, 4, 10]);
  });

  test('a minimum above every score keeps nothing and writes an empty curated file', async () => {
    const summary = await curate({ by: 'weight', minimum: 100 });
    assert.equal(summary.kept, 0);
    assert.equal(fs.readFileSync(curated, 'utf8'), '');
    assert.equal(readLines(rejected).length, NON_BLANK_LINES.length);
  });

  test('sort ascending and descending order the curated file by score, ties in file order', async () => {
    await curate({ by: 'weight', keepFraction: 1, sort: 'ascending' });
    assert.deepEqual(inputLinesOf(curated), [10, 4, 7, 1, 6, 9]);
    await curateFile(synthetic, scores, { by: 'weight', keepFraction: 1, sort: 'descending' }, { curated, rejected, overwrite: true });
    assert.deepEqual(inputLinesOf(curated), [9, 1, 6, 7, 4, 10]);
    await curateFile(synthetic, scores, { by: 'quality', minimum: 0, sort: 'descending' }, { curated, rejected, overwrite: true });
    assert.deepEqual(inputLinesOf(curated), [10, 4, 1, 7, 6, 9]);
  });

  test('addWeight adds the IMP weight to each kept line and keeps its fields', async () => {
    await curate({ by: 'weight', keepFraction: 0.5, addWeight: true });
    const kept = readLines(curated).map((line) => JSON.parse(line) as { text: string; label: string; weight: number });
    assert.deepEqual(kept, [
      { text: 'alpha', label: 'a', weight: 2 },
      { text: 'delta', label: 'b', weight: 2 },
      { text: 'zeta', label: 'b', weight: 3 },
    ]);
    // Rejected lines are copied unchanged.
    assert.ok(readLines(rejected).every((line) => !line.includes('"weight"')));
  });

  test('refuses to overwrite an existing output unless asked', async () => {
    fs.mkdirSync(path.dirname(curated), { recursive: true });
    fs.writeFileSync(curated, 'precious\n');
    await assert.rejects(curate({ by: 'weight', keepFraction: 0.5 }), (error: unknown) => {
      assert.ok(error instanceof DimpError);
      assert.equal(error.kind, 'usage');
      assert.ok(error.message.includes(curated));
      return true;
    });
    assert.equal(fs.readFileSync(curated, 'utf8'), 'precious\n');
    assert.equal(fs.existsSync(rejected), false);

    fs.rmSync(curated);
    fs.writeFileSync(rejected, 'also precious\n');
    await assert.rejects(curate({ by: 'weight', keepFraction: 0.5 }), DimpError);
    assert.equal(fs.readFileSync(rejected, 'utf8'), 'also precious\n');
    assert.equal(fs.existsSync(curated), false);

    await curateFile(synthetic, scores, { by: 'weight', keepFraction: 0.5 }, { curated, rejected, overwrite: true });
    assert.deepEqual(inputLinesOf(curated), [1, 6, 9]);
  });

  test('writes atomically: no temporary files are left beside the outputs', async () => {
    await curate({ by: 'weight', keepFraction: 0.5 });
    await curateFile(synthetic, scores, { by: 'weight', minimum: 1 }, { curated, rejected, overwrite: true });
    assert.deepEqual(fs.readdirSync(path.dirname(curated)).sort(), ['curated.jsonl', 'rejected.jsonl']);
  });

  test('without a rejected path only the curated file is written', async () => {
    await curateFile(synthetic, scores, { by: 'weight', minimum: 1 }, { curated });
    assert.deepEqual(fs.readdirSync(path.dirname(curated)), ['curated.jsonl']);
    assert.deepEqual(inputLinesOf(curated), [1, 6, 7, 9]);
  });

  test('rejects rules with both or neither of fraction and minimum, and fractions outside (0, 1]', async () => {
    for (const rule of [{ by: 'weight' }, { by: 'weight', keepFraction: 0.5, minimum: 1 }, { by: 'weight', keepFraction: 0 }, { by: 'weight', keepFraction: 1.5 }] as CurationRule[]) {
      await assert.rejects(curate(rule), (error: unknown) => error instanceof DimpError && error.kind === 'usage', JSON.stringify(rule));
    }
    assert.equal(fs.existsSync(curated), false);
  });
});

test('the rejected file that goes with a curated file is named the same way by the CLI and the editor', () => {
  assert.equal(rejectedPathFor(path.join('d', 'x.curated.jsonl')), path.join('d', 'x.rejected.jsonl'));
  assert.equal(rejectedPathFor(path.join('d', 'out.jsonl')), path.join('d', 'out.rejected.jsonl'));
  assert.equal(rejectedPathFor(path.join('d', 'keep.ndjson')), path.join('d', 'keep.rejected.ndjson'));
});

describe('curateFile: both tails and rows marked as reviewed', () => {
  // Weights by line: 1 → 2, 4 → 0.5, 6 → 2, 7 → 1, 9 → 3, 10 → 0.1 (ranked 9, 1, 6, 7, 4, 10).
  test('dropHighestFraction rejects the highest weights first; keepFraction = 1 − low − high drops both tails', async () => {
    // round(6 · 1/6) = 1 dropped from the top (line 9); keep round(6 · 4/6) = 4 of the rest: 1, 6, 7, 4; line 10 is the low tail.
    const summary = await curate({ by: 'weight', keepFraction: 4 / 6, dropHighestFraction: 1 / 6 });
    assert.deepEqual(inputLinesOf(curated), [1, 4, 6, 7]);
    assert.equal(summary.kept, 4);
    assert.equal(summary.threshold, 0.5);
    assert.ok(inputLinesOf(rejected).includes(9) && inputLinesOf(rejected).includes(10), 'both extremes rejected');
  });

  test('dropHighestFraction with a minimum keeps the rest at or above it', async () => {
    await curate({ by: 'weight', minimum: 1, dropHighestFraction: 0.2 });
    // round(6 · 0.2) = 1: line 9 dropped; lines 1, 6 (2) and 7 (1) kept.
    assert.deepEqual(inputLinesOf(curated), [1, 6, 7]);
  });

  test('a highest fraction outside [0, 1) is a usage error', async () => {
    await assert.rejects(curate({ by: 'weight', keepFraction: 0.5, dropHighestFraction: 1 }), (e: unknown) => e instanceof DimpError && e.kind === 'usage');
  });

  test('rows marked as reviewed are always kept and left out of the ranking', async () => {
    const lowest = computeRowId(['eta'], 'a'); // line 10, weight 0.1
    const highest = computeRowId(['zeta'], 'b'); // line 9, weight 3
    const summary = await curateFile(synthetic, scores, { by: 'weight', keepFraction: 0.5, dropHighestFraction: 0.25 }, { curated, rejected }, { alwaysKeep: new Set([lowest, highest]) });
    // Ranked without the marked rows: 1, 6, 7, 4; round(4 · 0.25) = 1 dropped (line 1), round(4 · 0.5) = 2 kept (6, 7).
    assert.deepEqual(inputLinesOf(curated), [6, 7, 9, 10]);
    assert.equal(summary.kept, 4);
    assert.equal(summary.keptReviewed, 2);
  });

  test('a marked row the scores do not know (unscored) is kept too', async () => {
    const summary = await curateFile(synthetic, scores, { by: 'weight', minimum: 100 }, { curated, rejected }, { alwaysKeep: new Set([computeRowId(['gamma'], 'a')]) });
    assert.deepEqual(inputLinesOf(curated), [5]);
    assert.equal(summary.unscored, 0);
  });
});
