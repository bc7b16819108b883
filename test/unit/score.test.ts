import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { loadDataset } from '../../src/core/data/dataset';
import { LabelMap } from '../../src/core/data/labels';
import { DimpError } from '../../src/core/errors';
import { DEFAULT_CHECKER_SETTINGS } from '../../src/core/train/ngramTraining';
import { scoreSynthetic, type ScoreRequest } from '../../src/core/jobs/checkers';
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
