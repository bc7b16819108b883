import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { loadDataset } from '../../src/core/data/dataset';
import { LabelMap } from '../../src/core/data/labels';
import { DimpError } from '../../src/core/errors';
import { DEFAULT_CHECKER_SETTINGS } from '../../src/core/train/ngramTraining';
import { scoreSynthetic, type ScoreRequest } from '../../src/core/jobs/checkers';
import { overallPercent } from '../../src/core/jobs/scoreProgress';
import { SAMPLE_DIR, temporaryFolder } from './helpers';

const folder = temporaryFolder();
after(() => folder.cleanup());

test('a cancelled re-score leaves the previous checkers in place and no staging folder', async () => {
  const labelMap = new LabelMap(['negative', 'neutral', 'positive']);
  const synthetic = await loadDataset(path.join(SAMPLE_DIR, 'synthetic.jsonl'), labelMap);
  const real = await loadDataset(path.join(SAMPLE_DIR, 'real_train.jsonl'), labelMap);
  const checkersDir = path.join(folder.dir, 'synthetic.checkers');
  const request: ScoreRequest = {
    synthetic: { ...synthetic, rows: synthetic.rows.slice(0, 800) },
    real,
    labelMap,
    checkersDir,
    checkerSettings: { ...DEFAULT_CHECKER_SETTINGS, epochs: 3 },
    seed: 1,
    guards: { epsilon: 1e-6, maxWeight: null },
    device: 'cpu',
  };
  const first = await scoreSynthetic(request);
  assert.match(first.header.qualityChecker, new RegExp(`at ${checkersDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/quality$`), 'the header names the final folder');
  const before = readFileSync(path.join(checkersDir, 'quality', 'model.onnx'));

  const controller = new AbortController();
  await assert.rejects(
    scoreSynthetic({
      ...request,
      seed: 2,
      signal: controller.signal,
      onEvent: (event) => {
        if (event.type === 'score-progress' && event.stage === 'diversity-checker') controller.abort();
      },
    }),
    (error: unknown) => error instanceof DimpError && error.kind === 'cancelled',
  );
  assert.ok(readFileSync(path.join(checkersDir, 'quality', 'model.onnx')).equals(before), 'the old quality checker is untouched');
  assert.deepEqual(readdirSync(folder.dir), ['synthetic.checkers'], 'no staging folder is left');
});

test('the progress of a scoring job only goes forward, and moves while each checker trains', async () => {
  const labelMap = new LabelMap(['negative', 'neutral', 'positive']);
  const synthetic = await loadDataset(path.join(SAMPLE_DIR, 'synthetic.jsonl'), labelMap);
  const real = await loadDataset(path.join(SAMPLE_DIR, 'real_train.jsonl'), labelMap);
  const epochs = 4;
  const percents: { stage: string; percent: number }[] = [];
  await scoreSynthetic({
    synthetic: { ...synthetic, rows: synthetic.rows.slice(0, 600) },
    real,
    labelMap,
    checkersDir: path.join(folder.dir, 'progress.checkers'),
    checkerSettings: { ...DEFAULT_CHECKER_SETTINGS, epochs },
    seed: 1,
    guards: { epsilon: 1e-6, maxWeight: null },
    device: 'cpu',
    onEvent: (event) => {
      if (event.type === 'score-progress') percents.push({ stage: event.stage, percent: overallPercent(event) });
    },
  });
  for (let i = 1; i < percents.length; i++) {
    assert.ok(percents[i]!.percent >= percents[i - 1]!.percent, `progress went back from ${percents[i - 1]!.percent.toFixed(1)} % (${percents[i - 1]!.stage}) to ${percents[i]!.percent.toFixed(1)} % (${percents[i]!.stage})`);
  }
  for (const stage of ['quality-checker', 'diversity-checker']) {
    const values = percents.filter((p) => p.stage === stage).map((p) => p.percent);
    const inside = new Set(values.slice(1, -1));
    assert.ok(inside.size >= epochs - 1, `${stage}: at least one step per epoch between start and end (${values.map((v) => v.toFixed(1)).join(', ')})`);
  }
  const scoring = percents.filter((p) => p.stage === 'score').map((p) => p.percent);
  assert.ok(scoring.length >= 2 && scoring[scoring.length - 1] === 95, `the scoring stage ends at 95 % (${scoring.map((v) => v.toFixed(1)).join(', ')})`);
});
