import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { loadDataset, type Dataset } from '../../src/core/data/dataset';
import { LabelMap } from '../../src/core/data/labels';
import { DimpError } from '../../src/core/errors';
import { scoreRows } from '../../src/core/jobs/checkers';
import { runScoreJob, type ScoreJobSpec } from '../../src/core/jobs/scoreJob';
import { loadClassifier, type LoadedClassifier } from '../../src/core/model/modelFolder';
import { liveScoringWorkers, predictOnWorkers, startedScoringWorkers } from '../../src/core/model/ngramPool';
import { DEFAULT_CHECKER_SETTINGS } from '../../src/core/train/ngramTraining';
import type { ScoreColumns } from '../../src/core/weighting/scoreColumns';
import { SAMPLE_DIR, temporaryFolder } from './helpers';

const folder = temporaryFolder();
after(() => folder.cleanup());

const labels = ['negative', 'neutral', 'positive'];
const guards = { epsilon: 1e-6, maxWeight: null };
let checkerFolders: { quality: string; diversity: string };
let synthetic: Dataset;
let labelMap: LabelMap;

function spec(name: string, syntheticFile: string, extra: Partial<ScoreJobSpec>): ScoreJobSpec {
  return {
    synthetic: { path: syntheticFile },
    labels,
    scoresFile: path.join(folder.dir, `${name}.scores.jsonl`),
    checkersDir: path.join(folder.dir, `${name}.checkers`),
    checkerSettings: { ...DEFAULT_CHECKER_SETTINGS, epochs: 3 },
    seed: 1,
    guards,
    device: 'cpu',
    ...extra,
  };
}

/** A scores file's lines with the header's creation time left out (the one thing that differs between runs). */
function scoresBytes(file: string): { header: string; rows: string } {
  const text = readFileSync(file, 'utf8');
  const newline = text.indexOf('\n');
  const header = JSON.parse(text.slice(0, newline)) as Record<string, unknown>;
  delete header.createdAt;
  return { header: JSON.stringify(header), rows: text.slice(newline + 1) };
}

before(async () => {
  // The sample scored on this thread (4,000 rows: one chunk), checkers trained: the reference.
  const first = await runScoreJob(spec('sample', path.join(SAMPLE_DIR, 'synthetic.jsonl'), { real: { path: path.join(SAMPLE_DIR, 'real_train.jsonl') }, scoringThreads: 1 }));
  checkerFolders = first.scores.header.checkerFolders!;
  labelMap = new LabelMap(labels);
  synthetic = await loadDataset(path.join(SAMPLE_DIR, 'synthetic.jsonl'), labelMap);
});

async function openCheckers(): Promise<[LoadedClassifier, LoadedClassifier]> {
  return [await loadClassifier(checkerFolders.quality, 'cpu'), await loadClassifier(checkerFolders.diversity, 'cpu')];
}

function assertSameColumns(actual: ScoreColumns, expected: ScoreColumns, what: string): void {
  assert.equal(actual.length, expected.length, what);
  for (const key of ['rowIds', 'line', 'label', 'quality', 'diversity', 'impWeight', 'qualityLabel', 'qualityLabelProbability'] as const) {
    assert.deepEqual(actual[key], expected[key], `${what}: ${key}`);
  }
}

test('the score job starts no workers by default, and writes the same bytes on 1, 2 and 3 threads (40,000 rows: three chunks of the grid)', async () => {
  // The sample ten times over, each copy's sentences marked so that no two rows are alike.
  const lines = readFileSync(path.join(SAMPLE_DIR, 'synthetic.jsonl'), 'utf8').split('\n').filter((l) => l.trim() !== '');
  const out: string[] = [];
  for (let copy = 0; copy < 10; copy++) {
    for (const line of lines) {
      const row = JSON.parse(line) as { sentence: string; label: number };
      out.push(JSON.stringify({ ...row, sentence: `${row.sentence} (copy ${copy})` }));
    }
  }
  const big = path.join(folder.dir, 'big.jsonl');
  writeFileSync(big, out.join('\n') + '\n');
  const files: { header: string; rows: string }[] = [];
  // undefined: the default, no workers; 1: none asked for; 2, 3: that many.
  for (const threads of [undefined, 1, 2, 3]) {
    const startedBefore = startedScoringWorkers();
    const result = await runScoreJob(spec(`big-${threads ?? 'default'}`, big, { qualityModel: checkerFolders.quality, diversityModel: checkerFolders.diversity, scoringThreads: threads }));
    assert.equal(result.scores.header.rows, 40_000);
    assert.equal(startedScoringWorkers() - startedBefore, threads === undefined || threads === 1 ? 0 : threads, `${threads} threads: workers started`);
    files.push(scoresBytes(result.scoresFile));
  }
  files.shift();
  assert.equal(liveScoringWorkers(), 0, 'no scoring worker is left running');
  assert.ok(files[0]!.rows.length > 1_000_000);
  for (const [i, threads] of [2, 3].entries()) {
    assert.equal(files[i + 1]!.header, files[0]!.header, `header on ${threads} threads`);
    assert.ok(files[i + 1]!.rows === files[0]!.rows, `rows on ${threads} threads are byte-identical to one thread's`);
  }
});

// Batches of 8 rows do not give the bits of batches of 512 (some rows differ in the 7th digit): a row's bits
// depend on its batch, which is why the workers score whole chunks of the one-thread grid.
test('scoreRows on workers (small batches: 16 chunks) gives the bits of this thread at the same batch size', async () => {
  const [quality, diversity] = await openCheckers();
  try {
    const one = (await scoreRows(quality, diversity, synthetic.rows, labelMap, guards, { threads: 1, batchSize: 8 })) as ScoreColumns;
    for (const threads of [2, 3]) {
      const many = await scoreRows(quality, diversity, synthetic.rows, labelMap, guards, { threads, batchSize: 8 });
      assertSameColumns(many, one, `${threads} threads`);
    }
  } finally {
    await quality.dispose();
    await diversity.dispose();
  }
  assert.equal(liveScoringWorkers(), 0);
});

test('cancelling mid-pass rejects with the cancellation error and ends every worker', async () => {
  const [quality, diversity] = await openCheckers();
  try {
    const controller = new AbortController();
    let progressAfterAbort = 0;
    await assert.rejects(
      scoreRows(quality, diversity, synthetic.rows, labelMap, guards, {
        threads: 2,
        batchSize: 8,
        signal: controller.signal,
        onProgress: {
          quality: (done) => {
            if (controller.signal.aborted) progressAfterAbort++;
            if (done > 0) controller.abort();
          },
        },
      }),
      (error: unknown) => error instanceof DimpError && error.kind === 'cancelled',
    );
    assert.equal(liveScoringWorkers(), 0, 'no scoring worker is left running after cancelling');
    assert.equal(progressAfterAbort, 0, 'no progress is reported after the abort');
  } finally {
    await quality.dispose();
    await diversity.dispose();
  }
});

test('a worker that fails surfaces its error and ends the others', async () => {
  // A model folder the workers cannot open.
  await assert.rejects(
    predictOnWorkers([path.join(folder.dir, 'no-such-model'), checkerFolders.diversity], [3, 3], synthetic.rows, { threads: 2, batchSize: 8 }),
    (error: unknown) => error instanceof DimpError && error.kind === 'badModel' && /model folder not found/.test(error.message),
  );
  assert.equal(liveScoringWorkers(), 0);
  // A chunk that fails mid-pass (a row whose text is not a string): the other worker stops too.
  const rows = synthetic.rows.map((r, i) => (i === 1000 ? { texts: [null as unknown as string] } : r));
  await assert.rejects(predictOnWorkers([checkerFolders.quality, checkerFolders.diversity], [3, 3], rows, { threads: 2, batchSize: 8 }), (error: unknown) => {
    assert.ok(error instanceof Error);
    assert.doesNotMatch(error.message, /cancelled/);
    return true;
  });
  assert.equal(liveScoringWorkers(), 0);
});
