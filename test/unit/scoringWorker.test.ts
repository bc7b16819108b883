import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { computeRowId } from '../../src/core/data/dataset';
import { checkerSettingsFrom } from '../../src/core/train/ngramTraining';
import { readScores } from '../../src/core/weighting/score';
import { ScoreTable } from '../../src/core/weighting/scoreTable';
import { DEFAULT_WEIGHT_GUARDS } from '../../src/core/weighting/weights';
import { WorkerJobError } from '../../src/core/runtime/workerJob';
import { startScoringJob } from '../../src/extension/scoring/scoringWorkerClient';
import type { ScoreJob, ScoreMeta, ScoreStorage, ScoringJob } from '../../src/protocol/scoring';
import type { ScoreProgressEvent } from '../../src/protocol/events';
import { resolveEncoderHeadSettings } from '../../src/core/jobs/settings';
import { SAMPLE_DIR, temporaryFolder } from './helpers';
import { tinyModelFolder } from './transformerFixtures';

// The worker as compiled by `tsc -p .` (the extension runs the esbuild bundle of the same file).
const WORKER = path.resolve(__dirname, '..', '..', 'src', 'worker', 'scoringWorker.js');

let dir: string;
let cleanup: () => void;
let synthetic: string;
let storage: ScoreStorage;

before(() => {
  ({ dir, cleanup } = temporaryFolder());
  synthetic = path.join(dir, 'synthetic.jsonl');
  // The first 600 rows of the sample keep the test quick.
  fs.writeFileSync(synthetic, fs.readFileSync(path.join(SAMPLE_DIR, 'synthetic.jsonl'), 'utf8').split('\n').slice(0, 600).join('\n') + '\n');
  storage = { scoresFile: path.join(dir, 'store', 'scores.jsonl'), checkersDir: path.join(dir, 'store', 'checkers'), metaFile: path.join(dir, 'store', 'meta.json') };
});

after(() => cleanup());

const scoreJob = (): ScoreJob => ({
  kind: 'score',
  synthetic: { path: synthetic },
  real: { path: path.join(SAMPLE_DIR, 'real_train.jsonl') },
  qualityModel: undefined,
  diversityModel: undefined,
  labels: ['negative', 'neutral', 'positive'],
  checkerSettings: { ...checkerSettingsFrom({ epochs: 5 }) },
  seed: 1,
  guards: DEFAULT_WEIGHT_GUARDS,
  device: 'cpu',
  storage,
  runsDir: path.join(dir, 'runs'),
});

async function run(job: ScoringJob, events: ScoreProgressEvent[] = []) {
  return startScoringJob(WORKER, job, { onProgress: (event) => events.push(event) }).done;
}

describe('the scoring worker', () => {
  test('scores a file off the main thread, stores the scores, and hands back the table without copying', async () => {
    const events: ScoreProgressEvent[] = [];
    const { scored } = await run(scoreJob(), events);
    assert.ok(scored);
    const table = ScoreTable.fromColumns(scored.table);
    const stored = await readScores(storage.scoresFile);
    assert.equal(stored.rows.length, 600);
    assert.equal(table.size, new Set(stored.rows.map((r) => r.rowId)).size);
    for (const row of stored.rows.slice(0, 20)) assert.ok(Math.abs(table.row(table.indexOf(row.rowId)).impWeight - row.impWeight) < 1e-5 * row.impWeight);
    assert.deepEqual(scored.fields, { text: ['sentence'], label: 'label' });
    assert.match(scored.qualityChecker, /trained on real_train\.jsonl$/);
    assert.ok(events.some((e) => e.stage === 'quality-checker') && events.some((e) => e.stage === 'score'), 'progress from every stage');
    const meta = JSON.parse(fs.readFileSync(storage.metaFile, 'utf8')) as ScoreMeta;
    assert.ok(fs.existsSync(path.join(meta.qualityModel, 'model.onnx')), 'the trained checkers are stored for rescoring');
  });

  test('rescoring scores only the rows that changed, keeps the others at their new lines, and drops rows gone from the file', async () => {
    const lines = fs.readFileSync(synthetic, 'utf8').split('\n');
    const changed = JSON.parse(lines[4]!) as { sentence: string; label: number };
    changed.sentence += ' Edited.';
    // Line 5 changes, a new row goes on top (every line moves down one), the last row is deleted.
    const edited = [JSON.stringify({ sentence: 'A brand new row.', label: 2 }), ...lines.slice(0, 4), JSON.stringify(changed), ...lines.slice(5, 599)];
    fs.writeFileSync(synthetic, edited.join('\n') + '\n');
    const before = await readScores(storage.scoresFile);
    const { scored } = await run({ kind: 'rescore', synthetic, guards: DEFAULT_WEIGHT_GUARDS, device: 'cpu', storage, runsDir: undefined });
    assert.ok(scored);
    assert.equal(scored.scoredRows, 2, 'the new row and the changed one');
    const after = await readScores(storage.scoresFile);
    assert.equal(after.rows.length, 600);
    const table = ScoreTable.fromColumns(scored.table);
    assert.ok(table.indexOf(computeRowId(['A brand new row.'], 2)) >= 0);
    const kept = before.rows[1]!;
    const moved = after.rows.find((r) => r.rowId === kept.rowId)!;
    assert.equal(moved.line, kept.line + 1, 'an unchanged row keeps its score and moves to its new line');
    assert.equal(moved.impWeight, kept.impWeight);
    assert.equal(table.indexOf(before.rows[599]!.rowId), -1, 'the deleted row is gone');
  });

  test('loads stored scores with the last DIMP run’s weights', async () => {
    const stored = await readScores(storage.scoresFile);
    const runDir = path.join(dir, 'runs', 'dimp-1');
    fs.mkdirSync(runDir, { recursive: true });
    fs.writeFileSync(path.join(runDir, 'config.json'), JSON.stringify({ kind: 'dimp-run', loss: 'dimp', createdAt: '2026-01-01', data: { synthetic: { file: synthetic } } }));
    fs.writeFileSync(path.join(runDir, 'weights.jsonl'), JSON.stringify({ rowId: stored.rows[0]!.rowId, weight: 0.42 }) + '\n');
    const { scored } = await run({ kind: 'load', synthetic, storage, runsDir: path.join(dir, 'runs') });
    const table = ScoreTable.fromColumns(scored!.table);
    assert.equal(scored!.dimpRun, 'dimp-1');
    assert.ok(Math.abs(table.row(table.indexOf(stored.rows[0]!.rowId)).dimpWeight! - 0.42) < 1e-6);
  });

  test('exports curated and rejected files from the stored scores', async () => {
    const curated = path.join(dir, 'out', 'curated.jsonl');
    const rejected = path.join(dir, 'out', 'rejected.jsonl');
    const { curation } = await run({ kind: 'export', synthetic, storage, rule: { by: 'weight', keepFraction: 0.5 }, curated, rejected });
    assert.equal(curation!.kept, 300);
    assert.equal(fs.readFileSync(curated, 'utf8').trim().split('\n').length + fs.readFileSync(rejected, 'utf8').trim().split('\n').length, 600);
  });

  test('reports cancellation as such, and keeps the stored scores and their checkers', async () => {
    const before = fs.statSync(storage.scoresFile).mtimeMs;
    const checkers = fs.readdirSync(storage.checkersDir);
    // Cancelled as soon as the quality checker starts training.
    const running = startScoringJob(WORKER, scoreJob(), { onProgress: (event) => event.stage === 'quality-checker' && running.cancel() });
    await assert.rejects(running.done, (error: unknown) => error instanceof WorkerJobError && error.kind === 'cancelled');
    assert.equal(fs.statSync(storage.scoresFile).mtimeMs, before);
    assert.deepEqual(fs.readdirSync(storage.checkersDir), checkers);
  });

  test('a new scoring replaces the stored checkers only once its scores are stored', async () => {
    const old = fs.readdirSync(storage.checkersDir);
    await run(scoreJob());
    const now = fs.readdirSync(storage.checkersDir);
    assert.equal(now.length, 1);
    assert.notDeepEqual(now, old);
  });

  test('scores with given checker models instead of training them', async () => {
    const trained = JSON.parse(fs.readFileSync(storage.metaFile, 'utf8')) as ScoreMeta;
    // Another file's storage, as when a big file is scored with the checkers trained on a smaller one.
    const other: ScoreStorage = { scoresFile: path.join(dir, 'other', 'scores.jsonl'), checkersDir: path.join(dir, 'other', 'checkers'), metaFile: path.join(dir, 'other', 'meta.json') };
    const { scored } = await run({ ...scoreJob(), real: undefined, qualityModel: trained.qualityModel, diversityModel: trained.diversityModel, storage: other });
    assert.equal(scored!.scoredRows, 600);
    assert.equal((JSON.parse(fs.readFileSync(other.metaFile, 'utf8')) as ScoreMeta).qualityModel, trained.qualityModel);
    assert.equal(fs.existsSync(other.checkersDir), false, 'nothing trained');
  });

  test('reports bad input as an error the user can act on', async () => {
    const missing = path.join(dir, 'missing.jsonl');
    await assert.rejects(run({ ...scoreJob(), synthetic: { path: missing } }), (error: unknown) => error instanceof WorkerJobError && error.kind === 'badInput' && error.message.includes(missing));
  });

  test('trains the checkers as heads on an encoder when the job names one (the config\'s encoder, as the CLI does)', async () => {
    const encoder = await tinyModelFolder(path.join(dir, 'encoder'), { seed: 5 });
    const checkerEncoder = resolveEncoderHeadSettings({ encoder: { path: encoder.dir, epochs: 2, head: 'linear' } }, {}, dir);
    const encoderStorage: ScoreStorage = { scoresFile: path.join(dir, 'enc', 'scores.jsonl'), checkersDir: path.join(dir, 'enc', 'checkers'), metaFile: path.join(dir, 'enc', 'meta.json') };
    const { scored } = await run({ ...scoreJob(), checkerEncoder, storage: encoderStorage });
    assert.ok(scored);
    const stored = await readScores(encoderStorage.scoresFile);
    assert.equal(stored.rows.length, 600);
    assert.equal((stored.header.checkers?.settings as { encoder?: string }).encoder, encoder.dir, 'the scores say which encoder the checkers sit on');
    const meta = JSON.parse(fs.readFileSync(encoderStorage.metaFile, 'utf8')) as ScoreMeta;
    const saved = JSON.parse(fs.readFileSync(path.join(meta.qualityModel, 'config.json'), 'utf8')) as { dimp_checker?: { settings?: { encoder?: string; head?: string } } };
    assert.equal(saved.dimp_checker?.settings?.encoder, encoder.dir);
    assert.equal(saved.dimp_checker?.settings?.head, 'linear');
  });
});
